"""The announcer: heartbeats this instance (slots, busy slots, running tasks) to the
worker registry, so ``GET /api/workers`` shows every live instance; entries of dead
instances expire after the TTL."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from datetime import datetime

from engine import metrics
from engine.ports import Clock, InstanceInfo, WorkerRegistry
from engine.services.base import LoopService
from engine.services.executor import Executor


@dataclass(frozen=True, slots=True)
class AnnouncerConfig:
    instance_id: str
    roles: tuple[str, ...]
    ttl_s: float
    slots: int

    def __post_init__(self) -> None:
        if self.ttl_s <= 0:
            raise ValueError("announcer: ttl_s must be positive")


class Announcer(LoopService):
    name = "announcer"

    def __init__(
        self,
        config: AnnouncerConfig,
        *,
        registry: WorkerRegistry,
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
        )

    async def run_once(self) -> int:
        await self._registry.heartbeat(self.info(), ttl_s=self.config.ttl_s)
        return 1

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(Exception):  # the entry expires after its TTL anyway
            await self._registry.remove(self.config.instance_id)
