"""The producer: claims ready tasks for this instance's free slots — never more, so the
queue depth others see stays honest for autoscaling — split among tenants by the fair
scheduler, which it tells what each claim returned and when each task frees its slot
(the scheduler charges tenants for the worker time their tasks take).

A claim is one transaction, and it also writes the results waiting in the completer:
a finished task's result and the claim for the slot it freed share one commit. The set
of tenants with queued work is read again only when new work is announced, when it is
older than ``ready_ttl_s`` or when it runs out; in between, claims subtract from it."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta

from skiplock.domain.models import Claimed
from skiplock.domain.scheduler import Demand, FairScheduler, Start
from skiplock.domain.states import TaskState
from skiplock.ports import Clock, ReadyTenant, TaskStore
from skiplock.services.base import LoopService
from skiplock.services.completer import Completer
from skiplock.services.executor import Executor
from skiplock.services.publisher import EventPublisher, task_event

log = logging.getLogger("skiplock.producer")


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    worker_id: str
    lease_s: float
    poll_interval_s: float
    max_batch: int = 100
    # How long the set of tenants with queued work, read from the maintained counts, is
    # reused between claims (see ``_ready_tenants``).
    ready_ttl_s: float = 0.25

    def __post_init__(self) -> None:
        if self.lease_s <= 0 or self.poll_interval_s <= 0 or self.max_batch < 1:
            raise ValueError("producer: lease_s, poll_interval_s and max_batch must be positive")
        if self.ready_ttl_s < 0:
            raise ValueError("producer: ready_ttl_s must not be negative")


class Producer(LoopService):
    name = "producer"

    def __init__(
        self,
        config: ProducerConfig,
        *,
        store: TaskStore,
        executor: Executor,
        publisher: EventPublisher,
        clock: Clock,
        completer: Completer | None = None,
    ) -> None:
        super().__init__(interval_s=config.poll_interval_s, jitter=0.2)
        self._completer = completer
        self._complete_batch = 0 if completer is None else completer.config.max_batch
        self.config = config
        self._store = store
        self._executor = executor
        self._publisher = publisher
        self._clock = clock
        self.scheduler = FairScheduler()
        self.paused = False
        self._ready: dict[int, ReadyTenant] = {}
        self._ready_at: float | None = None
        self._arrivals = 0

    def work_arrived(self) -> None:
        """New ready work was committed somewhere: read the ready tenants afresh."""
        self._arrivals += 1
        self._ready_at = None
        self.wake()

    async def _ready_tenants(self) -> list[ReadyTenant]:
        """The tenants with queued work and each one's backlog.

        Read from the store when new work was announced, when the last read is older
        than ``ready_ttl_s`` (a lost announcement, a pause, a weight change) or when no
        tenant is left in it; between those, the last read less what the claims since
        have taken. A freed slot then costs one claim transaction, not two."""
        now = self._clock.monotonic()
        stale = self._ready_at is None or now - self._ready_at > self.config.ready_ttl_s
        if stale or not self._ready:
            arrivals = self._arrivals
            fetched = await asyncio.to_thread(self._store.ready_tenants)
            self._ready = {t.tenant_id: t for t in fetched}
            # An announcement during the read may not be in it: read again next time.
            self._ready_at = now if arrivals == self._arrivals else None
        return list(self._ready.values())

    def _taken(self, grants: dict[int, int], claimed: list[Claimed]) -> None:
        """Subtract a claim from the ready set; a tenant that filled fewer slots than it
        was granted has run dry (or its rest is locked by other workers) and leaves it."""
        got = Counter(t.tenant_id for t in claimed)
        for tenant_id, granted in grants.items():
            entry = self._ready.get(tenant_id)
            if entry is None:
                continue
            left = entry.queued - got[tenant_id]
            if got[tenant_id] < granted or left <= 0:
                del self._ready[tenant_id]
            else:
                self._ready[tenant_id] = replace(entry, queued=left)

    async def run_once(self) -> int:
        free = min(self._executor.free_slots(), self.config.max_batch)
        if free <= 0 or self.paused:
            return 0
        ready = await self._ready_tenants()
        if not ready:
            return 0
        # Each tenant's true backlog: a turn that ends because ``free`` tasks were taken
        # is not a tenant running dry.
        demands = [Demand(t.tenant_id, t.weight, t.queued) for t in ready]
        grants = self.scheduler.grant(demands, free, now=self._clock.monotonic())
        # Results waiting to be written go in the claim's transaction: one commit for
        # both, and the slots they freed are filled by the same round trips.
        done = [] if self._completer is None else self._completer.take(self._complete_batch)
        now = self._clock.now()
        try:
            accepted, claimed = await asyncio.to_thread(
                self._store.complete_and_claim,
                [c for c, _ in done],
                grants,
                worker=self.config.worker_id,
                now=now,
                lease_until=now + timedelta(seconds=self.config.lease_s),
            )
        except BaseException:
            if self._completer is not None:
                self._completer.give_back(done)
            self.scheduler.started((), now=self._clock.monotonic())
            self._ready_at = None
            raise
        if self._completer is not None:
            self._completer.settle(done, accepted)
        self._taken(grants, claimed)
        self._hand_over(claimed)
        self.scheduler.started(
            [Start(t.id, t.tenant_id, t.cost) for t in claimed], now=self._clock.monotonic()
        )
        return len(claimed)

    def task_finished(self, task_id: int) -> None:
        """The executor freed the slot of ``task_id``: charge its tenant the true time."""
        self.scheduler.finished(task_id, now=self._clock.monotonic())

    def _hand_over(self, claimed: list[Claimed]) -> None:
        for task in claimed:
            self._executor.submit(task)
        self._publisher.emit(
            task_event(
                task_id=t.id,
                tenant_id=t.tenant_id,
                tenant=t.tenant,
                type=t.type,
                state=TaskState.RUNNING,
                attempt=t.attempt,
                at=t.started_at,
            )
            for t in claimed
        )

    def busy_again(self, handled: int) -> bool:
        # Slots are still free after a non-empty claim: more work is probably ready.
        return self._executor.free_slots() > 0
