"""Statements folded into one round trip (adapters/sql/folding.py) on MariaDB: they run in
order in the unit's transaction, a failure of any of them undoes all of it and reaches
the unit of work as SQLAlchemy's error (so deadlocks are retried and outages mapped), and
a connection goes back to the pool with no transaction left open although the pool no
longer rolls back after the store's own commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import pymysql
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.adapters.sql.counts import Tally
from skiplock.adapters.sql.folding import Fold
from tests.contract.store_kit import LEASE, T0, new


@pytest.fixture
def store(mysql_url: str) -> Iterator[SqlTaskStore]:
    s = create_store(mysql_url)
    s.migrate()
    yield s
    s.close()


def test_folded_statements_run_in_order_in_one_packet(store: SqlTaskStore) -> None:
    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id

    def work(conn: Any, _tally: Tally, fold: Fold | None) -> list[Any]:
        assert fold is not None
        fold.defer("UPDATE tenants SET weight = 2 WHERE id = %s", (tenant,))
        fold.defer("UPDATE tenants SET weight = weight * 5 WHERE id = %s", (tenant,))
        (rows,) = fold.select([("SELECT weight FROM tenants WHERE id = %(id)s", {"id": tenant})])
        assert fold.round_trips == 1
        return rows

    rows = store.write_folded(work)
    assert [r.weight for r in rows] == [10]
    assert store.get_tenant(tenant_id=tenant).weight == 10


def test_a_failing_folded_statement_undoes_the_whole_unit(store: SqlTaskStore) -> None:
    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id

    def work(conn: Any, _tally: Tally, fold: Fold | None) -> None:
        assert fold is not None
        fold.defer("UPDATE tenants SET weight = 7 WHERE id = %s", (tenant,))
        fold.defer("UPDATE no_such_table SET x = 1")
        fold.flush()

    with pytest.raises(DBAPIError) as caught:
        store.write_folded(work)
    assert caught.value.orig is not None  # the driver's error, wrapped as SQLAlchemy's
    assert store.get_tenant(tenant_id=tenant).weight == 1


def test_a_deadlock_in_a_folded_packet_is_retried_as_a_whole(store: SqlTaskStore) -> None:
    """A lock-wait or deadlock error surfaces as SQLAlchemy's OperationalError, which the
    unit of work retries from the start."""
    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id
    tries: list[int] = []

    def work(conn: Any, _tally: Tally, fold: Fold | None) -> None:
        assert fold is not None
        tries.append(1)
        fold.defer("UPDATE tenants SET weight = weight + 1 WHERE id = %s", (tenant,))
        if len(tries) == 1:
            # MariaDB's SIGNAL raises any error code: here a deadlock (1213).
            fold.defer("SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213")
        fold.flush()

    store.write_folded(work)
    assert len(tries) == 2
    assert store.get_tenant(tenant_id=tenant).weight == 2


def test_no_transaction_is_left_open_on_a_pooled_connection(store: SqlTaskStore) -> None:
    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id
    store.submit([new(tenant) for _ in range(3)], now=T0)
    store.claim({tenant: 3}, worker="w:1", now=T0, lease_until=T0 + LEASE)

    def fail(conn: Any, _tally: Tally, fold: Fold | None) -> None:
        conn.execute(text("UPDATE tenants SET weight = 9"))
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        store.write_folded(fail)
    # Every pooled connection, checked out again, is outside any transaction.
    with store.engine.connect() as a, store.engine.connect() as b:
        for conn in (a, b):
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cur:
                cur.execute("SELECT @@in_transaction")
                assert cur.fetchone() == (0,)
    assert store.get_tenant(tenant_id=tenant).weight == 1


def test_the_commit_travels_with_the_last_writes_and_no_commit_follows(
    store: SqlTaskStore,
) -> None:
    """A folded unit ends with one packet holding its last writes and ``COMMIT``; the
    engine sends no second commit, and the writes are visible to another session."""
    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id
    sent: list[str] = []
    real = pymysql.connections.Connection._execute_command

    def command(self: Any, command: int, sql: Any) -> Any:
        sent.append(sql.decode() if isinstance(sql, bytes) else str(sql))
        return real(self, command, sql)

    def work(conn: Any, _tally: Tally, fold: Fold | None) -> None:
        assert fold is not None
        fold.defer("UPDATE tenants SET weight = 4 WHERE id = %s", (tenant,))

    store.write(lambda conn, _t: conn.execute(text("SELECT 1")))  # a warm pooled connection
    with patch.object(pymysql.connections.Connection, "_execute_command", command):
        store.write_folded(work)
    assert len(sent) == 1, sent
    assert sent[0].startswith("UPDATE tenants SET weight = 4") and sent[0].endswith("COMMIT")
    assert weight_seen_elsewhere(store, tenant) == 4


def test_a_plain_unit_after_a_folded_one_still_commits(store: SqlTaskStore) -> None:
    """The engine skips its commit only for the unit whose packet carried one: the next
    unit on the same pooled connection commits as usual."""
    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id

    def folded(conn: Any, _tally: Tally, fold: Fold | None) -> None:
        assert fold is not None
        fold.defer("UPDATE tenants SET weight = 2 WHERE id = %s", (tenant,))

    def plain(conn: Any, _tally: Tally) -> None:
        conn.execute(text("UPDATE tenants SET weight = 3 WHERE id = :i"), {"i": tenant})

    for _ in range(3):  # whichever pooled connection each unit gets
        store.write_folded(folded)
        assert weight_seen_elsewhere(store, tenant) == 2
        store.write(plain)
        assert weight_seen_elsewhere(store, tenant) == 3
        with store.engine.connect() as other:
            raw = other.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cur:
                cur.execute("SELECT @@in_transaction")
                assert cur.fetchone() == (0,)
                cur.execute("SELECT weight FROM tenants WHERE id = %s", (tenant,))
                assert cur.fetchone() == (3,)


def test_a_unit_that_fails_after_its_packet_leaves_no_commit_skipped(
    store: SqlTaskStore,
) -> None:
    """If a unit fails after its last packet was sent, the flag it left is dropped when
    the connection goes back to the pool, so a later unit's commit is never skipped."""
    from skiplock.adapters.sql.folding import COMMITTED

    tenant = store.create_tenant("a", weight=1, rate_limit=None, now=T0).id

    def marked_then_failed(conn: Any, _tally: Tally) -> None:
        conn.connection.info[COMMITTED] = True
        raise RuntimeError("failed after its packet")

    def plain(conn: Any, _tally: Tally) -> None:
        conn.execute(text("UPDATE tenants SET weight = 6 WHERE id = :i"), {"i": tenant})

    with pytest.raises(RuntimeError):
        store.write(marked_then_failed)
    store.write(plain)
    assert weight_seen_elsewhere(store, tenant) == 6


def weight_seen_elsewhere(store: SqlTaskStore, tenant: int) -> int:
    """A tenant's weight read by a session of its own, outside the store's pool: only
    committed writes show."""
    url = store.engine.url
    conn = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT weight FROM tenants WHERE id = %s", (tenant,))
            row = cur.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        conn.close()
