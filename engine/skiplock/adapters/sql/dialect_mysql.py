"""The MySQL/MariaDB strategy: driver SQL on the hot path, statements folded into shared
round trips (folding.py), server-side statement time limits, and the pool settings the
queue relies on (see dialect_base.py for the contract)."""

from __future__ import annotations

import random
import re
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from pymysql.constants import CLIENT
from sqlalchemy import ColumnElement, Engine, Select, create_engine, event, func, select, text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from skiplock.adapters.sql.dialect_base import QUEUED, RUNNING, SqlDialect, T
from skiplock.adapters.sql.folding import COMMITTED, Fold
from skiplock.adapters.sql.queries import driver_sql, naive_utc
from skiplock.adapters.sql.schema import JSONText, task_types
from skiplock.domain.errors import Unavailable

_DRIVER_PARAM = re.compile(r"%\((\w+)\)s")
# The row of a one-row INSERT in driver style: (%(a)s, %(b)s, …).
_DRIVER_ROW = re.compile(r"\(\s*%\(\w+\)s(?:\s*,\s*%\(\w+\)s)*\s*\)")

# A statement stopped at its time limit: MariaDB's max_statement_time, MySQL's
# MAX_EXECUTION_TIME.
TIMEOUT_CODES = frozenset({1969, 3024})
# The execution option that carries a statement time limit (seconds) to the listener.
STATEMENT_TIMEOUT = "skiplock_statement_timeout_s"
# MySQL/MariaDB error codes. A deadlock or lock-wait timeout aborts the whole
# transaction, so the unit of retry is the whole transaction, never one statement.
RETRYABLE_CODES = frozenset({1213, 1205})
# The server went away or cannot be reached: the caller gets 503 and retries later.
CONNECTION_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1040, 1053, 4031})
# A pooled connection unused for longer than this is pinged before use.
PING_IDLE_S = 1.0
_LAST_USED = "skiplock_last_used"
# Set on a pooled connection whose transaction the store committed or rolled back, with
# nothing run after it: the pool need not roll it back again on return.
_ENDED = "skiplock_transaction_ended"
_MIGRATION_LOCK = "skiplock_migrate"


def _mysql_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _multi_row(sql: str, rows: list[dict[str, Any]]) -> tuple[str, tuple[Any, ...]]:
    """A one-row ``INSERT … VALUES (…)`` in ``%(name)s`` style for every row of ``rows``
    (what PyMySQL's executemany builds), as one statement with positional values."""
    row = _DRIVER_ROW.search(sql)
    if row is None:
        raise ValueError("not a one-row INSERT … VALUES (…)")
    names = _DRIVER_PARAM.findall(row.group())
    one = _DRIVER_PARAM.sub("%s", row.group())
    values = ", ".join([one] * len(rows))
    params = tuple(r[n] for r in rows for n in names)
    return f"{sql[: row.start()]}{values}{sql[row.end() :]}", params


class MySQLDialect(SqlDialect):
    name = "mysql"
    sql_file = "mysql.sql"
    one_update_per_chunk = True
    consecutive_insert_ids = True
    search_window = True

    def make_engine(self, url: str, *, timeout_s: float) -> Engine:
        engine = create_engine(
            url,
            isolation_level="READ COMMITTED",
            pool_size=10,
            max_overflow=20,
            pool_recycle=3600,
            pool_timeout=timeout_s,
            # The rollback on return is ours (``_rollback_unless_ended``).
            pool_reset_on_return=None,
            connect_args={
                # FOUND_ROWS is what SQLAlchemy sets (rowcounts of matched rows);
                # MULTI_STATEMENTS lets a worker's cycle share round trips (folding.py).
                "client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
                "connect_timeout": max(1, int(timeout_s)),
                # Bounds a hung server (accepts, never answers): no call waits past this.
                "read_timeout": max(10, int(timeout_s * 3)),
                "write_timeout": max(10, int(timeout_s * 3)),
                "init_command": (
                    f"SET SESSION innodb_lock_wait_timeout={max(1, int(timeout_s))}, "
                    "time_zone='+00:00'"
                ),
            },
        )

        # A connection that sat unused may have been closed by a restarted server: ping
        # it before handing it out. Only then: a ping on every checkout (SQLAlchemy's
        # pool_pre_ping) was one extra round trip per transaction, a fifth of a claim's.
        @event.listens_for(engine, "checkout")
        def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            if time.monotonic() - record.info.get(_LAST_USED, 0.0) > PING_IDLE_S:
                try:
                    dbapi_conn.ping(reconnect=False)
                except Exception as exc:  # the pool replaces the connection and retries
                    raise DisconnectionError(str(exc)) from exc

        @event.listens_for(engine, "checkin")
        def _mark_used(_dbapi_conn: Any, record: Any) -> None:
            record.info[_LAST_USED] = time.monotonic()

        # The pool rolls back every connection handed back, even after the commit that
        # ended its transaction: one more round trip per transaction, an eighth of a
        # worker's claim cycle. Skipped only when the store ended the transaction itself
        # (``transaction_ended``); any other return is rolled back as before.
        @event.listens_for(engine, "reset")
        def _rollback_unless_ended(dbapi_conn: Any, record: Any, state: Any) -> None:
            # A flag left by a unit that failed between its packet and its end.
            if record is not None:
                record.info.pop(COMMITTED, None)
            ended = record is not None and record.info.pop(_ENDED, False)
            if not ended and not state.transaction_was_reset:
                dbapi_conn.rollback()

        # A unit of work whose last packet carried its COMMIT (``Fold.commit``) has
        # ended on the server; the engine's commit would be one more round trip for
        # nothing. Any other transaction commits as before.
        commit = engine.dialect.do_commit

        def _commit_unless_sent(proxied: Any) -> None:
            info = getattr(proxied, "info", None)
            if info is not None and info.pop(COMMITTED, False):
                return
            commit(proxied)

        setattr(engine.dialect, "do_commit", _commit_unless_sent)  # noqa: B010

        @event.listens_for(engine, "before_cursor_execute", retval=True)
        def _statement_timeout(
            conn: Connection,
            _cursor: Any,
            statement: str,
            parameters: Any,
            _context: Any,
            _executemany: bool,
        ) -> tuple[str, Any]:
            # Per statement, so no session setting can leak to the next user of the pooled
            # connection. MariaDB: SET STATEMENT ... FOR; MySQL: an optimizer hint.
            limit = conn.get_execution_options().get(STATEMENT_TIMEOUT)
            if limit is None or not statement.lstrip().upper().startswith("SELECT"):
                return statement, parameters
            if getattr(conn.dialect, "is_mariadb", False):
                return f"SET STATEMENT max_statement_time={limit:.3f} FOR {statement}", parameters
            hint = f"SELECT /*+ MAX_EXECUTION_TIME({max(1, int(limit * 1000))}) */"
            return statement.lstrip().replace("SELECT", hint, 1), parameters

        return engine

    def transaction_ended(self, conn: Connection) -> None:
        conn.connection.info[_ENDED] = True

    def unavailable(self, exc: OperationalError) -> Unavailable | None:
        if _mysql_code(exc) in CONNECTION_CODES:
            return Unavailable(f"database unavailable: {exc.orig}")
        return None

    def retryable(self, exc: OperationalError) -> int | None:
        code = _mysql_code(exc)
        return code if code in RETRYABLE_CODES else None

    def limited_read(
        self, conn: Connection, work: Callable[[Connection], T], *, timeout_s: float
    ) -> T:
        limited = conn.execution_options(**{STATEMENT_TIMEOUT: timeout_s})
        with limited.begin():
            return work(limited)

    def timed_out(self, exc: OperationalError) -> bool:
        return _mysql_code(exc) in TIMEOUT_CODES

    def where(self, url: URL) -> str:
        return f"MySQL at {url.host or 'localhost'}:{url.port or 3306}"

    def buffer_pool(self, conn: Connection) -> tuple[int, int] | None:
        row = conn.execute(self.query("buffer_pool_and_tasks_size")).one()
        return int(row.pool_bytes), int(row.tasks_bytes)

    @contextmanager
    def migration_lock(self, conn: Connection) -> Iterator[None]:
        got = conn.execute(text("SELECT GET_LOCK(:n, 60)"), {"n": _MIGRATION_LOCK}).scalar()
        conn.commit()  # the named lock is session-scoped; end the implicit tx
        if got != 1:
            raise Unavailable("timed out waiting for another instance's migration")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _MIGRATION_LOCK})
            conn.commit()

    def time_bucket(self, column: Any, bucket_s: int) -> ColumnElement[Any]:
        return func.floor(func.unix_timestamp(column) / bucket_s)

    def deletable(self, ids: Select[Any]) -> Select[Any]:
        # MySQL cannot delete from a table it selects from directly.
        return select(ids.subquery().c[0])

    def count_shard(self, shards: range) -> int:
        return random.choice(shards)

    def fold(self, conn: Connection) -> Fold | None:
        return Fold(conn)

    def add_counts(
        self, conn: Connection, rows: list[dict[str, Any]], fold: Fold | None = None
    ) -> None:
        if fold is None:
            conn.exec_driver_sql(driver_sql(self.sql_file, "counts_add"), rows)
            return
        fold.defer(*_multi_row(driver_sql(self.sql_file, "counts_add"), rows))

    def insert_attempts(
        self, conn: Connection, attempts: list[dict[str, Any]], fold: Fold | None = None
    ) -> None:
        for a in attempts:
            a["started_at"] = naive_utc(a["started_at"])
        if fold is None:
            conn.exec_driver_sql(driver_sql(self.sql_file, "attempt_insert"), attempts)
            return
        fold.defer(*_multi_row(driver_sql(self.sql_file, "attempt_insert"), attempts))

    def lock_running(
        self, conn: Connection, ids: list[int], running: str, fold: Fold | None = None
    ) -> list[Any]:
        sql, params = self._lock_running_select(ids, running)
        if fold is None:
            return list(conn.exec_driver_sql(sql, params))
        return fold.select([(sql, params)])[0]

    def _lock_running_select(self, ids: list[int], running: str) -> tuple[str, dict[str, Any]]:
        return driver_sql(self.sql_file, "lock_running"), {"ids": tuple(ids), "running": running}

    def lock_and_claim(
        self,
        conn: Connection,
        running_ids: list[int],
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        fold: Fold | None = None,
    ) -> tuple[list[Any], list[Any]]:
        if fold is None:
            return super().lock_and_claim(
                conn, running_ids, grants, worker=worker, now=now, lease_until=lease_until
            )
        # The running rows' lock and every tenant's claim SELECT in one packet, after
        # what the fold holds: the cycle's locks all taken in one round trip.
        lock = [self._lock_running_select(running_ids, RUNNING)] if running_ids else []
        results = fold.select([*lock, *self._claim_selects(grants)])
        held = results[0] if lock else []
        found = [r for rows in results[len(lock) :] for r in rows]
        return held, self._mark_claimed(
            conn, found, worker=worker, now=now, lease_until=lease_until, fold=fold
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
        selects = self._claim_selects(grants)
        found: list[Any] = []
        if fold is None:
            for sql, params in selects:
                found += [SimpleNamespace(**r._asdict()) for r in conn.exec_driver_sql(sql, params)]
        else:
            # Every tenant's SELECT in one packet, after what the fold holds.
            for rows in fold.select(selects):
                found += rows
        return self._mark_claimed(
            conn, found, worker=worker, now=now, lease_until=lease_until, fold=fold
        )

    def _claim_selects(self, grants: dict[int, int]) -> list[tuple[str, dict[str, Any]]]:
        select_rows = driver_sql(self.sql_file, "claim_select")
        return [
            (select_rows, {"tenant_id": tenant_id, "n": n, "queued": QUEUED})
            for tenant_id, n in grants.items()
        ]

    def _mark_claimed(
        self,
        conn: Connection,
        found: list[Any],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        fold: Fold | None,
    ) -> list[Any]:
        """The rows a claim SELECT locked become running (held in ``fold`` when given);
        the rows, decoded, as they were before."""
        if not found:
            return []
        mark = (
            driver_sql(self.sql_file, "claim_mark"),
            {
                "running": RUNNING,
                "worker": worker,
                "lease_until": naive_utc(lease_until),
                "now": naive_utc(now),
                "ids": tuple(int(r.id) for r in found),
            },
        )
        if fold is None:
            conn.exec_driver_sql(*mark)
        else:
            fold.defer(*mark)
        # Driver rows carry the stored forms: decode them as the column types would.
        payload = JSONText().process_result_value
        for r in found:
            r.payload = payload(r.payload, conn.dialect)
            r.created_at = r.created_at.replace(tzinfo=UTC)
            r.run_at = r.run_at.replace(tzinfo=UTC)
        return found

    def upsert_types(
        self, conn: Connection, rows: list[dict[str, Any]], kept: tuple[str, ...]
    ) -> None:
        up = mysql.insert(task_types).values(rows)
        conn.execute(up.on_duplicate_key_update({c: up.inserted[c] for c in kept}))

    def search_match(self, words: tuple[str, ...]) -> ColumnElement[bool]:
        boolean = " ".join(f"+{w}*" for w in words)
        clause = self.query("search_match").bindparams(search=boolean)
        return typing.cast(ColumnElement[bool], clause)

    def create_search_index(self, conn: Connection) -> None:
        if conn.execute(self.query("search_index_exists")).scalar_one():
            return
        # Building it reads every row (about a minute per 10^6 rows, silent all along),
        # far past the read timeout that bounds a hung server for everything else.
        raw = conn.connection.dbapi_connection
        read_timeout = getattr(raw, "_read_timeout", None)
        conn.execute(text("SET SESSION innodb_ft_enable_stopword = OFF"))
        try:
            if raw is not None:
                raw._read_timeout = None  # PyMySQL re-applies it before each read
            conn.execute(self.query("search_index_create"))
        finally:
            if raw is not None:
                raw._read_timeout = read_timeout
            conn.execute(text("SET SESSION innodb_ft_enable_stopword = ON"))
