"""Named SQL queries kept in ``.sql`` files (the procrastinate/aiosql convention).

A file holds blocks introduced by ``-- name: <query_name>``; the text up to the next
block is the query, with ``:param`` placeholders bound through SQLAlchemy ``text()``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, text

from skiplock.adapters.sql.schema import UTCDateTime

# Parameters that carry datetimes: bound through the column type so both dialects store
# and compare them in the same format.
_DATETIME_PARAMS = ("now", "lease_until", "cutoff")
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_PARAM = re.compile(r"(?<![:\w]):(\w+)")


@cache
def load(dialect_file: str) -> dict[str, str]:
    """All named queries in ``engine/skiplock/adapters/sql/<dialect_file>``."""
    source = resources.files("skiplock.adapters.sql").joinpath(dialect_file).read_text("utf-8")
    parts = _NAME.split(source)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


def query(dialect_file: str, name: str, *, expanding: tuple[str, ...] = ()) -> TextClause:
    """The named query as a bindable clause; ``expanding`` names list parameters."""
    sql = load(dialect_file)[name]
    params: list[BindParameter[Any]] = [bindparam(p, expanding=True) for p in expanding]
    params += [bindparam(p, type_=UTCDateTime()) for p in _DATETIME_PARAMS if f":{p}" in sql]
    clause = text(sql)
    return clause.bindparams(*params) if params else clause


@cache
def driver_sql(dialect_file: str, name: str) -> str:
    """The named query in the driver's own ``%(param)s`` style (PyMySQL), for the worker's
    hot path, where SQLAlchemy's per-statement work was a third of a claim's CPU. The
    caller binds plain values: datetimes as naive UTC (see ``naive_utc``), lists as
    tuples (PyMySQL expands a tuple to ``(a, b, …)``)."""
    sql = load(dialect_file)[name]
    if "%" in sql:
        raise ValueError(f"{name}: a literal % cannot be used in driver SQL")
    return _PARAM.sub(r"%(\1)s", sql)


def naive_utc(value: datetime) -> datetime:
    """An aware datetime as the naive UTC value the columns store (as ``UTCDateTime``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not accepted; pass UTC-aware values")
    return value.astimezone(UTC).replace(tzinfo=None)
