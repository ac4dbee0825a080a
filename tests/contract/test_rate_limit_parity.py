"""The Redis rate limiter's Lua script computes what the domain's ``SlidingWindow`` does.

The script reads the Redis server clock, so the test seeds the window itself: entries at
chosen ages relative to Redis ``TIME`` (some already out of the window, to be evicted),
then asks the real adapter. The domain's arithmetic, run on the same entries at the
Redis times read just before and just after the call, must agree on the decision and the
cost in the window, and bracket the script's Retry-After and reset."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from skiplock.adapters.redis.rate_limiter import RedisRateLimiter
from skiplock.domain.models import RateLimit
from skiplock.domain.ratelimit import SlidingWindow
from tests.contract.shared import drop_prefix

pytestmark = pytest.mark.redis

WINDOW_S = 60


@pytest.fixture
async def client(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()
        await drop_prefix(redis_url, redis_prefix)


async def _redis_now_us(client: Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1_000_000 + int(micros)


def _domain(entries: list[tuple[int, int]], now_us: int, cost: int, limit: int):  # type: ignore[no-untyped-def]
    window = SlidingWindow()
    for at_us, c in entries:
        window.entries.append((at_us / 1e6, c))
        window.total += c
    return window.admit(now_us / 1e6, cost, limit=limit, window_s=WINDOW_S)


@pytest.mark.parametrize("seed", range(40))
async def test_the_lua_script_decides_as_the_domain_arithmetic(
    client: Redis, redis_prefix: str, seed: int
) -> None:
    rng = random.Random(seed)
    limit = rng.randint(1, 20)
    cost = rng.randint(1, 8) if rng.random() < 0.9 else limit + rng.randint(1, 3)
    now_us = await _redis_now_us(client)
    # Ages away from the window's edge by seconds, so the call's latency cannot move an
    # entry across it: some entries already left the window, the rest are inside.
    ages_s = sorted(
        (
            rng.uniform(WINDOW_S + 1, WINDOW_S + 30)
            if rng.random() < 0.3
            else rng.uniform(1, WINDOW_S - 5)
            for _ in range(rng.randint(0, 12))
        ),
        reverse=True,
    )
    entries = [(now_us - int(age * 1e6), rng.randint(1, 5)) for age in ages_s]
    limiter = RedisRateLimiter(client, prefix=redis_prefix)
    log_key, sum_key, _ = limiter._keys("parity")
    if entries:
        await client.zadd(log_key, {f"{at}:{i}:{c}": at for i, (at, c) in enumerate(entries)})
        await client.set(sum_key, sum(c for _, c in entries))

    before = await _redis_now_us(client)
    got = await limiter.acquire("parity", cost, RateLimit(limit, WINDOW_S))
    after = await _redis_now_us(client)

    early, late = _domain(entries, before, cost, limit), _domain(entries, after, cost, limit)
    assert early.allowed == late.allowed == got.allowed, (entries, cost, limit)
    assert early.used == late.used
    assert got.remaining == max(0, limit - early.used)
    # Later means less to wait; microseconds are the script's resolution.
    assert late.retry_after_s - 1e-6 <= got.retry_after_s <= early.retry_after_s + 1e-6
    assert late.reset_s - 1e-6 <= got.reset_s <= early.reset_s + 1e-6
    # What the script stored is what the domain's window holds after the decision.
    stored = int(await client.get(sum_key) or 0)
    assert stored == early.used
