"""What the API needs from the rest of the engine, assembled by ``engine.wiring``."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from skiplock.api.state import ApiState
from skiplock.handlers import HandlerRegistry
from skiplock.ports import Clock, EventStream, RateLimiter, TaskStore, WorkerRegistry
from skiplock.services.publisher import EventPublisher
from skiplock.services.schedules import ScheduleService
from skiplock.services.startup import Startup
from skiplock.services.task_types import TypeCatalog
from skiplock.services.tasks import TaskService
from skiplock.services.tenants import TenantService
from skiplock.settings import ApiSettings


class Pinger(Protocol):
    async def __call__(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The API's settings (ApiSettings, where each is declared with its default)."""

    max_body_bytes: int
    max_task_body_bytes: int
    max_json_values: int
    sse_max_connections: int
    sse_max_per_tenant: int
    sse_admin_reserve: int
    sse_recheck_s: float
    sse_heartbeat_s: float
    db_timeout_s: float
    secure_cookies: bool
    session_ttl_s: float
    max_sessions_per_key: int
    analytics_per_caller: int
    api_docs: bool
    # Demo data routes and dashboard controls (SKIPLOCK_DEMO); off in production.
    demo: bool

    @classmethod
    def of(cls, settings: ApiSettings, *, db_timeout_s: float) -> ApiConfig:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            max_task_body_bytes=settings.task_body_limit,
            max_json_values=settings.max_json_values,
            sse_max_connections=settings.sse_max_connections,
            sse_max_per_tenant=settings.sse_max_per_tenant,
            # At least one stream slot stays open to tenant keys.
            sse_admin_reserve=min(settings.sse_admin_reserve, settings.sse_max_connections - 1),
            sse_recheck_s=settings.sse_recheck_s,
            sse_heartbeat_s=settings.sse_heartbeat_s,
            db_timeout_s=db_timeout_s,
            secure_cookies=settings.secure_cookies,
            session_ttl_s=settings.session_ttl_s,
            max_sessions_per_key=settings.max_sessions_per_key,
            analytics_per_caller=settings.analytics_per_caller,
            api_docs=settings.api_docs,
            demo=settings.demo,
        )


@dataclass
class ApiContext:
    config: ApiConfig
    store: TaskStore
    limiter: RateLimiter
    registry: WorkerRegistry
    stream: EventStream
    publisher: EventPublisher
    clock: Clock
    handlers: HandlerRegistry
    # The task use cases; every route that changes tasks calls these.
    tasks: TaskService
    tenants: TenantService
    schedules: ScheduleService
    # The task types submissions may name (this process's handlers and every announced
    # type); the same catalog ``tasks`` checks submissions against.
    types: TypeCatalog
    redis_ping: Pinger | None = None
    # Set by ``serve``: what the instance still waits for before it is ready.
    startup: Startup | None = None
    state: ApiState = field(default_factory=ApiState)
    # Slow reads (analytics) run here, never on the default pool that serves the hot
    # path; None: the default pool (tests that build a context by hand).
    slow_reads: Executor | None = None
