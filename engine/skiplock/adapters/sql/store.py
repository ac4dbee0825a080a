"""The SQL task store, assembled from its parts, plus schema migration."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from skiplock.adapters.sql.analytics_ops import AnalyticsOps
from skiplock.adapters.sql.base import make_engine
from skiplock.adapters.sql.maintenance_ops import MaintenanceOps
from skiplock.adapters.sql.migrations import LATEST_VERSION, MIGRATIONS
from skiplock.adapters.sql.schedule_ops import ScheduleOps
from skiplock.adapters.sql.schema import schema_version
from skiplock.adapters.sql.task_ops import TaskOps
from skiplock.adapters.sql.tenant_ops import TenantOps
from skiplock.adapters.sql.type_ops import TypeOps
from skiplock.adapters.sql.worker_ops import WorkerOps
from skiplock.domain.errors import Unavailable

log = logging.getLogger("skiplock.store")


class SqlTaskStore(
    TenantOps, TaskOps, WorkerOps, MaintenanceOps, AnalyticsOps, TypeOps, ScheduleOps
):
    """:class:`skiplock.ports.TaskStore` over MySQL/MariaDB or SQLite."""

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig}") from exc

    def where(self) -> str:
        """Where the store lives, for log lines: ``MySQL at db:3306``, ``SQLite at x.db``
        (never the credentials)."""
        return self.dialect.where(self.engine.url)

    def buffer_pool(self) -> tuple[int, int] | None:
        """MySQL: the InnoDB buffer pool size and the tasks table's size (data and
        indexes), in bytes; None on SQLite, which has no buffer pool to size."""
        with self.engine.connect() as conn:
            found = self.dialect.buffer_pool(conn)
            conn.rollback()
        return found

    def schema_version(self) -> int:
        """The highest migration applied (0 for an empty database)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(schema_version.name):
                return 0
            found = conn.execute(select(schema_version.c.version)).scalars().all()
            conn.rollback()
            return max(found, default=0)

    def migrate(self) -> int:
        """Apply pending migrations. Safe when N instances start at once: MySQL takes a
        named lock for the duration; SQLite's BEGIN IMMEDIATE serialises writers."""
        with self.engine.connect() as conn, self.dialect.migration_lock(conn):
            return self._migrate(conn)

    def _migrate(self, conn: Connection) -> int:
        conn = conn.execution_options(**self.dialect.write_options())
        with conn.begin():
            schema_version.create(conn, checkfirst=True)
        current = 0
        with conn.begin():
            if inspect(conn).has_table(schema_version.name):
                found = conn.execute(select(schema_version.c.version)).scalars().all()
                current = max(found, default=0)
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            # MySQL commits DDL implicitly; each migration is written to be re-runnable
            # (checkfirst), so a crash between DDL and the version row is harmless.
            with conn.begin():
                migration.apply(conn)
                conn.execute(
                    insert(schema_version).values(
                        version=migration.version,
                        name=migration.name,
                        applied_at=datetime.now(UTC),
                    )
                )
            log.info("applied migration %d: %s", migration.version, migration.name)
        return LATEST_VERSION


def create_store(url: str, *, timeout_s: float = 5.0, read_timeout_s: float = 30.0) -> SqlTaskStore:
    return SqlTaskStore(make_engine(url, timeout_s=timeout_s), read_timeout_s=read_timeout_s)
