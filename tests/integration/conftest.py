"""In-process engines driven through their real HTTP app (httpx + ASGITransport)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from skiplock import keys
from skiplock.api.app import create_app
from skiplock.settings import Settings
from skiplock.wiring import Engine, build_engine, open_store, prepare_database


@dataclass
class Harness:
    engine: Engine
    client: httpx.AsyncClient
    admin_key: str

    def as_key(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.as_key(self.admin_key)

    async def tenant(self, name: str, **body: Any) -> str:
        r = await self.client.post("/api/tenants", json={"name": name, **body}, headers=self.admin)
        assert r.status_code == 201, r.text
        return str(r.json()["api_key"])

    async def count(self, **params: Any) -> int:
        r = await self.client.get("/api/tasks", params={"limit": 500, **params}, headers=self.admin)
        assert r.status_code == 200, r.text
        return len(r.json()["items"])


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def make_settings(url: str, **overrides: Any) -> Settings:
    admin, _ = keys.generate()
    base: dict[str, Any] = {
        "database_url": url,
        "admin_key": admin,
        "roles": "api",
        "port": 0,
        "maintenance_interval_s": 0.05,
        "poll_interval_s": 0.2,
        "retry_base_s": 0.0,
        "lease_s": 5.0,
        "registry_ttl_s": 2.0,
        "complete_flush_s": 0.0,
        "demo": True,  # the demo routes are exercised like any other
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def harness_factory() -> Callable[..., Any]:
    started: list[Harness] = []

    async def make(url: str, **overrides: Any) -> Harness:
        settings = make_settings(url, **overrides)
        store = open_store(settings)
        prepare_database(settings, store)
        engine = build_engine(settings, store=store)
        await engine.start()
        app = create_app(engine.context)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://skiplock.test"
        )
        assert settings.admin_key is not None
        h = Harness(engine=engine, client=client, admin_key=settings.admin_key)
        started.append(h)
        return h

    return make


@pytest.fixture
async def api(harness_factory: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Harness]:
    """An API-only engine on SQLite: submitted tasks stay where they are."""
    h = await harness_factory(sqlite_url)
    yield h
    await h.client.aclose()
    await h.engine.stop()


@pytest.fixture
async def embedded(harness_factory: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Harness]:
    """A whole embedded engine (api, worker, maintenance) on SQLite."""
    h = await harness_factory(sqlite_url, roles="all", workers=4)
    yield h
    await h.client.aclose()
    await h.engine.stop()


@asynccontextmanager
async def live_server(h: Harness) -> AsyncIterator[httpx.AsyncClient]:
    """The harness's app on a real socket: streaming responses (SSE) need one, because
    httpx's ASGI transport buffers whole bodies."""
    app = h.client._transport.app  # type: ignore[attr-defined]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: _started(server), timeout_s=10, what="the test server")
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    server.should_exit = True
    await task


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)
