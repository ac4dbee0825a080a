"""The rate limiter on Redis: one Lua script (``rate_limit.lua``), atomic across every
instance and across the keys of one request, timed by the Redis server clock."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from skiplock.adapters.redis.errors import unavailable_on_outage
from skiplock.domain.models import RateLimit
from skiplock.ports import RateAsk, RateDecision

SCRIPT = resources.files("skiplock.adapters.redis").joinpath("rate_limit.lua").read_text("utf-8")


class RedisRateLimiter:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script: Any = client.register_script(SCRIPT)

    def _keys(self, key: str) -> list[str]:
        # One hash tag per limited key keeps all three keys in one Redis Cluster slot.
        base = f"{{{self._prefix}:rl:{key}}}"
        return [f"{base}:log", f"{base}:sum", f"{base}:seq"]

    async def acquire(self, key: str, cost: int, limit: RateLimit) -> RateDecision:
        return (await self.acquire_all([RateAsk(key, cost, limit)]))[0]

    @unavailable_on_outage
    async def acquire_all(self, asks: Sequence[RateAsk]) -> list[RateDecision]:
        # As the domain's admit_all: a free request makes no sense, and a key asked twice
        # in one request would be checked against a total that omits its other half.
        if any(a.cost < 1 for a in asks):
            raise ValueError("cost must be at least 1")
        if len({a.key for a in asks}) != len(asks):
            raise ValueError("each key may be asked once per request")
        if not asks:
            return []
        keys = [k for a in asks for k in self._keys(a.key)]
        args = [v for a in asks for v in (a.cost, a.limit.cost, a.limit.window_s * 1000)]
        flat = await self._script(keys=keys, args=args)
        return [
            RateDecision(
                allowed=bool(flat[i]),
                limit=a.limit.cost,
                remaining=max(0, a.limit.cost - int(flat[i + 1])),
                retry_after_s=int(flat[i + 2]) / 1e6,
                reset_s=int(flat[i + 3]) / 1e6,
            )
            for a, i in zip(asks, range(0, len(flat), 4), strict=True)
        ]
