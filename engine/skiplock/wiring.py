"""The composition root: the one place that picks concrete adapters from settings and
assembles the services a process runs for its roles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import FastAPI

from skiplock import handlers
from skiplock.adapters.clock import SystemClock
from skiplock.adapters.memory.events import MemoryEventStream
from skiplock.adapters.memory.notifier import MemoryNotifier
from skiplock.adapters.memory.rate_limiter import MemoryRateLimiter
from skiplock.adapters.memory.registry import MemoryRegistry
from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.adapters.sql.migrations import LATEST_VERSION
from skiplock.api.app import create_app, create_metrics_app
from skiplock.api.context import ApiConfig, ApiContext
from skiplock.api.state import ApiState
from skiplock.domain.models import Role
from skiplock.ports import EventStream, Notifier, RateLimiter, WorkerRegistry
from skiplock.services import task_types
from skiplock.services.announcer import Announcer, AnnouncerConfig
from skiplock.services.base import LoopService
from skiplock.services.firing import FirePruner, Firer, FirerConfig
from skiplock.services.keys import BootstrapKeyError, RevokedBootstrapKey, bootstrap_key
from skiplock.services.maintenance import Cleaner, MaintenanceConfig, Promoter, Rescuer
from skiplock.services.publisher import EventPublisher
from skiplock.services.schedules import ScheduleService
from skiplock.services.startup import (
    Dependency,
    NotYet,
    Startup,
    StartupConfig,
    StartupFailed,
)
from skiplock.services.task_types import CatalogConfig, TypeCatalog
from skiplock.services.tasks import TaskService, TaskServiceConfig
from skiplock.services.tenants import TenantService
from skiplock.services.worker import WorkerConfig, WorkerRuntime
from skiplock.settings import Settings

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
    from skiplock.adapters.redis import RedisShared

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
    return create_store(
        settings.database_url,
        timeout_s=settings.db_timeout_s,
        read_timeout_s=settings.analytics_timeout_s,
    )


def bootstrap_admin_key(store: SqlTaskStore, key: str) -> None:
    """Make ``SKIPLOCK_ADMIN_KEY`` a valid admin key (idempotent across restarts) and
    retire the older bootstrap admin keys it replaces (services.keys.bootstrap_key)."""
    _bootstrap(store, key, role=Role.ADMIN, setting="SKIPLOCK_ADMIN_KEY")


def bootstrap_reader_key(store: SqlTaskStore, key: str) -> None:
    """Make ``SKIPLOCK_READER_KEY`` a valid read-only key (the operator's stats key)."""
    _bootstrap(store, key, role=Role.READER, setting="SKIPLOCK_READER_KEY")


def _bootstrap(store: SqlTaskStore, key: str, *, role: Role, setting: str) -> None:
    try:
        revoked = bootstrap_key(store, key, role=role, now=SystemClock().now())
    except BootstrapKeyError as exc:
        raise SystemExit(f"{setting}: {exc}") from exc
    except RevokedBootstrapKey as exc:
        log.warning(
            "%s (prefix %s) was revoked at %s, most likely replaced by a newer %s: this "
            "process still serves, but that key no longer works; update its configuration",
            setting,
            exc.info.prefix,
            exc.info.revoked_at.isoformat(timespec="seconds") if exc.info.revoked_at else "?",
            setting,
        )
        return
    for old in revoked:
        log.info("revoked the previous %s (prefix %s)", setting, old.prefix)


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
    started: bool = False

    async def start(self) -> None:
        self.started = True
        self.publisher.start()
        for service in self.maintenance:
            service.start()
        if self.worker is not None:
            # Before the worker claims and before this instance is ready: every API
            # instance accepts these types from here on.
            await self.announcer.announce_types()
            await self.worker.start()
        self.announcer.start()
        log.info(
            "instance %s started (roles: %s)",
            self.worker_id,
            ",".join(sorted(self.settings.role_set)),
        )

    async def stop(self) -> None:
        if not self.started:  # stopped while still waiting at start: nothing runs yet
            await self.shared.close()
            await asyncio.to_thread(self.store.close)
            return
        if self.worker is not None:
            await self.worker.drain(self.settings.shutdown_grace_s)
        for service in self.maintenance:
            await service.stop()
        await self.announcer.stop()
        await self.publisher.stop()
        await self.shared.close()
        if self.context.slow_reads is not None:
            self.context.slow_reads.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.store.close)
        log.info("instance %s stopped", self.worker_id)


def _task_service(
    settings: Settings,
    *,
    store: SqlTaskStore,
    shared: SharedState,
    publisher: EventPublisher,
    clock: SystemClock,
) -> TaskService:
    catalog = TypeCatalog(CatalogConfig(), store=store, handlers=handlers.registry, clock=clock)
    return TaskService(
        TaskServiceConfig.of(settings),
        store=store,
        limiter=shared.limiter,
        publisher=publisher,
        clock=clock,
        types=catalog,
    )


def build_engine(settings: Settings, *, store: SqlTaskStore | None = None) -> Engine:
    handlers.load_modules(settings.handler_modules, paths=settings.handler_paths)
    store = store or open_store(settings)
    shared = shared_state(settings)
    clock = SystemClock()
    roles = settings.role_set
    worker_id = f"{settings.instance_name}:{uuid.uuid4().hex[:12]}"
    publisher = EventPublisher(shared.stream, shared.notifier)
    mconf = MaintenanceConfig.of(settings, retry_base_s=settings.retry_base_s)
    rescuer = Rescuer(mconf, store=store, publisher=publisher, clock=clock)
    tasks = _task_service(settings, store=store, shared=shared, publisher=publisher, clock=clock)
    catalog = tasks.types
    maintenance: list[LoopService] = []
    if "maintenance" in roles:
        fconf = FirerConfig(
            owner=worker_id,
            interval_s=settings.maintenance_interval_s,
            lease_s=settings.schedule_lease_s,
            grace_s=settings.schedule_grace_s,
            fire_retention_s=settings.retention_s,
        )
        maintenance = [
            Promoter(mconf, store=store, publisher=publisher, clock=clock),
            rescuer,
            Cleaner(mconf, store=store, clock=clock),
            Firer(fconf, store=store, tasks=tasks, clock=clock),
            FirePruner(fconf, store=store, clock=clock),
        ]
    worker = None
    if "worker" in roles and settings.workers > 0:
        worker = WorkerRuntime(
            WorkerConfig.of(settings, worker_id=worker_id),
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
            types=tuple(task_types.announced(handlers.registry)) if worker else (),
        ),
        registry=shared.registry,
        store=store,
        clock=clock,
        executor=worker.executor if worker else None,
        started_at=clock.now(),
    )
    # What the API keeps between requests; a tenant change drops the cached queue figures.
    state = ApiState()
    context = ApiContext(
        config=ApiConfig.of(settings, db_timeout_s=settings.db_timeout_s),
        store=store,
        limiter=shared.limiter,
        registry=shared.registry,
        stream=shared.stream,
        publisher=publisher,
        clock=clock,
        handlers=handlers.registry,
        tasks=tasks,
        types=catalog,
        schedules=ScheduleService(store=store, tasks=tasks, types=catalog, clock=clock),
        tenants=TenantService(
            store=store,
            publisher=publisher,
            clock=clock,
            on_change=state.forget_stats,
        ),
        state=state,
        redis_ping=shared.ping if settings.redis_url else None,
        slow_reads=ThreadPoolExecutor(
            max_workers=settings.analytics_threads, thread_name_prefix="skiplock-slow-reads"
        ),
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


@asynccontextmanager
async def tenant_service(settings: Settings, store: SqlTaskStore) -> AsyncIterator[TenantService]:
    """The tenant use cases for a one-off command (the CLI): with Redis configured, each
    change reaches the shared live stream and wakes the workers, as from the API."""
    shared = shared_state(settings)
    publisher = EventPublisher(shared.stream, shared.notifier)
    publisher.start()
    try:
        yield TenantService(store=store, publisher=publisher, clock=SystemClock())
    finally:
        await publisher.stop()  # sends what is buffered
        await shared.close()


@asynccontextmanager
async def schedule_service(
    settings: Settings, store: SqlTaskStore
) -> AsyncIterator[ScheduleService]:
    """The schedule use cases for a one-off command (the CLI), built as ``build_engine``
    builds them: a trigger is rate-limited, counted and published like any submission."""
    shared = shared_state(settings)
    publisher = EventPublisher(shared.stream, shared.notifier)
    publisher.start()
    clock = SystemClock()
    tasks = _task_service(settings, store=store, shared=shared, publisher=publisher, clock=clock)
    try:
        yield ScheduleService(store=store, tasks=tasks, types=tasks.types, clock=clock)
    finally:
        await publisher.stop()
        await shared.close()


def prepare_database(settings: Settings, store: SqlTaskStore) -> None:
    """Migrate and bootstrap the admin and reader keys, at once (tests; ``serve`` waits
    for the database and the schema instead)."""
    store.migrate()
    if settings.admin_key:
        bootstrap_admin_key(store, settings.admin_key)
    if settings.reader_key:
        bootstrap_reader_key(store, settings.reader_key)


def database_dependency(store: SqlTaskStore) -> Dependency:
    return Dependency(name="the database", target=store.where(), check=_threaded(store.ping))


def schema_dependency(store: SqlTaskStore, *, migrate: bool) -> Dependency:
    """Apply the migrations (``migrate``), or wait until someone else has: a deploy-time
    job (the Helm chart's) runs ``skiplock migrate`` once instead of every pod racing."""
    target = f"schema version {LATEST_VERSION} in {store.where()}"
    if migrate:
        return Dependency(
            name=f"schema version {LATEST_VERSION}", target=target, check=_threaded(store.migrate)
        )

    def check() -> None:
        found = store.schema_version()
        if found < LATEST_VERSION:
            raise NotYet(
                f"the database is at schema version {found}; `skiplock migrate` upgrades it"
            )
        if found > LATEST_VERSION:
            # Migrations only add, so older code keeps working during a rolling upgrade.
            log.info("schema version %d is newer than this code's %d", found, LATEST_VERSION)

    return Dependency(
        name=f"schema version {LATEST_VERSION}", target=target, check=_threaded(check)
    )


def redis_dependency(settings: Settings, shared: SharedState) -> Dependency:
    parts = urlsplit(settings.redis_url or "")
    where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    return Dependency(name="redis", target=f"Redis at {where}", check=shared.ping)


def _threaded(fn: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    async def call() -> object:
        return await asyncio.to_thread(fn)

    return call


def build_app(settings: Settings, *, on_failure: Callable[[], None] | None = None) -> FastAPI:
    """The ASGI app for ``serve``. It listens at once; in its lifespan it waits for the
    database, Redis and the schema (migrating it unless ``migrate_on_start`` is off),
    bootstraps the admin and reader keys, then runs the roles' services. ``/api/ready``
    says what it waits for meanwhile. Past ``startup_timeout_s`` it logs one line, records it in
    ``app.state.startup.failure`` and calls ``on_failure`` (``serve`` then exits 1).

    With ``metrics_port`` set, ``app.state.metrics_app`` serves ``/metrics`` alone."""
    store = open_store(settings)
    engine = build_engine(settings, store=store)
    startup = Startup(StartupConfig(timeout_s=settings.startup_timeout_s))
    engine.context.startup = startup
    dependencies = [database_dependency(store)]
    if settings.redis_url:
        dependencies.append(redis_dependency(settings, engine.shared))
    dependencies.append(schema_dependency(store, migrate=settings.migrate_on_start))

    async def start() -> None:
        try:
            await startup.run(dependencies)
            if settings.admin_key:
                await asyncio.to_thread(bootstrap_admin_key, store, settings.admin_key)
            if settings.reader_key:
                await asyncio.to_thread(bootstrap_reader_key, store, settings.reader_key)
            await engine.start()
        except (StartupFailed, SystemExit) as exc:  # SystemExit: a bootstrap key is unusable
            fail(str(exc))
            return
        except Exception as exc:  # a bug or an outage mid-start: stop rather than hang unready
            log.exception("start failed")
            fail(f"start failed: {exc!r}", logged=True)
            return
        startup.finished()

    def fail(message: str, *, logged: bool = False) -> None:
        startup.failure = message
        if not logged:
            log.error("%s", message)
        if on_failure is not None:
            on_failure()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starting = asyncio.create_task(start(), name="startup")
        try:
            yield
        finally:
            if not starting.done():
                starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await engine.stop()

    app = create_app(engine.context, lifespan=lifespan, serve_metrics=settings.metrics_port is None)
    app.state.engine = engine
    app.state.startup = startup
    if settings.metrics_port is not None:
        app.state.metrics_app = create_metrics_app(engine.context)
    return app
