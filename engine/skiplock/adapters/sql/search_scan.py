"""The first way a MySQL/MariaDB store answers a search: read the newest rows.

InnoDB's FULLTEXT index costs time in proportion to how many rows hold a word (measured
by ``python -m bench search``: seconds for a word in a fifth of 10^6 rows), while a
newest-first page of a common word is found among the first few hundred rows. So a list
in creation order, and a capped count, first look at the newest ``WINDOW`` rows that pass
the other filters: SQL narrows them with ``LIKE`` (the collation folds case and accents
as the index does) and ``domain.search.text_matches`` applies the word rule itself. Only
when the window cannot answer (a rare word, or an old page) does the index run, and it
is fast exactly then. Either way the answer is the same (tests/contract/test_search_*)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Text, and_, or_, select, type_coerce
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql import ColumnElement, Select

from skiplock.adapters.sql.inserts import TASK_COLUMNS
from skiplock.adapters.sql.schema import tasks
from skiplock.domain.models import TaskFilter, Total
from skiplock.domain.search import text_matches

# Rows a window holds: enough for a page of any word in one task of 100, few enough
# that reading them stays in the tens of milliseconds at 10^6 rows (bench search).
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


def window_floor(conn: Connection, filtered: Select[Any], *, below: int | None) -> int | None:
    """The lowest id of the newest ``WINDOW`` rows of ``filtered`` (a ``select(id)``
    without the search) under ``below``; None when fewer rows exist, so the window is
    the whole set."""
    query = filtered
    if below is not None:
        query = query.where(tasks.c.id < below)
    row = conn.execute(query.order_by(tasks.c.id.desc()).offset(WINDOW - 1).limit(1)).first()
    return None if row is None else int(row[0])


def newest_ids(
    conn: Connection,
    flt: TaskFilter,
    filtered: Select[Any],
    *,
    below: int | None,
    floor: int | None,
    want: int,
) -> list[int]:
    """Up to ``want`` ids of rows that match the search, newest first, under ``below``
    and at or above ``floor``. ``filtered`` is ``select(id)`` with the other filters."""
    found: list[int] = []
    query = filtered.add_columns(_PAYLOAD, _ERROR).where(_mentions(flt.words))
    if floor is not None:
        query = query.where(tasks.c.id >= floor)
    batch_size = min(BATCH, want + SPARE)
    query = query.order_by(tasks.c.id.desc()).limit(batch_size)
    while len(found) < want:
        batch = query if below is None else query.where(tasks.c.id < below)
        rows = conn.execute(batch).all()
        found += [int(r[0]) for r in rows if text_matches(flt.words, r[1], r[2])]
        if len(rows) < batch_size:
            break
        below = int(rows[-1][0])
    return found[:want]


def without_search(flt: TaskFilter) -> TaskFilter:
    return dataclasses.replace(flt, words=())


def newest_rows(
    conn: Connection, flt: TaskFilter, ids_only: Select[Any], *, below: int | None, want: int
) -> list[Row[Any]] | None:
    """Up to ``want`` rows of a newest-first search page under ``below`` read from the
    window, or None when the window cannot tell and the index must answer."""
    floor = window_floor(conn, ids_only, below=below)
    ids = newest_ids(conn, flt, ids_only, below=below, floor=floor, want=want)
    if len(ids) < want and floor is not None:
        return None
    if not ids:
        return []
    query = select(*TASK_COLUMNS).where(tasks.c.id.in_(ids)).order_by(tasks.c.id.desc())
    return list(conn.execute(query).all())


def count(conn: Connection, flt: TaskFilter, ids_only: Select[Any], *, cap: int) -> Total | None:
    """A search's count from the window when it tells enough: all of it when the window
    holds every row that passes the other filters, "at least n" when the word is common
    there (the index would take seconds); else None (the index must count)."""
    floor = window_floor(conn, ids_only, below=None)
    n = len(newest_ids(conn, flt, ids_only, below=None, floor=floor, want=cap + 1))
    if floor is None or n > cap:
        return Total(min(n, cap), exact=n <= cap and floor is None)
    if n >= COMMON_IN_WINDOW:
        return Total(n, exact=False)
    return None
