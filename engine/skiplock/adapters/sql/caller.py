"""SQL run on a caller's own connection, inside the transaction the caller holds open.

``skiplock.enqueue`` accepts a SQLAlchemy ``Connection`` (or ORM ``Session``) as it is,
and a plain DB-API connection (``sqlite3``, PyMySQL) wrapped in a SQLAlchemy connection
whose dialect *cannot* end anything: its commit, rollback and close are no-ops. So no
path through SQLAlchemy — not connection pooling's reset-on-return, not the first
connection's dialect set-up, which rolls back — can commit, roll back or close the
caller's transaction; only the caller does."""

from __future__ import annotations

import contextvars
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, ResourceClosedError
from sqlalchemy.pool import NullPool

from skiplock.domain.errors import ConnectionClosed, UnusableConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# MySQL client errors meaning the connection is gone (server gone away, lost, refused).
_GONE_CODES = frozenset({0, 2006, 2013, 2055})


class _Inert:
    """Dialect behaviour that leaves the caller's transaction and connection alone."""

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_close(self, dbapi_connection: Any) -> None:
        pass

    def do_terminate(self, dbapi_connection: Any) -> None:
        pass

    def on_connect(self) -> Callable[[Any], None]:
        # Per-connection set-up (sqlite's REGEXP function) would change the caller's
        # connection; none of it is needed here.
        return _leave_alone


def _leave_alone(dbapi_connection: Any) -> None:
    pass


class CallerSQLiteDialect(_Inert, SQLiteDialect_pysqlite):
    supports_statement_cache = True  # nothing here changes how statements compile


class CallerMySQLDialect(_Inert, MySQLDialect_pymysql):
    supports_statement_cache = True


registry.register("sqlite.skiplock_caller", __name__, "CallerSQLiteDialect")
registry.register("mysql.skiplock_caller", __name__, "CallerMySQLDialect")

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("skiplock_caller_connection")
# One engine per dialect and server version: the dialect reads server details once, on
# the first connection it sees.
_engines: dict[tuple[str, str], Engine] = {}


def _engine(kind: str, server: str) -> Engine:
    engine = _engines.get((kind, server))
    if engine is None:
        engine = create_engine(
            f"{kind}+skiplock_caller://",
            creator=_current.get,
            poolclass=NullPool,
            pool_reset_on_return=None,
        )
        _engines[(kind, server)] = engine
    return engine


def _dbapi_kind(conn: Any) -> tuple[str, str]:
    """``(dialect, server)`` for a supported DB-API connection; checks it can write
    inside a transaction."""
    if isinstance(conn, sqlite3.Connection):
        _check_sqlite(conn)
        return "sqlite", sqlite3.sqlite_version
    if type(conn).__module__.startswith("pymysql"):
        if not conn.open:
            raise ConnectionClosed("the PyMySQL connection is closed")
        if conn.get_autocommit():
            raise UnusableConnection(
                "the PyMySQL connection is in autocommit mode: the task would be "
                "committed at once; use autocommit=False and commit yourself"
            )
        return "mysql", str(conn.get_server_info())
    raise TypeError(
        "enqueue takes a SQLAlchemy Connection or Session, or a sqlite3 or PyMySQL "
        f"connection; got {type(conn).__name__}"
    )


def orm_session(conn: Any) -> Session | None:
    """The ORM ``Session`` behind ``conn`` (a ``Session``, or a ``scoped_session`` such as
    Flask-SQLAlchemy's ``db.session``); ``None`` for anything else."""
    if isinstance(conn, sqlite3.Connection | Connection) or type(conn).__module__.startswith(
        "pymysql"
    ):
        return None
    from sqlalchemy.orm import Session, scoped_session  # only for ORM callers

    if isinstance(conn, scoped_session):
        conn = conn.registry()  # the current thread's (or scope's) session
    return conn if isinstance(conn, Session) else None


def _check_sqlite(conn: sqlite3.Connection) -> None:
    try:
        in_transaction = conn.in_transaction
    except sqlite3.ProgrammingError as exc:
        raise ConnectionClosed("the sqlite3 connection is closed") from exc
    autocommit = getattr(conn, "autocommit", None)  # Python 3.12+
    if autocommit is True or (conn.isolation_level is None and not in_transaction):
        raise UnusableConnection(
            "the sqlite3 connection is in autocommit mode with no transaction open: "
            "the task would be committed at once; run BEGIN first"
        )


def _check_sqlalchemy(conn: Connection) -> None:
    if conn.closed or conn.invalidated:
        raise ConnectionClosed("the SQLAlchemy connection is closed")
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        raise UnusableConnection(
            "the SQLAlchemy connection uses AUTOCOMMIT: the task would be committed at once"
        )
    raw: Any = conn.connection.dbapi_connection  # a driver connection; its type varies
    if isinstance(raw, sqlite3.Connection):
        _check_sqlite(raw)
    elif raw is not None and conn.dialect.detect_autocommit_setting(raw):
        raise UnusableConnection(
            "the connection is in autocommit mode: the task would be committed at once"
        )


@contextmanager
def caller_connection(conn: Any) -> Iterator[Connection]:
    """``conn`` as a SQLAlchemy connection in the caller's transaction. Errors that
    mean the connection is gone become :class:`ConnectionClosed`."""
    try:
        if isinstance(conn, Connection):
            _check_sqlalchemy(conn)
            with _gone_as_closed():
                yield conn
            return
        session = orm_session(conn)
        if session is not None:
            joined = session.connection()  # joins (or begins) the session's transaction
            _check_sqlalchemy(joined)
            with _gone_as_closed():
                yield joined
            return
        kind, server = _dbapi_kind(conn)
        token = _current.set(conn)
        try:
            with _gone_as_closed(), _engine(kind, server).connect() as sa_conn:
                yield sa_conn
        finally:
            _current.reset(token)
    except ResourceClosedError as exc:
        raise ConnectionClosed(f"the connection is closed: {exc}") from exc


@contextmanager
def _gone_as_closed() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, InterfaceError) or _is_gone(exc.orig):
            raise ConnectionClosed(f"the connection was lost: {exc.orig}") from exc
        raise


def _is_gone(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.ProgrammingError):
        return "closed" in str(orig)
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    return code in _GONE_CODES
