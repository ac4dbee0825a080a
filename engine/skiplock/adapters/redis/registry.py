"""The worker registry on Redis: one key per instance with a TTL, plus an index sorted
set so listing never needs KEYS/SCAN. A dead instance's key expires; the index entry is
dropped the next time anyone lists."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from skiplock.adapters.redis.errors import unavailable_on_outage
from skiplock.ports import InstanceInfo, RunningTask


def _encode(info: InstanceInfo) -> str:
    return json.dumps(
        {
            "id": info.id,
            "host": info.host,
            "roles": list(info.roles),
            "started_at": info.started_at.isoformat(),
            "last_heartbeat": info.last_heartbeat.isoformat(),
            "slots": info.slots,
            "busy": info.busy,
            "tasks": [
                {
                    "id": t.id,
                    "type": t.type,
                    "tenant": t.tenant,
                    "attempt": t.attempt,
                    "started_at": t.started_at.isoformat(),
                }
                for t in info.tasks
            ],
            "types": list(info.types),
        }
    )


def _decode(raw: str | bytes) -> InstanceInfo:
    d: dict[str, Any] = json.loads(raw)
    return InstanceInfo(
        id=d["id"],
        host=d["host"],
        roles=tuple(d["roles"]),
        started_at=datetime.fromisoformat(d["started_at"]),
        last_heartbeat=datetime.fromisoformat(d["last_heartbeat"]),
        slots=int(d["slots"]),
        busy=int(d["busy"]),
        tasks=tuple(
            RunningTask(
                id=t["id"],
                type=t["type"],
                tenant=t["tenant"],
                attempt=t["attempt"],
                started_at=datetime.fromisoformat(t["started_at"]),
            )
            for t in d["tasks"]
        ),
        # Absent in entries written by an engine older than task-type announcements.
        types=tuple(d.get("types", ())),
    )


class RedisRegistry:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self._client = client
        self._index = f"{prefix}:workers"
        self._prefix = prefix

    def _key(self, instance_id: str) -> str:
        return f"{self._prefix}:worker:{instance_id}"

    @unavailable_on_outage
    async def heartbeat(self, info: InstanceInfo, *, ttl_s: float) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._key(info.id), _encode(info), px=int(ttl_s * 1000))
            pipe.zadd(self._index, {info.id: time.time() + ttl_s})
            await pipe.execute()

    @unavailable_on_outage
    async def remove(self, instance_id: str) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.delete(self._key(instance_id))
            pipe.zrem(self._index, instance_id)
            await pipe.execute()

    @unavailable_on_outage
    async def instances(self) -> list[InstanceInfo]:
        await self._client.zremrangebyscore(self._index, "-inf", time.time() - 60)
        ids = [
            i.decode() if isinstance(i, bytes) else str(i)
            for i in await self._client.zrange(self._index, 0, -1)
        ]
        if not ids:
            return []
        raws = await self._client.mget([self._key(i) for i in ids])
        found = [_decode(r) for r in raws if r is not None]
        return sorted(found, key=lambda i: i.id)
