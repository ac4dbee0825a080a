"""The strategy object a dialect implements: what differs between MySQL/MariaDB and SQLite.

The store's parts ask ``dialect_of(conn)`` (or hold ``store.dialect``) and call it, so no
module branches on the database's name. Each method keeps the statements, and so the
round trips, the dialect needs: the hot path (claim, attempts, lock, counts) is driver
SQL on MySQL and SQLAlchemy statements on SQLite, as measured in docs/BENCHMARKS.md.
The two strategies live in dialect_mysql.py and dialect_sqlite.py; dialect.py picks one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, Select, TextClause, insert
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import OperationalError

from skiplock.adapters.sql.folding import Fold
from skiplock.adapters.sql.queries import query
from skiplock.adapters.sql.schema import task_attempts
from skiplock.domain import states
from skiplock.domain.errors import Unavailable
from skiplock.domain.states import TaskState, Transition

T = TypeVar("T")

QUEUED = TaskState.QUEUED.value
RUNNING = states.apply(Transition.CLAIM, TaskState.QUEUED).value


class SqlDialect:
    """The per-database strategy; one shared instance per dialect (it holds no state)."""

    name: str
    # The file of named queries (``queries.query``) for this dialect.
    sql_file: str
    # One UPDATE statement per chunk of rows (``updates.update_each``), because the
    # driver sends an executemany UPDATE as one round trip per row.
    one_update_per_chunk: bool = False
    # A multi-row INSERT hands back consecutive ids from lastrowid (InnoDB).
    consecutive_insert_ids: bool = False
    # A search reads the newest rows before the index (search_scan.py): InnoDB's
    # FULLTEXT index costs time per matching row (docs/BENCHMARKS.md, "Search").
    search_window: bool = False

    def make_engine(self, url: str, *, timeout_s: float) -> Engine:
        raise NotImplementedError

    def query(self, name: str, *, expanding: tuple[str, ...] = ()) -> TextClause:
        return query(self.sql_file, name, expanding=expanding)

    def write_options(self) -> dict[str, Any]:
        """Execution options of a connection that will write."""
        return {}

    def transaction_ended(self, conn: Connection) -> None:
        """The transaction on ``conn`` was committed or rolled back and it runs nothing
        more before it goes back to the pool."""

    def unavailable(self, exc: OperationalError) -> Unavailable | None:
        """The domain error for a failure to reach the database, or None."""
        raise NotImplementedError

    def retryable(self, exc: OperationalError) -> int | None:
        """The error code when the whole transaction may be retried, else None."""
        return None

    def limited_read(
        self, conn: Connection, work: Callable[[Connection], T], *, timeout_s: float
    ) -> T:
        """Run ``work`` in a transaction whose statements stop after ``timeout_s``."""
        raise NotImplementedError

    def timed_out(self, exc: OperationalError) -> bool:
        raise NotImplementedError

    def where(self, url: URL) -> str:
        """Where the store lives, for log lines (never the credentials)."""
        raise NotImplementedError

    def buffer_pool(self, conn: Connection) -> tuple[int, int] | None:
        return None

    @contextmanager
    def migration_lock(self, conn: Connection) -> Iterator[None]:
        """Held while migrating, so N instances starting at once migrate one by one."""
        yield

    def time_bucket(self, column: Any, bucket_s: int) -> ColumnElement[Any]:
        raise NotImplementedError

    def deletable(self, ids: Select[Any]) -> Select[Any]:
        """``ids`` as a subquery a DELETE of the same table may use."""
        return ids

    def fold(self, conn: Connection) -> Fold | None:
        """A holder for the statements of the transaction on ``conn`` that can share a
        round trip (folding.py), or None where each is sent alone."""
        return None

    def add_counts(
        self, conn: Connection, rows: list[dict[str, Any]], fold: Fold | None = None
    ) -> None:
        """Add each row's ``n`` to its ``task_counts`` row (created at 0 if missing)."""
        raise NotImplementedError

    def count_shard(self, shards: range) -> int:
        """The counter row a transaction adds to. SQLite has one writer at a time and
        needs only one."""
        return 0

    def insert_attempts(
        self, conn: Connection, attempts: list[dict[str, Any]], fold: Fold | None = None
    ) -> None:
        conn.execute(insert(task_attempts), attempts)

    def lock_running(
        self, conn: Connection, ids: list[int], running: str, fold: Fold | None = None
    ) -> list[Any]:
        """Rows among ``ids`` still ``running``, locked for the transaction."""
        stmt = self.query("lock_running", expanding=("ids",))
        return list(conn.execute(stmt, {"ids": ids, "running": running}))

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
        """Claim the granted tasks (``FOR UPDATE SKIP LOCKED`` lives in the named
        queries); their rows as they were before the claim."""
        raise NotImplementedError

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
        """``lock_running`` of ``running_ids`` (none when empty), then ``claim_rows`` of
        ``grants`` (none when empty): a worker's cycle takes every lock it needs before
        it writes. Where a fold is given, both reads share one round trip."""
        held = self.lock_running(conn, running_ids, RUNNING, fold) if running_ids else []
        claimed = (
            self.claim_rows(
                conn, grants, worker=worker, now=now, lease_until=lease_until, fold=fold
            )
            if grants
            else []
        )
        return held, claimed

    def upsert_types(
        self, conn: Connection, rows: list[dict[str, Any]], kept: tuple[str, ...]
    ) -> None:
        raise NotImplementedError

    def search_match(self, words: tuple[str, ...]) -> ColumnElement[bool]:
        """Tasks whose payload or last error has a word starting with each of ``words``
        (domain/search.py; the words are letters, digits and ``_`` only)."""
        raise NotImplementedError

    def create_search_index(self, conn: Connection) -> None:
        """Create the index ``search_match`` reads (re-runnable) and fill it."""
        raise NotImplementedError
