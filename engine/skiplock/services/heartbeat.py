"""The lease heartbeat: extends the leases of every task this instance runs, so long
tasks keep them; reports leases found lost to the executor (their results are dropped)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from skiplock.ports import Clock, TaskStore
from skiplock.services.base import LoopService
from skiplock.services.executor import Executor

log = logging.getLogger("skiplock.heartbeat")


@dataclass(frozen=True, slots=True)
class HeartbeatConfig:
    worker_id: str
    lease_s: float

    def __post_init__(self) -> None:
        if self.lease_s <= 0:
            raise ValueError("heartbeat: lease_s must be positive")

    @property
    def interval_s(self) -> float:
        # Three beats per lease: one lost beat never costs a lease.
        return self.lease_s / 3


class LeaseHeartbeat(LoopService):
    name = "heartbeat"

    def __init__(
        self, config: HeartbeatConfig, *, store: TaskStore, executor: Executor, clock: Clock
    ) -> None:
        super().__init__(interval_s=config.interval_s, jitter=0.05)
        self.config = config
        self._store = store
        self._executor = executor
        self._clock = clock

    async def run_once(self) -> int:
        leases = self._executor.leases()
        if not leases:
            return 0
        until = self._clock.now() + timedelta(seconds=self.config.lease_s)
        lost = await asyncio.to_thread(
            self._store.heartbeat, leases, worker=self.config.worker_id, lease_until=until
        )
        if lost:
            log.warning("leases lost for tasks %s", sorted(lost))
            self._executor.lease_lost(lost)
        return len(leases)
