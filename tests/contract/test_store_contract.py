"""The task-store contract: every adapter (SQLite, MariaDB) must pass all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from skiplock.adapters.sql import SqlTaskStore
from skiplock.adapters.sql.migrations import LATEST_VERSION
from skiplock.adapters.sql.schema import task_counts
from skiplock.adapters.sql.worker_ops import UNKNOWN_BACKLOG
from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.models import Completion, NewTask, Outcome, RateLimit, TaskFilter, TenantState
from skiplock.domain.states import InvalidTransition, TaskState, Transition
from skiplock.ports import Lease

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def new(tenant_id: int, **kw: object) -> NewTask:
    base: dict[str, object] = {
        "tenant_id": tenant_id,
        "type": "noop",
        "payload": {"n": 1},
        "priority": 0,
        "cost": 1,
        "max_attempts": 3,
        "timeout_s": 10.0,
        "run_at": T0,
        "idempotency_key": None,
    }
    base.update(kw)
    return NewTask(**base)  # type: ignore[arg-type]


@pytest.fixture
def tenant(store: SqlTaskStore) -> int:
    return store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id


def claim_one(store: SqlTaskStore, tenant: int, worker: str = "w:1", now: datetime = T0):  # type: ignore[no-untyped-def]
    got = store.claim({tenant: 1}, worker=worker, now=now, lease_until=now + LEASE)
    assert len(got) == 1
    return got[0]


def succeed(task_id: int, attempt: int, at: datetime = T0) -> Completion:
    return Completion(task_id, attempt, Transition.SUCCEED, Outcome.SUCCEEDED, at, result={"ok": 1})


def test_migrate_is_idempotent(store: SqlTaskStore) -> None:
    assert store.migrate() == store.migrate()


def test_submitted_tasks_round_trip_with_payload_and_utc_times(
    store: SqlTaskStore, tenant: int
) -> None:
    [s] = store.submit([new(tenant, payload={"a": [1, "x"], "é": None})], now=T0)
    got = store.get_task(s.task.id)
    assert got.payload == {"a": [1, "x"], "é": None}
    assert got.state is TaskState.QUEUED
    assert got.created_at == T0
    assert got.tenant == "acme"


def test_payloads_the_sql_must_escape_round_trip_through_a_batch_and_a_claim(
    store: SqlTaskStore, tenant: int
) -> None:
    awkward = [
        {"q": 'it\'s "quoted"'},
        {"pct": "100% %s %(x)s"},
        {"bs": "back\\slash \\' \\n"},
        {"nul": "a\u0000b", "é": "日本 🙂"},
        None,
    ]
    later = T0 + timedelta(seconds=5)
    submitted = store.submit(
        [new(tenant, payload=p, idempotency_key=f"k{i}'%") for i, p in enumerate(awkward)]
        + [new(tenant, run_at=later)],
        now=T0,
    )
    ids = [s.task.id for s in submitted]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [store.get_task(i).payload for i in ids[:-1]] == awkward
    assert [store.get_task(i).idempotency_key for i in ids[:-1]] == [
        f"k{i}'%" for i in range(len(awkward))
    ]
    assert store.get_task(ids[-1]).run_at == later
    claimed = store.claim({tenant: 10}, worker="w:1", now=T0, lease_until=T0 + LEASE)
    assert [(c.id, c.payload, c.attempt) for c in claimed] == [
        (i, p, 1) for i, p in zip(ids, awkward, strict=False)
    ]
    assert all(c.created_at == T0 and c.run_at == T0 and c.tenant == "acme" for c in claimed)


def test_complete_and_claim_writes_results_and_claims_in_one_go(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant) for _ in range(3)], now=T0)
    first = claim_one(store, tenant)
    stale = Completion(first.id, first.attempt + 1, Transition.SUCCEED, Outcome.SUCCEEDED, T0)
    accepted, claimed = store.complete_and_claim(
        [succeed(first.id, first.attempt), stale],
        {tenant: 5},
        worker="w:1",
        now=T0,
        lease_until=T0 + LEASE,
    )
    assert [(c.task_id, c.attempt) for c in accepted] == [(first.id, first.attempt)]
    assert len(claimed) == 2 and all(c.attempt == 1 for c in claimed)
    assert store.get_task(first.id).state is TaskState.SUCCEEDED
    assert {store.get_task(c.id).state for c in claimed} == {TaskState.RUNNING}
    assert store.ready_tenants() == []  # the counts saw the claim (the walk checks more)


def test_a_future_run_at_makes_the_task_scheduled(store: SqlTaskStore, tenant: int) -> None:
    [s] = store.submit([new(tenant, run_at=T0 + timedelta(seconds=60))], now=T0)
    assert s.task.state is TaskState.SCHEDULED
    assert store.claim({tenant: 5}, worker="w:1", now=T0, lease_until=T0 + LEASE) == []
    assert store.promote_due(now=T0 + timedelta(seconds=59), limit=10) == []
    [moved] = store.promote_due(now=T0 + timedelta(seconds=60), limit=10)
    assert (moved.task_id, moved.tenant_id, moved.tenant) == (s.task.id, tenant, "acme")
    assert (moved.type, moved.attempt, moved.state) == ("noop", 0, TaskState.QUEUED)
    assert store.get_task(s.task.id).state is TaskState.QUEUED


def test_idempotency_keys_return_the_original_within_a_tenant(
    store: SqlTaskStore, tenant: int
) -> None:
    other = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    [first] = store.submit([new(tenant, idempotency_key="k1")], now=T0)
    [again] = store.submit([new(tenant, idempotency_key="k1", payload={"n": 2})], now=T0)
    [elsewhere] = store.submit([new(other, idempotency_key="k1")], now=T0)
    assert first.created and not again.created
    assert again.task.id == first.task.id and again.task.payload == {"n": 1}
    assert elsewhere.created and elsewhere.task.id != first.task.id


def test_a_batch_repeating_a_key_stores_it_once(store: SqlTaskStore, tenant: int) -> None:
    out = store.submit([new(tenant, idempotency_key="k"), new(tenant, idempotency_key="k")], now=T0)
    assert out[0].created and not out[1].created
    assert out[0].task.id == out[1].task.id


def test_claims_follow_priority_then_submission_order(store: SqlTaskStore, tenant: int) -> None:
    ids = [
        s.task.id for s in store.submit([new(tenant, priority=p) for p in (0, 5, 0, 10, 5)], now=T0)
    ]
    got = store.claim({tenant: 5}, worker="w:1", now=T0, lease_until=T0 + LEASE)
    assert [c.id for c in got] == sorted([c.id for c in got])  # returned in id order
    order = sorted(got, key=lambda c: c.id)
    assert {c.id for c in order} == set(ids)
    first_two = store.claim  # claimed all five; check the order with a fresh tenant below
    assert first_two
    t2 = store.create_tenant("ordered", weight=1, rate_limit=None, now=T0).id
    ids2 = [
        s.task.id for s in store.submit([new(t2, priority=p) for p in (0, 5, 0, 10, 5)], now=T0)
    ]
    picked = [
        store.claim({t2: 1}, worker="w:1", now=T0, lease_until=T0 + LEASE)[0].id for _ in range(5)
    ]
    assert picked == [ids2[3], ids2[1], ids2[4], ids2[0], ids2[2]]


def test_a_claim_takes_only_the_granted_tenants_tasks(store: SqlTaskStore, tenant: int) -> None:
    other = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    store.submit([new(tenant), new(other)], now=T0)
    got = store.claim({other: 5}, worker="w:1", now=T0, lease_until=T0 + LEASE)
    assert [c.tenant for c in got] == ["globex"]


def test_a_claim_marks_running_and_records_the_attempt(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    c = claim_one(store, tenant, worker="node-a:123")
    task = store.get_task(c.id)
    assert task.state is TaskState.RUNNING and task.attempt == 1
    assert task.lease_owner == "node-a:123" and task.lease_expires_at == T0 + LEASE
    assert [(a.attempt, a.worker, a.outcome) for a in task.attempts] == [(1, "node-a:123", None)]


def test_completion_writes_result_and_closes_the_attempt(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    c = claim_one(store, tenant)
    assert store.complete([succeed(c.id, 1, T0 + timedelta(seconds=1))])
    task = store.get_task(c.id)
    assert task.state is TaskState.SUCCEEDED and task.result == {"ok": 1}
    assert task.finished_at == T0 + timedelta(seconds=1) and task.lease_owner is None
    assert task.attempts[0].outcome == "succeeded"


def test_a_completion_with_a_stale_attempt_is_rejected(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    c = claim_one(store, tenant)
    assert store.complete([succeed(c.id, c.attempt + 1)]) == []
    assert store.get_task(c.id).state is TaskState.RUNNING


def test_a_rescued_workers_result_is_fenced_out(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    zombie = claim_one(store, tenant, worker="a:1")
    later = T0 + LEASE + timedelta(seconds=1)
    rescued = store.rescue_expired(now=later, limit=10, retry_at=later)
    assert [(r.task_id, r.state) for r in rescued] == [(zombie.id, TaskState.RETRYING)]
    store.promote_due(now=later, limit=10)
    fresh = claim_one(store, tenant, worker="b:1", now=later)
    assert fresh.attempt == zombie.attempt + 1
    assert store.complete([succeed(zombie.id, zombie.attempt)]) == []
    assert store.heartbeat(
        [Lease(zombie.id, zombie.attempt)], worker="a:1", lease_until=later + LEASE
    ) == {zombie.id}
    assert store.complete([succeed(fresh.id, fresh.attempt)])
    task = store.get_task(fresh.id)
    assert task.state is TaskState.SUCCEEDED
    assert [a.outcome for a in task.attempts] == ["lease_lost", "succeeded"]


def test_heartbeats_extend_only_leases_the_worker_holds(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    c = claim_one(store, tenant, worker="a:1")
    until = T0 + timedelta(seconds=90)
    assert store.heartbeat([Lease(c.id, c.attempt)], worker="a:1", lease_until=until) == set()
    assert store.get_task(c.id).lease_expires_at == until
    assert store.heartbeat([Lease(c.id, c.attempt)], worker="b:1", lease_until=until) == {c.id}
    assert store.rescue_expired(now=T0 + LEASE + timedelta(seconds=1), limit=10, retry_at=T0) == []


def test_failures_retry_then_dead_letter(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant, max_attempts=2)], now=T0)
    c1 = claim_one(store, tenant)
    retry_at = T0 + timedelta(seconds=5)
    store.complete(
        [
            Completion(
                c1.id,
                1,
                Transition.FAIL_RETRY,
                Outcome.FAILED,
                T0,
                error="boom",
                retry_at=retry_at,
                traceback="Traceback (most recent call last):\nValueError: boom\n",
            )
        ]
    )
    task = store.get_task(c1.id)
    assert task.state is TaskState.RETRYING and task.run_at == retry_at
    assert task.last_error == "boom"
    assert task.attempts[0].traceback == "Traceback (most recent call last):\nValueError: boom\n"
    store.promote_due(now=retry_at, limit=10)
    c2 = claim_one(store, tenant, now=retry_at)
    store.complete(
        [Completion(c2.id, 2, Transition.FAIL_DEAD, Outcome.FAILED, retry_at, error="boom again")]
    )
    dead = store.get_task(c2.id)
    assert dead.state is TaskState.DEAD and dead.last_error == "boom again"
    assert dead.attempts[1].traceback is None and dead.requeued_by is None
    again = store.requeue(c2.id, tenant_id=None, now=retry_at, by="admin key 'ops' (abc)")
    assert again.state is TaskState.QUEUED
    assert again.requeued_at == retry_at and again.requeued_by == "admin key 'ops' (abc)"
    assert again.attempt - again.attempt_base == 0  # a fresh budget; the fence keeps growing
    assert claim_one(store, tenant, now=retry_at).attempt == 3


def test_rescue_dead_letters_an_exhausted_task(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant, max_attempts=1)], now=T0)
    c = claim_one(store, tenant)
    later = T0 + LEASE * 2
    [r] = store.rescue_expired(now=later, limit=10, retry_at=later)
    assert r.state is TaskState.DEAD
    assert store.get_task(c.id).state is TaskState.DEAD


def test_release_returns_tasks_without_charging_an_attempt(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant, max_attempts=1)], now=T0)
    c = claim_one(store, tenant)
    assert store.release([Lease(c.id, c.attempt)], now=T0) == [c.id]
    task = store.get_task(c.id)
    assert task.state is TaskState.QUEUED and task.attempt - task.attempt_base == 0
    again = claim_one(store, tenant)
    assert again.attempt == 2 and again.attempt - again.attempt_base == 1
    assert store.complete([succeed(c.id, c.attempt)]) == []  # the released attempt is fenced


def test_startup_recovery_takes_only_this_instances_earlier_leases(
    store: SqlTaskStore, tenant: int
) -> None:
    store.submit([new(tenant), new(tenant)], now=T0)
    mine = claim_one(store, tenant, worker="node-a:old")
    theirs = claim_one(store, tenant, worker="node-b:xyz")
    got = store.rescue_expired(now=T0, limit=10, retry_at=T0, owner_prefix="node-a:new")
    assert [r.task_id for r in got] == [mine.id]
    assert store.get_task(theirs.id).state is TaskState.RUNNING


def test_cancel_and_requeue_follow_the_transition_table(store: SqlTaskStore, tenant: int) -> None:
    [s] = store.submit([new(tenant)], now=T0)
    assert store.cancel(s.task.id, tenant_id=tenant, now=T0).state is TaskState.CANCELLED
    with pytest.raises(InvalidTransition):
        store.cancel(s.task.id, tenant_id=tenant, now=T0)
    assert store.requeue(s.task.id, tenant_id=tenant, now=T0).state is TaskState.QUEUED
    with pytest.raises(InvalidTransition):
        store.requeue(s.task.id, tenant_id=tenant, now=T0)


def test_cancelling_a_running_task_fences_its_worker(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant)], now=T0)
    c = claim_one(store, tenant)
    store.cancel(c.id, tenant_id=None, now=T0)
    assert store.complete([succeed(c.id, c.attempt)]) == []
    assert store.get_task(c.id).state is TaskState.CANCELLED


def test_another_tenants_task_is_not_found(store: SqlTaskStore, tenant: int) -> None:
    other = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    [s] = store.submit([new(tenant)], now=T0)
    with pytest.raises(NotFound):
        store.get_task(s.task.id, tenant_id=other)
    with pytest.raises(NotFound):
        store.cancel(s.task.id, tenant_id=other, now=T0)


def test_listing_filters_and_pages_newest_first(store: SqlTaskStore, tenant: int) -> None:
    ids = [
        s.task.id for s in store.submit([new(tenant, type=f"t{i % 2}") for i in range(7)], now=T0)
    ]
    seen: list[int] = []
    cursor = None
    while True:
        page = store.list_tasks(TaskFilter(tenant_id=tenant), limit=3, cursor=cursor)
        seen += [t.id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)
    odd = store.list_tasks(TaskFilter(types=("t1",)), limit=50, cursor=None)
    assert {t.id for t in odd.items} == set(ids[1::2])
    none = store.list_tasks(TaskFilter(states=(TaskState.DEAD,)), limit=50, cursor=None)
    assert none.items == [] and none.next_cursor is None


def test_bulk_changes_touch_only_matching_tasks_in_allowed_states(
    store: SqlTaskStore, tenant: int
) -> None:
    ids = [s.task.id for s in store.submit([new(tenant) for _ in range(4)], now=T0)]
    c = claim_one(store, tenant)
    store.complete([succeed(c.id, c.attempt)])
    cancelled = store.cancel_matching(TaskFilter(tenant_id=tenant), now=T0, limit=100)
    assert sorted(cancelled) == sorted(set(ids) - {c.id})
    requeued = store.requeue_matching(TaskFilter(states=(TaskState.CANCELLED,)), now=T0, limit=2)
    assert len(requeued) == 2


def test_ready_tenants_report_each_tenants_true_backlog(store: SqlTaskStore, tenant: int) -> None:
    other = store.create_tenant("globex", weight=2, rate_limit=None, now=T0).id
    store.submit([new(tenant, type=t) for t in ("a", "b", "b")], now=T0)
    store.submit([new(other) for _ in range(5)], now=T0)
    store.submit([new(other, run_at=T0 + LEASE)], now=T0)  # scheduled: not ready
    assert {(r.tenant_id, r.queued) for r in store.ready_tenants()} == {(tenant, 3), (other, 5)}
    store.claim({tenant: 2, other: 1}, worker="w:1", now=T0, lease_until=T0 + LEASE)
    assert {(r.tenant_id, r.queued) for r in store.ready_tenants()} == {(tenant, 1), (other, 4)}
    store.claim({tenant: 1}, worker="w:1", now=T0, lease_until=T0 + LEASE)
    assert {r.tenant_id for r in store.ready_tenants()} == {other}


def test_a_backlog_the_counts_do_not_know_is_reported_as_deep(
    store: SqlTaskStore, tenant: int
) -> None:
    # Rows written around the store (a bulk load before ``skiplock recount``) have no
    # counts: the tenant must still be claimed from, and not one task at a time.
    store.submit([new(tenant) for _ in range(3)], now=T0)
    with store.engine.begin() as conn:
        conn.execute(delete(task_counts))
    [ready] = store.ready_tenants()
    assert ready.queued == UNKNOWN_BACKLOG


def test_ready_tenants_skip_paused_ones(store: SqlTaskStore, tenant: int) -> None:
    other = store.create_tenant("globex", weight=3, rate_limit=None, now=T0).id
    store.submit([new(tenant), new(other)], now=T0)
    assert {(r.tenant_id, r.weight) for r in store.ready_tenants()} == {(tenant, 1), (other, 3)}
    store.update_tenant(other, state=TenantState.PAUSED)
    assert [r.tenant_id for r in store.ready_tenants()] == [tenant]


def test_queue_stats_count_active_states_per_tenant(store: SqlTaskStore, tenant: int) -> None:
    store.submit([new(tenant), new(tenant), new(tenant, run_at=T0 + timedelta(hours=1))], now=T0)
    claim_one(store, tenant)
    [row] = [s for s in store.queue_stats(now=T0) if s.tenant_id == tenant]
    assert row.counts == {"queued": 1, "running": 1, "scheduled": 1, "retrying": 0}
    assert row.oldest_queued_at == T0


def test_prune_deletes_old_finished_tasks_in_batches(store: SqlTaskStore, tenant: int) -> None:
    ids = [s.task.id for s in store.submit([new(tenant) for _ in range(3)], now=T0)]
    for _ in range(3):
        c = claim_one(store, tenant)
        store.complete([succeed(c.id, c.attempt)])
    assert store.prune(finished_before=T0, limit=10) == 0
    assert store.prune(finished_before=T0 + timedelta(seconds=1), limit=2) == 2
    assert store.prune(finished_before=T0 + timedelta(seconds=1), limit=2) == 1
    for i in ids:
        with pytest.raises(NotFound):
            store.get_task(i)


def test_tenants_and_keys(store: SqlTaskStore) -> None:
    t = store.create_tenant("acme", weight=2, rate_limit=RateLimit(100, 60), now=T0)
    with pytest.raises(Conflict):
        store.create_tenant("acme", weight=1, rate_limit=None, now=T0)
    updated = store.update_tenant(t.id, weight=5, clear_rate_limit=True, state=TenantState.DRAINING)
    assert (updated.weight, updated.rate_limit, updated.state) == (5, None, TenantState.DRAINING)
    from skiplock.domain.models import Role

    info = store.create_api_key(
        role=Role.TENANT, tenant_id=t.id, name="k", prefix="abcdefgh", secret_hash="0" * 64, now=T0
    )
    found = store.find_api_key("abcdefgh")
    assert found is not None and found.tenant_id == t.id and found.info.tenant == "acme"
    assert store.revoke_api_key(info.id, now=T0).revoked_at == T0
    assert store.find_api_key("nope") is None


def test_sessions_expire_end_and_are_pruned(store: SqlTaskStore) -> None:
    from skiplock.domain.models import Role

    info = store.create_api_key(
        role=Role.ADMIN, tenant_id=None, name="b", prefix="sessions1", secret_hash="1" * 64, now=T0
    )
    later = T0 + timedelta(hours=12)
    store.create_session(token_hash="a" * 64, key_id=info.id, now=T0, expires_at=later)
    store.create_session(token_hash="b" * 64, key_id=info.id, now=T0, expires_at=later)
    found = store.find_session("a" * 64, now=T0)
    assert found is not None and found.info.id == info.id and found.info.role is Role.ADMIN
    assert store.find_session("a" * 64, now=later) is None  # expired
    assert store.find_session("c" * 64, now=T0) is None
    assert store.delete_session("a" * 64) is True
    assert store.find_session("a" * 64, now=T0) is None
    assert store.delete_session("a" * 64) is False
    store.revoke_api_key(info.id, now=T0)
    revoked = store.find_session("b" * 64, now=T0)
    assert revoked is not None and revoked.info.revoked_at == T0  # the caller refuses it
    assert store.prune_sessions(now=T0) == 0
    assert store.prune_sessions(now=later) == 1
    assert store.find_session("b" * 64, now=T0) is None


def test_a_database_from_before_key_use_tracking_upgrades(store: SqlTaskStore) -> None:
    """Undo migration 5 by hand (as a v4 database looks), then migrate again."""
    from sqlalchemy import inspect, text

    with store.engine.begin() as conn:
        conn.execute(
            text(
                "DROP INDEX ix_sessions_key"
                + (" ON sessions" if store.dialect.name == "mysql" else "")
            )
        )
        conn.execute(text("ALTER TABLE api_keys DROP COLUMN last_used_at"))
        conn.execute(text("DELETE FROM skiplock_schema WHERE version >= 5"))
    store.migrate()
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("api_keys")}
        indexes = {i["name"] for i in inspect(conn).get_indexes("sessions")}
    assert "last_used_at" in columns and "ix_sessions_key" in indexes
    assert store.migrate() == LATEST_VERSION


def test_a_database_from_before_tracebacks_and_requeue_marks_upgrades(
    store: SqlTaskStore,
) -> None:
    """Undo migration 7 by hand (as a v6 database looks), then migrate again."""
    from sqlalchemy import inspect, text

    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE task_attempts DROP COLUMN traceback"))
        conn.execute(text("ALTER TABLE tasks DROP COLUMN requeued_at"))
        conn.execute(text("ALTER TABLE tasks DROP COLUMN requeued_by"))
        conn.execute(text("DELETE FROM skiplock_schema WHERE version >= 7"))
    store.migrate()
    with store.engine.connect() as conn:
        attempt_columns = {c["name"] for c in inspect(conn).get_columns("task_attempts")}
        task_columns = {c["name"] for c in inspect(conn).get_columns("tasks")}
    assert "traceback" in attempt_columns
    assert {"requeued_at", "requeued_by"} <= task_columns
    assert store.migrate() == LATEST_VERSION


def test_a_database_from_before_the_run_time_indexes_upgrades(store: SqlTaskStore) -> None:
    """Undo migration 10 by hand (as a v9 database looks), then migrate again: a list in
    run-time order reads the new indexes, and the old rows are in them."""
    from sqlalchemy import inspect, text

    from skiplock.domain.models import TaskFilter, TaskOrder

    tenant = store.create_tenant("runorder", weight=1, rate_limit=None, now=T0).id
    ids = [s.task.id for s in store.submit([new(tenant) for _ in range(3)], now=T0)]
    with store.engine.begin() as conn:
        for name in ("ix_tasks_run", "ix_tasks_tenant_run"):
            on = " ON tasks" if store.dialect.name == "mysql" else ""
            conn.execute(text(f"DROP INDEX {name}{on}"))
        conn.execute(text("DELETE FROM skiplock_schema WHERE version >= 10"))
    assert store.migrate() == LATEST_VERSION
    with store.engine.connect() as conn:
        indexes = {i["name"] for i in inspect(conn).get_indexes("tasks")}
    assert {"ix_tasks_run", "ix_tasks_tenant_run"} <= indexes
    listed = store.list_tasks(
        TaskFilter(tenant_id=tenant), limit=10, cursor=None, order=TaskOrder.RUN_ASC
    )
    assert [t.id for t in listed.items] == sorted(ids)
    assert store.migrate() == LATEST_VERSION


def test_a_keys_last_use_is_kept_to_the_minute(store: SqlTaskStore) -> None:
    from skiplock.domain.models import Role

    info = store.create_api_key(
        role=Role.ADMIN, tenant_id=None, name="u", prefix="lastused1", secret_hash="2" * 64, now=T0
    )
    assert info.last_used_at is None
    store.touch_api_key(info.id, now=T0)
    store.touch_api_key(info.id, now=T0 + timedelta(seconds=30))  # within the minute: no write
    [listed] = [k for k in store.list_api_keys() if k.id == info.id]
    assert listed.last_used_at == T0
    store.touch_api_key(info.id, now=T0 + timedelta(seconds=61))
    found = store.find_api_key("lastused1")
    assert found is not None and found.info.last_used_at == T0 + timedelta(seconds=61)


def test_a_key_keeps_only_its_newest_sessions(store: SqlTaskStore) -> None:
    from skiplock.domain.models import Role

    mine, other = (
        store.create_api_key(
            role=Role.ADMIN,
            tenant_id=None,
            name=n,
            prefix=f"bound{n}xx",
            secret_hash="3" * 64,
            now=T0,
        )
        for n in ("aa", "bb")
    )
    later = T0 + timedelta(hours=12)
    store.create_session(token_hash="o" * 64, key_id=other.id, now=T0, expires_at=later)
    for i, h in enumerate("abcd"):
        at = T0 + timedelta(seconds=i)
        store.create_session(token_hash=h * 64, key_id=mine.id, now=at, expires_at=later, keep=3)
    assert store.find_session("a" * 64, now=T0) is None  # the oldest ended
    assert all(store.find_session(h * 64, now=T0) is not None for h in "bcd")
    assert store.find_session("o" * 64, now=T0) is not None  # another key's are untouched
