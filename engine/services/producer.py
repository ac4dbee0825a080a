"""The producer: claims ready tasks for this instance's free slots — never more, so the
queue depth others see stays honest for autoscaling — split among tenants by the fair
scheduler."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from engine.domain.models import Claimed
from engine.domain.scheduler import Demand, DrrState, allocate, settle
from engine.domain.states import TaskState
from engine.ports import Clock, TaskStore
from engine.services.base import LoopService
from engine.services.executor import Executor
from engine.services.publisher import EventPublisher, task_event

log = logging.getLogger("skiplock.producer")


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    worker_id: str
    lease_s: float
    poll_interval_s: float
    max_batch: int = 100

    def __post_init__(self) -> None:
        if self.lease_s <= 0 or self.poll_interval_s <= 0 or self.max_batch < 1:
            raise ValueError("producer: lease_s, poll_interval_s and max_batch must be positive")


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
    ) -> None:
        super().__init__(interval_s=config.poll_interval_s, jitter=0.2)
        self.config = config
        self._store = store
        self._executor = executor
        self._publisher = publisher
        self._clock = clock
        self.drr = DrrState()
        self.paused = False

    async def run_once(self) -> int:
        free = min(self._executor.free_slots(), self.config.max_batch)
        if free <= 0 or self.paused:
            return 0
        ready = await asyncio.to_thread(self._store.ready_tenants)
        if not ready:
            return 0
        demands = [Demand(t.tenant_id, t.weight, free) for t in ready]
        grants, self.drr = allocate(self.drr, demands, free)
        now = self._clock.now()
        claimed = await asyncio.to_thread(
            self._store.claim,
            grants,
            worker=self.config.worker_id,
            now=now,
            lease_until=now + timedelta(seconds=self.config.lease_s),
        )
        costs: dict[int, list[int]] = {}
        for task in claimed:
            costs.setdefault(task.tenant_id, []).append(task.cost)
        self.drr = settle(self.drr, granted=grants, claimed_costs=costs)
        self._hand_over(claimed)
        return len(claimed)

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
