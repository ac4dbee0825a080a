"""Analytics match a known workload, on every store adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from skiplock.adapters.sql import SqlTaskStore
from skiplock.domain.models import Completion, NewTask, Outcome, ThroughputPoint
from skiplock.domain.states import Transition

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _submit(store: SqlTaskStore, tenant: int, type_: str, at: datetime) -> int:
    task = NewTask(
        tenant_id=tenant,
        type=type_,
        payload=None,
        priority=0,
        cost=1,
        max_attempts=2,
        timeout_s=10,
        run_at=at,
    )
    return store.submit([task], now=at)[0].task.id


def _run(
    store: SqlTaskStore,
    tenant: int,
    *,
    start: datetime,
    seconds: float,
    transition: Transition = Transition.SUCCEED,
) -> None:
    [c] = store.claim({tenant: 1}, worker="w:1", now=start, lease_until=start + timedelta(60))
    end = start + timedelta(seconds=seconds)
    outcome = Outcome.SUCCEEDED if transition is Transition.SUCCEED else Outcome.FAILED
    retry = end if transition is Transition.FAIL_RETRY else None
    assert store.complete(
        [
            Completion(
                c.id,
                c.attempt,
                transition,
                outcome,
                end,
                error=None if outcome is Outcome.SUCCEEDED else "x",
                retry_at=retry,
            )
        ]
    )


def test_analytics_count_a_known_workload(store: SqlTaskStore) -> None:
    acme = store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    globex = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    # acme: three emails run 1, 2 and 3 s after waiting 1 s each; one report fails twice.
    for i in range(3):
        _submit(store, acme, "email", T0 + timedelta(seconds=10 * i))
        _run(store, acme, start=T0 + timedelta(seconds=10 * i + 1), seconds=i + 1)
    _submit(store, acme, "report", T0 + timedelta(seconds=40))
    _run(store, acme, start=T0 + timedelta(seconds=40), seconds=1, transition=Transition.FAIL_RETRY)
    store.promote_due(now=T0 + timedelta(seconds=41), limit=10)
    _run(store, acme, start=T0 + timedelta(seconds=41), seconds=1, transition=Transition.FAIL_DEAD)
    # globex: one queued task, never run.
    _submit(store, globex, "email", T0 + timedelta(seconds=50))

    since = T0 - timedelta(seconds=1)
    s = store.analytics_summary(since=since, tenant_id=None)
    assert s.submitted == 5
    assert (s.succeeded, s.dead, s.failed) == (3, 1, 2)
    assert s.counts["queued"] == 1 and s.counts["succeeded"] == 3 and s.counts["dead"] == 1
    assert s.top_failing_types == [("report", 2)]
    assert s.run_time_ms.p50 == 1000.0 and s.run_time_ms.p99 == 3000.0
    assert s.queue_wait_ms.p95 == 1000.0

    only = store.analytics_summary(since=since, tenant_id=globex)
    assert (only.submitted, only.succeeded, only.failed) == (1, 0, 0)

    points = store.throughput(
        since=T0, until=T0 + timedelta(seconds=59), bucket_s=30, tenant_id=acme
    )
    assert [p.t for p in points] == [T0, T0 + timedelta(seconds=30)]
    assert [(p.submitted, p.succeeded, p.failed, p.dead) for p in points] == [
        (3, 3, 0, 0),
        (1, 0, 2, 1),
    ]

    types = {r.key: r for r in store.breakdown(since=since, by="type", tenant_id=None)}
    assert types["email"].counts == {"succeeded": 3, "queued": 1}
    assert types["report"].counts == {"dead": 1}
    assert (types["report"].failed_attempts, types["email"].failed_attempts) == (2, 0)
    assert types["email"].p50_run_ms == 2000.0
    tenants = {r.key: r.counts for r in store.breakdown(since=since, by="tenant", tenant_id=None)}
    assert tenants == {"acme": {"succeeded": 3, "dead": 1}, "globex": {"queued": 1}}


def test_an_analytics_read_past_its_time_limit_is_stopped(store_url: str) -> None:
    """A window over many rows with a tiny limit: the database stops the statement
    (MariaDB max_statement_time; SQLite's progress handler) and the store says so."""
    from skiplock.adapters.sql import create_store
    from skiplock.domain.errors import TimedOut

    store = create_store(store_url, read_timeout_s=0.001)
    try:
        store.migrate()
        t = store.create_tenant("busy", weight=1, rate_limit=None, now=T0)
        task = NewTask(
            tenant_id=t.id,
            type="noop",
            payload=None,
            priority=0,
            cost=1,
            max_attempts=2,
            timeout_s=10,
            run_at=T0,
        )
        for _ in range(20):
            store.submit([task] * 500, now=T0)

        def read() -> list[ThroughputPoint]:
            since = T0 - timedelta(days=1)
            return store.throughput(since=since, until=T0, bucket_s=1, tenant_id=None)

        with pytest.raises(TimedOut):
            read()
        # The limit is per statement and per read: the pooled connection is clean again.
        assert store.get_tenant(name="busy").id == t.id
        store.read_timeout_s = 30.0
        assert read()
    finally:
        store.close()
