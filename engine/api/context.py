"""What the API needs from the rest of the engine, assembled by ``engine.wiring``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.handlers import HandlerRegistry
from engine.ports import Clock, EventStream, RateLimiter, TaskStore, WorkerRegistry
from engine.services.publisher import EventPublisher


class Pinger(Protocol):
    async def __call__(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ApiConfig:
    max_payload_bytes: int = 256 * 1024
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000
    max_json_depth: int = 32
    default_max_attempts: int = 3
    default_timeout_s: float = 300.0
    rate_limit_fail_open: bool = True
    sse_max_connections: int = 200
    sse_heartbeat_s: float = 15.0
    db_timeout_s: float = 5.0
    secure_cookies: bool = False


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
    redis_ping: Pinger | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    sse_connections: int = 0
