"""Versioned schema migrations, applied in order by ``SqlTaskStore.migrate``.

To add one: write ``_vN_<what>(conn)`` re-runnable (``checkfirst``; MySQL commits DDL
implicitly, so a crash between the DDL and the version row must be harmless) and append
``Migration(N, "<what>", _vN_<what>)`` to ``MIGRATIONS``. Versions never change once
released."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, insert, inspect, select, text
from sqlalchemy.engine import Connection

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.dialect import dialect_of
from skiplock.adapters.sql.schema import (
    DEFAULT_TENANT,
    api_keys,
    ix_attempts_finished,
    ix_tasks_created,
    ix_tasks_run,
    ix_tasks_tenant_run,
    schedule_fires,
    schedules,
    sessions,
    task_attempts,
    task_counts,
    task_types,
    tasks,
    tenants,
)
from skiplock.domain.models import TenantState


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


_V1_TABLES = (tenants, api_keys, tasks, task_attempts)
_V2_INDEXES = ("ix_tasks_created", "ix_attempts_finished")


def _v1_initial(conn: Connection) -> None:
    for table in _V1_TABLES:
        # The v1 tables without the indexes later migrations add, so that upgrading an
        # old database and creating a new one end in the same schema.
        later = {i for i in table.indexes if i.name in _V2_INDEXES}
        table.indexes.difference_update(later)
        try:
            table.create(conn, checkfirst=True)
        finally:
            table.indexes.update(later)
    exists = conn.execute(select(tenants.c.id).where(tenants.c.name == DEFAULT_TENANT)).first()
    if exists is None:
        conn.execute(
            insert(tenants).values(
                name=DEFAULT_TENANT,
                weight=1,
                state=TenantState.ACTIVE.value,
                created_at=datetime.now(UTC),
            )
        )


def _v2_analytics_indexes(conn: Connection) -> None:
    # Analytics windows: submissions by created_at, failed attempts by finished_at.
    for index in (ix_tasks_created, ix_attempts_finished):
        index.create(conn, checkfirst=True)


def _v3_task_counts(conn: Connection) -> None:
    task_counts.create(conn, checkfirst=True)
    counts.rebuild(conn)


def _v4_sessions(conn: Connection) -> None:
    sessions.create(conn, checkfirst=True)


def _v5_key_use_and_session_bound(conn: Connection) -> None:
    # Re-runnable: a database created at v1 already has the column (the table is
    # created from the current definition), and checkfirst skips an existing index.
    if "last_used_at" not in {c["name"] for c in inspect(conn).get_columns("api_keys")}:
        column = api_keys.c.last_used_at.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE api_keys ADD COLUMN last_used_at {column} NULL"))
    for index in sessions.indexes:
        if index.name == "ix_sessions_key":
            index.create(conn, checkfirst=True)


def _v6_task_types(conn: Connection) -> None:
    task_types.create(conn, checkfirst=True)


def _add_missing_columns(conn: Connection, table: Table, names: tuple[str, ...]) -> None:
    """ALTER TABLE ADD COLUMN for each of ``names`` the table lacks: re-runnable, and a
    no-op on a database whose v1 tables were created from the current definitions."""
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            column = table.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {column} NULL"))


def _v7_tracebacks_and_requeues(conn: Connection) -> None:
    _add_missing_columns(conn, task_attempts, ("traceback",))
    _add_missing_columns(conn, tasks, ("requeued_at", "requeued_by"))


def _v8_schedules(conn: Connection) -> None:
    # New tables only: an existing database keeps every row and index it had.
    schedules.create(conn, checkfirst=True)
    schedule_fires.create(conn, checkfirst=True)


def _v9_task_search(conn: Connection) -> None:
    # Search in payload and last error (domain/search.py): InnoDB FULLTEXT on MySQL and
    # MariaDB, an FTS5 table kept by triggers on SQLite. Both hold every existing row.
    dialect_of(conn).create_search_index(conn)


def _v10_run_time_order(conn: Connection) -> None:
    # A list in run-time order with no state, or a tenant's, read in index order.
    for index in (ix_tasks_run, ix_tasks_tenant_run):
        index.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _v1_initial),
    Migration(2, "analytics indexes", _v2_analytics_indexes),
    Migration(3, "active task counts", _v3_task_counts),
    Migration(4, "dashboard sessions", _v4_sessions),
    Migration(5, "key last use, sessions by key", _v5_key_use_and_session_bound),
    Migration(6, "announced task types", _v6_task_types),
    Migration(7, "attempt tracebacks, manual requeue marks", _v7_tracebacks_and_requeues),
    Migration(8, "schedules", _v8_schedules),
    Migration(9, "task search", _v9_task_search),
    Migration(10, "run-time order indexes", _v10_run_time_order),
)
LATEST_VERSION = MIGRATIONS[-1].version
