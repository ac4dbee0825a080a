"""Every adapter reports an outage as the domain's ``Unavailable``, so services and the
API tell an outage from a bug by that one type: Redis (each shared-state port) and the
SQL store (SQLite and MariaDB), reached over real connections to a server that is not
there."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from skiplock.adapters.redis import RedisShared
from skiplock.adapters.sql import create_store
from skiplock.domain.errors import Unavailable
from skiplock.domain.models import Event, RateLimit
from skiplock.ports import InstanceInfo

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def gone() -> AsyncIterator[RedisShared]:
    shared = RedisShared.from_url(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.5)
    yield shared
    await shared.aclose()


INFO = InstanceInfo(
    id="w:1",
    host="h",
    roles=("worker",),
    started_at=NOW,
    last_heartbeat=NOW,
    slots=1,
    busy=0,
    tasks=(),
)
CALLS: dict[str, Callable[[RedisShared], Awaitable[Any]]] = {
    "ping": lambda s: s.ping(),
    "rate limiter": lambda s: s.limiter.acquire("k", 1, RateLimit(cost=5, window_s=1)),
    "registry heartbeat": lambda s: s.registry.heartbeat(INFO, ttl_s=5),
    "registry listing": lambda s: s.registry.instances(),
    "registry removal": lambda s: s.registry.remove("w:1"),
    "event publish": lambda s: s.stream.publish([Event(kind="task", tenant_id=1, data={})]),
    "event read": lambda s: s.stream.read(after="0-0", count=1, block_s=0),
    "stream position": lambda s: s.stream.last_id(),
    "wake-up": lambda s: s.notifier.notify(),
}


@pytest.mark.parametrize("call", CALLS, ids=list(CALLS))
async def test_a_redis_outage_is_unavailable(gone: RedisShared, call: str) -> None:
    with pytest.raises(Unavailable):
        await CALLS[call](gone)


def test_an_unreachable_mysql_is_unavailable() -> None:
    store = create_store(f"mysql+pymysql://root@127.0.0.1:{_closed_port()}/x", timeout_s=1)
    try:
        with pytest.raises(Unavailable):
            store.list_tenants()
        with pytest.raises(Unavailable):
            store.ping()
    finally:
        store.close()


def test_a_database_error_mid_transaction_is_unavailable(mysql_url: str) -> None:
    # The server ends the connection inside a transaction (as a restart would).
    store = create_store(mysql_url)
    store.migrate()
    try:

        def killed(conn: Any, _tally: Any) -> None:
            own = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            conn.exec_driver_sql(f"KILL {int(own)}")

        with pytest.raises(Unavailable):
            store.write(killed)
    finally:
        store.close()
