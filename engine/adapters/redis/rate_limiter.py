"""The rate limiter on Redis: one Lua script (``rate_limit.lua``), atomic across every
instance, timed by the Redis server clock."""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis.asyncio import Redis

from engine.domain.models import RateLimit
from engine.ports import RateDecision

SCRIPT = resources.files("engine.adapters.redis").joinpath("rate_limit.lua").read_text("utf-8")


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
        if cost < 1:  # as the domain's SlidingWindow.admit: a free request makes no sense
            raise ValueError("cost must be at least 1")
        allowed, total, retry_us, reset_us = await self._script(
            keys=self._keys(key), args=[cost, limit.cost, limit.window_s * 1000]
        )
        return RateDecision(
            allowed=bool(allowed),
            limit=limit.cost,
            remaining=max(0, limit.cost - int(total)),
            retry_after_s=int(retry_us) / 1e6,
            reset_s=int(reset_us) / 1e6,
        )
