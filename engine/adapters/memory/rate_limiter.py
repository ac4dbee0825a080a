"""In-process twin of the Redis rate limiter (embedded mode, one process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.domain.models import RateLimit
from engine.domain.ratelimit import SlidingWindow
from engine.ports import RateDecision


class MemoryRateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._windows: dict[str, SlidingWindow] = {}
        self._lock = asyncio.Lock()
        self._clock = clock

    async def acquire(self, key: str, cost: int, limit: RateLimit) -> RateDecision:
        async with self._lock:
            window = self._windows.setdefault(key, SlidingWindow())
            got = window.admit(self._clock(), cost, limit=limit.cost, window_s=limit.window_s)
        return RateDecision(
            allowed=got.allowed,
            limit=limit.cost,
            remaining=max(0, limit.cost - got.used),
            retry_after_s=got.retry_after_s,
            reset_s=got.reset_s,
        )
