"""The `skiplock` command line, run as users run it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from engine import keys
from tests.processes import SKIPLOCK, EngineProcess


def run(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SKIPLOCK_DATABASE_URL": db}
    return subprocess.run(
        [SKIPLOCK, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["recount"],
        ["tenant"],
        ["tenant", "create"],
        ["tenant", "list"],
        ["tenant", "pause"],
        ["tenant", "resume"],
        ["tenant", "drain"],
        ["admin-key"],
        ["admin-key", "create"],
        ["key", "list"],
        ["key", "revoke"],
    ],
)
def test_every_command_has_help(command: list[str], sqlite_url: str) -> None:
    out = run(*command, "--help", db=sqlite_url)
    assert out.returncode == 0, out.stderr
    assert "Usage: skiplock" in out.stdout
    assert len(out.stdout.splitlines()) > 3


def test_tenant_create_prints_a_working_key_alone_on_its_last_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    out = run("tenant", "create", "acme", "--weight", "3", "--rate-limit", "100/60", db=sqlite_url)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert keys.parse(key) is not None
    admin = run("admin-key", "create", db=sqlite_url).stdout.strip().splitlines()[-1]
    assert keys.parse(admin) is not None
    listed = run("tenant", "list", db=sqlite_url).stdout
    assert "acme" in listed and "100/60" in listed
    engine = EngineProcess(
        sqlite_url, env={"SKIPLOCK_WORKERS": "0"}, log_path=tmp_path / "engine.log"
    ).start()
    try:
        r = httpx.post(
            f"{engine.url}/api/tasks",
            json={"type": "noop"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201 and r.json()["tenant"] == "acme"
        t = httpx.get(
            f"{engine.url}/api/tenants/acme", headers={"Authorization": f"Bearer {admin}"}
        )
        assert t.json()["weight"] == 3 and t.json()["rate_limit"] == {"cost": 100, "window_s": 60}
    finally:
        engine.kill()


def test_bad_input_gets_a_clear_error(sqlite_url: str) -> None:
    bad = run("tenant", "create", "acme", "--rate-limit", "lots", db=sqlite_url)
    assert bad.returncode == 2 and "COST/SECONDS" in bad.stderr
    run("tenant", "create", "acme", db=sqlite_url)
    dup = run("tenant", "create", "acme", db=sqlite_url)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = run("tenant", "pause", "nobody", db=sqlite_url)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    role = run("serve", "--role", "chef", db=sqlite_url)
    assert role.returncode == 2 and "unknown role" in role.stderr


def test_tenant_state_commands_and_key_revocation(sqlite_url: str) -> None:
    run("tenant", "create", "acme", db=sqlite_url)
    assert "paused" in run("tenant", "pause", "acme", db=sqlite_url).stdout
    assert "draining" in run("tenant", "drain", "acme", db=sqlite_url).stdout
    assert "active" in run("tenant", "resume", "acme", db=sqlite_url).stdout
    listed = run("key", "list", db=sqlite_url).stdout
    assert "tenant" in listed
    assert "revoked" in run("key", "revoke", "1", db=sqlite_url).stdout
    assert run("key", "revoke", "999", db=sqlite_url).returncode == 1


def test_recount_repairs_counts_after_a_write_around_the_engine(sqlite_url: str) -> None:
    out = run("tenant", "create", "bulk", db=sqlite_url)
    assert out.returncode == 0, out.stderr
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # a bulk load straight into the table
        tenant = conn.execute("SELECT id FROM tenants WHERE name = 'bulk'").fetchone()[0]
        conn.executemany(
            "INSERT INTO tasks (tenant_id, type, state, priority, cost, attempt, attempt_base,"
            " max_attempts, timeout_s, created_at, run_at) VALUES"
            " (?, 'noop', 'queued', 0, 1, 0, 0, 3, 10, '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')",
            [(tenant,)] * 7,
        )
    out = run("recount", db=sqlite_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "7 active tasks counted"
    with sqlite3.connect(path) as conn:
        kept = conn.execute(
            "SELECT SUM(n) FROM task_counts WHERE tenant_id = ? AND state = 'queued'", (tenant,)
        ).fetchone()[0]
    assert kept == 7
