"""The SQL task store, assembled from its parts, plus schema migration."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from engine.adapters.sql.analytics_ops import AnalyticsOps
from engine.adapters.sql.base import make_engine
from engine.adapters.sql.schema import LATEST_VERSION, MIGRATIONS, schema_version
from engine.adapters.sql.task_ops import TaskOps
from engine.adapters.sql.tenant_ops import TenantOps
from engine.adapters.sql.worker_ops import WorkerOps
from engine.domain.errors import Unavailable

log = logging.getLogger("skiplock.store")

_MIGRATION_LOCK = "skiplock_migrate"


class SqlTaskStore(TenantOps, TaskOps, WorkerOps, AnalyticsOps):
    """:class:`engine.ports.TaskStore` over MySQL/MariaDB or SQLite."""

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig}") from exc

    def migrate(self) -> int:
        """Apply pending migrations. Safe when N instances start at once: MySQL takes a
        named lock for the duration; SQLite's BEGIN IMMEDIATE serialises writers."""
        with self.engine.connect() as conn:
            if self.is_mysql:
                got = conn.execute(text("SELECT GET_LOCK(:n, 60)"), {"n": _MIGRATION_LOCK}).scalar()
                conn.commit()  # the named lock is session-scoped; end the implicit tx
                if got != 1:
                    raise Unavailable("timed out waiting for another instance's migration")
            try:
                return self._migrate(conn)
            finally:
                if self.is_mysql:
                    conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _MIGRATION_LOCK})
                    conn.commit()

    def _migrate(self, conn: Connection) -> int:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
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


def create_store(url: str, *, timeout_s: float = 5.0) -> SqlTaskStore:
    return SqlTaskStore(make_engine(url, timeout_s=timeout_s))
