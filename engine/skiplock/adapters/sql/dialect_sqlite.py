"""The SQLite strategy (the embedded mode): one writer at a time, SQLAlchemy statements,
time limits from a progress handler (see dialect_base.py for the contract)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Integer, cast, create_engine, event, func
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from skiplock.adapters.sql.dialect_base import QUEUED, RUNNING, SqlDialect, T
from skiplock.adapters.sql.folding import Fold
from skiplock.adapters.sql.schema import JSONText, UTCDateTime, task_counts, task_types, tasks
from skiplock.domain.errors import Unavailable


class SQLiteDialect(SqlDialect):
    name = "sqlite"
    sql_file = "sqlite.sql"

    def make_engine(self, url: str, *, timeout_s: float) -> Engine:
        # A file database keeps a small pool of open connections. With none (NullPool)
        # every transaction reopened the file, and closing the last connection of a WAL
        # database checkpoints and fsyncs it: about 9 ms per transaction, most of the
        # embedded mode's submit-to-start latency.
        in_memory = ":memory:" in url
        engine = create_engine(
            url,
            connect_args={"timeout": timeout_s, "check_same_thread": False},
            poolclass=None if in_memory else QueuePool,
            **({} if in_memory else {"pool_size": 5, "max_overflow": 10}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Hand transaction control to SQLAlchemy so BEGIN IMMEDIATE is ours to issue.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def write_options(self) -> dict[str, Any]:
        # Take the write lock at BEGIN: a deferred transaction that reads, then writes,
        # can fail to upgrade its lock instead of waiting for it.
        return {"sqlite_begin": "IMMEDIATE"}

    def unavailable(self, exc: OperationalError) -> Unavailable | None:
        if "locked" in str(exc.orig):
            return Unavailable("database is busy; try again", retry_after_s=1)
        return None

    def limited_read(
        self, conn: Connection, work: Callable[[Connection], T], *, timeout_s: float
    ) -> T:
        # Interrupted from a progress handler, checked every few thousand VM steps.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        deadline = time.monotonic() + timeout_s
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 4000)
        try:
            with conn.begin():
                return work(conn)
        finally:
            raw.set_progress_handler(None, 0)

    def timed_out(self, exc: OperationalError) -> bool:
        return "interrupted" in str(exc.orig)

    def where(self, url: URL) -> str:
        return f"SQLite at {url.database or ':memory:'}"

    def time_bucket(self, column: Any, bucket_s: int) -> ColumnElement[Any]:
        return cast(func.strftime("%s", column), Integer) / bucket_s

    def add_counts(
        self, conn: Connection, rows: list[dict[str, Any]], fold: Fold | None = None
    ) -> None:
        lite = sqlite.insert(task_counts).values(rows)
        conn.execute(
            lite.on_conflict_do_update(
                index_elements=["tenant_id", "type", "state", "shard"],
                set_={"n": task_counts.c.n + lite.excluded.n},
            )
        )

    def claim_rows(
        self,
        conn: Connection,
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        fold: Fold | None = None,
    ) -> list[Any]:
        typed = {"payload": JSONText(), "created_at": UTCDateTime(), "run_at": UTCDateTime()}
        claim = self.query("claim_update").columns(**typed)
        found: list[Any] = []
        for tenant_id, n in grants.items():
            found += conn.execute(
                claim,
                {
                    "tenant_id": tenant_id,
                    "n": n,
                    "queued": QUEUED,
                    "running": RUNNING,
                    "worker": worker,
                    "now": now,
                    "lease_until": lease_until,
                },
            ).all()
        return found

    def upsert_types(
        self, conn: Connection, rows: list[dict[str, Any]], kept: tuple[str, ...]
    ) -> None:
        lite = sqlite.insert(task_types).values(rows)
        conn.execute(
            lite.on_conflict_do_update(
                index_elements=["name"], set_={c: lite.excluded[c] for c in kept}
            )
        )

    def search_match(self, words: tuple[str, ...]) -> ColumnElement[bool]:
        phrase = " ".join(f'"{w}"*' for w in words)
        found = self.query("search_match").bindparams(search=phrase).columns(rowid=Integer)
        return tasks.c.id.in_(found)

    def create_search_index(self, conn: Connection) -> None:
        for name in (
            "search_table_create",
            "search_trigger_insert",
            "search_trigger_delete",
            "search_trigger_update",
            "search_rebuild",
        ):
            conn.execute(self.query(name))
