"""In-process event stream: a capped ring buffer with monotonically increasing ids."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

from engine.domain.models import Event
from engine.ports import StreamRead


class MemoryEventStream:
    def __init__(self, *, maxlen: int = 100_000) -> None:
        self._buffer: deque[Event] = deque(maxlen=maxlen)
        self._seq = 0
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

    @staticmethod
    def _seq_of(event_id: str) -> int:
        return int(event_id.split("-", 1)[0])

    def _after(self, after: int, count: int) -> StreamRead:
        oldest = self._seq_of(self._buffer[0].id or "0") if self._buffer else self._seq + 1
        reset = after + 1 < oldest and after < self._seq
        start = max(after, oldest - 1)
        picked = [e for e in self._buffer if self._seq_of(e.id or "0") > start][:count]
        return StreamRead(events=picked, reset=reset)

    async def read(self, *, after: str | None, count: int, block_s: float) -> StreamRead:
        try:
            position = self._seq if after is None else self._seq_of(after)
        except ValueError:
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
