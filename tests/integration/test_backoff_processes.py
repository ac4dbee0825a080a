"""Retries wait as the backoff formula says, on a real ``skiplock serve`` process with the
default retry base (2 s): the wait after failed attempt k is uniform in
[0, base × 2^(k−1)] (full jitter), plus the time the promoter and a worker take to pick
the task up again."""

from __future__ import annotations

import itertools
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from skiplock.settings import Settings
from tests.processes import EngineProcess

pytestmark = pytest.mark.slow

TASKS = 40
ATTEMPTS = 3
# The promoter runs every 0.2 s here (the default is 1 s); promoting a due retry and
# claiming it again takes at most that and a little more.
PICKUP_S = 0.75


def _gaps(task: dict[str, Any]) -> list[float]:
    """Seconds from the end of each failed attempt to the start of the next."""
    attempts = sorted(task["attempts"], key=lambda a: a["attempt"])
    return [
        (
            datetime.fromisoformat(nxt["started_at"]) - datetime.fromisoformat(prev["finished_at"])
        ).total_seconds()
        for prev, nxt in itertools.pairwise(attempts)
    ]


def test_retries_are_spaced_by_exponential_backoff_with_full_jitter(
    sqlite_url: str, tmp_path: Path
) -> None:
    base = Settings.model_fields["retry_base_s"].default
    assert base == 2.0  # the product default; this test checks what users get
    engine = EngineProcess(
        sqlite_url,
        env={"SKIPLOCK_MAINTENANCE_INTERVAL_S": "0.2"},
        log_path=tmp_path / "engine.log",
    ).start()
    try:
        with engine.client() as c:
            r = c.post(
                "/api/tasks/batch",
                json={
                    "tasks": [
                        {"type": "fail", "payload": {"n": i}, "max_attempts": ATTEMPTS}
                        for i in range(TASKS)
                    ]
                },
            )
            assert r.status_code == 201, r.text
            ids = [t["id"] for t in r.json()["items"]]
            deadline = time.monotonic() + 60
            tasks: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                tasks = [c.get(f"/api/tasks/{i}").json() for i in ids]
                if all(t["state"] == "dead" for t in tasks):
                    break
                time.sleep(0.2)
    finally:
        engine.kill()
    assert all(t["state"] == "dead" for t in tasks), engine.log_text()
    assert all([a["attempt"] for a in t["attempts"]] == [1, 2, 3] for t in tasks)
    by_attempt = list(zip(*(_gaps(t) for t in tasks), strict=True))
    for k, gaps in enumerate(by_attempt, start=1):
        ceiling = base * 2 ** (k - 1)
        # Each wait is within the formula's range (plus the pick-up time)...
        assert all(0 <= g <= ceiling + PICKUP_S for g in gaps), (k, sorted(gaps))
        # ...and spread over it: uniform jitter averages half the ceiling. (A zero base,
        # a ceiling that does not double or doubles twice, all land far outside this.)
        mean = statistics.fmean(gaps) / ceiling
        assert 0.3 <= mean <= 0.85, (k, mean, sorted(gaps))
    # The ceiling doubles: some second waits are longer than any first wait can be.
    assert sum(g > base + PICKUP_S for g in by_attempt[1]) >= 3, sorted(by_attempt[1])
