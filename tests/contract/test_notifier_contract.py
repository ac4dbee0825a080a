"""The notifier contract (DESIGN 5): a notify wakes an idle worker's wait, on this
instance or any other; a wait with no notify times out. The in-process notifier and
the Redis pub/sub one both pass it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from skiplock.adapters.memory.notifier import MemoryNotifier
from skiplock.ports import Notifier
from tests.contract.shared import redis_shared

ADAPTERS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


class ListeningNotifier(Notifier, Protocol):
    async def listening(self) -> None:
        """Both adapters' extra: returns once a notify can no longer be missed."""
        ...


@dataclass
class Instances:
    """A notifier on the instance whose worker waits, and one on another instance (the
    same object in memory, where there is only one process)."""

    waiter: ListeningNotifier
    other: Notifier


@pytest.fixture(params=ADAPTERS)
async def instances(request: pytest.FixtureRequest) -> AsyncIterator[Instances]:
    if request.param == "memory":
        notifier = MemoryNotifier()
        yield Instances(notifier, notifier)
        await notifier.close()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    async with redis_shared(url, prefix) as first, redis_shared(url, prefix) as second:
        await asyncio.wait_for(first.notifier.listening(), 10)
        yield Instances(first.notifier, second.notifier)


async def test_a_notify_wakes_a_waiting_worker(instances: Instances) -> None:
    waiter = asyncio.create_task(instances.waiter.wait(10))
    await asyncio.sleep(0)  # a yield, not a delay: the waiter is now inside wait()
    assert not waiter.done()
    await instances.waiter.notify()
    assert await asyncio.wait_for(waiter, 10) is True


async def test_a_notify_from_another_instance_wakes_a_waiting_worker(
    instances: Instances,
) -> None:
    waiter = asyncio.create_task(instances.waiter.wait(10))
    await asyncio.sleep(0)  # a yield, not a delay: the waiter is now inside wait()
    assert not waiter.done()
    await instances.other.notify()
    assert await asyncio.wait_for(waiter, 10) is True


async def test_a_wait_without_a_notify_times_out_false(instances: Instances) -> None:
    started = time.monotonic()
    assert await instances.waiter.wait(0.3) is False
    assert time.monotonic() - started >= 0.25  # it waited the whole timeout


async def test_a_notify_while_nobody_waits_wakes_the_next_wait(instances: Instances) -> None:
    await instances.other.notify()
    assert await instances.waiter.wait(10) is True


async def test_one_notify_wakes_one_wait_then_waiting_resumes(instances: Instances) -> None:
    await instances.other.notify()
    assert await instances.waiter.wait(10) is True
    assert await instances.waiter.wait(0.3) is False  # the signal was consumed
    await instances.other.notify()
    assert await instances.waiter.wait(10) is True  # and the next one still arrives
