"""Hand-driven transitions of the task store, on every adapter (SQLite, MariaDB): cancel,
requeue and delete change exactly the states the transition table allows, with their
bookkeeping, within the caller's tenant, and with a compare-and-set that holds under a
real race (on MariaDB, where two transactions can interleave)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.models import Completion, Outcome, TaskFilter
from skiplock.domain.states import DELETABLE_STATES, InvalidTransition, TaskState, Transition
from skiplock.ports import Lease
from tests.contract.store_kit import (
    CANCELLABLE,
    LEASE,
    REQUEUEABLE,
    T0,
    S,
    claim,
    counts_match_the_rows,
    in_every_state,
    new,
    race,
)


@pytest.fixture
def tenant(store: SqlTaskStore) -> int:
    return store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id


def test_cancel_changes_exactly_the_active_states(store: SqlTaskStore, tenant: int) -> None:
    ids = in_every_state(store, tenant)
    for state, task_id in ids.items():
        if state in CANCELLABLE:
            assert store.cancel(task_id, tenant_id=tenant, now=T0).state is S.CANCELLED, state
        else:
            with pytest.raises(InvalidTransition):
                store.cancel(task_id, tenant_id=tenant, now=T0)
            assert store.get_task(task_id).state is state


def test_delete_removes_exactly_scheduled_tasks_within_the_tenant(
    store: SqlTaskStore, tenant: int
) -> None:
    ids = in_every_state(store, tenant)
    other = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    with pytest.raises(NotFound):  # another tenant's task is not there for this one
        store.delete_scheduled(ids[S.SCHEDULED], tenant_id=other)
    for state, task_id in ids.items():
        if state in DELETABLE_STATES:
            gone = store.delete_scheduled(task_id, tenant_id=tenant)
            assert (gone.id, gone.state) == (task_id, state)
            with pytest.raises(NotFound):
                store.get_task(task_id)
        else:
            with pytest.raises(Conflict, match=f"task {task_id} is {state.value}"):
                store.delete_scheduled(task_id, tenant_id=tenant)
            assert store.get_task(task_id).state is state
    counts_match_the_rows(store)


def test_requeue_changes_exactly_dead_and_cancelled_tasks(store: SqlTaskStore, tenant: int) -> None:
    ids = in_every_state(store, tenant)
    for state, task_id in ids.items():
        before = store.get_task(task_id)
        if state in REQUEUEABLE:
            assert store.requeue(task_id, tenant_id=tenant, now=T0).state is S.QUEUED, state
        else:
            # A requeued running task would run twice at once; a retrying or scheduled
            # one would run before it is due.
            with pytest.raises(InvalidTransition):
                store.requeue(task_id, tenant_id=tenant, now=T0)
            after = store.get_task(task_id)
            assert (after.state, after.attempt, after.lease_owner) == (
                state,
                before.attempt,
                before.lease_owner,
            )


def test_bulk_cancel_and_requeue_change_exactly_the_allowed_states(
    store: SqlTaskStore, tenant: int
) -> None:
    ids = in_every_state(store, tenant)
    by_id = {i: s for s, i in ids.items()}
    requeued = store.requeue_matching(TaskFilter(tenant_id=tenant), now=T0, limit=100)
    assert {by_id[i] for i in requeued} == REQUEUEABLE
    assert {
        c.id for c in store.requeue_candidates(TaskFilter(tenant_id=tenant), limit=100)
    } == set()
    # Now dead and cancelled are queued again: everything but succeeded can be cancelled.
    cancelled = store.cancel_matching(TaskFilter(tenant_id=tenant), now=T0, limit=100)
    assert {by_id[i] for i in cancelled} == set(TaskState) - {S.SUCCEEDED}
    states_now = {by_id[i]: store.get_task(i).state for i in by_id}
    assert states_now == {s: S.SUCCEEDED if s is S.SUCCEEDED else S.CANCELLED for s in ids}


def test_cancelling_closes_the_running_attempt_alone_and_keeps_the_counts(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant, type=t) for t in "abcd"], now=T0)
    twice, other, queued, once = (claim(store, tenant, "a:1") for _ in range(4))
    assert store.release([Lease(twice.id, 1), Lease(queued.id, 1)], now=T0) == sorted(
        [twice.id, queued.id]
    )
    assert claim(store, tenant, "a:1").id == twice.id  # attempt 2 runs; queued waits
    t1 = T0 + timedelta(seconds=9)
    for task in (twice, queued, once):
        store.cancel(task.id, tenant_id=tenant, now=t1)
    attempts = {
        t: [(a.attempt, a.finished_at, a.outcome) for a in store.get_task(t).attempts]
        for t in (twice.id, other.id, queued.id, once.id)
    }
    assert attempts == {
        twice.id: [(1, T0, "released"), (2, t1, "cancelled")],
        once.id: [(1, t1, "cancelled")],
        other.id: [(1, None, None)],  # same attempt number, another task: untouched
        queued.id: [(1, T0, "released")],  # not running when cancelled: no attempt closes
    }
    counts_match_the_rows(store)


def test_hand_changes_keep_the_counts_and_bulk_ones_take_the_oldest_first(
    store: SqlTaskStore, tenant: int
) -> None:
    ids = in_every_state(store, tenant)
    store.cancel(ids[S.QUEUED], tenant_id=tenant, now=T0)
    store.requeue(ids[S.DEAD], tenant_id=tenant, now=T0)
    counts_match_the_rows(store)
    dead = [
        s.task.id
        for s in store.submit([new(tenant, priority=p, run_at=T0) for p in (0, 10, 5)], now=T0)
    ]
    for task_id in dead:
        store.cancel(task_id, tenant_id=tenant, now=T0)
    flt = TaskFilter(tenant_id=tenant, ids=tuple(dead))
    assert store.requeue_matching(flt, now=T0, limit=2) == dead[:2]
    counts_match_the_rows(store)


def test_an_unknown_task_is_named_when_not_found(store: SqlTaskStore, tenant: int) -> None:
    with pytest.raises(NotFound, match=r"^task 424242 does not exist$"):
        store.cancel(424242, tenant_id=tenant, now=T0)


def test_a_cancel_that_loses_a_race_with_a_completion_changes_nothing(mysql_url: str) -> None:
    store, rival = create_store(mysql_url), create_store(mysql_url)
    store.migrate()
    tenant = store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    store.submit([new(tenant)], now=T0)
    c = claim(store, tenant, "a:1")
    done = Completion(c.id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, T0, result={"ok": 1})
    # The cancel read "running"; the completion commits before the cancel's write.
    fired = race(store, "UPDATE tasks SET state", lambda: rival.complete([done]))
    with pytest.raises(InvalidTransition, match="a task that is succeeded"):
        store.cancel(c.id, tenant_id=tenant, now=T0)
    assert fired
    task = store.get_task(c.id)
    assert (task.state, task.result) == (S.SUCCEEDED, {"ok": 1})
    counts_match_the_rows(store)
    store.close()
    rival.close()


def test_a_bulk_cancel_skips_a_task_that_finished_under_it(mysql_url: str) -> None:
    store, rival = create_store(mysql_url), create_store(mysql_url)
    store.migrate()
    tenant = store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    store.submit([new(tenant), new(tenant)], now=T0)
    c = claim(store, tenant, "a:1")
    done = Completion(c.id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, T0)
    # The bulk cancel listed both tasks; the running one completes before it is read.
    fired = race(store, "SELECT tasks.state, tasks.attempt", lambda: rival.complete([done]))
    cancelled = store.cancel_matching(TaskFilter(tenant_id=tenant), now=T0, limit=10)
    assert fired
    assert c.id not in cancelled and len(cancelled) == 1
    assert store.get_task(c.id).state is S.SUCCEEDED
    counts_match_the_rows(store)
    store.close()
    rival.close()


def test_a_tenant_can_neither_cancel_nor_requeue_another_tenants_task(
    store: SqlTaskStore, tenant: int
) -> None:
    other = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    ids = in_every_state(store, tenant)
    for state, task_id in ids.items():
        op = store.requeue if state in REQUEUEABLE else store.cancel
        with pytest.raises(NotFound):
            op(task_id, tenant_id=other, now=T0)
        assert store.get_task(task_id).state is state  # and nothing changed


def test_a_cancel_that_keeps_losing_races_gives_up_after_five_tries(mysql_url: str) -> None:
    store, rival = create_store(mysql_url), create_store(mysql_url)
    store.migrate()
    tenant = store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    [s] = store.submit([new(tenant)], now=T0)
    lost: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Before each of the cancel's writes, another worker claims or releases the task.
        if " ".join(statement.split()).startswith("UPDATE tasks SET state"):
            if len(lost) % 2 == 0:
                rival.claim({tenant: 1}, worker="b:1", now=T0, lease_until=T0 + LEASE)
            else:
                rival.release([Lease(s.task.id, len(lost) // 2 + 1)], now=T0)
            lost.append(statement)

    event.listen(store.engine, "before_cursor_execute", before)
    with pytest.raises(InvalidTransition) as refused:
        store.cancel(s.task.id, tenant_id=tenant, now=T0)
    event.remove(store.engine, "before_cursor_execute", before)
    assert len(lost) == 5
    assert (refused.value.transition, refused.value.current) == (Transition.CANCEL, S.RUNNING)
    assert store.get_task(s.task.id).state is S.RUNNING
    counts_match_the_rows(store)
    store.close()
    rival.close()
