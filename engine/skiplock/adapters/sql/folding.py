"""Several statements of one MySQL/MariaDB transaction in one round trip.

A worker's cycle (the completions it writes, the claim for the slots they freed, the
count change) was one transaction of eight round trips, and at 8–16 slots the drain was
bound by them: each costs the worker a send and a wake-up, and the server a read, a
parse and a reply, whatever the statement does (docs/BENCHMARKS.md). Most of those
statements are writes whose results nobody reads. A :class:`Fold` holds such writes and
sends them, as one multi-statement packet, together with the next statement whose rows
are needed, or with the commit itself (``commit``). The statements run in the order they were
given, in the same transaction, so locking order, fencing and the counts-last rule
(counts.py) are exactly as if each had been sent alone.

Values are escaped by the driver (``mogrify``) as for any parameterised statement; no
text from outside ever reaches a statement unescaped. The connection needs the
``MULTI_STATEMENTS`` client flag, which ``MySQLDialect.make_engine`` sets."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pymysql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

Params = Mapping[str, Any] | Sequence[Any] | None
# Set on a pooled connection whose transaction ``Fold.commit`` ended: the engine's own
# commit then has nothing to send (``MySQLDialect.make_engine``).
COMMITTED = "skiplock_committed_in_packet"


class Fold:
    """The held statements of one transaction on one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._held: list[str] = []
        # Packets sent (round trips), for tests and the benchmark's statement counts.
        self.round_trips = 0

    def _raw(self) -> Any:
        raw = self._conn.connection.dbapi_connection
        assert raw is not None
        return raw

    def defer(self, sql: str, params: Params = None) -> None:
        """Send ``sql`` with the next packet; its result is not read."""
        self._held.append(self._raw().cursor().mogrify(sql, params))

    def select(self, statements: Sequence[tuple[str, Params]]) -> list[list[SimpleNamespace]]:
        """Send the held statements and ``statements`` in one packet; the rows of each of
        ``statements``, in order."""
        cursor = self._raw().cursor()
        texts = [cursor.mogrify(sql, params) for sql, params in statements]
        held = len(self._held)
        results = self._send([*self._held, *texts])
        self._held = []
        return results[held:]

    def flush(self) -> None:
        """Send what is held (before the commit)."""
        if self._held:
            self._send(self._held)
            self._held = []

    def commit(self) -> None:
        """Send what is held and ``COMMIT`` in one packet, as the transaction's end. The
        server runs the statements of a packet in order and stops at the first error, so
        the commit runs only if every write before it did."""
        self._send([*self._held, "COMMIT"])
        self._held = []
        self._conn.connection.info[COMMITTED] = True

    def _send(self, texts: list[str]) -> list[list[SimpleNamespace]]:
        raw = self._raw()
        sql = ";\n".join(texts)
        cursor = raw.cursor()
        self.round_trips += 1
        try:
            cursor.execute(sql)
            out: list[list[SimpleNamespace]] = []
            while True:
                if cursor.description is None:
                    out.append([])
                else:
                    names = [d[0] for d in cursor.description]
                    out.append(
                        [
                            SimpleNamespace(**dict(zip(names, r, strict=True)))
                            for r in cursor.fetchall()
                        ]
                    )
                if not cursor.nextset():
                    break
            cursor.close()
            return out
        except pymysql.err.Error as exc:
            with contextlib.suppress(pymysql.err.Error):
                cursor.close()
            # As SQLAlchemy would raise it, so the unit of work retries a deadlock and
            # maps an outage; a lost connection is invalidated, not pooled again.
            if self._conn.dialect.is_disconnect(exc, raw, cursor):
                self._conn.invalidate(exc)
            raise DBAPIError.instance(
                sql, None, exc, pymysql.err.Error, dialect=self._conn.dialect
            ) from exc
