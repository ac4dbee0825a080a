"""``serve`` and ``migrate`` started before their database (and Redis) are up, as every pod
of a first Kubernetes install is: they wait with one line per attempt, readiness says what
for, and past the bound they stop with one line and exit status 1."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pymysql
import pytest

from skiplock.adapters.sql.migrations import LATEST_VERSION
from tests.processes import SKIPLOCK, EngineProcess
from tests.services import PrivateMariaDB, PrivateRedis, spare_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ATTEMPT = re.compile(
    r"waiting for (?P<what>.+?): (?P<why>.+) \(attempt (?P<n>\d+), next in (?P<next>[\d.]+) s\)"
)


def poll(check: Callable[[], object], *, timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def attempts(text: str, what: str) -> list[re.Match[str]]:
    return [m for m in ATTEMPT.finditer(text) if m["what"] == what]


def readiness(url: str) -> tuple[int, dict[str, object]]:
    try:
        r = httpx.get(f"{url}/api/ready", timeout=2)
    except httpx.HTTPError:
        return 0, {}
    return r.status_code, r.json()


@pytest.fixture
def late_mariadb() -> Iterator[PrivateMariaDB]:
    """A MariaDB whose port is known but which is not started yet."""
    server = PrivateMariaDB()
    PrivateMariaDB.binaries()  # fail now, with the install hint, if there is none
    yield server
    server.cleanup()


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []

    def make(database_url: str, **env: object) -> EngineProcess:
        engine = EngineProcess(
            database_url,
            env={k: str(v) for k, v in env.items()},
            log_path=tmp_path / f"engine-{len(started)}.log",
        )
        started.append(engine)
        return engine.launch()

    yield make
    for engine in started:
        engine.kill()


def test_serve_and_migrate_started_before_mariadb_wait_then_run(
    late_mariadb: PrivateMariaDB, engines: Callable[..., EngineProcess], tmp_path: Path
) -> None:
    url = f"{late_mariadb.url}/skiplock_late"
    where = f"MySQL at 127.0.0.1:{late_mariadb.port}"
    engine = engines(
        url,
        SKIPLOCK_MIGRATE_ON_START="false",
        SKIPLOCK_STARTUP_TIMEOUT_S=180,
        SKIPLOCK_POLL_INTERVAL_S=0.2,
    )
    migrate_log = tmp_path / "migrate.log"
    with migrate_log.open("wb") as out:
        migrate = subprocess.Popen(
            [SKIPLOCK, "migrate"],
            env={"SKIPLOCK_DATABASE_URL": url, "SKIPLOCK_STARTUP_TIMEOUT_S": "180"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Both wait, one line per attempt, the delay doubling.
        poll(
            lambda: (
                len(attempts(engine.log_text(), where)) >= 3
                and len(attempts(migrate_log.read_text(), where)) >= 3
            ),
            timeout_s=30,
            what="three waiting lines from serve and from migrate",
        )
        for text in (engine.log_text(), migrate_log.read_text()):
            first = attempts(text, where)[:3]
            assert [m["why"] for m in first] == ["connection refused"] * 3
            assert [int(m["n"]) for m in first] == [1, 2, 3]
            assert [float(m["next"]) for m in first] == [0.5, 1, 2]
            assert "Traceback" not in text
        status, body = readiness(engine.url)
        assert status == 503
        assert str(body["waiting_for"]).startswith("the database (connection refused")
        assert str(late_mariadb.port) not in str(body)  # readiness names no address
        refused = httpx.post(f"{engine.url}/api/tasks", json={"type": "noop"}, timeout=5)
        assert refused.status_code == 503
        assert refused.json()["error"] == "unavailable"
        assert migrate.poll() is None and engine.proc is not None and engine.proc.poll() is None

        # The database comes up (and, as MYSQL_DATABASE does in the image, creates the
        # database): migrate applies the schema, serve becomes ready and runs tasks.
        late_mariadb.start()
        conn = pymysql.connect(host="127.0.0.1", port=late_mariadb.port, user="root")
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS skiplock_late")
        conn.close()
        assert migrate.wait(timeout=120) == 0, migrate_log.read_text()
        assert migrate_log.read_text().rstrip().endswith(f"schema at version {LATEST_VERSION}")
        engine.wait_ready(timeout_s=60)
        with engine.client() as client:
            task = client.post("/api/tasks", json={"type": "noop"}).json()
            poll(
                lambda: client.get(f"/api/tasks/{task['id']}").json()["state"] == "succeeded",
                timeout_s=30,
                what="the task to run",
            )
    finally:
        if migrate.poll() is None:
            migrate.kill()
            migrate.wait()


def test_serve_without_migrating_waits_for_the_schema_version_it_needs(
    mysql_url: str, engines: Callable[..., EngineProcess]
) -> None:
    engine = engines(mysql_url, SKIPLOCK_MIGRATE_ON_START="false")
    poll(
        lambda: attempts(
            engine.log_text(), f"schema version {LATEST_VERSION} in MySQL at {_host(mysql_url)}"
        ),
        timeout_s=30,
        what="a line saying serve waits for the schema",
    )
    line = next(m for m in ATTEMPT.finditer(engine.log_text()) if "schema" in m["what"])
    assert line["why"] == ("the database is at schema version 0; `skiplock migrate` upgrades it")
    status, body = readiness(engine.url)
    assert status == 503
    assert str(body["waiting_for"]).startswith(
        f"schema version {LATEST_VERSION} (the database is at schema version 0"
    )
    done = subprocess.run(
        [SKIPLOCK, "migrate"],
        env={"SKIPLOCK_DATABASE_URL": mysql_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine.wait_ready(timeout_s=30)
    with engine.client() as client:
        assert client.get("/api/queue/stats").status_code == 200


def test_serve_waits_for_redis_when_one_is_configured(
    sqlite_url: str, engines: Callable[..., EngineProcess]
) -> None:
    redis = PrivateRedis()
    try:
        engine = engines(sqlite_url, SKIPLOCK_REDIS_URL=redis.url)
        where = f"Redis at 127.0.0.1:{redis.port}"
        poll(
            lambda: len(attempts(engine.log_text(), where)) >= 2,
            timeout_s=30,
            what="serve to say it waits for Redis",
        )
        assert attempts(engine.log_text(), where)[0]["why"] == "connection refused"
        status, body = readiness(engine.url)
        assert status == 503 and str(body["waiting_for"]).startswith("redis (connection refused")
        redis.start()
        engine.wait_ready(timeout_s=30)
    finally:
        redis.cleanup()


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_past_the_bound_it_stops_with_one_line_and_exit_status_1(command: str) -> None:
    port = spare_port()  # nothing listens here
    env = {
        "SKIPLOCK_DATABASE_URL": f"mysql+pymysql://root@127.0.0.1:{port}/skiplock",
        "SKIPLOCK_STARTUP_TIMEOUT_S": "2",
        "SKIPLOCK_PORT": str(spare_port()),
    }
    started = time.monotonic()
    done = subprocess.run(
        [SKIPLOCK, command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert took < 20
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    final = f"gave up waiting for MySQL at 127.0.0.1:{port} after 2 s: connection refused"
    failures = [line for line in output.splitlines() if final in line]
    assert len(failures) == 1, output
    assert attempts(output, f"MySQL at 127.0.0.1:{port}")


def _host(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host}:{parsed.port or 3306}"
