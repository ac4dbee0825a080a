"""Named SQL queries kept in ``.sql`` files (the procrastinate/aiosql convention).

A file holds blocks introduced by ``-- name: <query_name>``; the text up to the next
block is the query, with ``:param`` placeholders bound through SQLAlchemy ``text()``."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, text

from engine.adapters.sql.schema import UTCDateTime

# Parameters that carry datetimes: bound through the column type so both dialects store
# and compare them in the same format.
_DATETIME_PARAMS = ("now", "lease_until", "cutoff")
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def load(dialect_file: str) -> dict[str, str]:
    """All named queries in ``engine/adapters/sql/<dialect_file>``."""
    source = resources.files("engine.adapters.sql").joinpath(dialect_file).read_text("utf-8")
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
