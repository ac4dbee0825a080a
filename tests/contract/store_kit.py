"""Building blocks for the store contract suites on fences and transitions: tasks made
the way the engine makes them, in any state; the maintained counts checked against the
rows; and a deterministic interleaving of two transactions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from skiplock.adapters.sql import SqlTaskStore
from skiplock.domain.models import Claimed, Completion, NewTask, Outcome
from skiplock.domain.states import TaskState, Transition
from tests.contract.test_counts_contract import maintained, truth

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


S = TaskState


def new(tenant_id: int, **kw: object) -> NewTask:
    base: dict[str, object] = {
        "tenant_id": tenant_id,
        "type": "noop",
        "payload": {},
        "priority": 0,
        "cost": 1,
        "max_attempts": 3,
        "timeout_s": 10.0,
        "run_at": T0,
    }
    return NewTask(**(base | kw))  # type: ignore[arg-type]


def claim(store: SqlTaskStore, tenant: int, worker: str, now: datetime = T0) -> Claimed:
    [got] = store.claim({tenant: 1}, worker=worker, now=now, lease_until=now + LEASE)
    return got


def taken_over(store: SqlTaskStore, tenant: int) -> tuple[Claimed, Claimed, datetime]:
    """A task claimed by worker a, whose lease expired and was rescued, then claimed again
    by worker b: a is a zombie holding attempt 1, b runs attempt 2."""
    store.submit([new(tenant)], now=T0)
    zombie = claim(store, tenant, "a:1")
    later = T0 + LEASE + timedelta(seconds=1)
    assert [m.task_id for m in store.rescue_expired(now=later, limit=10, retry_at=later)] == [
        zombie.id
    ]
    store.promote_due(now=later, limit=10)
    fresh = claim(store, tenant, "b:1", now=later)
    assert (fresh.id, fresh.attempt) == (zombie.id, zombie.attempt + 1)
    return zombie, fresh, later


def in_every_state(store: SqlTaskStore, tenant: int) -> dict[TaskState, int]:
    """One task in each state, made the way the engine makes it."""
    ids: dict[TaskState, int] = {}
    [scheduled] = store.submit([new(tenant, run_at=T0 + timedelta(hours=1))], now=T0)
    ids[S.SCHEDULED] = scheduled.task.id
    for state in (S.RUNNING, S.SUCCEEDED, S.RETRYING, S.DEAD, S.CANCELLED):
        store.submit([new(tenant)], now=T0)
        c = claim(store, tenant, "a:1")
        ids[state] = c.id
        if state is S.SUCCEEDED:
            store.complete([Completion(c.id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, T0)])
        elif state is S.RETRYING:
            retry_at = T0 + timedelta(hours=1)
            store.complete(
                [Completion(c.id, 1, Transition.FAIL_RETRY, Outcome.FAILED, T0, retry_at=retry_at)]
            )
        elif state is S.DEAD:
            store.complete([Completion(c.id, 1, Transition.FAIL_DEAD, Outcome.FAILED, T0)])
        elif state is S.CANCELLED:
            store.cancel(c.id, tenant_id=tenant, now=T0)
    [queued] = store.submit([new(tenant)], now=T0)
    ids[S.QUEUED] = queued.task.id
    assert {s: store.get_task(i).state for s, i in ids.items()} == {s: s for s in ids}
    return ids


CANCELLABLE = {S.SCHEDULED, S.QUEUED, S.RUNNING, S.RETRYING}


REQUEUEABLE = {S.DEAD, S.CANCELLED}


def counts_match_the_rows(store: SqlTaskStore) -> None:
    assert maintained(store) == truth(store)


def race(store: SqlTaskStore, starts_with: str, rival: Callable[[], object]) -> list[str]:
    """Run ``rival`` (in another connection, committed) just before ``store`` executes
    its first statement that starts with ``starts_with``: a deterministic interleaving of
    two transactions."""
    fired: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and " ".join(statement.split()).startswith(starts_with):
            fired.append(statement)
            rival()

    event.listen(store.engine, "before_cursor_execute", before)
    return fired
