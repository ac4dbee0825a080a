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

from engine.domain.models import JSON, Event
from engine.domain.states import TaskState
from engine.ports import EventStream, Notifier

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
    return Event(kind="task", tenant_id=tenant_id, data=data)


class EventPublisher:
    """Batches events to the stream; debounces wake-ups to the notifier."""

    name = "publisher"

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
        self._stream = stream
        self._notifier = notifier
        self._max_batch = max_batch
        self._debounce_s = wake_debounce_s
        self._buffer: deque[Event] = deque(maxlen=MAX_BUFFER)
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake_task: asyncio.Task[None] | None = None
        self._wake_again = False
        self.dropped = 0

    def emit(self, events: Iterable[Event]) -> None:
        for event in events:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1
            self._buffer.append(event)
        self._pending.set()

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
                log.warning("wake-up signal failed: %s", exc)
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
        if self._wake_task is not None:
            await self._wake_task

    async def _loop(self) -> None:
        failures = 0
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self._buffer:
                try:
                    await self.run_once()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    if failures in (1, 10) or failures % 100 == 0:
                        log.warning("event stream publish failed (%d): %s", failures, exc)
                    if self._stopping:
                        return
                    await asyncio.sleep(min(5.0, 0.05 * 2 ** min(failures, 7)))
            if self._stopping:
                return
