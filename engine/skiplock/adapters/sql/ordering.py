"""How a task list is sorted and paged: one keyset rule that the plain list and the
search window (search_scan.py) both follow, so their pages cannot differ.

Every order is (its column, id), in one direction; a page continues strictly after the
last row's key. ``finished`` orders hold only finished tasks, so their column is never
NULL there. Indexes that serve the orders (schema.py): the primary key and
ix_tasks_tenant_id / ix_tasks_state_id for creation order; ix_tasks_finished for finish
time; for run time ix_tasks_run (no filter), ix_tasks_tenant_run (a tenant),
ix_tasks_due (a state) and ix_tasks_state_tenant (a state and a tenant). ``served``
says which lists the search window may read."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql import ColumnElement, Select

from skiplock.adapters.sql.schema import tasks
from skiplock.domain.models import PageKey, TaskFilter, TaskOrder

ORDER_COLUMN = {
    TaskOrder.CREATED_DESC: tasks.c.id,
    TaskOrder.CREATED_ASC: tasks.c.id,
    TaskOrder.RUN_DESC: tasks.c.run_at,
    TaskOrder.RUN_ASC: tasks.c.run_at,
    TaskOrder.FINISHED_DESC: tasks.c.finished_at,
    TaskOrder.FINISHED_ASC: tasks.c.finished_at,
}


def as_key(cursor: int | PageKey | None) -> PageKey | None:
    """A cursor as a key: an id alone (creation order) has no time."""
    if cursor is None or isinstance(cursor, PageKey):
        return cursor
    return PageKey(None, cursor)


def key_of(row: Any, order: TaskOrder) -> PageKey:
    """The key of ``row`` (it holds ``id`` and, in a time order, the order's column)."""
    at = getattr(row, ORDER_COLUMN[order].name) if order.by_time else None
    return PageKey(at, int(row.id))


def after(order: TaskOrder, key: PageKey) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in ``order``. A key without a time (an id cursor in a
    time order) compares ids alone."""
    desc = order.descending
    after_id = tasks.c.id < key.id if desc else tasks.c.id > key.id
    if not (order.by_time and key.at is not None):
        return after_id
    column = ORDER_COLUMN[order]
    beyond = column < key.at if desc else column > key.at
    # The first bound is implied by the rest; it hands MariaDB a range of the index.
    bound = column <= key.at if desc else column >= key.at
    return and_(bound, or_(beyond, and_(column == key.at, after_id)))


def up_to(order: TaskOrder, at: Any) -> ColumnElement[bool]:
    """Rows whose order column is ``at`` or comes before it in ``order``: a prefix of
    the order that holds every row tied at ``at``."""
    column = ORDER_COLUMN[order]
    bound: ColumnElement[bool] = column >= at if order.descending else column <= at
    return bound


def served(order: TaskOrder, flt: TaskFilter) -> bool:
    """Whether an index hands out the rows of ``flt`` in ``order`` so that the first n
    of them cost about n rows read. Run time: with at most a tenant and one state
    (ix_tasks_run, ix_tasks_tenant_run, ix_tasks_due, ix_tasks_state_tenant). Finish
    time: any filter; ix_tasks_finished holds the tenant and states, so the window
    finds the rows that pass them in the index alone and tests the rest of the filter
    on those rows (search_scan.finished_ids)."""
    if order in (TaskOrder.RUN_DESC, TaskOrder.RUN_ASC):
        rest = dataclasses.replace(flt, words=(), tenant_id=None, states=())
        return len(flt.states) <= 1 and rest == TaskFilter()
    return True


def ordered(query: Select[Any], order: TaskOrder, cursor: int | PageKey | None) -> Select[Any]:
    """``query`` sorted by ``order`` (id breaks ties), continuing after ``cursor``: a
    keyset page, as cheap at page 1000 as at page 1 where an index serves the order."""
    column = ORDER_COLUMN[order]
    if order in (TaskOrder.FINISHED_DESC, TaskOrder.FINISHED_ASC):
        query = query.where(tasks.c.finished_at.is_not(None))
    key = as_key(cursor)
    if key is not None:
        query = query.where(after(order, key))
    if not order.by_time:
        return query.order_by(tasks.c.id.desc() if order.descending else tasks.c.id)
    if order.descending:
        return query.order_by(column.desc(), tasks.c.id.desc())
    return query.order_by(column, tasks.c.id)
