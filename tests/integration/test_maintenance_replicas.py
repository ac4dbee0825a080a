"""Maintenance on several replicas at once (the Helm chart runs it on every api pod): three
promoters, rescuers and cleaners, each with its own connection pool as separate pods
have, scanning the same MariaDB concurrently, move or delete every row exactly once, and
the maintained active-task counts still equal a recount."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from skiplock.adapters.sql import SqlTaskStore, counts, create_store
from skiplock.domain.models import Completion, Event, NewTask, Outcome
from skiplock.domain.states import Transition
from skiplock.services.base import LoopService
from skiplock.services.maintenance import Cleaner, MaintenanceConfig, Promoter, Rescuer
from skiplock.settings import Settings

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(240)]

REPLICAS = 3
TASKS = 3000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Small batches, so the replicas' scans interleave many times over the same rows.
CONFIG = replace(
    MaintenanceConfig.of(Settings(), retry_base_s=1.0), interval_s=1.0, batch=40, prune_batch=40
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return 0.0


class Recorder:
    """Stands in for the event publisher: keeps what one replica emitted."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, events: Iterable[Event]) -> None:
        self.events.extend(events)

    def work_ready(self) -> None:
        pass


def fill(store: SqlTaskStore, tenant: int, *, run_at: datetime, max_attempts: int = 3) -> None:
    batch = [
        NewTask(
            tenant_id=tenant,
            type="noop",
            payload=None,
            priority=0,
            cost=1,
            max_attempts=1 if i % 3 == 0 else max_attempts,
            timeout_s=10,
            run_at=run_at,
        )
        for i in range(TASKS)
    ]
    for start in range(0, TASKS, 1000):
        store.submit(batch[start : start + 1000], now=T0)


async def drain(services: list[LoopService], left: Callable[[], int]) -> list[int]:
    """Run every replica's cycles concurrently until no row is left to handle. A cycle
    that finds only rows another replica has locked (SKIP LOCKED) handles none; like the
    service's loop, the replica then tries again."""

    async def replica(service: LoopService) -> int:
        handled = 0
        while True:
            n = await service.run_once()
            handled += n
            if n == 0:
                if await asyncio.to_thread(left) == 0:
                    return handled
                await asyncio.sleep(0.01)

    return list(await asyncio.gather(*(replica(s) for s in services)))


def remaining(store: SqlTaskStore, where: str) -> Callable[[], int]:
    def count() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM tasks WHERE {where}")).scalar_one())

    return count


def assert_counts_exact(store: SqlTaskStore) -> None:
    with store.engine.connect() as conn:
        kept = counts.read(conn)
        truth = {
            (int(r.tenant_id), str(r.type), str(r.state)): int(r.n)
            for r in conn.execute(
                text(
                    "SELECT tenant_id, type, state, COUNT(*) AS n FROM tasks WHERE state IN"
                    " ('queued','scheduled','running','retrying') GROUP BY tenant_id, type, state"
                )
            )
        }
    assert kept == truth


@pytest.fixture
def stores(mysql_url: str) -> Iterable[list[SqlTaskStore]]:
    setup = create_store(mysql_url)
    setup.migrate()
    replicas = [create_store(mysql_url) for _ in range(REPLICAS)]
    yield [setup, *replicas]
    for store in (setup, *replicas):
        store.close()


def states(store: SqlTaskStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT state, COUNT(*) FROM tasks GROUP BY state")).all()
    return {str(state): int(n) for state, n in rows}


async def test_several_promoters_make_each_due_task_ready_exactly_once(
    stores: list[SqlTaskStore],
) -> None:
    setup, *replicas = stores
    tenant = setup.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    fill(setup, tenant, run_at=T0 + timedelta(seconds=10))
    assert states(setup) == {"scheduled": TASKS}
    clock = Clock(T0 + timedelta(seconds=20))
    recorders = [Recorder() for _ in replicas]
    promoters: list[LoopService] = [
        Promoter(CONFIG, store=s, publisher=r, clock=clock)  # type: ignore[arg-type]
        for s, r in zip(replicas, recorders, strict=True)
    ]
    handled = await drain(promoters, remaining(setup, "state = 'scheduled'"))
    moved = Counter(e.data["id"] for r in recorders for e in r.events)
    assert sum(handled) == TASKS
    assert len(moved) == TASKS and set(moved.values()) == {1}
    assert states(setup) == {"queued": TASKS}
    assert_counts_exact(setup)


async def test_several_rescuers_fail_each_expired_lease_exactly_once(
    stores: list[SqlTaskStore],
) -> None:
    setup, *replicas = stores
    tenant = setup.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    fill(setup, tenant, run_at=T0)
    claimed = 0
    while got := setup.claim(
        {tenant: 500}, worker="gone-pod:abc", now=T0, lease_until=T0 + timedelta(seconds=5)
    ):
        claimed += len(got)
    assert claimed == TASKS
    clock = Clock(T0 + timedelta(seconds=60))
    recorders = [Recorder() for _ in replicas]
    rescuers: list[LoopService] = [
        Rescuer(CONFIG, store=s, publisher=r, clock=clock)  # type: ignore[arg-type]
        for s, r in zip(replicas, recorders, strict=True)
    ]
    handled = await drain(rescuers, remaining(setup, "state = 'running'"))
    moved = Counter(e.data["id"] for r in recorders for e in r.events)
    assert sum(handled) == TASKS
    assert len(moved) == TASKS and set(moved.values()) == {1}
    # A third had one attempt (dead letters now), the rest retry; none was charged twice.
    assert states(setup) == {"dead": TASKS // 3, "retrying": TASKS - TASKS // 3}
    with setup.engine.connect() as conn:
        attempts = conn.execute(text("SELECT MIN(attempt), MAX(attempt) FROM tasks")).one()
        per_task = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT task_id) FROM task_attempts")
        ).one()
    assert tuple(attempts) == (1, 1)
    assert tuple(per_task) == (TASKS, TASKS)
    assert_counts_exact(setup)


async def test_several_cleaners_delete_each_old_finished_task_exactly_once(
    stores: list[SqlTaskStore],
) -> None:
    setup, *replicas = stores
    tenant = setup.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    fill(setup, tenant, run_at=T0)
    while got := setup.claim(
        {tenant: 500}, worker="w:1", now=T0, lease_until=T0 + timedelta(seconds=60)
    ):
        done = setup.complete(
            [Completion(c.id, c.attempt, Transition.SUCCEED, Outcome.SUCCEEDED, T0) for c in got]
        )
        assert len(done) == len(got)
    assert states(setup) == {"succeeded": TASKS}
    clock = Clock(T0 + timedelta(seconds=CONFIG.retention_s + 1))
    cleaners: list[LoopService] = [Cleaner(CONFIG, store=s, clock=clock) for s in replicas]
    handled = await drain(cleaners, remaining(setup, "TRUE"))
    assert sum(handled) == TASKS  # every row deleted once: no replica counted another's
    assert states(setup) == {}
    with setup.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM task_attempts")).scalar() in (0, TASKS)
    assert_counts_exact(setup)
