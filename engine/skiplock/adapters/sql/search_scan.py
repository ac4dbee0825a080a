"""The first way a MySQL/MariaDB store answers a search: read the first rows of the page.

InnoDB's FULLTEXT index costs time in proportion to how many rows hold a word (measured
by ``python -m bench search``: seconds for a word in a fifth of 10^6 rows), while a page
of a common word is found among the first few hundred rows of the list. So a list, in
any order an index serves (ordering.served), and a capped count first look at the
``WINDOW`` rows that come next in the order and pass the other filters: SQL narrows them
with ``LIKE`` (the collation folds case and accents as the index does) and
``domain.search.text_matches`` applies the word rule itself. Only when the window cannot
answer (a rare word, or the end of the list) does the index run, and it is fast exactly
then. Either way the answer is the same (tests/contract/test_search_contract.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Text, and_, or_, select, type_coerce
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql import ColumnElement, Select

from skiplock.adapters.sql.inserts import TASK_COLUMNS
from skiplock.adapters.sql.ordering import ORDER_COLUMN, after, key_of, ordered, served, up_to
from skiplock.adapters.sql.schema import tasks
from skiplock.domain.models import PageKey, TaskFilter, TaskOrder, Total
from skiplock.domain.search import text_matches

# Rows a window holds: enough for a page of any word in one task of 100, few enough
# that reading them stays in the tens of milliseconds at 10^6 rows (bench search).
# 0: no window, the index answers every search (what tests and bench compare with).
WINDOW = 5_000
# A count that finds this many in the window answers "at least" that many: the word is
# common, and counting it in the index would take seconds.
COMMON_IN_WINDOW = 200
# Candidates fetched per round trip while a window is read: a page's worth and a few
# (LIKE's candidates nearly all pass the word rule), at most this many.
BATCH = 500
SPARE = 16

_PAYLOAD = type_coerce(tasks.c.payload, Text)
_ERROR = tasks.c.last_error


def _mentions(words: tuple[str, ...]) -> ColumnElement[bool]:
    return and_(
        *(
            or_(_PAYLOAD.contains(w, autoescape=True), _ERROR.contains(w, autoescape=True))
            for w in words
        )
    )


def window_floor(
    conn: Connection, filtered: Select[Any], order: TaskOrder, *, cursor: int | PageKey | None
) -> Any:
    """The order column's value at the ``WINDOW``-th row of ``filtered`` (a
    ``select(id)`` without the search) in ``order`` after ``cursor``; None when fewer rows
    exist, so the window is all of them. Ties need no id here: the window holds every
    row up to this value, so an index on the column alone finds it."""
    column = ORDER_COLUMN[order]
    query = ordered(filtered.with_only_columns(column), order, cursor).order_by(None)
    query = query.order_by(column.desc() if order.descending else column)
    row = conn.execute(query.offset(WINDOW - 1).limit(1)).first()
    return None if row is None else row[0]


def matching_ids(
    conn: Connection,
    flt: TaskFilter,
    filtered: Select[Any],
    order: TaskOrder,
    *,
    cursor: int | PageKey | None,
    floor: Any,
    want: int,
) -> list[int]:
    """Up to ``want`` ids of rows that match the search, in ``order`` after ``cursor`` and
    up to ``floor``. ``filtered`` is ``select(id)`` with the other filters."""
    found: list[int] = []
    query = filtered.add_columns(_PAYLOAD, _ERROR).where(_mentions(flt.words))
    if order.by_time:
        query = query.add_columns(ORDER_COLUMN[order])
    if floor is not None:
        query = query.where(up_to(order, floor))
    batch_size = min(BATCH, want + SPARE)
    query = ordered(query, order, cursor).limit(batch_size)
    for rows in _batches(conn, query, order, batch_size):
        found += [int(r[0]) for r in rows if text_matches(flt.words, r[1], r[2])]
        if len(found) >= want:
            break
    return found[:want]


def _batches(
    conn: Connection, query: Select[Any], order: TaskOrder, size: int
) -> Iterator[list[Any]]:
    """The rows of ``query`` (sorted by ``order``; a time order's column selected last)
    in that order, about ``size`` at a time. A time order is read by its column alone,
    which an index on the column hands out already sorted, so a batch stops after
    ``size`` rows instead of sorting the whole window (every row of it read at random
    when times do not follow ids); the rows tied at a batch's last time are read whole
    and put in id order here."""
    if not order.by_time:
        last: PageKey | None = None
        while True:
            rows = list(conn.execute(query if last is None else query.where(after(order, last))))
            yield rows
            if len(rows) < size:
                return
            last = key_of(rows[-1], order)
    column = ORDER_COLUMN[order]
    desc = order.descending
    by_column = query.order_by(None).order_by(column.desc() if desc else column)
    rest = by_column
    while True:
        rows = list(conn.execute(rest))
        if len(rows) < size:
            yield sorted(rows, key=lambda r: (r[-1], r[0]), reverse=desc)
            return
        at = rows[-1][-1]
        before = sorted((r for r in rows if r[-1] != at), key=lambda r: (r[-1], r[0]), reverse=desc)
        yield before + list(conn.execute(query.limit(None).where(column == at)))
        rest = by_column.where(column < at if desc else column > at)


def finished_ids(
    conn: Connection,
    flt: TaskFilter,
    ids_only: Select[Any],
    in_index: Select[Any],
    order: TaskOrder,
    *,
    cursor: int | PageKey | None,
    want: int,
) -> list[int] | None:
    """Up to ``want`` ids of a search page in a finish-time order after ``cursor``, read
    from the next ``WINDOW`` or so finished rows that pass the filters of ``in_index``
    (the tenant and states, which ix_tasks_finished holds); None when those cannot
    tell. ``ids_only`` has every other filter too. Where a batch of the window ends is
    found in the index alone, and the batch is read as a range of it without ORDER BY,
    so that MariaDB tests the tenant and states in the index (index condition pushdown,
    which it does not do on a descending scan) and reads only the rows that pass them;
    a type or a creation window is tested on those rows. Batches double until the page
    is full; each ends after a whole run of tied times, so what was read is a prefix of
    the order."""
    column = ORDER_COLUMN[order]
    desc = order.descending
    hint = "FORCE INDEX (ix_tasks_finished)"
    rest = ordered(in_index, order, cursor).order_by(None)
    rest = rest.with_hint(tasks, hint, dialect_name="mysql")
    words = ordered(ids_only, order, cursor).order_by(None)
    words = words.with_hint(tasks, hint, dialect_name="mysql")
    words = words.add_columns(_PAYLOAD, _ERROR, column).where(_mentions(flt.words))
    found: list[int] = []
    read, size = 0, want + SPARE
    while True:
        edge_of = rest.with_only_columns(column).order_by(column.desc() if desc else column)
        edge = conn.execute(edge_of.offset(size - 1).limit(1)).scalar()
        batch = words if edge is None else words.where(up_to(order, edge))
        rows = sorted(
            (r for r in conn.execute(batch) if text_matches(flt.words, r[1], r[2])),
            key=lambda r: (r[3], r[0]),
            reverse=desc,
        )
        found += [int(r[0]) for r in rows]
        if len(found) >= want or edge is None:
            return found[:want]
        read += size
        if read >= WINDOW:
            return None
        beyond = column < edge if desc else column > edge
        rest, words = rest.where(beyond), words.where(beyond)
        size = min(size * 2, WINDOW - read)


def without_search(flt: TaskFilter) -> TaskFilter:
    return dataclasses.replace(flt, words=())


def window_rows(
    conn: Connection,
    flt: TaskFilter,
    ids_only: Select[Any],
    order: TaskOrder,
    *,
    cursor: int | PageKey | None,
    want: int,
    in_index: Select[Any],
) -> list[Row[Any]] | None:
    """Up to ``want`` rows of a search page in ``order`` after ``cursor`` read from the
    window, or None when the window cannot tell and the index must answer. An order no
    index serves (ordering.served) goes to the index at once: finding its window would
    sort every row. ``ids_only`` is ``select(id)`` with every filter but the search,
    ``in_index`` with only the tenant and states (finished_ids)."""
    if not (WINDOW and served(order, flt)):
        return None
    finish = order in (TaskOrder.FINISHED_DESC, TaskOrder.FINISHED_ASC)
    if finish and without_search(flt) != TaskFilter():
        found = finished_ids(conn, flt, ids_only, in_index, order, cursor=cursor, want=want)
        if found is None:
            return None
        ids = found
    else:
        floor = window_floor(conn, ids_only, order, cursor=cursor)
        ids = matching_ids(conn, flt, ids_only, order, cursor=cursor, floor=floor, want=want)
        if len(ids) < want and floor is not None:
            return None
    if not ids:
        return []
    query = ordered(select(*TASK_COLUMNS).where(tasks.c.id.in_(ids)), order, None)
    return list(conn.execute(query).all())


def count(conn: Connection, flt: TaskFilter, ids_only: Select[Any], *, cap: int) -> Total | None:
    """A search's count from the window when it tells enough: all of it when the window
    holds every row that passes the other filters, "at least n" when the word is common
    there (the index would take seconds); else None (the index must count)."""
    if not WINDOW:
        return None
    newest = TaskOrder.CREATED_DESC
    floor = window_floor(conn, ids_only, newest, cursor=None)
    n = len(matching_ids(conn, flt, ids_only, newest, cursor=None, floor=floor, want=cap + 1))
    if floor is None or n > cap:
        return Total(min(n, cap), exact=n <= cap and floor is None)
    if n >= COMMON_IN_WINDOW:
        return Total(n, exact=False)
    return None
