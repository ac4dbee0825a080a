"""Claim-level fairness on MariaDB: the real producer and fair scheduler over a skewed
backlog. The executor stand-in finishes every task at once, so each producer cycle
claims exactly its free slots."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from engine.adapters.memory.events import MemoryEventStream
from engine.adapters.memory.notifier import MemoryNotifier
from engine.adapters.sql import SqlTaskStore, create_store
from engine.domain.models import Claimed, NewTask, TaskFilter, TenantState
from engine.domain.states import TaskState
from engine.services.producer import Producer, ProducerConfig
from engine.services.publisher import EventPublisher

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return T0

    def monotonic(self) -> float:
        return 0.0


class InstantExecutor:
    """Records what the producer hands over; every slot is free again next cycle."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.claimed: list[Claimed] = []

    def free_slots(self) -> int:
        return self.slots

    def submit(self, claimed: Claimed) -> None:
        self.claimed.append(claimed)


def _fill(store: SqlTaskStore, tenant_id: int, n: int, cost: int = 1) -> None:
    for start in range(0, n, 1000):
        store.submit(
            [
                NewTask(
                    tenant_id=tenant_id,
                    type="noop",
                    payload=None,
                    priority=0,
                    cost=cost,
                    max_attempts=3,
                    timeout_s=10,
                    run_at=T0,
                )
                for _ in range(min(1000, n - start))
            ],
            now=T0,
        )


def _producer(store: SqlTaskStore, executor: InstantExecutor, name: str) -> Producer:
    publisher = EventPublisher(MemoryEventStream(), MemoryNotifier())
    return Producer(
        ProducerConfig(
            worker_id=f"{name}:1", lease_s=60, poll_interval_s=1, max_batch=executor.slots
        ),
        store=store,
        executor=executor,  # type: ignore[arg-type]
        publisher=publisher,
        clock=FixedClock(),
    )


def _shares(claims: list[Claimed], *, by_cost: bool = False) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for c in claims:
        counts[c.tenant] += c.cost if by_cost else 1
    total = sum(counts.values())
    return {t: n / total for t, n in counts.items()}


@pytest.fixture
def store(mysql_url: str) -> SqlTaskStore:
    s = create_store(mysql_url)
    s.migrate()
    return s


async def test_equal_tenants_share_equally_behind_a_huge_backlog(store: SqlTaskStore) -> None:
    ids = {n: store.create_tenant(n, weight=1, rate_limit=None, now=T0).id for n in "abc"}
    _fill(store, ids["a"], 3000)
    _fill(store, ids["b"], 150)
    _fill(store, ids["c"], 150)
    executor = InstantExecutor(slots=12)
    producer = _producer(store, executor, "p")
    while len(executor.claimed) < 420:  # all three stay backlogged throughout
        assert await producer.run_once() > 0
    shares = _shares(executor.claimed[:420])
    for tenant in "abc":
        assert abs(shares[tenant] - 1 / 3) < 0.05, shares
    # The small tenants finish as if the big one had only its fair share.
    while (await producer.run_once()) > 0 and len(executor.claimed) < 600:
        pass
    done_at = {t: max(i for i, c in enumerate(executor.claimed) if c.tenant == t) for t in "bc"}
    assert all(i < 460 for i in done_at.values()), done_at  # ideal: 450 claims


async def test_weights_3_to_1_give_75_percent(store: SqlTaskStore) -> None:
    heavy = store.create_tenant("heavy", weight=3, rate_limit=None, now=T0).id
    light = store.create_tenant("light", weight=1, rate_limit=None, now=T0).id
    _fill(store, heavy, 1500)
    _fill(store, light, 1500)
    executor = InstantExecutor(slots=10)
    producer = _producer(store, executor, "p")
    while len(executor.claimed) < 800:
        await producer.run_once()
    share = _shares(executor.claimed[:800])["heavy"]
    assert abs(share - 0.75) <= 0.0375, share


async def test_fair_shares_count_cost_not_tasks(store: SqlTaskStore) -> None:
    cheap = store.create_tenant("cheap", weight=1, rate_limit=None, now=T0).id
    costly = store.create_tenant("costly", weight=1, rate_limit=None, now=T0).id
    _fill(store, cheap, 1500, cost=1)
    _fill(store, costly, 500, cost=4)
    executor = InstantExecutor(slots=8)
    producer = _producer(store, executor, "p")
    while len(executor.claimed) < 600:
        await producer.run_once()
    by_cost = _shares(executor.claimed[:600], by_cost=True)
    assert abs(by_cost["cheap"] - 0.5) < 0.05, by_cost


async def test_three_instances_each_with_its_own_scheduler_stay_fair_together(
    mysql_url: str, store: SqlTaskStore
) -> None:
    ids = {
        n: store.create_tenant(n, weight=w, rate_limit=None, now=T0).id
        for n, w in (("a", 2), ("b", 1), ("c", 1))
    }
    for tid in ids.values():
        _fill(store, tid, 1200)
    executors = [InstantExecutor(slots=s) for s in (4, 6, 9)]
    producers = [_producer(create_store(mysql_url), e, f"node{i}") for i, e in enumerate(executors)]
    for _ in range(40):
        for p in producers:
            await p.run_once()
    claimed = [c for e in executors for c in e.claimed]
    assert len({c.id for c in claimed}) == len(claimed)  # never one task twice
    shares = _shares(claimed)
    assert abs(shares["a"] - 0.5) < 0.05 and abs(shares["b"] - 0.25) < 0.05, shares


async def test_a_paused_tenant_is_skipped_without_spending_attempts(store: SqlTaskStore) -> None:
    active = store.create_tenant("active", weight=1, rate_limit=None, now=T0).id
    paused = store.create_tenant("paused", weight=1, rate_limit=None, now=T0).id
    _fill(store, active, 20)
    _fill(store, paused, 20)
    store.update_tenant(paused, state=TenantState.PAUSED)
    executor = InstantExecutor(slots=5)
    producer = _producer(store, executor, "p")
    while await producer.run_once():
        pass
    assert {c.tenant for c in executor.claimed} == {"active"}
    page = store.list_tasks(TaskFilter(tenant_id=paused), limit=50, cursor=None)
    assert len(page.items) == 20
    assert all(t.attempt == 0 and t.state is TaskState.QUEUED for t in page.items)
