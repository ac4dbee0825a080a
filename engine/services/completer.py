"""The completer: writes finished attempts in batches (one transaction per batch), each
fenced on its attempt; then publishes their events and counts them.

While the database is unreachable it keeps the results it holds and retries with
backoff; they are written, fenced as always, once the database is back."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from engine import metrics
from engine.domain.models import Claimed, Completion, Outcome
from engine.domain.states import Transition, target
from engine.ports import TaskStore
from engine.services.publisher import EventPublisher, task_event

log = logging.getLogger("skiplock.completer")


@dataclass(frozen=True, slots=True)
class CompleterConfig:
    max_batch: int = 200
    flush_s: float = 0.005

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.flush_s < 0:
            raise ValueError("completer: max_batch >= 1 and flush_s >= 0")


class Completer:
    name = "completer"

    def __init__(
        self, config: CompleterConfig, *, store: TaskStore, publisher: EventPublisher
    ) -> None:
        self.config = config
        self._store = store
        self._publisher = publisher
        self._queue: deque[tuple[Completion, Claimed]] = deque()
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._flushed = asyncio.Event()
        self._flushed.set()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def add(self, completion: Completion, claimed: Claimed) -> None:
        self._queue.append((completion, claimed))
        self._flushed.clear()
        self._pending.set()

    async def run_once(self) -> int:
        """Write up to one batch; returns how many completions it took off the queue."""
        batch = [self._queue[i] for i in range(min(len(self._queue), self.config.max_batch))]
        if not batch:
            return 0
        accepted = await asyncio.to_thread(self._store.complete, [c for c, _ in batch])
        for _ in batch:
            self._queue.popleft()
        self._account(batch, {(c.task_id, c.attempt) for c in accepted})
        if not self._queue:
            self._flushed.set()
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
        self._pending.set()
        try:
            await asyncio.wait_for(self._flushed.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._pending.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                if self._stopping:
                    return
                await self._pending.wait()
                self._pending.clear()
                continue
            if len(self._queue) < self.config.max_batch and self.config.flush_s > 0:
                # Let a burst of completions gather into one transaction.
                await asyncio.sleep(self.config.flush_s)
            try:
                await self.run_once()
                failures = 0
            except Exception as exc:
                failures += 1
                metrics.DB_ERRORS.labels(self.name).inc()
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning(
                        "cannot write %d results yet (%s); keeping them", len(self._queue), exc
                    )
                if self._stopping and failures >= 3:
                    log.error("stopping with %d unwritten results", len(self._queue))
                    return
                await asyncio.sleep(min(10.0, 0.1 * 2 ** min(failures, 7)))
