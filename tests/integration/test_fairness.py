"""Fairness end to end: the real worker runtime (producer, fair scheduler, executor,
completer) on a real database, tasks really running for their durations, shares measured
from the rows afterwards. A weight shares worker time: a task is charged ``cost × the
seconds it ran`` (at least the scheduler's floor), docs/DESIGN-NOTES.md "Fairness"."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.adapters.sql.schema import tasks
from skiplock.domain.models import NewTask, TaskFilter, TenantState
from skiplock.domain.scheduler import FLOOR_S
from skiplock.domain.states import TaskState
from skiplock.wiring import Engine, build_engine
from tests.integration.conftest import make_settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Tasks of 20–60 ms (a simulated type that never fails): slots free up one at a time,
# as they do in a real worker, not all at once.
STAGGERED = ("send_email", {"min_s": 0.02, "max_s": 0.06, "fail_rate": 0})


def _fill(
    store: SqlTaskStore,
    tenant_id: int,
    n: int,
    *,
    cost: int = 1,
    task: tuple[str, dict[str, Any]] = STAGGERED,
) -> None:
    for start in range(0, n, 1000):
        store.submit(
            [
                NewTask(
                    tenant_id=tenant_id,
                    type=task[0],
                    payload=task[1],
                    priority=0,
                    cost=cost,
                    max_attempts=3,
                    timeout_s=60,
                    run_at=T0,
                )
                for _ in range(min(1000, n - start))
            ],
            now=T0,
        )


@dataclass(frozen=True)
class Ran:
    id: int
    tenant_id: int
    cost: int
    started: float
    finished: float | None

    def charge(self, until: float) -> float:
        end = until if self.finished is None else min(self.finished, until)
        return self.cost * max(FLOOR_S, end - self.started)


def _ran(store: SqlTaskStore) -> list[Ran]:
    query = select(
        tasks.c.id, tasks.c.tenant_id, tasks.c.cost, tasks.c.started_at, tasks.c.finished_at
    ).where(tasks.c.started_at.is_not(None))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = [
        Ran(
            int(r.id),
            int(r.tenant_id),
            int(r.cost),
            r.started_at.timestamp(),
            None if r.finished_at is None else r.finished_at.timestamp(),
        )
        for r in rows
    ]
    return sorted(out, key=lambda r: (r.started, r.id))


def _queued(store: SqlTaskStore, tenant_id: int) -> int:
    query = select(func.count()).where(
        tasks.c.tenant_id == tenant_id, tasks.c.state == TaskState.QUEUED.value
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


async def _run_workers(
    url: str,
    *,
    slots: Sequence[int],
    until: Callable[[], bool],
    timeout_s: float = 90.0,
    **overrides: Any,
) -> None:
    """Run one in-process worker engine per entry of ``slots`` until ``until()`` holds.
    Each has an instance name of its own: engines of one name would take each other for
    a previous incarnation and recover each other's tasks."""
    engines: list[Engine] = []
    for i, n in enumerate(slots):
        settings = make_settings(
            url, **{"roles": "worker", "workers": n, "instance_id": f"fair-{i}", **overrides}
        )
        engines.append(build_engine(settings, store=create_store(url)))
    for engine in engines:
        await engine.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not await asyncio.to_thread(until):
            assert time.monotonic() < deadline, f"not done within {timeout_s} s"
            await asyncio.sleep(0.05)
    finally:
        for engine in engines:
            await engine.stop()


def _backlogged_stretch(ran: list[Ran], sizes: dict[int, int]) -> float:
    """When the first tenant to run out of queued work claimed its last task."""
    last_start: dict[int, float] = {}
    started: Counter[int] = Counter()
    for r in ran:
        started[r.tenant_id] += 1
        last_start[r.tenant_id] = r.started
    done = [last_start[t] for t, n in sizes.items() if started[t] >= n]
    assert done, "no tenant ran out of work"
    return min(done)


def _shares(ran: list[Ran], until: float) -> tuple[dict[int, float], dict[int, int]]:
    """Worker time charged and tasks started per tenant, for tasks started by ``until``."""
    charged: Counter[int] = Counter()
    started: Counter[int] = Counter()
    for r in ran:
        if r.started <= until:
            charged[r.tenant_id] += r.charge(until)  # type: ignore[assignment]
            started[r.tenant_id] += 1
    total = sum(charged.values())
    return {t: c / total for t, c in charged.items()}, dict(started)


@pytest.fixture
def store(mysql_url: str) -> SqlTaskStore:
    s = create_store(mysql_url)
    s.migrate()
    return s


@pytest.mark.parametrize("slots", [2, 8])
async def test_weights_3_to_1_share_worker_time_75_to_25(
    mysql_url: str, store: SqlTaskStore, slots: int
) -> None:
    heavy = store.create_tenant("heavy", weight=3, rate_limit=None, now=T0).id
    light = store.create_tenant("light", weight=1, rate_limit=None, now=T0).id
    sizes = {heavy: 90 * slots, light: 90 * slots}
    for tenant, n in sizes.items():
        _fill(store, tenant, n)
    await _run_workers(mysql_url, slots=[slots], until=lambda: _queued(store, heavy) == 0)
    ran = _ran(store)
    shares, started = _shares(ran, _backlogged_stretch(ran, sizes))
    assert shares[heavy] == pytest.approx(0.75, rel=0.05), (shares, started)


@pytest.mark.parametrize("slots", [2, 8])
async def test_a_tenant_of_cost_5_tasks_runs_a_fifth_as_many_as_an_equal_tenant_of_cost_1(
    mysql_url: str, store: SqlTaskStore, slots: int
) -> None:
    cheap = store.create_tenant("cheap", weight=1, rate_limit=None, now=T0).id
    costly = store.create_tenant("costly", weight=1, rate_limit=None, now=T0).id
    sizes = {cheap: 120 * slots, costly: 60 * slots}
    _fill(store, cheap, sizes[cheap], cost=1)
    _fill(store, costly, sizes[costly], cost=5)
    await _run_workers(mysql_url, slots=[slots], until=lambda: _queued(store, cheap) == 0)
    ran = _ran(store)
    shares, started = _shares(ran, _backlogged_stretch(ran, sizes))
    assert shares[cheap] == pytest.approx(0.5, rel=0.05), (shares, started)
    assert started[costly] / started[cheap] == pytest.approx(1 / 5, rel=0.1), started


async def test_small_tenants_behind_a_huge_backlog_finish_as_if_it_had_its_share_only(
    mysql_url: str, store: SqlTaskStore
) -> None:
    ids = {n: store.create_tenant(n, weight=1, rate_limit=None, now=T0).id for n in "abc"}
    _fill(store, ids["a"], 3000)
    _fill(store, ids["b"], 150)
    _fill(store, ids["c"], 150)
    await _run_workers(
        mysql_url,
        slots=[8],
        until=lambda: _queued(store, ids["b"]) + _queued(store, ids["c"]) == 0,
    )
    ran = _ran(store)
    done = max(r.started for r in ran if r.tenant_id != ids["a"])
    # Until their last task started, the big tenant had no more than its third of the
    # worker time: the small ones waited about as long as if each had been alone.
    shares, started = _shares(ran, done)
    assert shares[ids["a"]] <= 1 / 3 * 1.05, (shares, started)
    assert started[ids["b"]] == started[ids["c"]] == 150


async def test_three_instances_each_with_its_own_scheduler_stay_fair_together(
    mysql_url: str, store: SqlTaskStore
) -> None:
    ids = {
        n: store.create_tenant(n, weight=w, rate_limit=None, now=T0).id
        for n, w in (("a", 2), ("b", 1), ("c", 1))
    }
    sizes = dict.fromkeys(ids.values(), 600)
    for tenant in ids.values():
        _fill(store, tenant, 600)
    await _run_workers(mysql_url, slots=[2, 3, 8], until=lambda: _queued(store, ids["a"]) == 0)
    ran = _ran(store)
    with store.engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(tasks)).scalar_one()
    assert len({r.id for r in ran}) == len(ran) <= runs  # never one task twice
    shares, started = _shares(ran, _backlogged_stretch(ran, sizes))
    assert shares[ids["a"]] == pytest.approx(0.5, rel=0.05), (shares, started)
    assert shares[ids["b"]] == pytest.approx(0.25, rel=0.05), (shares, started)


async def test_a_paused_tenant_is_skipped_without_spending_attempts(
    mysql_url: str, store: SqlTaskStore
) -> None:
    active = store.create_tenant("active", weight=1, rate_limit=None, now=T0).id
    paused = store.create_tenant("paused", weight=1, rate_limit=None, now=T0).id
    _fill(store, active, 20)
    _fill(store, paused, 20)
    store.update_tenant(paused, state=TenantState.PAUSED)
    await _run_workers(mysql_url, slots=[5], until=lambda: _queued(store, active) == 0)
    assert {r.tenant_id for r in _ran(store)} == {active}
    page = store.list_tasks(TaskFilter(tenant_id=paused), limit=50, cursor=None)
    assert len(page.items) == 20
    assert all(t.attempt == 0 and t.state is TaskState.QUEUED for t in page.items)


async def test_a_weight_50_tenant_of_no_op_tasks_gets_its_share_beside_long_tasks_at_the_defaults(
    sqlite_url: str,
) -> None:
    # The embedded engine at the product defaults (8 slots, SQLite): "load" has 5,000 no-op
    # tasks and weight 50, "bee" and "cee" 500 tasks of 0.2 s and weight 1. Handing each
    # freed slot round-robin by task count let bee and cee hold all 8 slots (4 each) while
    # load waited for them to run dry.
    store = create_store(sqlite_url)
    store.migrate()
    load = store.create_tenant("load", weight=50, rate_limit=None, now=T0).id
    bee = store.create_tenant("bee", weight=1, rate_limit=None, now=T0).id
    cee = store.create_tenant("cee", weight=1, rate_limit=None, now=T0).id
    _fill(store, bee, 500, task=("async_sleep", {"seconds": 0.2}))
    _fill(store, cee, 500, task=("async_sleep", {"seconds": 0.2}))
    _fill(store, load, 5000, task=("noop", {}))
    await _run_workers(
        sqlite_url,
        slots=[8],
        until=lambda: _queued(store, load) == 0,
        timeout_s=180,
        roles="all",
        poll_interval_s=1.0,
        complete_flush_s=0.005,
    )
    ran = _ran(store)
    stretch = _backlogged_stretch(ran, {load: 5000, bee: 500, cee: 500})
    # From the first claim on: of the first 100 tasks started, load's are nearly all.
    first = Counter(r.tenant_id for r in ran[:100])
    assert first[load] >= 95, first
    # While load had queued work, bee and cee never held more than one slot each (their
    # fair share of 8 slots is 8/52 of a slot)...
    for tenant in (bee, cee):
        spans = [r for r in ran if r.tenant_id == tenant and r.started < stretch]
        for before, after in itertools.pairwise(spans):
            assert before.finished is not None and before.finished <= after.started, (
                before,
                after,
            )
    # ...and load got its weighted share of the worker time (50/52 = 96 %).
    shares, started = _shares(ran, stretch)
    assert shares[load] >= 0.9, (shares, started)
