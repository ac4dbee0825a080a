"""The event stream on Redis: one capped Redis Stream shared by all instances. Stream ids
are the SSE event ids, so any instance can resume any client.

Events are appended by ``publish_events.lua``, which stores with each entry the id of
the entry before it; a read compares that back-link with the reader's position to tell
a reader that trimming dropped events it had not seen yet (``reset``)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from skiplock.adapters.redis.errors import unavailable_on_outage
from skiplock.domain.models import Event
from skiplock.ports import StreamRead

PUBLISH = (
    resources.files("skiplock.adapters.redis").joinpath("publish_events.lua").read_text("utf-8")
)
_ID_PART_LIMIT = 2**64  # Redis stream ids are two unsigned 64-bit integers


def _id_tuple(event_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` → (ms, seq); ValueError for anything Redis would not accept."""
    ms, sep, seq = event_id.partition("-")
    if not (sep and ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()):
        raise ValueError(f"not a stream id: {event_id!r}")
    parts = int(ms), int(seq)
    if max(parts) >= _ID_PART_LIMIT:
        raise ValueError(f"stream id out of range: {event_id!r}")
    return parts


class RedisEventStream:
    def __init__(self, client: Redis, reader: Redis, *, prefix: str, maxlen: int) -> None:
        self._client = client
        self._reader = reader  # its own pool: blocking reads must not starve publishers
        self._key = f"{prefix}:events"
        self._maxlen = maxlen
        self._publish: Any = client.register_script(PUBLISH)

    @unavailable_on_outage
    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        bodies = [
            json.dumps({"k": e.kind, "t": e.tenant_id, "d": e.data}, separators=(",", ":"))
            for e in events
        ]
        await self._publish(keys=[self._key], args=[self._maxlen, *bodies])

    @unavailable_on_outage
    async def last_id(self) -> str | None:
        last = await self._client.xrevrange(self._key, count=1)
        if not last:
            return None
        return _text(last[0][0])

    @unavailable_on_outage
    async def read(self, *, after: str | None, count: int, block_s: float) -> StreamRead:
        position = after if after is not None else (await self.last_id() or "0-0")
        try:
            start = _id_tuple(position)
        except ValueError:  # not an id this stream ever gave out: the reader must resync
            return StreamRead(events=[], reset=True)
        # XREAD takes milliseconds and reads BLOCK 0 as "forever": round up, never to 0.
        block_ms = max(1, math.ceil(block_s * 1000)) if block_s > 0 else None
        got: Any = await self._reader.xread({self._key: position}, count=count, block=block_ms)
        entries = [entry for _stream, batch in got or [] for entry in batch]
        if not entries:
            return StreamRead(events=[], reset=False)
        # The first entry after the position names its predecessor; a predecessor newer
        # than the position was trimmed before this reader saw it.
        prev = _field(entries[0][1], "p")
        if prev is not None and _id_tuple(prev) > start:
            return StreamRead(events=[], reset=True)
        return StreamRead(events=[_decode(i, fields) for i, fields in entries], reset=False)


def _decode(entry_id: Any, fields: dict[Any, Any]) -> Event:
    body = json.loads(fields.get(b"e") or fields["e"])
    return Event(kind=body["k"], tenant_id=body["t"], data=body["d"], id=_text(entry_id))


def _field(fields: dict[Any, Any], name: str) -> str | None:
    raw = fields.get(name.encode(), fields.get(name))
    return None if raw is None else _text(raw)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
