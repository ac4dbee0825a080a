"""One UPDATE for many rows, each with values of its own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.engine import Connection

from skiplock.adapters.sql.dialect import dialect_of
from skiplock.adapters.sql.folding import Fold

# Rows per set-based UPDATE.
UPDATE_CHUNK = 500


def update_each(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: dict[str, str],
    values: dict[str, str],
    constant: dict[str, Any],
    fold: Fold | None = None,
) -> None:
    """UPDATE one row of ``table`` per item of ``rows``: ``keys`` and ``values`` map a
    column to the item field that matches it or is written to it; ``constant`` is
    written to every row. The first key must be unique among ``rows``.

    PyMySQL runs an executemany UPDATE as one statement, so one round trip, per row; on
    MySQL that made completions the drain's bottleneck (two round trips per finished
    task). There, each chunk is one statement whose per-row columns are ``CASE <first
    key> WHEN … THEN … END``. SQLite's executemany never leaves the process, so it stays."""
    if not rows:
        return
    lead_col, lead_field = next(iter(keys.items()))
    lead_values = [r[lead_field] for r in rows]
    if not dialect_of(conn).one_update_per_chunk or len(set(lead_values)) != len(lead_values):
        if fold is not None:
            fold.flush()  # what it holds runs first, as given
        stmt = (
            update(table)
            .where(*(table.c[col] == bindparam(field) for col, field in keys.items()))
            .values(
                {col: bindparam(f, type_=table.c[col].type) for col, f in values.items()} | constant
            )
        )
        conn.execute(stmt, list(rows))
        return
    quote = conn.dialect.identifier_preparer.quote
    processors = {
        col: table.c[col].type.bind_processor(conn.dialect) for col in [*values, *constant, *keys]
    }

    def bound(col: str, value: Any) -> Any:
        process = processors[col]
        return process(value) if process is not None and value is not None else value

    for start in range(0, len(rows), UPDATE_CHUNK):
        chunk = rows[start : start + UPDATE_CHUNK]
        # A column every row of the chunk sets alike (the state, a NULL error) is one
        # value, not a CASE of one branch per row.
        same = {col: chunk[0][f] for col, f in values.items() if _alike(r[f] for r in chunk)}
        per_row = {col: f for col, f in values.items() if col not in same}
        # Built as driver SQL: SQLAlchemy's construction and compilation of a statement
        # with thousands of one-off bound values cost more than the round trips saved.
        by_lead = f"CASE {quote(lead_col)}{' WHEN %s THEN %s' * len(chunk)} END"
        sets: list[str] = []
        params: list[Any] = []
        for col, field in per_row.items():
            sets.append(f"{quote(col)} = {by_lead}")
            for r in chunk:
                params += [r[lead_field], bound(col, r[field])]
        for col, value in (same | constant).items():
            sets.append(f"{quote(col)} = %s")
            params.append(bound(col, value))
        where = [f"{quote(lead_col)} IN ({', '.join(['%s'] * len(chunk))})"]
        params += [r[lead_field] for r in chunk]
        for col, field in list(keys.items())[1:]:
            where.append(f"{quote(col)} = {by_lead}")
            for r in chunk:
                params += [r[lead_field], bound(col, r[field])]
        sql = f"UPDATE {quote(table.name)} SET {', '.join(sets)} WHERE {' AND '.join(where)}"
        if fold is not None:
            fold.defer(sql, tuple(params))
        else:
            conn.exec_driver_sql(sql, tuple(params))


def _alike(values: Iterable[Any]) -> bool:
    it = iter(values)
    first = next(it)
    return all(v == first and type(v) is type(first) for v in it)
