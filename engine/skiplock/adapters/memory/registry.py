"""In-process worker registry: entries expire after their TTL, as in Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

from skiplock.ports import InstanceInfo


class MemoryRegistry:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[float, InstanceInfo]] = {}
        self._clock = clock

    async def heartbeat(self, info: InstanceInfo, *, ttl_s: float) -> None:
        self._entries[info.id] = (self._clock() + ttl_s, info)

    async def remove(self, instance_id: str) -> None:
        self._entries.pop(instance_id, None)

    async def instances(self) -> list[InstanceInfo]:
        now = self._clock()
        for key in [k for k, (exp, _) in self._entries.items() if exp <= now]:
            del self._entries[key]
        return sorted((info for _, info in self._entries.values()), key=lambda i: i.id)
