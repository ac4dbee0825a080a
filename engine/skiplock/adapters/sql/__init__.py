"""The SQL task store: SQLAlchemy Core over MySQL/MariaDB (PyMySQL) or SQLite (sqlite3).

Dialect-neutral statements are SQLAlchemy Core expressions in the ``*_ops`` modules; the
statements that differ per dialect (the claim, the locking maintenance scans) are named
queries in ``mysql.sql`` and ``sqlite.sql``."""

from skiplock.adapters.sql.store import SqlTaskStore, create_store

__all__ = ["SqlTaskStore", "create_store"]
