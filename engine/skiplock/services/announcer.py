"""The announcer: heartbeats this instance (slots, busy slots, running tasks, the task
types its workers handle) to the worker registry, so ``GET /api/workers`` shows every
live instance; entries of dead instances expire after the TTL.

An instance with workers also announces its task types to the store, with its handlers'
defaults: once at start, before it is ready, then every ``types_every_s`` to keep their
``last_seen`` current. The store is what API instances check submissions against, so
it must outlive Redis and every worker (docs/DESIGN-NOTES.md, "Task types")."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from datetime import datetime

from skiplock import metrics
from skiplock.domain.models import AnnouncedType
from skiplock.ports import Clock, InstanceInfo, TaskStore, WorkerRegistry
from skiplock.services.base import LoopService
from skiplock.services.executor import Executor


@dataclass(frozen=True, slots=True)
class AnnouncerConfig:
    instance_id: str
    roles: tuple[str, ...]
    ttl_s: float
    slots: int
    # What this instance's workers handle; empty for an instance without workers.
    types: tuple[AnnouncedType, ...] = ()
    # How often the types' ``last_seen`` is written to the store after the first time.
    types_every_s: float = 60.0

    def __post_init__(self) -> None:
        if self.ttl_s <= 0:
            raise ValueError("announcer: ttl_s must be positive")
        if self.types_every_s <= 0:
            raise ValueError("announcer: types_every_s must be positive")


class Announcer(LoopService):
    name = "announcer"

    def __init__(
        self,
        config: AnnouncerConfig,
        *,
        registry: WorkerRegistry,
        store: TaskStore | None = None,
        clock: Clock,
        executor: Executor | None,
        started_at: datetime,
    ) -> None:
        super().__init__(interval_s=config.ttl_s / 3, jitter=0.05)
        self.config = config
        self._registry = registry
        self._clock = clock
        self._executor = executor
        self._started_at = started_at
        self._host = socket.gethostname()
        self._store = store
        self._types_at: float | None = None  # monotonic time of the last store write

    def info(self) -> InstanceInfo:
        busy = self._executor.busy if self._executor else 0
        tasks = tuple(self._executor.running_tasks()) if self._executor else ()
        metrics.WORKER_SLOTS.labels(self.config.instance_id).set(self.config.slots)
        metrics.WORKER_BUSY.labels(self.config.instance_id).set(busy)
        return InstanceInfo(
            id=self.config.instance_id,
            host=self._host,
            roles=self.config.roles,
            started_at=self._started_at,
            last_heartbeat=self._clock.now(),
            slots=self.config.slots,
            busy=busy,
            tasks=tasks,
            types=tuple(t.name for t in self.config.types),
        )

    async def announce_types(self) -> None:
        """Write this instance's task types to the store now."""
        if self._store is None or not self.config.types:
            return
        at = self._clock.monotonic()
        await asyncio.to_thread(
            self._store.announce_types, self.config.types, now=self._clock.now()
        )
        self._types_at = at

    async def run_once(self) -> int:
        await self._registry.heartbeat(self.info(), ttl_s=self.config.ttl_s)
        due = self._types_at is None or (
            self._clock.monotonic() - self._types_at >= self.config.types_every_s
        )
        if due:
            await self.announce_types()
        return 1

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(Exception):  # the entry expires after its TTL anyway
            await self._registry.remove(self.config.instance_id)
