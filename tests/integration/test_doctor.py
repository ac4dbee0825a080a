"""``skiplock doctor`` run as a person runs it, against real databases, Redis and
instances: what it finds wrong, the fix it prints, and its exit status."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from skiplock.adapters.redis import RedisShared
from skiplock.adapters.sql.migrations import LATEST_VERSION
from skiplock.ports import InstanceInfo
from tests.processes import SKIPLOCK, EngineProcess
from tests.services import spare_port

pytestmark = pytest.mark.timeout(180)

HANDLER = 'from skiplock import handler\n\n@handler("hello")\ndef hello(payload):\n    return 1\n'


def doctor(cwd: Path, **env: str) -> tuple[int, dict[str, str], str]:
    """Exit status, each check's row by name, and the whole output."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SKIPLOCK_")}
    done = subprocess.run(
        [SKIPLOCK, "doctor"],
        cwd=cwd,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4:
            rows[cells[0]] = " | ".join(cells[1:]).removesuffix(" | ")
    return done.returncode, rows, done.stdout


def sql_scalar(url: str, statement: str) -> object:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(statement)).scalar()
    finally:
        engine.dispose()


def run(cwd: Path, *args: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SKIPLOCK_")}
    return subprocess.run(
        [SKIPLOCK, *args], cwd=cwd, env=base | env, capture_output=True, text=True, check=True
    ).stdout


def test_a_healthy_embedded_setup_has_nothing_wrong(tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "tasks.py").write_text(HANDLER)
    run(tmp_path, "migrate")
    run(tmp_path, "admin-key", "create", "--save")
    status, rows, out = doctor(tmp_path, SKIPLOCK_HANDLERS="myapp.tasks")
    assert status == 0, out
    assert rows["database"].startswith("ok | SQLite at skiplock.db answers")
    assert rows["schema"].startswith(f"ok | version {LATEST_VERSION}, current")
    assert rows["handlers"].startswith("ok | myapp.tasks: hello")
    assert rows["admin key"].startswith("ok | 1 active admin key(s) in the database")
    assert out.rstrip().endswith("nothing wrong found")


def test_a_new_directory_lacks_only_an_admin_key(tmp_path: Path) -> None:
    status, rows, _ = doctor(tmp_path)
    assert status == 1
    assert rows["database"].startswith("- | SQLite at skiplock.db does not exist yet")
    assert not (tmp_path / "skiplock.db").exists()
    assert rows["admin key"] == (
        "wrong | no admin key: nobody can use the API or the dashboard | "
        "`skiplock admin-key create --save`, or set SKIPLOCK_ADMIN_KEY"
    )
    assert rows["handlers"].startswith("- | SKIPLOCK_HANDLERS is empty")


def test_an_unreachable_database_is_wrong_with_the_fix(tmp_path: Path) -> None:
    port = spare_port()
    status, rows, _ = doctor(
        tmp_path, SKIPLOCK_DATABASE_URL=f"mysql+pymysql://root@127.0.0.1:{port}/x"
    )
    assert status == 1
    assert rows["database"].startswith(
        f"wrong | MySQL at 127.0.0.1:{port}: connection refused | start it, or point "
        "SKIPLOCK_DATABASE_URL at it"
    )


def test_an_old_schema_is_wrong_until_migrate_runs(mysql_url: str, tmp_path: Path) -> None:
    env = {"SKIPLOCK_DATABASE_URL": mysql_url, "SKIPLOCK_MIGRATE_ON_START": "false"}
    status, rows, _ = doctor(tmp_path, **env)
    assert status == 1
    assert rows["schema"].startswith(f"wrong | version 0; this code needs {LATEST_VERSION}")
    assert "run `skiplock migrate`" in rows["schema"]
    run(tmp_path, "migrate", **env)
    run(tmp_path, "admin-key", "create", **env)
    status, rows, out = doctor(tmp_path, **env)
    assert status == 0, out
    assert rows["schema"].startswith("ok")
    pool = int(sql_scalar(mysql_url, "SELECT @@innodb_buffer_pool_size"))
    assert rows["buffer pool"].startswith(
        f"ok | innodb_buffer_pool_size {pool / 2**20:,.0f} MiB, tasks table "
    )
    assert rows["buffer pool"].endswith("MiB: the table fits")


def test_redis_that_does_not_answer_is_wrong(tmp_path: Path) -> None:
    port = spare_port()
    status, rows, _ = doctor(tmp_path, SKIPLOCK_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert status == 1
    assert rows["redis"].startswith(f"wrong | Redis at 127.0.0.1:{port}: connection refused")


def test_bad_handler_modules_and_a_malformed_admin_key_are_wrong(tmp_path: Path) -> None:
    status, rows, _ = doctor(
        tmp_path, SKIPLOCK_HANDLERS="nonexistent_zz", SKIPLOCK_ADMIN_KEY="not-a-key"
    )
    assert status == 1
    assert rows["handlers"].startswith("wrong | nonexistent_zz: no module named 'nonexistent_zz'")
    assert rows["admin key"].startswith("wrong | SKIPLOCK_ADMIN_KEY is not shaped like a key")


def test_clock_skew_between_instances_is_found_from_their_heartbeats(
    sqlite_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {"SKIPLOCK_REDIS_URL": redis_url, "SKIPLOCK_REDIS_PREFIX": redis_prefix}
    engine = EngineProcess(sqlite_url, env=env, log_path=tmp_path / "engine.log").start()
    try:
        # A real instance heartbeats with this machine's clock: no skew.
        status, rows, out = doctor(tmp_path, SKIPLOCK_DATABASE_URL=sqlite_url, **env)
        assert status == 0, out
        assert rows["clock skew"].startswith("ok | 1 instance(s) within 2 s of this clock")

        # Another whose clock runs a minute ahead, heartbeating into the same registry.
        async def heartbeat_from_the_future() -> None:
            shared = RedisShared.from_url(redis_url, prefix=redis_prefix)
            now = datetime.now(UTC) + timedelta(seconds=60)
            info = InstanceInfo("fast-clock", "h", ("worker",), now, now, 1, 0, ())
            await shared.registry.heartbeat(info, ttl_s=30)
            await shared.aclose()

        asyncio.run(heartbeat_from_the_future())
        status, rows, _ = doctor(tmp_path, SKIPLOCK_DATABASE_URL=sqlite_url, **env)
        assert status == 1
        found = re.match(
            r"wrong \| fast-clock is ([\d.]+) s ahead of this clock \| run NTP", rows["clock skew"]
        )
        assert found, rows["clock skew"]
        assert 50 < float(found[1]) <= 60.1  # a minute, less the time doctor took to look
    finally:
        engine.kill()
