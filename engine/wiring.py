"""The composition root: the one place that picks concrete adapters from settings and
assembles the services a process runs for its roles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from engine import handlers, keys
from engine.adapters.clock import SystemClock
from engine.adapters.memory.events import MemoryEventStream
from engine.adapters.memory.notifier import MemoryNotifier
from engine.adapters.memory.rate_limiter import MemoryRateLimiter
from engine.adapters.memory.registry import MemoryRegistry
from engine.adapters.sql import SqlTaskStore, create_store
from engine.api.app import create_app
from engine.api.context import ApiConfig, ApiContext
from engine.domain.errors import Conflict
from engine.domain.models import Role
from engine.ports import EventStream, Notifier, RateLimiter, WorkerRegistry
from engine.services.announcer import Announcer, AnnouncerConfig
from engine.services.base import LoopService
from engine.services.maintenance import Cleaner, MaintenanceConfig, Promoter, Rescuer
from engine.services.publisher import EventPublisher
from engine.services.worker import WorkerConfig, WorkerRuntime
from engine.settings import Settings

log = logging.getLogger("skiplock")


@dataclass
class SharedState:
    limiter: RateLimiter
    registry: WorkerRegistry
    stream: EventStream
    notifier: Notifier
    closers: list[object] = field(default_factory=list)

    async def ping(self) -> None:
        for closer in self.closers:
            ping = getattr(closer, "ping", None)
            if ping is not None:
                await ping()

    async def close(self) -> None:
        await self.notifier.close()
        for closer in self.closers:
            close = getattr(closer, "aclose", None)
            if close is not None:
                await close()


def shared_state(settings: Settings) -> SharedState:
    if not settings.redis_url:
        return SharedState(
            limiter=MemoryRateLimiter(),
            registry=MemoryRegistry(),
            stream=MemoryEventStream(maxlen=settings.event_stream_maxlen),
            notifier=MemoryNotifier(),
        )
    from engine.adapters.redis import RedisShared

    redis = RedisShared.from_url(
        settings.redis_url,
        timeout_s=settings.db_timeout_s,
        prefix=settings.redis_prefix,
        stream_maxlen=settings.event_stream_maxlen,
    )
    return SharedState(
        limiter=redis.limiter,
        registry=redis.registry,
        stream=redis.stream,
        notifier=redis.notifier,
        closers=[redis],
    )


def open_store(settings: Settings) -> SqlTaskStore:
    return create_store(settings.database_url, timeout_s=settings.db_timeout_s)


def bootstrap_admin_key(store: SqlTaskStore, key: str) -> None:
    """Make ``SKIPLOCK_ADMIN_KEY`` a valid admin key (idempotent across restarts)."""
    parsed = keys.parse(key)
    if parsed is None:
        raise SystemExit("SKIPLOCK_ADMIN_KEY must look like sk_<8+ lowercase/digits>_<32+ chars>")
    found = store.find_api_key(parsed.prefix)
    if found is not None:
        if not keys.matches(parsed, found.secret_hash) or found.info.role is not Role.ADMIN:
            raise SystemExit("SKIPLOCK_ADMIN_KEY's prefix belongs to a different key")
        return
    with contextlib.suppress(Conflict):  # another instance created it at the same moment
        store.create_api_key(
            role=Role.ADMIN,
            tenant_id=None,
            name="bootstrap",
            prefix=parsed.prefix,
            secret_hash=parsed.secret_hash,
            now=SystemClock().now(),
        )


@dataclass
class Engine:
    """Everything one process runs, built from settings."""

    settings: Settings
    store: SqlTaskStore
    shared: SharedState
    publisher: EventPublisher
    worker_id: str
    worker: WorkerRuntime | None
    maintenance: list[LoopService]
    announcer: Announcer
    context: ApiContext

    async def start(self) -> None:
        self.publisher.start()
        for service in self.maintenance:
            service.start()
        if self.worker is not None:
            await self.worker.start()
        self.announcer.start()
        log.info(
            "instance %s started (roles: %s)",
            self.worker_id,
            ",".join(sorted(self.settings.role_set)),
        )

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.drain(self.settings.shutdown_grace_s)
        for service in self.maintenance:
            await service.stop()
        await self.announcer.stop()
        await self.publisher.stop()
        await self.shared.close()
        await asyncio.to_thread(self.store.close)
        log.info("instance %s stopped", self.worker_id)


def build_engine(settings: Settings, *, store: SqlTaskStore | None = None) -> Engine:
    handlers.load_modules(settings.handler_modules)
    store = store or open_store(settings)
    shared = shared_state(settings)
    clock = SystemClock()
    roles = settings.role_set
    worker_id = f"{settings.instance_name}:{uuid.uuid4().hex[:12]}"
    publisher = EventPublisher(shared.stream, shared.notifier)
    mconf = MaintenanceConfig(
        interval_s=settings.maintenance_interval_s,
        retry_base_s=settings.retry_base_s,
        retention_s=settings.retention_s,
        prune_batch=settings.prune_batch,
    )
    rescuer = Rescuer(mconf, store=store, publisher=publisher, clock=clock)
    maintenance: list[LoopService] = []
    if "maintenance" in roles:
        maintenance = [
            Promoter(mconf, store=store, publisher=publisher, clock=clock),
            rescuer,
            Cleaner(mconf, store=store, clock=clock),
        ]
    worker = None
    if "worker" in roles and settings.workers > 0:
        worker = WorkerRuntime(
            WorkerConfig(
                worker_id=worker_id,
                slots=settings.workers,
                lease_s=settings.lease_s,
                retry_base_s=settings.retry_base_s,
                poll_interval_s=settings.poll_interval_s,
                claim_batch=settings.claim_batch,
                complete_batch=settings.complete_batch,
                complete_flush_s=settings.complete_flush_s,
            ),
            store=store,
            publisher=publisher,
            notifier=shared.notifier,
            clock=clock,
            handlers=handlers.registry,
            rescuer=rescuer,
        )
    announcer = Announcer(
        AnnouncerConfig(
            instance_id=worker_id,
            roles=tuple(sorted(roles)),
            ttl_s=settings.registry_ttl_s,
            slots=settings.workers if worker else 0,
        ),
        registry=shared.registry,
        clock=clock,
        executor=worker.executor if worker else None,
        started_at=clock.now(),
    )
    context = ApiContext(
        config=ApiConfig(
            max_payload_bytes=settings.max_payload_bytes,
            max_body_bytes=settings.max_body_bytes,
            max_batch=settings.max_batch,
            default_max_attempts=settings.default_max_attempts,
            default_timeout_s=settings.default_timeout_s,
            rate_limit_fail_open=settings.rate_limit_fail_open,
            sse_max_connections=settings.sse_max_connections,
            sse_heartbeat_s=settings.sse_heartbeat_s,
            db_timeout_s=settings.db_timeout_s,
        ),
        store=store,
        limiter=shared.limiter,
        registry=shared.registry,
        stream=shared.stream,
        publisher=publisher,
        clock=clock,
        handlers=handlers.registry,
        redis_ping=shared.ping if settings.redis_url else None,
    )
    return Engine(
        settings=settings,
        store=store,
        shared=shared,
        publisher=publisher,
        worker_id=worker_id,
        worker=worker,
        maintenance=maintenance,
        announcer=announcer,
        context=context,
    )


def prepare_database(settings: Settings, store: SqlTaskStore) -> None:
    """Migrate and bootstrap the admin key: what ``serve`` does before it listens."""
    store.migrate()
    if settings.admin_key:
        bootstrap_admin_key(store, settings.admin_key)


def build_app(settings: Settings) -> FastAPI:
    """The ASGI app for ``serve``: migrates, then runs the roles' services in its lifespan."""
    store = open_store(settings)
    prepare_database(settings, store)
    engine = build_engine(settings, store=store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    app = create_app(engine.context, lifespan=lifespan)
    app.state.engine = engine
    return app
