"""Connections, transactions and error mapping shared by the SQL store's parts."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import QueuePool

from engine.adapters.sql.schema import tenants
from engine.domain.errors import NotFound, Unavailable

log = logging.getLogger("skiplock.store")

T = TypeVar("T")

# MySQL/MariaDB error codes. A deadlock or lock-wait timeout aborts the whole
# transaction, so the unit of retry is the whole transaction, never one statement.
RETRYABLE_CODES = frozenset({1213, 1205})
# The server went away or cannot be reached: the caller gets 503 and retries later.
CONNECTION_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1040, 1053, 4031})
MAX_TX_ATTEMPTS = 8


def _mysql_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def make_engine(url: str, *, timeout_s: float) -> Engine:
    """An engine per dialect with the session settings the queue relies on."""
    if url.startswith("sqlite"):
        # A file database keeps a small pool of open connections. With none (NullPool)
        # every transaction reopened the file, and closing the last connection of a WAL
        # database checkpoints and fsyncs it: about 9 ms per transaction, most of the
        # embedded mode's submit-to-start latency.
        engine = create_engine(
            url,
            connect_args={"timeout": timeout_s, "check_same_thread": False},
            poolclass=QueuePool if ":memory:" not in url else None,
            **({"pool_size": 5, "max_overflow": 10} if ":memory:" not in url else {}),
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
    return create_engine(
        url,
        isolation_level="READ COMMITTED",
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_timeout=timeout_s,
        connect_args={
            "connect_timeout": max(1, int(timeout_s)),
            # Bounds a hung server (accepts, never answers): no call waits past this.
            "read_timeout": max(10, int(timeout_s * 3)),
            "write_timeout": max(10, int(timeout_s * 3)),
            "init_command": (
                f"SET SESSION innodb_lock_wait_timeout={max(1, int(timeout_s))}, time_zone='+00:00'"
            ),
        },
    )


class SqlBase:
    """Owns the engine; runs units of work as retried transactions."""

    dialect_file: str

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_mysql = engine.dialect.name == "mysql"
        self.dialect_file = "mysql.sql" if self.is_mysql else "sqlite.sql"
        self._tenant_names: dict[int, str] = {}
        self._names_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as raw:
                if write and not self.is_mysql:
                    yield raw.execution_options(sqlite_begin="IMMEDIATE")
                else:
                    yield raw
        except OperationalError as exc:
            if self.is_mysql and _mysql_code(exc) in CONNECTION_CODES:
                raise Unavailable(f"database unavailable: {exc.orig}") from exc
            if not self.is_mysql and "locked" in str(exc.orig):
                raise Unavailable("database is busy; try again", retry_after_s=1) from exc
            raise

    def tx(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction, retrying the whole of it on deadlock or
        lock-wait timeout with jittered backoff."""
        for attempt in range(1, MAX_TX_ATTEMPTS + 1):
            try:
                with self._connect(write=write) as conn, conn.begin():
                    return work(conn)
            except OperationalError as exc:
                code = _mysql_code(exc) if self.is_mysql else None
                if code not in RETRYABLE_CODES or attempt == MAX_TX_ATTEMPTS:
                    raise
                log.info("transaction retry %d after MySQL error %s", attempt, code)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def tenant_name(self, conn: Connection, tenant_id: int) -> str:
        """Tenant names never change, so they are cached for the life of the process."""
        name = self._tenant_names.get(tenant_id)
        if name is None:
            row = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).first()
            if row is None:
                raise NotFound(f"tenant {tenant_id} does not exist")
            name = str(row.name)
            with self._names_lock:
                self._tenant_names[tenant_id] = name
        return name

    def tenant_names(self, conn: Connection, ids: set[int]) -> dict[int, str]:
        missing = ids - self._tenant_names.keys()
        if missing:
            rows = conn.execute(
                select(tenants.c.id, tenants.c.name).where(tenants.c.id.in_(missing))
            )
            with self._names_lock:
                for row in rows:
                    self._tenant_names[int(row.id)] = str(row.name)
        return {i: self._tenant_names.get(i, f"#{i}") for i in ids}
