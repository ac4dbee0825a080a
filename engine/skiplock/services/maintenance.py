"""Maintenance: the promoter (due scheduled/retrying tasks become queued), the rescuer
(expired leases become retries or dead letters) and the cleaner (prunes old finished
tasks in small committed batches). Each scan uses SKIP LOCKED, so N instances running
them at once split the work instead of colliding."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from skiplock import metrics
from skiplock.domain.models import LEASE_EXPIRED, Event
from skiplock.domain.retry import backoff_s
from skiplock.ports import Clock, Moved, TaskStore
from skiplock.services.base import LoopService
from skiplock.services.publisher import EventPublisher, task_event
from skiplock.settings import MaintenanceSettings

log = logging.getLogger("skiplock.maintenance")


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    # From the settings (their defaults live there only).
    interval_s: float
    retry_base_s: float
    retention_s: float
    prune_batch: int
    # Internal: rows per promote/rescue scan, how often the cleaner runs.
    batch: int = 1000
    prune_interval_s: float = 60.0

    @classmethod
    def of(cls, settings: MaintenanceSettings, *, retry_base_s: float) -> MaintenanceConfig:
        return cls(
            interval_s=settings.maintenance_interval_s,
            retry_base_s=retry_base_s,
            retention_s=settings.retention_s,
            prune_batch=settings.prune_batch,
        )

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.batch < 1 or self.prune_batch < 1:
            raise ValueError("maintenance: interval_s, batch and prune_batch must be positive")


def _moved_event(m: Moved, at: datetime, error: str | None = None) -> Event:
    return task_event(
        task_id=m.task_id,
        tenant_id=m.tenant_id,
        tenant=m.tenant,
        type=m.type,
        state=m.state,
        attempt=m.attempt,
        at=at,
        error=error,
    )


class Promoter(LoopService):
    name = "promoter"

    def __init__(
        self,
        config: MaintenanceConfig,
        *,
        store: TaskStore,
        publisher: EventPublisher,
        clock: Clock,
    ) -> None:
        super().__init__(interval_s=config.interval_s)
        self.config = config
        self._store = store
        self._publisher = publisher
        self._clock = clock

    async def run_once(self) -> int:
        now = self._clock.now()
        promoted = await asyncio.to_thread(
            self._store.promote_due, now=now, limit=self.config.batch
        )
        if promoted:
            metrics.PROMOTED.inc(len(promoted))
            self._publisher.emit(_moved_event(m, now) for m in promoted)
            self._publisher.work_ready()
        return len(promoted)

    def busy_again(self, handled: int) -> bool:
        return handled >= self.config.batch


class Rescuer(LoopService):
    """Returns tasks whose worker stopped heartbeating to the queue (a failed attempt).
    ``recover_own`` does the same at start for this instance's previous incarnation."""

    name = "rescuer"

    def __init__(
        self,
        config: MaintenanceConfig,
        *,
        store: TaskStore,
        publisher: EventPublisher,
        clock: Clock,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(interval_s=config.interval_s)
        self.config = config
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._rand = rand

    async def run_once(self) -> int:
        return await self._rescue(owner_prefix=None)

    async def recover_own(self, worker_id: str) -> int:
        """Recover tasks leased by earlier incarnations of this instance (same name,
        different per-start suffix): they died with that process."""
        return await self._rescue(owner_prefix=worker_id)

    async def _rescue(self, *, owner_prefix: str | None) -> int:
        now = self._clock.now()
        retry_at = now + timedelta(
            seconds=backoff_s(1, base_s=self.config.retry_base_s, rand=self._rand)
        )
        rescued = await asyncio.to_thread(
            self._store.rescue_expired,
            now=now,
            limit=self.config.batch,
            retry_at=retry_at,
            owner_prefix=owner_prefix,
        )
        if rescued:
            metrics.RESCUED.inc(len(rescued))
            log.warning(
                "rescued %d tasks whose lease %s",
                len(rescued),
                "expired" if owner_prefix is None else "a previous incarnation held",
            )
            self._publisher.emit(_moved_event(m, now, LEASE_EXPIRED) for m in rescued)
        return len(rescued)

    def busy_again(self, handled: int) -> bool:
        return handled >= self.config.batch


class Cleaner(LoopService):
    """Deletes finished tasks older than the retention period, one batch per commit."""

    name = "cleaner"

    def __init__(self, config: MaintenanceConfig, *, store: TaskStore, clock: Clock) -> None:
        super().__init__(interval_s=config.prune_interval_s)
        self.config = config
        self._store = store
        self._clock = clock

    async def run_once(self) -> int:
        cutoff = self._clock.now() - timedelta(seconds=self.config.retention_s)
        pruned = await asyncio.to_thread(
            self._store.prune, finished_before=cutoff, limit=self.config.prune_batch
        )
        if pruned:
            metrics.PRUNED.inc(pruned)
        await asyncio.to_thread(self._store.prune_sessions, now=self._clock.now())
        return pruned

    def busy_again(self, handled: int) -> bool:
        return handled >= self.config.prune_batch
