"""Task lists sorted by creation, run time or finish time, page by page, and their totals,
on every store adapter (SQLite, MariaDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from skiplock.adapters.sql import SqlTaskStore
from skiplock.adapters.sql.schema import tasks
from skiplock.domain.models import NewTask, PageKey, Task, TaskFilter, TaskOrder
from skiplock.domain.states import TaskState

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new(tenant_id: int, run_at: datetime, type_: str = "noop") -> NewTask:
    return NewTask(
        tenant_id=tenant_id,
        type=type_,
        payload={},
        priority=0,
        cost=1,
        max_attempts=3,
        timeout_s=10.0,
        run_at=run_at,
        idempotency_key=None,
    )


@pytest.fixture
def tenant(store: SqlTaskStore) -> int:
    return store.create_tenant("listing", weight=1, rate_limit=None, now=T0).id


def every_page(store: SqlTaskStore, flt: TaskFilter, order: TaskOrder) -> list[Task]:
    """Walk all pages of 3 the way a client does, by each page's cursor."""
    out: list[Task] = []
    cursor: int | PageKey | None = None
    for _ in range(100):
        page = store.list_tasks(flt, limit=3, cursor=cursor, order=order)
        out += page.items
        if page.next_cursor is None:
            return out
        cursor = page.next_key if order.by_time else page.next_cursor
    raise AssertionError("paging did not end")


def test_each_order_pages_through_every_task_once_in_order(
    store: SqlTaskStore, tenant: int
) -> None:
    # Run times out of creation order, with ties, so id must break them.
    offsets = [5, 1, 3, 1, 4, 1, 2, 5, 0, 3]
    submitted = store.submit([new(tenant, T0 + timedelta(seconds=s)) for s in offsets], now=T0)
    ids = [s.task.id for s in submitted]
    # Finish six of them, at times out of id order.
    for n, task_id in enumerate(ids[:6]):
        store.cancel(task_id, tenant_id=None, now=T0 + timedelta(minutes=6 - n))
    flt = TaskFilter(tenant_id=tenant)

    assert [t.id for t in every_page(store, flt, TaskOrder.CREATED_DESC)] == sorted(ids)[::-1]
    assert [t.id for t in every_page(store, flt, TaskOrder.CREATED_ASC)] == sorted(ids)
    by_run = sorted(zip(offsets, ids, strict=True))
    assert [t.id for t in every_page(store, flt, TaskOrder.RUN_ASC)] == [i for _, i in by_run]
    assert [t.id for t in every_page(store, flt, TaskOrder.RUN_DESC)] == [
        i for _, i in reversed(by_run)
    ]
    finished = every_page(store, flt, TaskOrder.FINISHED_DESC)
    assert [t.id for t in finished] == ids[:6]  # the latest finish first; unfinished left out
    assert [t.id for t in every_page(store, flt, TaskOrder.FINISHED_ASC)] == ids[:6][::-1]


def test_totals_come_from_the_counts_for_active_states_and_stop_at_the_cap(
    store: SqlTaskStore, tenant: int
) -> None:
    submitted = store.submit(
        [new(tenant, T0, type_="a") for _ in range(4)] + [new(tenant, T0, type_="b")], now=T0
    )
    store.cancel(submitted[0].task.id, tenant_id=None, now=T0)
    queued = TaskFilter(tenant_id=tenant, states=(TaskState.QUEUED,))
    total = store.count_tasks(queued, cap=100)
    assert (total.n, total.exact) == (4, True)
    of_type = store.count_tasks(
        TaskFilter(tenant_id=tenant, states=(TaskState.QUEUED,), types=("a",)), cap=100
    )
    assert (of_type.n, of_type.exact) == (3, True)
    cancelled = store.count_tasks(
        TaskFilter(tenant_id=tenant, states=(TaskState.CANCELLED,)), cap=100
    )
    assert (cancelled.n, cancelled.exact) == (1, True)
    everything = store.count_tasks(TaskFilter(tenant_id=tenant), cap=3)
    assert (everything.n, everything.exact) == (3, False)  # "at least 3"


def test_an_exact_total_of_active_states_reads_the_counts_not_the_rows(
    store: SqlTaskStore, tenant: int
) -> None:
    # "Count all" asks with no cap; active states must still cost O(tenants x types),
    # not a row count. Shown by moving a row around the store: the counts do not see it.
    submitted = store.submit([new(tenant, T0) for _ in range(3)], now=T0)
    with store.engine.begin() as conn:
        conn.execute(
            tasks.update().where(tasks.c.id == submitted[0].task.id).values(state="cancelled")
        )
    queued = TaskFilter(tenant_id=tenant, states=(TaskState.QUEUED,))
    assert store.count_tasks(queued, cap=None) == store.count_tasks(queued, cap=100)
    assert (store.count_tasks(queued, cap=None).n, store.count_tasks(queued, cap=None).exact) == (
        3,
        True,
    )
    # A terminal state has no maintained count: the rows answer, exactly.
    cancelled = TaskFilter(tenant_id=tenant, states=(TaskState.CANCELLED,))
    assert (
        store.count_tasks(cancelled, cap=None).n,
        store.count_tasks(cancelled, cap=None).exact,
    ) == (
        1,
        True,
    )
