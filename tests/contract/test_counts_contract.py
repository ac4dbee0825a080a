"""The maintained active-task counts (``task_counts``) equal a recount of the rows after
every store operation that moves tasks, on SQLite and MariaDB."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from skiplock.adapters.sql import SqlTaskStore, counts
from skiplock.adapters.sql.schema import tasks
from skiplock.domain.models import Completion, NewTask, Outcome, TaskFilter
from skiplock.domain.schedules import ScheduleSpec, Timing
from skiplock.domain.states import ACTIVE_STATES, TaskState, Transition
from skiplock.ports import Fire, Lease

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TYPES = ("email", "resize", "report")


def truth(store: SqlTaskStore) -> dict[tuple[int, str, str], int]:
    query = (
        select(tasks.c.tenant_id, tasks.c.type, tasks.c.state, func.count().label("n"))
        .where(tasks.c.state.in_([s.value for s in ACTIVE_STATES]))
        .group_by(tasks.c.tenant_id, tasks.c.type, tasks.c.state)
    )
    with store.engine.connect() as conn:
        return {
            (int(r.tenant_id), str(r.type), str(r.state)): int(r.n) for r in conn.execute(query)
        }


def maintained(store: SqlTaskStore) -> dict[tuple[int, str, str], int]:
    with store.engine.connect() as conn:
        return counts.read(conn)


class Walk:
    """A random sequence of every store call that changes task states."""

    def __init__(self, store: SqlTaskStore, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.now = T0
        self.tenants = [
            store.create_tenant(f"t{seed}-{i}", weight=1, rate_limit=None, now=T0).id
            for i in range(3)
        ]
        self.running: list[tuple[int, int, str]] = []  # (task id, attempt, worker)
        self.schedules = [
            store.create_schedule(
                ScheduleSpec(
                    name=f"s{seed}-{i}",
                    tenant_id=tenant_id,
                    type="report",
                    timing=Timing(every_s=1),
                ),
                next_fire_at=T0,
                now=T0,
            )
            for i, tenant_id in enumerate(self.tenants)
        ]

    def ids(self, states: tuple[TaskState, ...]) -> list[int]:
        page = self.store.list_tasks(TaskFilter(states=states), limit=500, cursor=None)
        return [t.id for t in page.items]

    def submit(self) -> None:
        rng = self.rng
        batch = [
            NewTask(
                tenant_id=rng.choice(self.tenants),
                type=rng.choice(TYPES),
                payload=None,
                priority=0,
                cost=1,
                max_attempts=rng.choice((1, 2)),
                timeout_s=10,
                run_at=self.now + timedelta(seconds=rng.choice((0, 0, 5))),
                idempotency_key=rng.choice((None, None, f"k{rng.randrange(6)}")),
            )
            for _ in range(rng.randint(1, 6))
        ]
        self.store.submit(batch, now=self.now)

    def claim(self) -> None:
        worker = self.rng.choice(("a:1", "b:1"))
        grants = {t: self.rng.randint(0, 3) for t in self.tenants}
        got = self.store.claim(
            grants, worker=worker, now=self.now, lease_until=self.now + timedelta(seconds=30)
        )
        self.running += [(c.id, c.attempt, worker) for c in got]

    def _take(self) -> list[tuple[int, int, str]]:
        self.rng.shuffle(self.running)
        k = self.rng.randint(0, len(self.running))
        taken, self.running = self.running[:k], self.running[k:]
        return taken

    def complete(self) -> None:
        # A duplicate completion of one task must count once: the second is fenced out.
        self.store.complete(self._completions())

    def complete_and_claim(self) -> None:
        worker = self.rng.choice(("a:1", "b:1"))
        grants = {t: self.rng.randint(0, 3) for t in self.tenants}
        _, got = self.store.complete_and_claim(
            self._completions(),
            grants,
            worker=worker,
            now=self.now,
            lease_until=self.now + timedelta(seconds=30),
        )
        self.running += [(c.id, c.attempt, worker) for c in got]

    def _completions(self) -> list[Completion]:
        done = []
        for task_id, attempt, _ in self._take():
            kind = self.rng.choice(
                (Transition.SUCCEED, Transition.FAIL_RETRY, Transition.FAIL_DEAD)
            )
            retry_at = self.now + timedelta(seconds=3) if kind is Transition.FAIL_RETRY else None
            outcome = Outcome.SUCCEEDED if kind is Transition.SUCCEED else Outcome.FAILED
            done.append(Completion(task_id, attempt, kind, outcome, self.now, retry_at=retry_at))
        return done + done[:1]

    def release(self) -> None:
        self.store.release([Lease(i, a) for i, a, _ in self._take()], now=self.now)

    def heartbeat(self) -> None:
        self.store.heartbeat(
            [Lease(i, a) for i, a, w in self.running if w == "a:1"],
            worker="a:1",
            lease_until=self.now + timedelta(seconds=30),
        )

    def tick(self) -> None:
        self.now += timedelta(seconds=self.rng.choice((1, 4, 40)))

    def promote(self) -> None:
        self.store.promote_due(now=self.now, limit=self.rng.randint(1, 10))

    def rescue(self) -> None:
        rescued = self.store.rescue_expired(
            now=self.now, limit=self.rng.randint(1, 10), retry_at=self.now
        )
        gone = {r.task_id for r in rescued}
        self.running = [r for r in self.running if r[0] not in gone]

    def cancel(self) -> None:
        live = self.ids((TaskState.QUEUED, TaskState.SCHEDULED, TaskState.RUNNING))
        if live:
            self.store.cancel(self.rng.choice(live), tenant_id=None, now=self.now)

    def fire(self) -> None:
        # Ticks a schedule fired already are skipped by the fire key, not inserted.
        fires = [
            Fire(
                s,
                tick,
                NewTask(
                    tenant_id=s.spec.tenant_id,
                    type=s.spec.type,
                    payload=None,
                    priority=0,
                    cost=1,
                    max_attempts=1,
                    timeout_s=10,
                    run_at=tick,
                ),
            )
            for s in self.rng.sample(self.schedules, 2)
            for tick in (self.now, self.now - timedelta(seconds=1))
        ]
        self.store.fire_schedules(fires, now=self.now)

    def run_now(self) -> None:
        scheduled = self.ids((TaskState.SCHEDULED,))
        if scheduled:
            self.store.run_now(self.rng.choice(scheduled), tenant_id=None, now=self.now)

    def delete(self) -> None:
        scheduled = self.ids((TaskState.SCHEDULED,))
        if scheduled:
            self.store.delete_scheduled(self.rng.choice(scheduled), tenant_id=None)

    def requeue(self) -> None:
        finished = self.ids((TaskState.DEAD, TaskState.CANCELLED))
        if finished:
            self.store.requeue(self.rng.choice(finished), tenant_id=None, now=self.now)

    def bulk(self) -> None:
        flt = TaskFilter(tenant_id=self.rng.choice(self.tenants))
        if self.rng.random() < 0.5:
            self.store.cancel_matching(flt, now=self.now, limit=self.rng.randint(1, 5))
        else:
            self.store.requeue_matching(flt, now=self.now, limit=self.rng.randint(1, 5))

    def prune(self) -> None:
        self.store.prune(finished_before=self.now, limit=5)

    OPERATIONS = (
        "submit",
        "submit",
        "claim",
        "claim",
        "complete",
        "complete_and_claim",
        "release",
        "heartbeat",
        "tick",
        "promote",
        "rescue",
        "cancel",
        "run_now",
        "delete",
        "fire",
        "requeue",
        "bulk",
        "prune",
    )

    def step(self) -> str:
        name = self.rng.choice(self.OPERATIONS)
        getattr(self, name)()
        return name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_match_the_rows_after_every_operation(store: SqlTaskStore, seed: int) -> None:
    walk = Walk(store, seed)
    seen: set[str] = set()
    for step in range(120):
        name = walk.step()
        seen.add(name)
        assert maintained(store) == truth(store), f"after step {step}: {name}"
    assert seen == set(Walk.OPERATIONS)  # every kind of operation ran at least once
    assert sum(truth(store).values()) > 0


def test_deleting_a_tenants_tasks_drops_its_counts(store: SqlTaskStore) -> None:
    walk = Walk(store, 7)
    for _ in range(30):
        walk.step()
    walk.submit()
    victim = walk.tenants[0]
    before = store.count_tenant_tasks([victim])
    assert before > 0
    assert store.delete_tenant_tasks([victim]) == before  # the dry-run count is exact
    assert store.count_tenant_tasks([victim]) == 0
    assert maintained(store) == truth(store)
    assert all(key[0] != victim for key in maintained(store))


def test_recount_repairs_counts_after_writes_around_the_store(store: SqlTaskStore) -> None:
    walk = Walk(store, 11)
    for _ in range(40):
        walk.step()
    with store.engine.begin() as conn:  # a bulk load that bypasses the store
        conn.execute(tasks.update().where(tasks.c.state == "queued").values(state="scheduled"))
    active = sum(truth(store).values())
    assert store.recount() == active
    assert maintained(store) == truth(store)


def test_queue_stats_and_analytics_read_the_counts(store: SqlTaskStore) -> None:
    walk = Walk(store, 5)
    for _ in range(60):
        walk.step()
    expected = truth(store)
    for depth in store.queue_stats(now=walk.now):
        for state, n in depth.counts.items():
            want = sum(
                v for (t, _, s), v in expected.items() if t == depth.tenant_id and s == state
            )
            assert n == want, (depth.tenant, state)
    summary = store.analytics_summary(since=walk.now - timedelta(hours=1), tenant_id=None)
    for state in ACTIVE_STATES:
        want = sum(v for (_, _, s), v in expected.items() if s == state.value)
        assert summary.counts[state.value] == want, state


# Every public store method, by what it does to task rows. A method added to the store
# fails the test below until it is listed here; one that moves tasks between states must
# be a step of the walk, which checks the counts exact after each step.
WALKED = {
    "submit": "submit",
    "claim": "claim",
    "complete": "complete",
    "complete_and_claim": "complete_and_claim",
    "release": "release",
    "heartbeat": "heartbeat",
    "promote_due": "promote",
    "rescue_expired": "rescue",
    "cancel": "cancel",
    "requeue": "requeue",
    "run_now": "run_now",
    "delete_scheduled": "delete",
    "fire_schedules": "fire",
    "cancel_matching": "bulk",
    "requeue_matching": "bulk",
    "prune": "prune",
}
# Move or drop tasks, with tests of their own in this module.
TESTED_APART = {"delete_tenant_tasks", "recount"}
# Never write a task row.
LEAVE_TASKS_ALONE = {
    "analytics_summary", "announce_types", "breakdown", "buffer_pool", "close",
    "count_tasks", "count_tenant_tasks", "create_schedule", "delete_schedule",
    "get_schedule", "lease_schedules", "list_schedules", "prune_fires", "release_schedules",
    "update_schedule",
    "create_api_key", "create_session", "create_tenant", "delete_session", "find_api_key",
    "find_session", "get_task", "get_tenant", "list_api_keys", "list_tasks",
    "list_tenants", "migrate", "ping", "prune_sessions", "queue_stats", "read", "read_tx",
    "ready_tenants", "requeue_candidates", "revoke_api_key", "schema_version",
    "task_types", "tenant_name", "tenant_names", "throughput", "touch_api_key",
    "update_tenant", "where", "write", "write_folded",
}  # fmt: skip


def test_every_store_method_that_moves_tasks_is_walked() -> None:
    public = {
        name
        for name in dir(SqlTaskStore)
        if not name.startswith("_") and callable(getattr(SqlTaskStore, name))
    }
    assert public - set(WALKED) - TESTED_APART - LEAVE_TASKS_ALONE == set(), "classify it"
    assert set(WALKED.values()) <= set(Walk.OPERATIONS)


def test_a_write_that_skips_the_tally_is_caught(store: SqlTaskStore) -> None:
    # What the walk would see if a write path bypassed the unit of work: rows moved, counts
    # not. (The check the walk runs after every step, shown to bite.)
    walk = Walk(store, 13)
    walk.submit()
    with store.engine.begin() as conn:
        conn.execute(tasks.update().where(tasks.c.state == "queued").values(state="scheduled"))
    assert maintained(store) != truth(store)
