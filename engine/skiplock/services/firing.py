"""The firer: the maintenance role's loop that turns due schedule ticks into tasks.

Every instance with the maintenance role runs one, uncoordinated. Each pass leases due
schedules (a schedule is worked on by one instance at a time; a lease left by a dead
instance runs out after ``lease_s``), sorts their ticks with the schedule's catch-up
policy (:func:`skiplock.domain.schedules.due_ticks`), fires each through the task
service and hands the schedule back with its next tick.

Exactly-once does not rest on the lease: each fire inserts a row keyed on (schedule,
tick) in the task's own transaction, so a tick fires once even when a lease runs out
mid-pass and two instances reach it. The lease is what keeps that rare: it stops the
losing instance before it charges the tenant's rate limit for a task it cannot store."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from skiplock import metrics
from skiplock.domain.schedules import DEFAULT_GRACE_S, Schedule, due_ticks
from skiplock.ports import Clock, TaskStore
from skiplock.services.base import LoopService
from skiplock.services.tasks import Fired, TaskService

log = logging.getLogger("skiplock.firer")


@dataclass(frozen=True, slots=True)
class FirerConfig:
    owner: str  # this instance's id, written on the leases it takes
    interval_s: float = 1.0
    batch: int = 500  # schedules leased per pass
    fire_batch: int = 200  # ticks stored per transaction
    # A lease must outlast the pass that holds it; it also bounds how long a dead
    # instance's schedules wait before another instance fires them.
    lease_s: float = 30.0
    # A tick this late still counts as on time (fires under every catch-up policy).
    grace_s: float = DEFAULT_GRACE_S
    fire_retention_s: float = 7 * 24 * 3600.0

    def __post_init__(self) -> None:
        if min(self.interval_s, self.batch, self.fire_batch, self.lease_s) <= 0 or self.grace_s < 0:
            raise ValueError("firer: interval_s, batch and lease_s must be positive")


class Firer(LoopService):
    name = "firer"

    def __init__(
        self, config: FirerConfig, *, store: TaskStore, tasks: TaskService, clock: Clock
    ) -> None:
        super().__init__(interval_s=config.interval_s)
        self.config = config
        self._store = store
        self._tasks = tasks
        self._clock = clock

    async def run_once(self) -> int:
        """One pass: returns how many schedules it handled (a full lease batch means more
        may be due: the loop runs again at once)."""
        now = self._clock.now()
        leased = await asyncio.to_thread(
            self._store.lease_schedules,
            now=now,
            owner=self.config.owner,
            lease_until=now + timedelta(seconds=self.config.lease_s),
            limit=self.config.batch,
        )
        if not leased:
            return 0
        now = self._clock.now()
        ticks: list[tuple[Schedule, datetime]] = []
        # Where each schedule resumes: its first tick not yet handled, then its next.
        resume: dict[int, datetime | None] = {}
        after: dict[int, datetime | None] = {}
        for schedule in leased:
            assert schedule.next_fire_at is not None  # leased because it was due
            due = due_ticks(
                schedule.spec.timing,
                schedule.next_fire_at,
                now,
                schedule.spec.catch_up,
                grace_s=self.config.grace_s,
            )
            if due.skipped:
                metrics.SCHEDULE_SKIPPED.labels(schedule.name, "catch_up").inc(due.skipped)
            ticks += [(schedule, tick) for tick in due.fire]
            resume[schedule.id] = due.fire[0] if due.fire else due.next_at
            after[schedule.id] = due.next_at
        fired = 0
        try:
            for start in range(0, len(ticks), self.config.fire_batch):
                chunk = ticks[start : start + self.config.fire_batch]
                for done in await self._tasks.fire_many(chunk):
                    fired += self._count(done)
                # Handled: each schedule in the chunk resumes at its next tick. Ticks are
                # grouped by schedule, so only the chunk's last schedule may have ticks
                # left, starting with the one right after the chunk.
                following = {s.id: t for s, t in ticks[start + len(chunk) :][:1]}
                for schedule, _ in chunk:
                    resume[schedule.id] = following.get(schedule.id, after[schedule.id])
        finally:
            # Handed back even when a fire failed (the database went away): from the
            # first tick not handled, so the next pass tries it again.
            await asyncio.to_thread(
                self._store.release_schedules, list(resume.items()), owner=self.config.owner
            )
        if fired:
            log.debug("fired %d ticks of %d schedules", fired, len(leased))
        return len(leased)

    def busy_again(self, handled: int) -> bool:
        return handled >= self.config.batch

    def _count(self, done: Fired) -> int:
        if done.task is None:
            if done.skipped and done.skipped != "fired_already":
                metrics.SCHEDULE_SKIPPED.labels(done.schedule.name, done.skipped).inc()
                if done.skipped == "invalid":
                    log.warning("schedule %s: tick %s not fired", done.schedule.name, done.tick)
            return 0
        lag = (done.task.created_at - done.tick).total_seconds()
        metrics.SCHEDULE_LAG_SECONDS.observe(max(lag, 0.0))
        return 1


class FirePruner(LoopService):
    """Forgets fire records as old as the tasks the cleaner prunes."""

    name = "fire-pruner"

    def __init__(self, config: FirerConfig, *, store: TaskStore, clock: Clock) -> None:
        super().__init__(interval_s=60.0)
        self.config = config
        self._store = store
        self._clock = clock

    async def run_once(self) -> int:
        cutoff = self._clock.now() - timedelta(seconds=self.config.fire_retention_s)
        return await asyncio.to_thread(self._store.prune_fires, fired_before=cutoff, limit=1000)

    def busy_again(self, handled: int) -> bool:
        return handled >= 1000
