"""Task types known across the cluster: a worker announces the types it handles, and an
API instance that never imported the handlers accepts them, with their defaults; a type
no worker has announced is refused with a 422 that says so."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from skiplock.adapters.clock import SystemClock
from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.domain.errors import Unavailable
from skiplock.domain.models import AnnouncedType, TaskType
from skiplock.handlers import HandlerRegistry
from skiplock.services.task_types import CatalogConfig, TypeCatalog
from tests.integration.conftest import Harness
from tests.processes import EngineProcess


class TurnableClock(SystemClock):
    """Wall time as the system has it; monotonic time moved by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t


class CountingStore:
    """A real SQLite store that counts how often the type table is read, and can be made
    to fail as a store that is down does."""

    def __init__(self, store: SqlTaskStore) -> None:
        self.store = store
        self.reads = 0
        self.down = False

    def task_types(self, names: Any = None) -> list[TaskType]:
        self.reads += 1
        if self.down:
            raise Unavailable("database unavailable: test")
        return self.store.task_types(names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Any:
    s = create_store(sqlite_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
async def api_only(harness_factory: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Harness]:
    """An API-only instance whose catalog re-reads the table on every miss, so a test sees
    an announcement at once."""
    h = await harness_factory(sqlite_url)
    h.engine.context.types.config = CatalogConfig(miss_reread_s=0)
    yield h
    await h.client.aclose()
    await h.engine.stop()


async def test_a_type_no_worker_announced_is_refused_with_a_422_that_says_so(
    api_only: Harness,
) -> None:
    r = await api_only.client.post(
        "/api/tasks", json={"type": "greet", "payload": {}}, headers=api_only.admin
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"].startswith("no worker has announced task type 'greet'; ")
    assert "noop" in body["message"]  # it lists what is known
    assert body["fields"][0]["field"] == "type"
    batch = await api_only.client.post(
        "/api/tasks/batch",
        json={"tasks": [{"type": "noop"}, {"type": "greet"}]},
        headers=api_only.admin,
    )
    assert batch.status_code == 422 and batch.json()["fields"][0]["field"] == "tasks.1.type"
    assert await api_only.count() == 0  # nothing of either request was stored


async def test_an_api_instance_accepts_an_announced_type_with_the_announced_defaults(
    api_only: Harness,
) -> None:
    assert "greet" not in api_only.engine.context.handlers  # no handler code here
    refused = await api_only.client.post(
        "/api/tasks", json={"type": "greet"}, headers=api_only.admin
    )
    assert refused.status_code == 422
    api_only.engine.store.announce_types(
        [AnnouncedType("greet", max_attempts=7, timeout_s=9.5, cost=3)], now=SystemClock().now()
    )
    r = await api_only.client.post(
        "/api/tasks", json={"type": "greet", "payload": {"to": "you"}}, headers=api_only.admin
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert (task["max_attempts"], task["timeout_s"], task["cost"]) == (7, 9.5, 3)
    own = await api_only.client.post(
        "/api/tasks", json={"type": "greet", "cost": 1, "max_attempts": 2}, headers=api_only.admin
    )
    assert (own.json()["cost"], own.json()["max_attempts"]) == (1, 2)  # its own values win


async def test_the_embedded_engine_announces_its_types_before_it_serves(
    embedded: Harness,
) -> None:
    names = {t.name for t in embedded.engine.store.task_types()}
    assert set(embedded.engine.context.handlers.names()) <= names
    r = await embedded.client.get("/api/task-types", headers=embedded.admin)
    assert r.status_code == 200, r.text
    listed = {t["name"]: t for t in r.json()["types"]}
    assert listed["noop"]["instances"] == [embedded.engine.worker_id]
    assert listed["noop"]["first_seen"] and listed["noop"]["last_seen"]


async def test_task_types_lists_announced_types_even_with_no_instance_handling_them(
    api_only: Harness,
) -> None:
    api_only.engine.store.announce_types([AnnouncedType("greet", cost=2)], now=SystemClock().now())
    tenant_key = await api_only.tenant("acme")
    r = await api_only.client.get("/api/task-types", headers=api_only.as_key(tenant_key))
    assert r.status_code == 200, r.text
    [greet] = r.json()["types"]  # an API-only instance announces nothing itself
    assert greet["name"] == "greet" and greet["instances"] == [] and greet["cost"] == 2
    assert (await api_only.client.get("/api/task-types")).status_code == 401


async def test_the_catalog_rereads_on_a_miss_at_most_once_per_interval(
    sqlite_store: SqlTaskStore,
) -> None:
    store = CountingStore(sqlite_store)
    clock = TurnableClock()
    catalog = TypeCatalog(
        CatalogConfig(cache_s=30, miss_reread_s=1),
        store=store,  # type: ignore[arg-type] -- the store's surface, counted
        handlers=HandlerRegistry(),
        clock=clock,
    )
    assert await catalog.known(["greet"]) == {}
    assert store.reads == 1
    sqlite_store.announce_types([AnnouncedType("greet")], now=clock.now())
    assert "greet" not in await catalog.known(["greet"])  # within the interval: no read
    assert store.reads == 1
    clock.t += 1
    assert "greet" in await catalog.known(["greet"])
    assert store.reads == 2
    clock.t += 10
    await catalog.known(["greet"])  # found and fresh: no read
    assert store.reads == 2
    clock.t += 30
    store.down = True
    with pytest.raises(Unavailable):  # stale: the table must be read, and cannot be
        await catalog.known(["greet"])


async def test_this_processs_own_handlers_count_without_reading_the_store(
    sqlite_store: SqlTaskStore,
) -> None:
    store = CountingStore(sqlite_store)
    handlers = HandlerRegistry()
    handlers.register("local", lambda payload: None)
    clock = TurnableClock()
    catalog = TypeCatalog(CatalogConfig(), store=store, handlers=handlers, clock=clock)  # type: ignore[arg-type]
    assert "local" in await catalog.known(["local"])
    store.down = True
    clock.t += 0.5
    assert "local" in await catalog.known(["local"])  # the cached answer serves
    assert store.reads == 1


HANDLERS = """
from skiplock import handler

@handler("greet", cost=2)
def greet(payload):
    return "hello " + payload["to"]
"""


def test_an_api_process_without_the_handler_code_accepts_a_type_once_a_worker_announced_it(
    mysql_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "greetapp.py").write_text(HANDLERS)
    shared = {"SKIPLOCK_REDIS_URL": redis_url, "SKIPLOCK_REDIS_PREFIX": redis_prefix}
    # The API process gets neither SKIPLOCK_HANDLERS nor the module's directory on its
    # path: it could not import the handler if it tried.
    api = EngineProcess(
        mysql_url,
        env={**shared, "SKIPLOCK_ROLES": "api,maintenance"},
        log_path=tmp_path / "api.log",
    ).start()
    worker = EngineProcess(
        mysql_url,
        env={
            **shared,
            "SKIPLOCK_ROLES": "worker",
            "SKIPLOCK_HANDLERS": "greetapp",
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        },
        log_path=tmp_path / "worker.log",
    )
    try:
        with api.client() as c:
            before = c.post("/api/tasks", json={"type": "greet", "payload": {"to": "you"}})
            assert before.status_code == 422, before.text
            assert "no worker has announced task type 'greet'" in before.json()["message"]
            worker.start()  # ready only once its types are announced
            accepted = _submit_until_accepted(c, {"type": "greet", "payload": {"to": "you"}})
            assert accepted["cost"] == 2  # the handler's default, from the announcement
            done = _wait_for_state(c, accepted["id"], "succeeded")
            assert done["result"] == "hello you"
            listed = {t["name"]: t for t in c.get("/api/task-types").json()["types"]}
            assert listed["greet"]["instances"] == [_instance_id(c, worker)]
    finally:
        worker.kill()
        api.kill()


def _instance_id(c: httpx.Client, worker: EngineProcess) -> str:
    """The worker's instance id (its name and per-start suffix) as the registry lists it."""
    ids = [i["id"] for i in c.get("/api/workers").json()["instances"]]
    [mine] = [i for i in ids if i.startswith(f"test-{worker.port}:")]
    return str(mine)


def _submit_until_accepted(c: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    # The API re-reads the announced types at most once a second after a miss.
    deadline = time.monotonic() + 10
    while True:
        r = c.post("/api/tasks", json=body)
        if r.status_code == 201 or time.monotonic() > deadline:
            assert r.status_code == 201, r.text
            return dict(r.json())
        time.sleep(0.1)


def _wait_for_state(c: httpx.Client, task_id: int, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        task = c.get(f"/api/tasks/{task_id}").json()
        if task["state"] == state or time.monotonic() > deadline:
            assert task["state"] == state, task
            return dict(task)
        time.sleep(0.05)
