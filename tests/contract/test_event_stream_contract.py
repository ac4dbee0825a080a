"""The event-stream contract (DESIGN 5): one ordered, capped stream whose ids let any
reader resume exactly where it left off, and say so (``reset``) when that position is
no longer retained. The in-process ring buffer and the Redis Stream both pass it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from skiplock.adapters.memory.events import MemoryEventStream
from skiplock.domain.models import Event
from skiplock.ports import EventStream, StreamRead
from tests.contract.shared import drop_prefix, redis_shared

ADAPTERS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@dataclass
class StreamHarness:
    stream: EventStream
    # Set once a read has fixed the position it reads from; a publish after that must
    # reach the read, whether or not it is already blocked waiting.
    pinned: asyncio.Event


MakeStream = Callable[..., Awaitable[StreamHarness]]


class _PinningReader:
    """Wraps the Redis adapter's blocking-read client: its ``xread`` is called with the
    position already fixed."""

    def __init__(self, inner: Any, pinned: asyncio.Event) -> None:
        self._inner = inner
        self._pinned = pinned

    async def xread(self, *args: Any, **kwargs: Any) -> Any:
        self._pinned.set()
        return await self._inner.xread(*args, **kwargs)


def _pin_memory(stream: MemoryEventStream, pinned: asyncio.Event) -> None:
    # ``_after`` is where a read first uses the position it fixed on entry.
    after = stream._after

    def spy(position: int, count: int) -> StreamRead:
        pinned.set()
        return after(position, count)

    # A spy on this one instance; mypy objects to replacing a method at all.
    stream._after = spy  # type: ignore[method-assign,assignment]


@pytest.fixture(params=ADAPTERS)
async def make_stream(request: pytest.FixtureRequest) -> AsyncIterator[MakeStream]:
    """Builds streams for one test; each call is a fresh stream (its own Redis key)."""
    redis = None
    if request.param == "redis":
        redis = (request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))
    async with AsyncExitStack() as stack:
        made = 0

        async def make(*, maxlen: int = 100_000) -> StreamHarness:
            nonlocal made
            made += 1
            pinned = asyncio.Event()
            if redis is None:
                stream = MemoryEventStream(maxlen=maxlen)
                _pin_memory(stream, pinned)
                return StreamHarness(stream, pinned)
            url, prefix = redis[0], f"{redis[1]}:{made}"
            stack.push_async_callback(drop_prefix, url, prefix)
            shared = await stack.enter_async_context(
                redis_shared(url, prefix, stream_maxlen=maxlen)
            )
            # The spy stands in for the reading client; it is no Redis, hence the ignore.
            spy = _PinningReader(shared.stream._reader, pinned)
            shared.stream._reader = spy  # type: ignore[assignment]
            return StreamHarness(shared.stream, pinned)

        yield make


def seq(event_id: str | None) -> tuple[int, int]:
    """Stream ids are ``<int>-<int>`` and order as that pair (not as text)."""
    assert event_id is not None
    ms, seq_no = event_id.split("-")
    return int(ms), int(seq_no)


def ev(n: int, *, tenant_id: int | None = 7) -> Event:
    return Event(kind="task", tenant_id=tenant_id, data={"task_id": n, "state": "queued"})


async def read_all(stream: EventStream) -> list[Event]:
    got = await stream.read(after="0-0", count=10_000, block_s=0)
    assert not got.reset
    return got.events


async def test_events_come_back_in_order_with_increasing_ids_and_unchanged_content(
    make_stream: MakeStream,
) -> None:
    stream = (await make_stream()).stream
    sent = [
        Event(kind="task", tenant_id=3, data={"task_id": 1, "state": "queued", "cost": 2}),
        Event(
            kind="tenant",
            tenant_id=None,
            data={"name": "zoë", "paused": True, "weight": 1.5, "tags": ["a", "b"], "x": None},
        ),
        Event(kind="task", tenant_id=3, data={"nested": {"attempts": [{"n": 1}]}}),
    ]
    await stream.publish(sent[:2])
    await stream.publish(sent[2:])
    await stream.publish([])  # publishing nothing is allowed and adds nothing
    got = await read_all(stream)
    assert [(e.kind, e.tenant_id, e.data) for e in got] == [
        (e.kind, e.tenant_id, e.data) for e in sent
    ]
    ids = [seq(e.id) for e in got]
    assert ids == sorted(set(ids))  # strictly increasing


async def test_ids_keep_increasing_past_ten_and_across_publishes(
    make_stream: MakeStream,
) -> None:
    stream = (await make_stream()).stream
    for n in range(25):
        await stream.publish([ev(n)])
    got = await read_all(stream)
    assert [e.data["task_id"] for e in got] == list(range(25))
    ids = [seq(e.id) for e in got]
    assert ids == sorted(set(ids))


async def test_last_id_is_none_until_something_is_published_then_the_newest_id(
    make_stream: MakeStream,
) -> None:
    stream = (await make_stream()).stream
    assert await stream.last_id() is None
    await stream.publish([ev(1), ev(2)])
    await stream.publish([ev(3)])
    got = await read_all(stream)
    assert await stream.last_id() == got[-1].id
    assert got[-1].data["task_id"] == 3


async def test_reading_after_an_id_returns_exactly_the_events_after_it(
    make_stream: MakeStream,
) -> None:
    stream = (await make_stream()).stream
    await stream.publish([ev(n) for n in range(6)])
    every = await read_all(stream)
    for k, event in enumerate(every):
        got = await stream.read(after=event.id, count=100, block_s=0)
        assert (got.events, got.reset) == (every[k + 1 :], False)
    first_two = await stream.read(after=every[1].id, count=2, block_s=0)
    assert first_two.events == every[2:4]  # ``count`` caps one read


async def test_reading_new_events_only_waits_for_the_next_publish(
    make_stream: MakeStream,
) -> None:
    harness = await make_stream()
    await harness.stream.publish([ev(1)])  # already there: not "new"
    reader = asyncio.create_task(harness.stream.read(after=None, count=10, block_s=10))
    await harness.pinned.wait()
    await harness.stream.publish([ev(2), ev(3)])
    got = await asyncio.wait_for(reader, 10)
    assert not got.reset
    assert [e.data["task_id"] for e in got.events] == [2, 3]


async def test_a_blocked_read_returns_nothing_when_nothing_is_published_in_time(
    make_stream: MakeStream,
) -> None:
    stream = (await make_stream()).stream
    await stream.publish([ev(1)])
    last = await stream.last_id()
    started = time.monotonic()
    got = await stream.read(after=last, count=10, block_s=0.3)
    assert (got.events, got.reset) == ([], False)
    assert time.monotonic() - started >= 0.25  # it did wait for block_s


async def test_a_sub_millisecond_block_returns_promptly(make_stream: MakeStream) -> None:
    stream = (await make_stream()).stream
    # Redis reads BLOCK 0 as "forever": a tiny wait must not round down to it.
    got = await asyncio.wait_for(stream.read(after=None, count=10, block_s=0.0004), 3)
    assert (got.events, got.reset) == ([], False)


async def test_a_position_the_capped_stream_has_dropped_reads_as_reset(
    make_stream: MakeStream,
) -> None:
    stream = (await make_stream(maxlen=100)).stream
    await stream.publish([ev(0)])
    oldest = await stream.last_id()
    for start in range(1, 400, 100):
        await stream.publish([ev(n) for n in range(start, start + 100)])
    mark = await stream.last_id()  # event 399: exactly 100 events will follow it
    await stream.publish([ev(n) for n in range(400, 500)])

    lost = await stream.read(after=oldest, count=1_000, block_s=0)
    assert (lost.events, lost.reset) == ([], True)
    lost_all = await stream.read(after="0-0", count=1_000, block_s=5)
    assert (lost_all.events, lost_all.reset) == ([], True)  # a reset never blocks

    # The newest ``maxlen`` events are always retained, and reading them is no reset.
    kept = await stream.read(after=mark, count=1_000, block_s=0)
    assert not kept.reset
    assert [e.data["task_id"] for e in kept.events] == list(range(400, 500))
    assert await stream.last_id() == kept.events[-1].id


async def test_an_unreadable_position_reads_as_reset(make_stream: MakeStream) -> None:
    stream = (await make_stream()).stream
    await stream.publish([ev(1)])
    for bad in ["not-an-id", "garbage", "-5", "1-x"]:
        got = await stream.read(after=bad, count=10, block_s=0)
        assert (got.events, got.reset) == ([], True), bad


@pytest.mark.redis
async def test_instances_share_one_stream(redis_url: str, redis_prefix: str) -> None:
    try:
        async with (
            redis_shared(redis_url, redis_prefix) as api,
            redis_shared(redis_url, redis_prefix) as worker,
        ):
            await worker.stream.publish([ev(1)])
            position = await api.stream.last_id()
            assert position is not None
            reader = asyncio.create_task(api.stream.read(after=position, count=10, block_s=10))
            await worker.stream.publish([ev(2)])
            got = await asyncio.wait_for(reader, 10)
            assert [e.data["task_id"] for e in got.events] == [2]
    finally:
        await drop_prefix(redis_url, redis_prefix)
