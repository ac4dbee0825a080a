"""Real ``skiplock serve`` processes on MariaDB: crashes lose nothing, SIGTERM drains."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import EngineProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []

    def make(database_url: str, **env: Any) -> EngineProcess:
        p = EngineProcess(
            database_url,
            env={k: str(v) for k, v in env.items()},
            log_path=tmp_path / f"engine-{len(started)}.log",
        )
        started.append(p)
        return p.start()

    yield make
    for p in started:
        p.kill()


def poll(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def states(client: httpx.Client, ids: list[int]) -> dict[int, dict[str, Any]]:
    return {i: client.get(f"/api/tasks/{i}").json() for i in ids}


def test_a_killed_instances_tasks_come_back_after_the_lease_and_finish(
    mysql_url: str, spawn: Callable[..., EngineProcess]
) -> None:
    victim = spawn(
        mysql_url,
        SKIPLOCK_WORKERS=4,
        SKIPLOCK_LEASE_S=2,
        SKIPLOCK_MAINTENANCE_INTERVAL_S=0.2,
        SKIPLOCK_RETRY_BASE_S=0,
    )
    with victim.client() as c:
        r = c.post(
            "/api/tasks/batch",
            json={
                "tasks": [{"type": "async_sleep", "payload": {"seconds": 30}} for _ in range(4)]
                + [{"type": "async_sleep", "payload": {"seconds": 0.2}} for _ in range(4)]
            },
        )
        ids = [t["id"] for t in r.json()["items"]]
        poll(
            lambda: sum(t["state"] == "running" for t in states(c, ids).values()) == 4,
            timeout_s=10,
            what="four running tasks",
        )
    victim.kill()  # SIGKILL: no drain, no release; the leases just stop being renewed
    survivor = spawn(
        mysql_url,
        SKIPLOCK_WORKERS=8,
        SKIPLOCK_LEASE_S=2,
        SKIPLOCK_MAINTENANCE_INTERVAL_S=0.2,
        SKIPLOCK_RETRY_BASE_S=0,
    )
    with survivor.client() as c:
        # The long tasks would take 30 s; make their retries short by requeueing nothing:
        # instead the survivor rescues them and runs them again to completion.
        poll(
            lambda: all(
                t["state"] in ("retrying", "queued", "running", "succeeded")
                for t in states(c, ids).values()
            ),
            timeout_s=10,
            what="visibility",
        )
        rescued_any = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = states(c, ids)
            rescued_any |= any(
                a["outcome"] == "lease_lost" for t in got.values() for a in t["attempts"]
            )
            if rescued_any and all(t["state"] in ("running", "succeeded") for t in got.values()):
                break
            time.sleep(0.1)
        got = states(c, ids)
    assert rescued_any, "no attempt was recorded as lease_lost"
    lost = [t for t in got.values() if t["state"] not in ("running", "succeeded")]
    assert not lost, lost
    for t in got.values():
        workers = [a["worker"] for a in t["attempts"]]
        if len(workers) > 1:  # re-run elsewhere after the crash
            assert t["attempts"][0]["outcome"] == "lease_lost"
            assert workers[-1].startswith(f"test-{survivor.port}:")


def test_a_killed_instance_finishes_its_short_tasks_elsewhere_with_nothing_lost(
    mysql_url: str, spawn: Callable[..., EngineProcess]
) -> None:
    victim = spawn(
        mysql_url,
        SKIPLOCK_WORKERS=6,
        SKIPLOCK_LEASE_S=1.5,
        SKIPLOCK_MAINTENANCE_INTERVAL_S=0.2,
        SKIPLOCK_RETRY_BASE_S=0,
    )
    with victim.client() as c:
        r = c.post(
            "/api/tasks/batch",
            json={
                "tasks": [{"type": "async_sleep", "payload": {"seconds": 1.0}} for _ in range(30)]
            },
        )
        ids = [t["id"] for t in r.json()["items"]]
        poll(
            lambda: any(t["state"] == "running" for t in states(c, ids).values()),
            timeout_s=10,
            what="work to start",
        )
    victim.kill()
    survivor = spawn(
        mysql_url,
        SKIPLOCK_WORKERS=12,
        SKIPLOCK_LEASE_S=1.5,
        SKIPLOCK_MAINTENANCE_INTERVAL_S=0.2,
        SKIPLOCK_RETRY_BASE_S=0,
    )
    with survivor.client() as c:
        poll(
            lambda: all(t["state"] == "succeeded" for t in states(c, ids).values()),
            timeout_s=60,
            what="every task to succeed after the crash",
        )
        final = states(c, ids)
    assert len(final) == 30
    assert any(a["outcome"] == "lease_lost" for t in final.values() for a in t["attempts"])


def test_sigterm_lets_running_tasks_finish_and_exits_zero(
    mysql_url: str, spawn: Callable[..., EngineProcess]
) -> None:
    p = spawn(mysql_url, SKIPLOCK_WORKERS=4, SKIPLOCK_SHUTDOWN_GRACE_S=20)
    with p.client() as c:
        r = c.post(
            "/api/tasks/batch",
            json={
                "tasks": [{"type": "async_sleep", "payload": {"seconds": 1.5}} for _ in range(4)]
            },
        )
        ids = [t["id"] for t in r.json()["items"]]
        poll(
            lambda: all(t["state"] == "running" for t in states(c, ids).values()),
            timeout_s=10,
            what="all four to run",
        )
    assert p.terminate() == 0
    checker = spawn(mysql_url, SKIPLOCK_WORKERS=0)
    with checker.client() as c:
        final = states(c, ids)
    for t in final.values():
        assert t["state"] == "succeeded", t
        assert [a["outcome"] for a in t["attempts"]] == ["succeeded"]  # not cut off


def test_sigterm_past_the_grace_period_releases_tasks_without_charging_them(
    mysql_url: str, spawn: Callable[..., EngineProcess]
) -> None:
    p = spawn(mysql_url, SKIPLOCK_WORKERS=2, SKIPLOCK_SHUTDOWN_GRACE_S=0.5)
    with p.client() as c:
        r = c.post(
            "/api/tasks/batch",
            json={
                "tasks": [
                    {"type": "async_sleep", "payload": {"seconds": 60}, "max_attempts": 1}
                    for _ in range(2)
                ]
            },
        )
        ids = [t["id"] for t in r.json()["items"]]
        poll(
            lambda: all(t["state"] == "running" for t in states(c, ids).values()),
            timeout_s=10,
            what="both to run",
        )
    assert p.terminate() == 0
    checker = spawn(mysql_url, SKIPLOCK_WORKERS=0)
    with checker.client() as c:
        final = states(c, ids)
    for t in final.values():
        assert t["state"] == "queued", t
        assert t["attempts_used"] == 0  # max_attempts=1, yet it may still run
        assert [a["outcome"] for a in t["attempts"]] == ["released"]
