"""Statements folded into one round trip (adapters/sql/folding.py) on MariaDB: they run in
order in the unit's transaction, a failure of any of them undoes all of it and reaches
the unit of work as SQLAlchemy's error (so deadlocks are retried and outages mapped), and
a connection goes back to the pool with no transaction left open although the pool no
longer rolls back after the store's own commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
