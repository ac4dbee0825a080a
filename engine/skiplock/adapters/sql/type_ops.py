"""Announced task types: workers write what they handle, API instances read it.

A worker upserts one row per type it handles, at start and then about once a minute
(``services/announcer.py``); rows are written in name order, so two workers announcing
overlapping sets at once cannot deadlock on MySQL. The last announcement's defaults win:
during a rolling upgrade that changes a handler's defaults, new submissions take the
newest worker's word."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.dialect import dialect_of
from skiplock.adapters.sql.schema import task_types
from skiplock.domain.models import AnnouncedType, TaskType


def _task_type(row: Row[Any]) -> TaskType:
    return TaskType(
        name=str(row.name),
        max_attempts=None if row.max_attempts is None else int(row.max_attempts),
        timeout_s=None if row.timeout_s is None else float(row.timeout_s),
        cost=None if row.cost is None else int(row.cost),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )


def read_types(conn: Connection, names: Collection[str] | None = None) -> list[TaskType]:
    """The announced types (only ``names``, when given), by name."""
    query = select(task_types).order_by(task_types.c.name)
    if names is not None:
        if not names:
            return []
        query = query.where(task_types.c.name.in_(sorted(names)))
    return [_task_type(row) for row in conn.execute(query)]


def write_types(conn: Connection, types: Sequence[AnnouncedType], *, now: datetime) -> None:
    rows = [
        {
            "name": t.name,
            "max_attempts": t.max_attempts,
            "timeout_s": t.timeout_s,
            "cost": t.cost,
            "first_seen": now,
            "last_seen": now,
        }
        for t in sorted({t.name: t for t in types}.values(), key=lambda t: t.name)
    ]
    if not rows:
        return
    kept = ("max_attempts", "timeout_s", "cost", "last_seen")
    dialect_of(conn).upsert_types(conn, rows, kept)


class TypeOps(SqlBase):
    def announce_types(self, types: Sequence[AnnouncedType], *, now: datetime) -> None:
        self.write(lambda conn, _tally: write_types(conn, types, now=now))

    def task_types(self, names: Collection[str] | None = None) -> list[TaskType]:
        return self.read(lambda conn: read_types(conn, names))
