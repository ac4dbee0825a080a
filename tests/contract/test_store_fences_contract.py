"""The task store's fences, on every adapter (SQLite, MariaDB): a worker's stale write is
refused whatever it is (a release, a completion, a failure's retry, a heartbeat), and a
release, a rescue and a completion write exactly what they should besides the state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.domain.models import Completion, Outcome
from skiplock.domain.states import Transition
from skiplock.ports import Lease
from tests.contract.store_kit import LEASE, T0, S, claim, counts_match_the_rows, new, taken_over


@pytest.fixture
def tenant(store: SqlTaskStore) -> int:
    return store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id


def test_a_release_with_a_stale_attempt_is_refused(store: SqlTaskStore, tenant: int) -> None:
    zombie, fresh, later = taken_over(store, tenant)
    # The zombie drains and releases what it believes it holds: nothing may change, or
    # the task would be queued (and run again) while b runs it.
    assert store.release([Lease(zombie.id, zombie.attempt)], now=later) == []
    task = store.get_task(fresh.id)
    assert (task.state, task.attempt, task.lease_owner) == (S.RUNNING, 2, "b:1")
    assert task.lease_expires_at == later + LEASE
    assert task.attempt - task.attempt_base == 2  # no attempt was given back
    assert [a.outcome for a in task.attempts] == ["lease_lost", None]
    assert store.ready_tenants() == []  # nothing was queued
    # b's own release passes its fence.
    assert store.release([Lease(fresh.id, fresh.attempt)], now=later) == [fresh.id]
    assert store.get_task(fresh.id).state is S.QUEUED


def test_a_release_of_a_finished_or_future_attempt_is_refused(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant), new(tenant)], now=T0)
    done, running = claim(store, tenant, "a:1"), claim(store, tenant, "a:1")
    assert store.complete(
        [Completion(done.id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, T0, result=1)]
    )
    assert store.release([Lease(done.id, 1), Lease(running.id, 2)], now=T0) == []
    assert store.get_task(done.id).state is S.SUCCEEDED
    assert store.get_task(running.id).state is S.RUNNING
    # One stale lease in a batch does not hold back the others.
    assert store.release([Lease(done.id, 1), Lease(running.id, 1)], now=T0) == [running.id]


def test_a_zombie_can_neither_complete_fail_nor_heartbeat_a_task_taken_over(
    store: SqlTaskStore, tenant: int
) -> None:
    zombie, fresh, later = taken_over(store, tenant)
    attempt = zombie.attempt
    writes = [
        Completion(zombie.id, attempt, Transition.SUCCEED, Outcome.SUCCEEDED, later, result=1),
        Completion(
            zombie.id, attempt, Transition.FAIL_RETRY, Outcome.FAILED, later, retry_at=later
        ),
        Completion(zombie.id, attempt, Transition.FAIL_DEAD, Outcome.FAILED, later, error="x"),
    ]
    for write in writes:
        assert store.complete([write]) == []
    assert store.heartbeat(
        [Lease(zombie.id, attempt)], worker="a:1", lease_until=later + 10 * LEASE
    ) == {zombie.id}
    # b's heartbeat, under another worker's name, is refused too.
    assert store.heartbeat(
        [Lease(fresh.id, fresh.attempt)], worker="a:1", lease_until=later + 10 * LEASE
    ) == {fresh.id}
    task = store.get_task(fresh.id)
    assert (task.state, task.attempt, task.lease_owner) == (S.RUNNING, 2, "b:1")
    assert task.lease_expires_at == later + LEASE
    assert (
        task.result is None and task.last_error == "lease expired: the worker stopped heartbeating"
    )


def test_a_release_requeues_at_once_and_closes_only_its_own_attempt(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant, type="a"), new(tenant, type="b")], now=T0)
    first, other = claim(store, tenant, "a:1"), claim(store, tenant, "a:1")
    t1 = T0 + timedelta(seconds=7)
    assert store.release([Lease(first.id, 1), Lease(other.id, 5)], now=t1) == [first.id]
    task = store.get_task(first.id)
    assert (task.state, task.lease_owner, task.lease_expires_at) == (S.QUEUED, None, None)
    assert (task.started_at, task.run_at) == (None, t1)
    assert [(a.attempt, a.finished_at, a.outcome) for a in task.attempts] == [(1, t1, "released")]
    # The other task's attempt 1 (same number, not released) stays open.
    assert [(a.finished_at, a.outcome) for a in store.get_task(other.id).attempts] == [(None, None)]
    counts_match_the_rows(store)
    # Released again later: the new attempt closes, the earlier record keeps its time.
    again = claim(store, tenant, "a:1", now=t1)
    assert again.id == first.id and again.attempt == 2
    t2 = t1 + timedelta(seconds=5)
    assert store.release([Lease(first.id, 2)], now=t2) == [first.id]
    assert [(a.attempt, a.finished_at, a.outcome) for a in store.get_task(first.id).attempts] == [
        (1, t1, "released"),
        (2, t2, "released"),
    ]
    counts_match_the_rows(store)


def test_a_rescue_closes_the_attempt_and_retries_or_dead_letters_at_the_right_time(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant, max_attempts=2, type="a"), new(tenant, max_attempts=1)], now=T0)
    retried, dead = claim(store, tenant, "a:1"), claim(store, tenant, "a:1")
    later, retry_at = T0 + LEASE * 2, T0 + LEASE * 3
    store.submit([new(tenant)], now=T0)
    alive = claim(store, tenant, "b:1", now=later)  # attempt 1 too, its lease still good
    # A maintenance instance that never claimed anything (no tenant names cached yet).
    rescuer = create_store(store.engine.url.render_as_string(hide_password=False))
    moved = rescuer.rescue_expired(now=later, limit=10, retry_at=retry_at)
    rescuer.close()
    assert {(m.task_id, m.state, m.tenant) for m in moved} == {
        (retried.id, S.RETRYING, "acme"),
        (dead.id, S.DEAD, "acme"),
    }
    assert [(a.finished_at, a.outcome) for a in store.get_task(alive.id).attempts] == [(None, None)]
    r, d = store.get_task(retried.id), store.get_task(dead.id)
    assert (r.state, r.run_at, r.finished_at) == (S.RETRYING, retry_at, None)
    assert (d.state, d.run_at, d.finished_at) == (S.DEAD, later, later)
    for t in (r, d):
        assert (t.lease_owner, t.lease_expires_at) == (None, None)
        assert t.last_error == "lease expired: the worker stopped heartbeating"
        assert [(a.finished_at, a.outcome, a.error) for a in t.attempts] == [
            (later, "lease_lost", "lease expired")
        ]
    counts_match_the_rows(store)


def test_startup_recovery_tells_instances_apart_whose_names_contain_colons(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant), new(tenant)], now=T0)
    mine = claim(store, tenant, "pod:a:old")
    theirs = claim(store, tenant, "pod:b:old")
    got = store.rescue_expired(now=T0, limit=10, retry_at=T0, owner_prefix="pod:a:new")
    assert [m.task_id for m in got] == [mine.id]
    assert store.get_task(theirs.id).state is S.RUNNING


def test_a_batch_of_completions_writes_each_task_once_with_what_its_outcome_keeps(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant, type=t) for t in ("a", "b", "c")], now=T0)
    ok, retry, dead = (claim(store, tenant, "a:1") for _ in range(3))
    t1, retry_at = T0 + timedelta(seconds=3), T0 + timedelta(seconds=60)
    batch = [
        Completion(ok.id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, t1, result={"n": 1}),
        Completion(
            retry.id, 1, Transition.FAIL_RETRY, Outcome.FAILED, t1, error="e", retry_at=retry_at
        ),
        Completion(dead.id, 1, Transition.FAIL_DEAD, Outcome.FAILED, t1, result={"partial": 1}),
    ]
    accepted = store.complete([*batch, batch[0]])  # a repeat in the batch counts once
    assert sorted(c.task_id for c in accepted) == sorted([ok.id, retry.id, dead.id])
    got = {t: store.get_task(t) for t in (ok.id, retry.id, dead.id)}
    assert (got[ok.id].state, got[ok.id].result, got[ok.id].finished_at) == (
        S.SUCCEEDED,
        {"n": 1},
        t1,
    )
    assert got[ok.id].run_at == T0  # a finished task keeps the run_at it was due at
    assert (got[retry.id].state, got[retry.id].finished_at, got[retry.id].run_at) == (
        S.RETRYING,
        None,
        retry_at,
    )
    assert (got[dead.id].state, got[dead.id].result, got[dead.id].finished_at) == (
        S.DEAD,
        None,  # only a success stores a result
        t1,
    )
    counts_match_the_rows(store)


def test_a_retry_without_a_due_time_is_refused_whole(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    c = claim(store, tenant, "a:1")
    bad = Completion(c.id, 1, Transition.FAIL_RETRY, Outcome.FAILED, T0, error="e")
    with pytest.raises(ValueError, match=r"^a retry needs retry_at$"):
        store.complete([bad])
    assert store.get_task(c.id).state is S.RUNNING


def test_a_rescue_closes_only_the_attempt_whose_lease_expired(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant)], now=T0)
    first = claim(store, tenant, "a:1")
    assert store.release([Lease(first.id, 1)], now=T0) == [first.id]
    claim(store, tenant, "a:1")
    later = T0 + LEASE * 2
    assert len(store.rescue_expired(now=later, limit=10, retry_at=later)) == 1
    assert [(a.attempt, a.finished_at, a.outcome) for a in store.get_task(first.id).attempts] == [
        (1, T0, "released"),
        (2, later, "lease_lost"),
    ]
