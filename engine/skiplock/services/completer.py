"""The completer: writes finished attempts in batches (one transaction per batch), each
fenced on its attempt; then publishes their events and counts them.

While the database is unreachable it keeps the results it holds and retries with
backoff; they are written, fenced as always, once the database is back."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from skiplock import metrics
from skiplock.domain.models import Claimed, Completion, Outcome
from skiplock.domain.states import Transition, target
from skiplock.ports import TaskStore
from skiplock.services.base import LoopService
from skiplock.services.publisher import EventPublisher, task_event

log = logging.getLogger("skiplock.completer")


@dataclass(frozen=True, slots=True)
class CompleterConfig:
    # SKIPLOCK_COMPLETE_BATCH and SKIPLOCK_COMPLETE_FLUSH_S, through WorkerConfig.
    max_batch: int
    flush_s: float

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.flush_s < 0:
            raise ValueError("completer: max_batch >= 1 and flush_s >= 0")


class Completer(LoopService):
    name = "completer"
    backoff_base_s = 0.1
    # Results held when the instance stops are written if the database lets them be
    # within a few tries; past that they are lost (their leases expire and the rescuer
    # retries the tasks).
    tries_when_stopping = 3

    def __init__(
        self, config: CompleterConfig, *, store: TaskStore, publisher: EventPublisher
    ) -> None:
        super().__init__(interval_s=None, max_backoff_s=10.0)
        self.config = config
        self._store = store
        self._publisher = publisher
        self._queue: deque[tuple[Completion, Claimed]] = deque()
        self._in_flight = 0
        self._flushed = asyncio.Event()
        self._flushed.set()

    @property
    def backlog(self) -> int:
        return len(self._queue) + self._in_flight

    def add(self, completion: Completion, claimed: Claimed) -> None:
        self._queue.append((completion, claimed))
        self._flushed.clear()
        self.wake()

    def take(self, n: int) -> list[tuple[Completion, Claimed]]:
        """Take up to ``n`` completions to write; the taker reports back with ``settle``
        or, when the write failed, ``give_back``. The producer takes them to write in its
        claim's transaction."""
        batch = [self._queue.popleft() for _ in range(min(n, len(self._queue)))]
        self._in_flight += len(batch)
        return batch

    def give_back(self, batch: list[tuple[Completion, Claimed]]) -> None:
        """A write of ``batch`` failed: keep its completions for the next one."""
        self._in_flight -= len(batch)
        self._queue.extendleft(reversed(batch))
        if batch:
            self.wake()

    def settle(self, batch: list[tuple[Completion, Claimed]], accepted: list[Completion]) -> None:
        """``batch`` was written and ``accepted`` were still held: count them, publish
        their events, drop the rest as lost leases."""
        self._in_flight -= len(batch)
        self._account(batch, {(c.task_id, c.attempt) for c in accepted})
        if not self._queue and not self._in_flight:
            self._flushed.set()

    async def run_once(self) -> int:
        """Write up to one batch; returns how many completions it took off the queue."""
        batch = self.take(self.config.max_batch)
        if not batch:
            return 0
        try:
            accepted = await asyncio.to_thread(self._store.complete, [c for c, _ in batch])
        except BaseException:
            self.give_back(batch)
            raise
        self.settle(batch, accepted)
        return len(batch)

    def _account(
        self, batch: list[tuple[Completion, Claimed]], accepted: set[tuple[int, int]]
    ) -> None:
        events = []
        for completion, claimed in batch:
            if (completion.task_id, completion.attempt) not in accepted:
                metrics.LEASE_LOST.inc()
                log.warning(
                    "lease lost: result of attempt %d dropped",
                    completion.attempt,
                    extra={
                        "task_id": claimed.id,
                        "tenant": claimed.tenant,
                        "type": claimed.type,
                        "attempt": claimed.attempt,
                    },
                )
                continue
            state = target(completion.transition)
            outcome = (
                "dead"
                if completion.transition is Transition.FAIL_DEAD
                else (completion.outcome.value)
            )
            metrics.TASKS_COMPLETED.labels(claimed.tenant, claimed.type, outcome).inc()
            if completion.transition is Transition.FAIL_RETRY:
                metrics.RETRIED.labels(claimed.type).inc()
            elif completion.transition is Transition.FAIL_DEAD:
                metrics.DEAD_LETTERED.labels(claimed.type).inc()
            events.append(
                task_event(
                    task_id=claimed.id,
                    tenant_id=claimed.tenant_id,
                    tenant=claimed.tenant,
                    type=claimed.type,
                    state=state,
                    attempt=claimed.attempt,
                    at=completion.finished_at,
                    error=completion.error if completion.outcome is not Outcome.SUCCEEDED else None,
                )
            )
        self._publisher.emit(events)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        self.wake()
        try:
            await asyncio.wait_for(self._flushed.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    def has_work(self) -> bool:
        return bool(self._queue)

    async def idle(self) -> None:
        await super().idle()
        if 0 < len(self._queue) < self.config.max_batch and self.config.flush_s > 0:
            # Let a burst of completions gather into one transaction.
            await asyncio.sleep(self.config.flush_s)

    def log_failure(self, exc: Exception, failures: int) -> None:
        log.warning("cannot write %d results yet (%s); keeping them", len(self._queue), exc)

    def gave_up(self) -> None:
        log.error("stopping with %d unwritten results", len(self._queue))
