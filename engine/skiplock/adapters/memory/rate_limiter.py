"""In-process twin of the Redis rate limiter (embedded mode, one process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from skiplock.domain.models import RateLimit
from skiplock.domain.ratelimit import Ask, SlidingWindow, admit_all
from skiplock.ports import RateAsk, RateDecision


class MemoryRateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._windows: dict[str, SlidingWindow] = {}
        self._lock = asyncio.Lock()
        self._clock = clock

    async def acquire(self, key: str, cost: int, limit: RateLimit) -> RateDecision:
        return (await self.acquire_all([RateAsk(key, cost, limit)]))[0]

    async def acquire_all(self, asks: Sequence[RateAsk]) -> list[RateDecision]:
        if len({a.key for a in asks}) != len(asks):
            raise ValueError("each key may be asked once per request")
        async with self._lock:
            got = admit_all(
                [
                    Ask(
                        self._windows.setdefault(a.key, SlidingWindow()),
                        a.cost,
                        a.limit.cost,
                        a.limit.window_s,
                    )
                    for a in asks
                ],
                self._clock(),
            )
        return [
            RateDecision(
                allowed=g.allowed,
                limit=a.limit.cost,
                remaining=max(0, a.limit.cost - g.used),
                retry_after_s=g.retry_after_s,
                reset_s=g.reset_s,
            )
            for a, g in zip(asks, got, strict=True)
        ]
