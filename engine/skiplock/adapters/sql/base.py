"""Connections, units of work and error mapping shared by the SQL store's parts.

Every transaction that writes is a unit of work (:meth:`SqlBase.write`): the work gets
the connection and a :class:`~skiplock.adapters.sql.counts.Tally`, and the unit applies
the tally as the transaction's last statement before its commit. No write path applies
(or can forget) the active-count change itself; reads run in :meth:`SqlBase.read`."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.dialect import SqlDialect, dialect_for_url, dialect_named
from skiplock.adapters.sql.folding import Fold
from skiplock.adapters.sql.schema import tenants
from skiplock.domain.errors import NotFound, TimedOut, Unavailable

log = logging.getLogger("skiplock.store")

T = TypeVar("T")

MAX_TX_ATTEMPTS = 8

# The work of a unit: it writes through the connection and adds every change it makes to
# active tasks to the tally.
Work = Callable[[Connection, counts.Tally], T]
FoldedWork = Callable[[Connection, counts.Tally, Fold | None], T]


def make_engine(url: str, *, timeout_s: float) -> Engine:
    """An engine per dialect with the session settings the queue relies on."""
    return dialect_for_url(url).make_engine(url, timeout_s=timeout_s)


class SqlBase:
    """Owns the engine and the dialect strategy; runs units of work as retried
    transactions."""

    def __init__(self, engine: Engine, *, read_timeout_s: float = 30.0) -> None:
        self.engine = engine
        # The time limit of slow reads (analytics): SKIPLOCK_ANALYTICS_TIMEOUT_S.
        self.read_timeout_s = read_timeout_s
        self.dialect: SqlDialect = dialect_named(engine.dialect.name)
        self._tenant_names: dict[int, str] = {}
        self._names_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def _unavailable(self, exc: DBAPIError) -> Unavailable:
        """A database error that is no bug of ours (lost connection, busy file, a lock
        wait that retries did not get past) as the domain's outage error: callers tell
        an outage from a bug by that type alone."""
        mapped = self.dialect.unavailable(exc) if isinstance(exc, OperationalError) else None
        return mapped or Unavailable(f"database unavailable: {exc.orig}")

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as raw:
                options = self.dialect.write_options() if write else {}
                yield raw.execution_options(**options) if options else raw
        except OperationalError as exc:
            mapped = self.dialect.unavailable(exc)
            if mapped is not None:
                raise mapped from exc
            raise

    def _transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction, retrying the whole of it on deadlock or
        lock-wait timeout with jittered backoff."""
        for attempt in range(1, MAX_TX_ATTEMPTS + 1):
            try:
                with self._connect(write=write) as conn:
                    with conn.begin():
                        result = work(conn)
                    self.dialect.transaction_ended(conn)
                    return result
            except InterfaceError as exc:
                raise self._unavailable(exc) from exc
            except OperationalError as exc:
                code = self.dialect.retryable(exc)
                if code is None or attempt == MAX_TX_ATTEMPTS:
                    raise self._unavailable(exc) from exc
                log.info("transaction retry %d after MySQL error %s", attempt, code)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def write(self, work: Work[T]) -> T:
        """A unit of work: ``work(conn, tally)`` in one write transaction, then the
        tally's count change as its last statement (see counts.py for why last), then
        the commit. A retried transaction starts over with a fresh tally."""

        def unit(conn: Connection) -> T:
            tally = counts.Tally()
            result = work(conn, tally)
            tally.apply(conn)
            return result

        return self._transaction(unit, write=True)

    def write_folded(self, work: FoldedWork[T]) -> T:
        """A unit of work as ``write``, whose statements may share round trips:
        ``work(conn, tally, fold)`` holds in ``fold`` (None where the dialect sends each
        statement alone) the writes whose results it does not read; the count change
        joins them, and what is held is sent with the commit (folding.py)."""

        def unit(conn: Connection) -> T:
            tally = counts.Tally()
            fold = self.dialect.fold(conn)
            result = work(conn, tally, fold)
            tally.apply(conn, fold=fold)
            if fold is not None:
                fold.commit()
            return result

        return self._transaction(unit, write=True)

    def read(self, work: Callable[[Connection], T]) -> T:
        """``work`` in a transaction that writes nothing."""
        return self._transaction(work, write=False)

    def read_tx(self, work: Callable[[Connection], T], *, timeout_s: float) -> T:
        """Run read-only ``work`` with every statement stopped after ``timeout_s``:
        MariaDB/MySQL stop it server-side; SQLite interrupts it from a progress handler.
        Raises ``TimedOut``."""
        try:
            with self._connect(write=False) as conn:
                return self.dialect.limited_read(conn, work, timeout_s=timeout_s)
        except OperationalError as exc:
            if self.dialect.timed_out(exc):
                raise TimedOut(f"a read ran past its {timeout_s} s limit") from exc
            raise self._unavailable(exc) from exc
        except InterfaceError as exc:
            raise self._unavailable(exc) from exc

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
