"""The `skiplock` command line, run as users run it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from skiplock import keys
from tests.processes import SKIPLOCK, EngineProcess
from tests.services import spare_port


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
        ["key", "create"],
        ["key", "list"],
        ["key", "revoke"],
        ["task"],
        ["task", "submit"],
        ["task", "get"],
        ["task", "list"],
        ["schedule"],
        ["schedule", "create"],
        ["schedule", "list"],
        ["schedule", "pause"],
        ["schedule", "resume"],
        ["schedule", "delete"],
        ["schedule", "trigger"],
        ["doctor"],
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


def test_key_create_makes_a_read_only_reader_key_printed_alone_on_its_last_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    out = run("key", "create", "--role", "reader", "--name", "grafana", db=sqlite_url)
    assert out.returncode == 0, out.stderr
    reader = out.stdout.strip().splitlines()[-1]
    assert keys.parse(reader) is not None and "reader" in out.stdout
    admin = run("key", "create", "--role", "admin", db=sqlite_url).stdout.strip().splitlines()[-1]
    listed = run("key", "list", db=sqlite_url).stdout
    assert "reader" in listed and "grafana" in listed
    engine = EngineProcess(
        sqlite_url, env={"SKIPLOCK_WORKERS": "0"}, log_path=tmp_path / "engine.log"
    ).start()
    try:
        as_reader = {"Authorization": f"Bearer {reader}"}
        assert httpx.get(f"{engine.url}/api/queue/stats", headers=as_reader).status_code == 200
        refused = httpx.post(f"{engine.url}/api/tasks", json={"type": "noop"}, headers=as_reader)
        assert refused.status_code == 403 and "read-only" in refused.json()["message"]
        as_admin = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(f"{engine.url}/api/tasks", headers=as_admin).json()["items"] == []
    finally:
        engine.kill()


def test_key_create_refuses_a_tenant_where_the_role_has_none(sqlite_url: str) -> None:
    run("tenant", "create", "acme", db=sqlite_url)
    before = run("key", "list", db=sqlite_url).stdout
    scoped = run("key", "create", "--role", "reader", "--tenant", "acme", db=sqlite_url)
    assert scoped.returncode == 2 and "a reader key has no tenant" in scoped.stderr
    bare = run("key", "create", "--role", "tenant", db=sqlite_url)
    assert bare.returncode == 2 and "needs 'tenant'" in bare.stderr
    ghost = run("key", "create", "--role", "tenant", "--tenant", "ghost", db=sqlite_url)
    assert ghost.returncode == 2 and "does not exist" in ghost.stderr
    assert run("key", "list", db=sqlite_url).stdout == before
    tenant = run("key", "create", "--role", "tenant", "--tenant", "acme", db=sqlite_url)
    assert tenant.returncode == 0 and keys.parse(tenant.stdout.strip().splitlines()[-1])


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


async def test_tenant_commands_announce_each_change_and_resume_wakes_the_workers(
    mysql_url: str, redis_url: str, redis_prefix: str
) -> None:
    """The CLI changes tenants through the same service as the API: with Redis
    configured, dashboards hear of the change and idle workers wake when a tenant
    leaves 'paused'."""
    from tests.contract.shared import drop_prefix, redis_shared

    env = {"SKIPLOCK_REDIS_URL": redis_url, "SKIPLOCK_REDIS_PREFIX": redis_prefix}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "SKIPLOCK_DATABASE_URL": mysql_url, **env}
        return subprocess.run(
            [SKIPLOCK, *args], env=full, capture_output=True, text=True, timeout=60, check=False
        )

    assert cli("migrate").returncode == 0
    async with redis_shared(redis_url, redis_prefix) as shared:
        after = await shared.stream.last_id() or "0-0"
        assert await shared.notifier.wait(0.01) is False  # listening, nothing yet
        for args in (("create", "cli-acme"), ("pause", "cli-acme"), ("resume", "cli-acme")):
            done = await asyncio.to_thread(cli, "tenant", *args)
            assert done.returncode == 0, done.stderr
        read = await shared.stream.read(after=after, count=100, block_s=2)
        states = [e.data["state"] for e in read.events if e.kind == "tenant"]
        assert states == ["active", "paused", "active"]
        assert await shared.notifier.wait(5) is True  # the resume woke the workers
    await drop_prefix(redis_url, redis_prefix)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"SKIPLOCK_PORT": "abc"},
            "bad configuration: SKIPLOCK_PORT: Input should be a valid integer, unable to "
            "parse string as an integer (got 'abc')",
        ),
        (
            {"SKIPLOCK_DATABASE_URL": "postgres://db/x"},
            "bad configuration: SKIPLOCK_DATABASE_URL must be sqlite:///... or mysql+pymysql://...",
        ),
        (
            {"SKIPLOCK_METRICS_PORT": "8080"},
            "bad configuration: SKIPLOCK_METRICS_PORT must differ from SKIPLOCK_PORT",
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate", "doctor", "tenant list"])
def test_a_wrong_setting_stops_any_command_with_one_line_naming_it(
    sqlite_url: str, command: str, env: dict[str, str], line: str
) -> None:
    done = subprocess.run(
        [SKIPLOCK, *command.split()],
        env={**os.environ, "SKIPLOCK_DATABASE_URL": sqlite_url, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == line


@pytest.mark.parametrize("command", ["admin-key create", "tenant create acme", "key list"])
def test_an_unreachable_database_stops_an_admin_command_with_one_line(command: str) -> None:
    port = spare_port()
    done = run(*command.split(), db=f"mysql+pymysql://root@127.0.0.1:{port}/skiplock")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: MySQL at 127.0.0.1:{port}: connection refused (SKIPLOCK_DATABASE_URL; "
        "`skiplock doctor` checks the configuration)"
    )
