"""The dialect strategy for a connection, an engine or a URL: MySQL/MariaDB or SQLite.

The contract is ``SqlDialect`` (dialect_base.py); the strategies are in dialect_mysql.py
and dialect_sqlite.py."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from skiplock.adapters.sql.dialect_base import SqlDialect
from skiplock.adapters.sql.dialect_mysql import MySQLDialect
from skiplock.adapters.sql.dialect_sqlite import SQLiteDialect

__all__ = ["MYSQL", "SQLITE", "SqlDialect", "dialect_for_url", "dialect_named", "dialect_of"]

MYSQL = MySQLDialect()
SQLITE = SQLiteDialect()
_BY_NAME: dict[str, SqlDialect] = {MYSQL.name: MYSQL, SQLITE.name: SQLITE}


def dialect_named(name: str) -> SqlDialect:
    """The strategy for SQLAlchemy's dialect name (``mysql`` covers MariaDB)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unsupported database dialect {name!r}") from None


def dialect_of(conn: Connection) -> SqlDialect:
    return dialect_named(conn.dialect.name)


def dialect_for_url(url: str) -> SqlDialect:
    return SQLITE if url.startswith("sqlite") else MYSQL
