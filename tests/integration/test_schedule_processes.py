"""Three real ``skiplock serve`` processes with the maintenance role on one MariaDB fire a
one-second schedule exactly once per tick — none twice, none lost — while one of them is
killed with SIGKILL and started again. (A minute-long run of the same is
bench/schedules.py --soak.)"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.processes import EngineProcess

pytestmark = [pytest.mark.slow, pytest.mark.mysql, pytest.mark.timeout(120)]

ENV = {
    "SKIPLOCK_ROLES": "api,maintenance",
    "SKIPLOCK_MAINTENANCE_INTERVAL_S": "0.2",
    # A killed instance's schedules wait this long for another instance.
    "SKIPLOCK_SCHEDULE_LEASE_S": "2",
}


@pytest.fixture
def instances(mysql_url: str, tmp_path: Path) -> Iterator[list[EngineProcess]]:
    made = [
        EngineProcess(mysql_url, env=dict(ENV), log_path=tmp_path / f"engine-{k}.log")
        for k in range(3)
    ]
    try:
        made[0].start()  # migrates first; the others find the schema in place
        for p in made[1:]:
            p.launch()
        for p in made[1:]:
            p.wait_ready()
        yield made
    finally:
        for p in made:
            p.kill()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _fired(client: httpx.Client) -> list[datetime]:
    items = client.get("/api/tasks", params={"limit": 500}).json()["items"]
    return [_at(t["run_at"]) for t in items if t["schedule"] == "every-second"]


def _wait(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def test_three_instances_fire_each_tick_once_through_a_sigkill_and_restart(
    instances: list[EngineProcess],
) -> None:
    first, victim, _ = instances
    with first.client() as c:
        made = c.post(
            "/api/schedules",
            json={"name": "every-second", "type": "noop", "every_s": 1, "catch_up": "all"},
        )
        assert made.status_code == 201, made.text
        start = _at(made.json()["next_run_at"])
        _wait(lambda: len(_fired(c)) >= 5, timeout_s=20, what="five fires")

        victim.kill()  # SIGKILL: whatever lease it held runs out, nothing is released
        killed_at = max(_fired(c))
        _wait(
            lambda: max(_fired(c)) >= killed_at + timedelta(seconds=4),
            timeout_s=20,
            what="fires after the kill",
        )
        victim.start()
        restarted_at = max(_fired(c))
        _wait(
            lambda: max(_fired(c)) >= restarted_at + timedelta(seconds=4),
            timeout_s=20,
            what="fires after the restart",
        )

        # One instance at a time fires a schedule's ticks, oldest first, and each fire
        # moves last_run_at in its own transaction: every tick up to the last_run_at
        # read first is committed by the time the tasks are read.
        last = _at(c.get("/api/schedules/every-second").json()["last_run_at"])
        ticks = [t for t in _fired(c) if t <= last]

    counts = Counter(ticks)
    assert [t for t, n in counts.items() if n > 1] == []  # none twice
    seconds = int((last - start).total_seconds())
    expected = [start + timedelta(seconds=s) for s in range(seconds + 1)]
    assert sorted(ticks) == expected  # none missing, from the first tick to the last
    assert len(expected) >= 13
