"""The worker-registry contract (DESIGN 5): a heartbeat makes an instance visible with
everything it reported, until it is removed or its TTL passes without a new heartbeat.
The in-process registry and the Redis one both pass it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from skiplock.adapters.memory.registry import MemoryRegistry
from skiplock.ports import InstanceInfo, RunningTask, WorkerRegistry
from tests.contract.shared import ShiftableClock, drop_prefix, redis_shared

ADAPTERS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@dataclass
class RegistryHarness:
    registry: WorkerRegistry
    elapse: Callable[[float], Awaitable[None]]  # let this much registry time pass


@pytest.fixture(params=ADAPTERS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[RegistryHarness]:
    if request.param == "memory":
        clock = ShiftableClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        yield RegistryHarness(MemoryRegistry(clock=clock), advance)
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    async with redis_shared(url, prefix) as shared:
        yield RegistryHarness(shared.registry, asyncio.sleep)  # Redis expires keys for real
    await drop_prefix(url, prefix)


def instance(instance_id: str, *, busy: int = 0, tasks: int = 0) -> InstanceInfo:
    return InstanceInfo(
        id=instance_id,
        host=f"host-{instance_id}",
        roles=("api", "worker"),
        started_at=T0,
        last_heartbeat=T0 + timedelta(seconds=busy),
        slots=8,
        busy=busy,
        tasks=tuple(
            RunningTask(
                id=100 + n,
                type="resize_image",
                tenant=f"tenant-{n}",
                attempt=n + 1,
                started_at=T0 + timedelta(milliseconds=n),
            )
            for n in range(tasks)
        ),
        types=("resize_image", "send_email"),
    )


async def test_a_heartbeat_makes_an_instance_visible_with_everything_it_reported(
    harness: RegistryHarness,
) -> None:
    assert await harness.registry.instances() == []
    info = instance("w-1", busy=2, tasks=2)
    await harness.registry.heartbeat(info, ttl_s=30)
    [seen] = await harness.registry.instances()
    assert seen == info  # every field, running tasks and task types included, round-trips
    assert seen.types == ("resize_image", "send_email")
    assert seen.started_at.tzinfo is not None
    assert seen.tasks[1].started_at == T0 + timedelta(milliseconds=1)


async def test_a_later_heartbeat_replaces_what_the_instance_reported(
    harness: RegistryHarness,
) -> None:
    await harness.registry.heartbeat(instance("w-1", busy=2, tasks=2), ttl_s=30)
    update = instance("w-1", busy=1, tasks=1)
    await harness.registry.heartbeat(update, ttl_s=30)
    assert await harness.registry.instances() == [update]
    idle = replace(update, busy=0, tasks=())
    await harness.registry.heartbeat(idle, ttl_s=30)
    assert await harness.registry.instances() == [idle]


async def test_remove_hides_an_instance_and_leaves_the_others(
    harness: RegistryHarness,
) -> None:
    await harness.registry.heartbeat(instance("w-1"), ttl_s=30)
    await harness.registry.heartbeat(instance("w-2"), ttl_s=30)
    await harness.registry.remove("w-1")
    assert [i.id for i in await harness.registry.instances()] == ["w-2"]
    await harness.registry.remove("w-unknown")  # removing the absent is a no-op
    assert [i.id for i in await harness.registry.instances()] == ["w-2"]


async def test_an_instance_vanishes_when_its_ttl_passes_without_a_heartbeat(
    harness: RegistryHarness,
) -> None:
    await harness.registry.heartbeat(instance("short"), ttl_s=0.5)
    await harness.registry.heartbeat(instance("long"), ttl_s=30)
    await harness.elapse(0.25)
    assert [i.id for i in await harness.registry.instances()] == ["long", "short"]
    await harness.registry.heartbeat(instance("short", busy=1), ttl_s=0.5)  # renews the TTL
    await harness.elapse(0.35)  # past the first heartbeat's TTL, within the renewal's
    assert [i.id for i in await harness.registry.instances()] == ["long", "short"]
    await harness.elapse(0.3)
    assert [i.id for i in await harness.registry.instances()] == ["long"]


async def test_instances_are_listed_in_id_order(harness: RegistryHarness) -> None:
    for instance_id in ["w-c", "w-a", "w-d", "w-b"]:
        await harness.registry.heartbeat(instance(instance_id), ttl_s=30)
    assert [i.id for i in await harness.registry.instances()] == ["w-a", "w-b", "w-c", "w-d"]
