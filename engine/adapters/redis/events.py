"""The event stream on Redis: one capped Redis Stream shared by all instances. Stream ids
are the SSE event ids, so any instance can resume any client."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from engine.domain.models import Event
from engine.ports import StreamRead


def _id_tuple(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class RedisEventStream:
    def __init__(self, client: Redis, reader: Redis, *, prefix: str, maxlen: int) -> None:
        self._client = client
        self._reader = reader  # its own pool: blocking reads must not starve publishers
        self._key = f"{prefix}:events"
        self._maxlen = maxlen

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for e in events:
                body = json.dumps(
                    {"k": e.kind, "t": e.tenant_id, "d": e.data}, separators=(",", ":")
                )
                pipe.xadd(self._key, {"e": body}, maxlen=self._maxlen, approximate=True)
            await pipe.execute()

    async def last_id(self) -> str | None:
        last = await self._client.xrevrange(self._key, count=1)
        if not last:
            return None
        return _text(last[0][0])

    async def _trimmed_past(self, after: str) -> bool:
        try:
            info: dict[Any, Any] = await self._client.xinfo_stream(self._key)
        except Exception:  # no stream yet
            return False
        deleted = info.get("max-deleted-entry-id") or info.get(b"max-deleted-entry-id")
        if deleted is None:
            return False
        return _id_tuple(_text(deleted)) > _id_tuple(after)

    async def read(self, *, after: str | None, count: int, block_s: float) -> StreamRead:
        position = after if after is not None else (await self.last_id() or "0-0")
        if after is not None and await self._trimmed_past(after):
            return StreamRead(events=[], reset=True)
        block_ms = int(block_s * 1000) if block_s > 0 else None
        got: Any = await self._reader.xread({self._key: position}, count=count, block=block_ms)
        events: list[Event] = []
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                raw = fields.get(b"e") or fields.get("e")
                body = json.loads(raw)
                events.append(
                    Event(kind=body["k"], tenant_id=body["t"], data=body["d"], id=_text(entry_id))
                )
        return StreamRead(events=events, reset=False)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
