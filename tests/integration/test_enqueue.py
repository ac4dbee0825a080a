"""Transactional enqueue on SQLite and MariaDB: the task exists if and only if the
caller's transaction commits, the maintained counts stay exact, bad input raises a typed
error and writes nothing, and the caller's transaction is never ended by enqueue."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pymysql
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

import skiplock
from skiplock import (
    Conflict,
    ConnectionClosed,
    NotFound,
    TaskState,
    TooLarge,
    UnusableConnection,
    ValidationError,
)
from skiplock.adapters.sql import counts
from skiplock.domain.models import AnnouncedType, TenantState
from skiplock.handlers import handler
from tests.integration.conftest import Harness, wait_until
from tests.services import spare_port


@handler("enqueue_tuned", max_attempts=6, timeout_s=9, cost=5)
def _tuned(payload: Any) -> Any:
    return payload


Connect = Callable[[], Any]


@pytest.fixture(params=["sqlite", "mariadb"])
def database(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return str(request.getfixturevalue(name))


def dbapi_connect(url: str) -> Connect:
    """A plain DB-API connection to the engine's database, as an application opens it."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return lambda: sqlite3.connect(str(parsed.database), timeout=10)
    return lambda: pymysql.connect(
        host=parsed.host, port=parsed.port or 3306, user=parsed.username, database=parsed.database
    )


@pytest.fixture
async def api(harness_factory: Callable[..., Any], database: str) -> AsyncIterator[Harness]:
    """An API-only engine: enqueued tasks stay as written."""
    h = await harness_factory(database)
    yield h
    await h.client.aclose()
    await h.engine.stop()


@pytest.fixture
def connect(api: Harness, database: str) -> Iterator[Connect]:
    opened: list[Any] = []

    def make() -> Any:
        conn = dbapi_connect(database)()
        opened.append(conn)
        return conn

    first = make()
    first.cursor().execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    first.commit()
    yield make
    for conn in opened:
        with contextlib.suppress(Exception):  # some tests close theirs
            conn.close()


def task_rows(h: Harness) -> int:
    with h.engine.store.engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar_one())


def maintained_counts(h: Harness) -> dict[counts.Key, int]:
    with h.engine.store.engine.connect() as conn:
        return counts.read(conn)


def recounted(h: Harness) -> dict[counts.Key, int]:
    h.engine.store.recount()
    return maintained_counts(h)


def orders(conn: Any) -> int:
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM orders")
    return int(cur.fetchone()[0])


def test_a_committed_enqueue_is_stored_with_its_counts(api: Harness, connect: Connect) -> None:
    conn = connect()
    conn.cursor().execute("INSERT INTO orders (id) VALUES (1)")
    task = skiplock.enqueue(conn, "noop", {"order": 1})
    later = skiplock.enqueue(conn, "noop", {"order": 1}, delay_s=3600, priority=5)
    assert task.state is TaskState.QUEUED and later.state is TaskState.SCHEDULED
    assert task_rows(api) == 0  # not visible to anyone before the commit
    conn.commit()
    stored = api.engine.store.get_task(task.id)
    assert stored.payload == {"order": 1} and stored.tenant == "default"
    assert api.engine.store.get_task(later.id).priority == 5
    tid = stored.tenant_id
    expected = {(tid, "noop", "queued"): 1, (tid, "noop", "scheduled"): 1}
    assert maintained_counts(api) == expected == recounted(api)


def test_a_rolled_back_enqueue_leaves_no_task_and_the_counts_unchanged(
    api: Harness, connect: Connect
) -> None:
    conn = connect()
    skiplock.enqueue(conn, "noop", {"kept": True})
    conn.commit()
    before = maintained_counts(api)
    conn.cursor().execute("INSERT INTO orders (id) VALUES (2)")
    skiplock.enqueue_many(conn, [{"type": "noop"}, {"type": "noop", "delay_s": 60}])
    conn.rollback()
    assert task_rows(api) == 1 and orders(conn) == 0
    assert maintained_counts(api) == before == recounted(api)


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda c: skiplock.enqueue(c, "noop", priority=1000), ValidationError, "priority"),
        (lambda c: skiplock.enqueue(c, "noop", cost=0), ValidationError, "cost"),
        (lambda c: skiplock.enqueue(c, "noop", max_attempts=101), ValidationError, "max_attempts"),
        (lambda c: skiplock.enqueue(c, "no_such_type"), ValidationError, "type"),
        (lambda c: skiplock.enqueue(c, "noop", "x" * 300_000), TooLarge, "payload"),
        (lambda c: skiplock.enqueue(c, "noop", float("nan")), ValidationError, "payload"),
        (
            lambda c: skiplock.enqueue(c, "noop", delay_s=1, run_at=datetime.now(UTC)),
            ValidationError,
            "run_at",
        ),
        (
            lambda c: skiplock.enqueue(c, "noop", run_at=datetime(2030, 1, 1)),  # naive: refused
            ValidationError,
            "run_at",
        ),
        (lambda c: skiplock.enqueue(c, "noop", idempotency_key="has space"), ValidationError, None),
        (
            lambda c: skiplock.enqueue_many(c, [{"type": "noop"}, {"type": "noop", "colour": 1}]),
            ValidationError,
            "tasks.1.colour",
        ),
        (lambda c: skiplock.enqueue(c, "noop", tenant="nobody"), NotFound, None),
    ],
)
def test_bad_input_raises_a_typed_error_and_writes_nothing(
    api: Harness, connect: Connect, call: Callable[[Any], Any], error: type, field: str | None
) -> None:
    conn = connect()
    conn.cursor().execute("INSERT INTO orders (id) VALUES (3)")
    with pytest.raises(error) as caught:
        call(conn)
    if field is not None:
        assert caught.value.field == field
    conn.commit()  # the caller's transaction goes on: its own write commits
    assert orders(conn) == 1 and task_rows(api) == 0 and maintained_counts(api) == {}


async def test_a_draining_tenant_refuses_enqueue(api: Harness, connect: Connect) -> None:
    await api.tenant("closing")
    tenant = api.engine.store.get_tenant(name="closing")
    api.engine.store.update_tenant(tenant.id, state=TenantState.DRAINING)
    with pytest.raises(Conflict, match="draining"):
        skiplock.enqueue(connect(), "noop", tenant="closing")
    assert task_rows(api) == 0


def test_a_closed_connection_raises_connection_closed(api: Harness, connect: Connect) -> None:
    conn = connect()
    conn.close()
    with pytest.raises(ConnectionClosed):
        skiplock.enqueue(conn, "noop")
    assert task_rows(api) == 0


def test_an_autocommit_connection_is_refused(api: Harness, database: str) -> None:
    if database.startswith("sqlite"):
        conn = sqlite3.connect(make_url(database).database or "", isolation_level=None)
    else:
        conn = dbapi_connect(database)()
        conn.autocommit(True)
    try:
        with pytest.raises(UnusableConnection, match="autocommit"):
            skiplock.enqueue(conn, "noop")
    finally:
        conn.close()
    assert task_rows(api) == 0


def test_handler_defaults_and_the_tenant_apply(api: Harness, connect: Connect) -> None:
    conn = connect()
    task = skiplock.enqueue(conn, "enqueue_tuned", {"a": 1}, tenant="default")
    own = skiplock.enqueue(conn, "enqueue_tuned", max_attempts=1, cost=1)
    conn.commit()
    assert (task.max_attempts, task.timeout_s, task.cost) == (6, 9.0, 5)
    assert (own.max_attempts, own.cost) == (1, 1)
    assert api.engine.store.get_task(task.id).cost == 5


def test_a_type_a_worker_announced_is_enqueued_with_its_announced_defaults(
    api: Harness, connect: Connect
) -> None:
    conn = connect()
    with pytest.raises(ValidationError, match="no worker has announced task type 'elsewhere'"):
        skiplock.enqueue(conn, "elsewhere")
    conn.rollback()
    api.engine.store.announce_types(
        [AnnouncedType("elsewhere", max_attempts=4, cost=2)], now=datetime.now(UTC)
    )
    task = skiplock.enqueue(conn, "elsewhere", {"n": 1})  # a new transaction sees it
    conn.commit()
    assert (task.max_attempts, task.cost) == (4, 2)
    assert api.engine.store.get_task(task.id).type == "elsewhere"


def test_an_idempotency_key_returns_the_existing_task_and_writes_nothing(
    api: Harness, connect: Connect
) -> None:
    conn = connect()
    first = skiplock.enqueue(conn, "noop", idempotency_key="order-7")
    again = skiplock.enqueue(conn, "noop", {"other": 1}, idempotency_key="order-7")
    conn.commit()
    before = maintained_counts(api)
    later = skiplock.enqueue(conn, "noop", idempotency_key="order-7")
    conn.commit()
    assert first.id == again.id == later.id and task_rows(api) == 1
    assert maintained_counts(api) == before


def test_sqlalchemy_connections_and_sessions_join_the_callers_transaction(
    api: Harness, database: str
) -> None:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            outer = conn.begin()
            skiplock.enqueue(conn, "noop", {"via": "rolled back"})
            outer.rollback()
        with engine.begin() as conn:
            kept = skiplock.enqueue(conn, "noop", {"via": "connection"})
        with Session(engine) as session:
            skiplock.enqueue(session, "noop", {"via": "session, rolled back"})
            session.rollback()
            by_session = skiplock.enqueue(session, "noop", {"via": "session"})
            session.commit()
        with engine.connect() as conn:
            conn.close()
            with pytest.raises(ConnectionClosed):
                skiplock.enqueue(conn, "noop")
        with (
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
            pytest.raises(UnusableConnection),
        ):
            skiplock.enqueue(conn, "noop")
    finally:
        engine.dispose()
    assert task_rows(api) == 2
    assert {api.engine.store.get_task(t.id).payload["via"] for t in (kept, by_session)} == {
        "connection",
        "session",
    }
    assert maintained_counts(api) == recounted(api)


async def test_enqueued_tasks_run_once_committed(
    harness_factory: Callable[..., Any], database: str
) -> None:
    h = await harness_factory(database, roles="all", workers=2)
    try:
        conn = dbapi_connect(database)()
        task = skiplock.enqueue(conn, "noop")
        conn.commit()
        conn.close()

        async def finished() -> bool:
            return h.engine.store.get_task(task.id).state is TaskState.SUCCEEDED

        await wait_until(finished, timeout_s=20, what="the enqueued task to run")
    finally:
        await h.client.aclose()
        await h.engine.stop()


async def test_a_key_committed_after_the_callers_snapshot_is_returned_not_duplicated(
    harness_factory: Callable[..., Any], mysql_url: str
) -> None:
    h = await harness_factory(mysql_url)
    connect = dbapi_connect(mysql_url)
    a, b = connect(), connect()
    try:
        b.cursor().execute("SELECT COUNT(*) FROM tasks")  # b's REPEATABLE READ snapshot
        first = skiplock.enqueue(a, "noop", idempotency_key="race")
        a.commit()  # b cannot see this row, but its INSERT hits the unique key
        second = skiplock.enqueue(b, "noop", idempotency_key="race")
        b.commit()
        assert second.id == first.id and task_rows(h) == 1
        assert maintained_counts(h) == recounted(h)
        assert sum(maintained_counts(h).values()) == 1
    finally:
        a.close()
        b.close()
        await h.client.aclose()
        await h.engine.stop()


async def test_an_orm_session_commit_wakes_the_workers_at_once(
    harness_factory: Callable[..., Any],
    mysql_url: str,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers that poll only once a minute: the task runs within seconds only if the
    # commit's wake-up reaches them.
    h = await harness_factory(
        mysql_url,
        roles="all",
        workers=1,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        poll_interval_s=60,
    )
    try:
        await h.engine.shared.notifier.listening()  # type: ignore[attr-defined]
        monkeypatch.setenv("SKIPLOCK_REDIS_URL", redis_url)
        monkeypatch.setenv("SKIPLOCK_REDIS_PREFIX", redis_prefix)
        engine = create_engine(mysql_url)
        with Session(engine) as session:
            task = skiplock.enqueue(session, "noop")
            session.commit()
        engine.dispose()

        async def finished() -> bool:
            return h.engine.store.get_task(task.id).state is TaskState.SUCCEEDED

        await wait_until(finished, timeout_s=10, what="the woken worker to run the task")
    finally:
        await h.client.aclose()
        await h.engine.stop()


def test_an_unreachable_redis_never_fails_the_callers_commit(
    api: Harness, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKIPLOCK_REDIS_URL", f"redis://127.0.0.1:{spare_port()}/0")
    engine = create_engine(database)
    try:
        with Session(engine) as session:
            task = skiplock.enqueue(session, "noop")
            session.commit()  # the wake-up fails; the commit stands
    finally:
        engine.dispose()
    assert api.engine.store.get_task(task.id).state is TaskState.QUEUED


async def test_an_open_caller_transaction_never_locks_the_engines_counter_rows(
    harness_factory: Callable[..., Any], mysql_url: str
) -> None:
    h = await harness_factory(mysql_url)
    caller = dbapi_connect(mysql_url)()
    probe = dbapi_connect(mysql_url)()
    try:
        task = skiplock.enqueue(caller, "noop")  # holds its counter row until it commits
        tenant_id = h.engine.store.get_tenant(name="default").id
        with probe.cursor() as cur:
            cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
            for shard in counts.ENGINE_SHARDS:  # what claims and completions write
                cur.execute(
                    "INSERT INTO task_counts (tenant_id, type, state, shard, n) "
                    "VALUES (%s, 'noop', 'queued', %s, 0) ON DUPLICATE KEY UPDATE n = n",
                    (tenant_id, shard),
                )  # a lock wait would fail this with error 1205
        probe.commit()
        caller.commit()
        assert h.engine.store.get_task(task.id).state is TaskState.QUEUED
        assert maintained_counts(h) == {(tenant_id, "noop", "queued"): 1} == recounted(h)
    finally:
        caller.close()  # an open transaction would hold the test database's drop
        probe.close()
        await h.client.aclose()
        await h.engine.stop()
