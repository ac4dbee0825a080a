"""The rate-limiter contract (DESIGN 3.8): at most L cost units admitted in any sliding
window of W seconds, a refused request admits nothing, and Retry-After says when it
would fit. The in-process twin and the Redis Lua script both pass it."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from skiplock.adapters.memory.rate_limiter import MemoryRateLimiter
from skiplock.domain.models import RateLimit
from skiplock.ports import RateAsk, RateLimiter
from tests.contract.shared import (
    Admitted,
    ShiftableClock,
    drop_prefix,
    hammer,
    redis_shared,
    window_breaches,
)

ROOT = Path(__file__).resolve().parents[2]
# The Redis half carries the ``redis`` marker; a missing server still fails the run.
ADAPTERS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@dataclass
class LimiterHarness:
    limiter: RateLimiter
    clock: Callable[[], float]  # this host's monotonic time, as the limiter sees it
    elapse: Callable[[float], Awaitable[None]]  # let this much limiter time pass


@pytest.fixture(params=ADAPTERS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[LimiterHarness]:
    if request.param == "memory":
        clock = ShiftableClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        yield LimiterHarness(MemoryRateLimiter(clock=clock), clock, advance)
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    async with redis_shared(url, prefix) as shared:
        # Redis times the window by its own clock, so time passes for real.
        yield LimiterHarness(shared.limiter, time.monotonic, asyncio.sleep)
    await drop_prefix(url, prefix)


async def test_admits_within_the_limit_and_counts_remaining_down_by_cost(
    harness: LimiterHarness,
) -> None:
    limit = RateLimit(cost=10, window_s=60)
    first = await harness.limiter.acquire("t1", 3, limit)
    assert (first.allowed, first.limit, first.remaining, first.retry_after_s) == (True, 10, 7, 0)
    # The window empties a full window after the newest admission.
    assert 59.0 < first.reset_s <= 60.0
    second = await harness.limiter.acquire("t1", 7, limit)
    assert (second.allowed, second.remaining) == (True, 0)


async def test_refuses_the_request_that_would_exceed_the_limit_whole(
    harness: LimiterHarness,
) -> None:
    limit = RateLimit(cost=10, window_s=60)
    assert (await harness.limiter.acquire("t1", 7, limit)).allowed
    refused = await harness.limiter.acquire("t1", 5, limit)
    assert not refused.allowed
    assert refused.remaining == 3  # nothing of the refused cost-5 request was taken
    assert 0 < refused.retry_after_s <= 60
    fits = await harness.limiter.acquire("t1", 3, limit)
    assert (fits.allowed, fits.remaining) == (True, 0)
    assert not (await harness.limiter.acquire("t1", 1, limit)).allowed


async def test_a_cost_above_the_limit_is_refused_with_a_whole_window_to_wait(
    harness: LimiterHarness,
) -> None:
    limit = RateLimit(cost=5, window_s=7)
    refused = await harness.limiter.acquire("t1", 6, limit)
    assert not refused.allowed
    assert refused.retry_after_s == 7.0
    assert refused.remaining == 5
    assert (await harness.limiter.acquire("t1", 5, limit)).allowed  # it took nothing


async def test_a_cost_below_one_is_rejected(harness: LimiterHarness) -> None:
    with pytest.raises(ValueError, match="cost"):
        await harness.limiter.acquire("t1", 0, RateLimit(cost=5, window_s=1))


async def test_keys_are_limited_independently(harness: LimiterHarness) -> None:
    limit = RateLimit(cost=4, window_s=60)
    assert (await harness.limiter.acquire("tenant:a", 4, limit)).allowed
    assert not (await harness.limiter.acquire("tenant:a", 1, limit)).allowed
    other = await harness.limiter.acquire("tenant:b", 4, limit)
    assert (other.allowed, other.remaining) == (True, 0)


async def test_retry_after_is_exactly_when_the_refused_request_fits(
    harness: LimiterHarness,
) -> None:
    limit = RateLimit(cost=5, window_s=1)
    assert (await harness.limiter.acquire("t1", 4, limit)).allowed
    await harness.elapse(0.5)
    assert (await harness.limiter.acquire("t1", 1, limit)).allowed
    refused = await harness.limiter.acquire("t1", 3, limit)
    assert not refused.allowed
    # Cost 3 fits once the cost-4 entry (about 0.5 s old) leaves the 1 s window.
    assert 0.3 < refused.retry_after_s <= 0.5
    await harness.elapse(refused.retry_after_s - 0.15)
    assert not (await harness.limiter.acquire("t1", 3, limit)).allowed  # not too early
    await harness.elapse(0.15)
    assert (await harness.limiter.acquire("t1", 3, limit)).allowed  # nor too late


async def test_a_refusal_remembers_the_cost_that_already_left_the_window(
    harness: LimiterHarness,
) -> None:
    limit = RateLimit(cost=5, window_s=1)
    assert (await harness.limiter.acquire("t1", 2, limit)).allowed
    await harness.elapse(0.5)
    assert (await harness.limiter.acquire("t1", 2, limit)).allowed
    await harness.elapse(0.6)  # the first 2 units have left the window; 2 remain in it
    refused = await harness.limiter.acquire("t1", 4, limit)
    assert (refused.allowed, refused.remaining) == (False, 3)
    # The eviction done by that refusal must stick: 2 + 3 fits exactly.
    fits = await harness.limiter.acquire("t1", 3, limit)
    assert (fits.allowed, fits.remaining) == (True, 0)


async def test_a_request_over_several_keys_is_admitted_for_all_of_them_or_for_none(
    harness: LimiterHarness,
) -> None:
    roomy, tight = RateLimit(cost=10, window_s=60), RateLimit(cost=5, window_s=60)
    assert (await harness.limiter.acquire("tenant:b", 4, tight)).allowed
    # b has 1 unit left: a batch asking 3 of a and 2 of b is refused whole ...
    refused = await harness.limiter.acquire_all(
        [RateAsk("tenant:a", 3, roomy), RateAsk("tenant:b", 2, tight)]
    )
    assert [d.allowed for d in refused] == [False, False]
    assert refused[0].retry_after_s == 0  # a had room
    assert 0 < refused[1].retry_after_s <= 60  # b is the one to wait for
    assert (refused[0].remaining, refused[1].remaining) == (10, 1)
    # ... and spent nothing of a's budget: all 10 units are still there.
    assert (await harness.limiter.acquire("tenant:a", 10, roomy)).allowed
    # When every key has room, each is charged its own cost.
    both = await harness.limiter.acquire_all(
        [RateAsk("tenant:c", 3, roomy), RateAsk("tenant:b", 1, tight)]
    )
    assert [(d.allowed, d.remaining) for d in both] == [(True, 7), (True, 0)]
    assert not (await harness.limiter.acquire("tenant:b", 1, tight)).allowed
    assert (await harness.limiter.acquire("tenant:c", 7, roomy)).allowed


async def test_a_request_may_not_ask_one_key_twice(harness: LimiterHarness) -> None:
    limit = RateLimit(cost=5, window_s=60)
    with pytest.raises(ValueError, match="once"):
        await harness.limiter.acquire_all([RateAsk("t", 3, limit), RateAsk("t", 3, limit)])
    assert (await harness.limiter.acquire("t", 5, limit)).allowed  # nothing was taken


def test_the_window_check_catches_a_window_holding_more_than_the_limit() -> None:
    # The concurrency tests below are only as good as this check: a fixed-window
    # limiter admitting a full budget on each side of a boundary must be caught...
    burst = [Admitted(0.90 + i * 0.01, 0.905 + i * 0.01, 2) for i in range(5)]
    burst += [Admitted(1.00 + i * 0.01, 1.005 + i * 0.01, 2) for i in range(5)]
    assert window_breaches(burst, limit=10, window_s=1.0)[0] == (0.90, 20)
    # ...while the same admissions a full window apart are fine.
    spaced = [
        Admitted(a.sent + (1.0 if i >= 5 else 0), a.answered + (1.0 if i >= 5 else 0), a.cost)
        for i, a in enumerate(burst)
    ]
    assert window_breaches(spaced, limit=10, window_s=1.0) == []


LIMIT = RateLimit(cost=200, window_s=1)
WINDOWS = 3  # the run lasts a little under 3 windows, so at most 3 budgets fit


def assert_exact_and_fully_used(admitted: list[Admitted], *, start: float, until: float) -> None:
    assert window_breaches(admitted, limit=LIMIT.cost, window_s=LIMIT.window_s) == []
    windows = math.ceil((until - start) / LIMIT.window_s)
    assert windows == WINDOWS
    used = sum(a.cost for a in admitted)
    # A limiter that refuses too much (stale totals, Retry-After too long) falls short.
    assert used >= 0.9 * windows * LIMIT.cost, f"admitted {used} of {windows * LIMIT.cost}"


async def test_concurrent_clients_never_get_more_than_the_limit_in_any_window(
    harness: LimiterHarness,
) -> None:
    start = harness.clock()
    until = start + WINDOWS * LIMIT.window_s - 0.1
    admitted = await hammer(
        harness.limiter, "shared", LIMIT, clients=8, until=until, clock=harness.clock, seed=1
    )
    assert_exact_and_fully_used(admitted, start=start, until=until)


# Each process: connect, say "ready", read the shared stop time, hammer, print JSON.
CLIENT_PROCESS = """
import asyncio, json, sys, time
from skiplock.adapters.redis import RedisShared
from skiplock.domain.models import RateLimit
from tests.contract.shared import hammer

async def main(url, prefix, cost, window, seed):
    shared = RedisShared.from_url(url, prefix=prefix)
    try:
        await shared.ping()
        print("ready", flush=True)
        until = float(sys.stdin.readline())
        got = await hammer(shared.limiter, "shared", RateLimit(cost, window), clients=2,
                           until=until, clock=time.monotonic, seed=seed)
    finally:
        await shared.aclose()
    print(json.dumps([[a.sent, a.answered, a.cost] for a in got]), flush=True)

url, prefix, cost, window, seed = sys.argv[1:]
asyncio.run(main(url, prefix, int(cost), int(window), int(seed)))
"""


@pytest.mark.redis
async def test_instances_in_separate_processes_share_one_exact_limit(
    redis_url: str, redis_prefix: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLIENT_PROCESS,
            redis_url,
            redis_prefix,
            str(LIMIT.cost),
            str(LIMIT.window_s),
            str(seed),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        for seed in range(4)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
        # CLOCK_MONOTONIC is one clock for every process on this host.
        start = time.monotonic()
        until = start + WINDOWS * LIMIT.window_s - 0.1
        outputs = await asyncio.gather(
            *(asyncio.wait_for(p.communicate(f"{until}\n".encode()), 30) for p in procs)
        )
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await drop_prefix(redis_url, redis_prefix)
    admitted: list[Admitted] = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        rows = json.loads(out.decode().strip().splitlines()[-1])
        assert rows, "every process should have been admitted something"
        admitted += [Admitted(sent, answered, cost) for sent, answered, cost in rows]
    assert_exact_and_fully_used(admitted, start=start, until=until)
