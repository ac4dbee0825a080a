"""Building blocks for the shared-state contract suites: each port's suite runs the same
tests against the in-memory adapter and the Redis adapter, through a small harness that
also says how time passes for that adapter (a shifted clock in memory, real time on
Redis, whose scripts read the server clock).

It imports no pytest: the rate-limiter suite's client processes import it too."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from skiplock.adapters.redis import RedisShared
from skiplock.domain.models import RateLimit
from skiplock.ports import RateLimiter


class ShiftableClock:
    """``time.monotonic`` plus an offset the test moves forward: the memory adapters
    see time pass instantly, while real elapsed time still counts (the concurrency
    tests run on it unshifted)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@asynccontextmanager
async def redis_shared(
    url: str, prefix: str, *, stream_maxlen: int = 100_000
) -> AsyncIterator[RedisShared]:
    """One engine instance's Redis adapters, closed (listener included) afterwards."""
    shared = RedisShared.from_url(url, prefix=prefix, stream_maxlen=stream_maxlen)
    try:
        yield shared
    finally:
        await shared.notifier.close()
        await shared.aclose()


async def drop_prefix(url: str, prefix: str) -> None:
    """Delete every key a test made: plain ``prefix:…`` keys and the rate limiter's
    hash-tagged ``{prefix:…}`` ones."""
    client = Redis.from_url(url)
    try:
        for pattern in (f"{prefix}:*", f"{{{prefix}:*"):
            keys = [k async for k in client.scan_iter(match=pattern, count=500)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass(frozen=True, slots=True)
class Admitted:
    """One admitted request: its cost, and the client's monotonic time just before the
    call and just after the answer. The limiter decided somewhere in between."""

    sent: float
    answered: float
    cost: int


def window_breaches(
    admitted: Sequence[Admitted], *, limit: int, window_s: float, slack_s: float = 0.002
) -> list[tuple[float, int]]:
    """Sliding windows proven to have held more than ``limit`` admitted cost.

    For each anchor ``x`` (every ``sent`` time) the requests with ``sent >= x`` and
    ``answered < x + window_s - slack_s`` were certainly decided inside one window of
    length ``window_s``, whatever the call latency or the limiter's clock offset (the
    slack absorbs clock drift between Redis and this host). Returns (anchor, cost in
    that window) for every breach; an exact limiter yields none."""
    ordered = sorted(admitted, key=lambda a: a.sent)
    breaches: list[tuple[float, int]] = []
    for i, anchor in enumerate(ordered):
        end = anchor.sent + window_s - slack_s
        inside = sum(a.cost for a in ordered[i:] if a.answered < end)
        if inside > limit:
            breaches.append((anchor.sent, inside))
    return breaches


async def hammer(
    limiter: RateLimiter,
    key: str,
    limit: RateLimit,
    *,
    clients: int,
    until: float,
    clock: Callable[[], float],
    seed: int,
) -> list[Admitted]:
    """``clients`` concurrent callers asking for random costs of 1–5 until ``until``
    (on ``clock``); a refused caller backs off for a jittered slice of its Retry-After,
    at most 20 ms, so the budget is contested the moment any of it frees."""

    async def one(n: int) -> list[Admitted]:
        rng = random.Random(seed * 1_000 + n)
        got: list[Admitted] = []
        while clock() < until:
            cost = rng.randint(1, 5)
            sent = clock()
            decision = await limiter.acquire(key, cost, limit)
            answered = clock()
            if decision.allowed:
                got.append(Admitted(sent, answered, cost))
                await asyncio.sleep(0)  # an admitted caller yields to the others
            else:
                await asyncio.sleep(rng.uniform(0, min(decision.retry_after_s, 0.02)))
        return got

    per_client = await asyncio.gather(*(one(n) for n in range(clients)))
    return [a for got in per_client for a in got]
