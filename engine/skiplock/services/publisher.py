"""Publishes committed state changes to the event stream off the hot path, and wakes idle
workers when new ready work is committed.

Callers ``emit`` after their transaction commits; a background loop sends the buffer in
batches (one pipelined round trip for Redis), so a claim or completion never waits on it.
Events are a notification layer: the database stays the source of truth, so when the
stream is down the buffer is bounded and the oldest events are dropped (SSE clients get a
``reset`` and refetch)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from skiplock.domain.models import JSON, Event
from skiplock.domain.states import TaskState
from skiplock.ports import EventStream, Notifier
from skiplock.services.base import LoopService

log = logging.getLogger("skiplock.events")

MAX_BUFFER = 50_000


def task_event(
    *,
    task_id: int,
    tenant_id: int,
    tenant: str,
    type: str,  # noqa: A002 - the task's type, as named in the API
    state: TaskState,
    attempt: int,
    at: datetime,
    error: str | None = None,
    deleted: bool = False,
) -> Event:
    data: dict[str, JSON] = {
        "id": task_id,
        "tenant": tenant,
        "type": type,
        "state": state.value,
        "attempt": attempt,
        "at": at.isoformat(),
    }
    if error is not None:
        data["error"] = error[:500]
    if deleted:
        data["deleted"] = True
    return Event(kind="task", tenant_id=tenant_id, data=data)


class EventPublisher(LoopService):
    """Batches events to the stream; debounces wake-ups to the notifier."""

    name = "publisher"
    backoff_base_s = 0.05
    # The stream is Redis, not the database.
    counts_database_errors = False

    def __init__(
        self,
        stream: EventStream,
        notifier: Notifier,
        *,
        max_batch: int = 500,
        wake_debounce_s: float = 0.02,
    ) -> None:
        if max_batch < 1 or wake_debounce_s < 0:
            raise ValueError("publisher: max_batch >= 1 and wake_debounce_s >= 0")
        super().__init__(interval_s=None, max_backoff_s=5.0)
        self._stream = stream
        self._notifier = notifier
        self._max_batch = max_batch
        self._debounce_s = wake_debounce_s
        self._buffer: deque[Event] = deque(maxlen=MAX_BUFFER)
        self._wake_task: asyncio.Task[None] | None = None
        self._wake_again = False
        self.wake_failures = 0  # in a row; logged once per outage, not once per signal
        self.dropped = 0

    def emit(self, events: Iterable[Event]) -> None:
        for event in events:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1
            self._buffer.append(event)
        self.wake()

    def work_ready(self) -> None:
        """New ready work was committed: wake idle workers everywhere. Leading edge at
        once (for latency), then at most one trailing signal per debounce window."""
        if self._wake_task is not None and not self._wake_task.done():
            self._wake_again = True
            return
        self._wake_task = asyncio.create_task(self._ring())

    async def _ring(self) -> None:
        while True:
            self._wake_again = False
            try:
                await self._notifier.notify()
            except Exception as exc:  # a lost wake-up only costs one poll interval
                self.wake_failures += 1
                if self.wake_failures == 1:
                    log.warning("wake-up signals failing (workers poll meanwhile): %s", exc)
            else:
                if self.wake_failures:
                    log.info("wake-up signals recovered after %d failed", self.wake_failures)
                self.wake_failures = 0
            await asyncio.sleep(self._debounce_s)
            if not self._wake_again:
                return

    async def run_once(self) -> int:
        batch: list[Event] = []
        while self._buffer and len(batch) < self._max_batch:
            batch.append(self._buffer.popleft())
        if not batch:
            return 0
        try:
            await self._stream.publish(batch)
        except Exception as exc:
            # Put them back (oldest first) and let the loop back off.
            self._buffer.extendleft(reversed(batch))
            raise exc
        return len(batch)

    def has_work(self) -> bool:
        return bool(self._buffer)

    def log_failure(self, exc: Exception, failures: int) -> None:
        log.warning("event stream publish failed (%d): %s", failures, exc)

    def gave_up(self) -> None:
        # The database stays the source of truth: SSE clients resync after a gap.
        log.warning("stopping with %d events unsent", len(self._buffer))

    async def stop(self) -> None:
        """Send what is buffered (one try if the stream is down), then stop."""
        await super().stop()
        if self._wake_task is not None:
            await self._wake_task
