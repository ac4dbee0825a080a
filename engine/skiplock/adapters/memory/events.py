"""In-process event stream: a capped ring buffer with consecutive ids ``"<n>-0"``, the
same shape as Redis Stream ids."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from itertools import islice

from skiplock.domain.models import Event
from skiplock.ports import StreamRead


def _seq_of(event_id: str) -> int:
    """``"<n>-<m>"`` → n; ValueError for anything that is not a stream id."""
    n, sep, sub = event_id.partition("-")
    if not (sep and n.isascii() and n.isdigit() and sub.isascii() and sub.isdigit()):
        raise ValueError(f"not a stream id: {event_id!r}")
    return int(n)


class MemoryEventStream:
    def __init__(self, *, maxlen: int = 100_000) -> None:
        self._buffer: deque[Event] = deque(maxlen=maxlen)
        self._seq = 0  # id of the newest event; the buffer holds the newest ``maxlen``
        self._changed = asyncio.Condition()

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        async with self._changed:
            for event in events:
                self._seq += 1
                self._buffer.append(replace(event, id=f"{self._seq}-0"))
            self._changed.notify_all()

    async def last_id(self) -> str | None:
        return f"{self._seq}-0" if self._seq else None

    def _after(self, after: int, count: int) -> StreamRead:
        oldest = self._seq - len(self._buffer) + 1
        if after + 1 < oldest:  # the event right after the position was dropped
            return StreamRead(events=[], reset=True)
        skip = max(0, after + 1 - oldest)
        return StreamRead(events=list(islice(self._buffer, skip, skip + count)), reset=False)

    async def read(self, *, after: str | None, count: int, block_s: float) -> StreamRead:
        try:
            position = self._seq if after is None else _seq_of(after)
        except ValueError:  # not an id this stream ever gave out: the reader must resync
            return StreamRead(events=[], reset=True)
        got = self._after(position, count)
        if got.events or got.reset or block_s <= 0:
            return got
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._seq > position), timeout=block_s
                )
            except TimeoutError:
                return StreamRead(events=[], reset=False)
        return self._after(position, count)
