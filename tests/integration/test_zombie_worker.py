"""A zombie worker on MariaDB: its lease expired while its handler still ran (a long GC
pause, a partition), the rescuer took the task back and another worker claimed it. The
zombie's handler then ends — and nothing the zombie does may touch the task: not its
result, not its failure's retry, not its heartbeat, not its release on shutdown.

The workers are the engine's own (producer, executor, completer, heartbeat, drain on one
``WorkerRuntime`` each), in this process on a real MariaDB; the test steps each service
with ``run_once`` and moves the takeover's clock past the lease instead of waiting."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skiplock.adapters.memory.events import MemoryEventStream
from skiplock.adapters.memory.notifier import MemoryNotifier
from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.domain.models import LEASE_EXPIRED, NewTask
from skiplock.domain.states import TaskState
from skiplock.handlers import HandlerContext, HandlerRegistry
from skiplock.services.maintenance import MaintenanceConfig, Promoter, Rescuer
from skiplock.services.publisher import EventPublisher
from skiplock.services.worker import WorkerConfig, WorkerRuntime
from skiplock.settings import Settings

pytestmark = pytest.mark.mysql

LEASE_S = 30.0


@dataclass
class Clock:
    """The system clock, plus an offset a test moves forward."""

    offset: float = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@dataclass
class Gates:
    """The ``hold`` handler waits, per attempt, until the test says how it ends."""

    ending: dict[int, asyncio.Future[str]] = field(default_factory=dict)
    started: dict[int, asyncio.Event] = field(default_factory=dict)

    def _for(self, attempt: int) -> tuple[asyncio.Future[str], asyncio.Event]:
        if attempt not in self.ending:
            self.ending[attempt] = asyncio.get_running_loop().create_future()
            self.started[attempt] = asyncio.Event()
        return self.ending[attempt], self.started[attempt]

    async def hold(self, payload: Any, ctx: HandlerContext) -> dict[str, int]:
        ending, started = self._for(ctx.attempt)
        started.set()
        if await ending == "fail":
            raise RuntimeError(f"attempt {ctx.attempt} failed")
        return {"attempt": ctx.attempt}

    async def running(self, attempt: int) -> None:
        await asyncio.wait_for(self._for(attempt)[1].wait(), timeout=10)

    def end(self, attempt: int, how: str) -> None:
        self._for(attempt)[0].set_result(how)


@dataclass
class Scene:
    store: SqlTaskStore
    gates: Gates
    zombie: WorkerRuntime
    worker: WorkerRuntime
    task_id: int
    later: Clock

    def row(self) -> tuple[Any, ...]:
        t = self.store.get_task(self.task_id)
        return (t.state, t.attempt, t.lease_owner, t.lease_expires_at, t.result, t.last_error)


def _runtime(
    worker_id: str, store: SqlTaskStore, clock: Clock, handlers: HandlerRegistry
) -> WorkerRuntime:
    publisher = EventPublisher(MemoryEventStream(), MemoryNotifier())
    config = replace(
        WorkerConfig.of(Settings(), worker_id=worker_id),
        slots=1,
        lease_s=LEASE_S,
        retry_base_s=0,
        poll_interval_s=1,
    )
    rescuer = Rescuer(
        MaintenanceConfig.of(Settings(), retry_base_s=2.0),
        store=store,
        publisher=publisher,
        clock=clock,
    )
    return WorkerRuntime(
        config,
        store=store,
        publisher=publisher,
        notifier=MemoryNotifier(),
        clock=clock,
        handlers=handlers,
        rescuer=rescuer,
    )


@pytest.fixture
async def scene(mysql_url: str) -> AsyncIterator[Scene]:
    store = create_store(mysql_url)
    store.migrate()
    tenant = store.create_tenant("acme", weight=1, rate_limit=None, now=datetime.now(UTC)).id
    gates = Gates()
    handlers = HandlerRegistry()
    handlers.register("hold", gates.hold)
    now = Clock()
    later = Clock(offset=LEASE_S + 1)  # past the zombie's lease
    zombie = _runtime("zombie:1", store, now, handlers)
    worker = _runtime("worker:1", store, later, handlers)
    [sub] = store.submit(
        [
            NewTask(
                tenant_id=tenant,
                type="hold",
                payload={},
                priority=0,
                cost=1,
                max_attempts=5,
                timeout_s=600,
                run_at=now.now(),
            )
        ],
        now=now.now(),
    )
    # The zombie claims attempt 1 and its handler starts...
    assert await zombie.producer.run_once() == 1
    await gates.running(1)
    # ...its lease runs out; the rescuer and promoter (on the later clock) take the task
    # back; the other worker claims attempt 2, whose handler starts too.
    publisher = EventPublisher(MemoryEventStream(), MemoryNotifier())
    maintenance = MaintenanceConfig.of(Settings(), retry_base_s=0)
    assert await Rescuer(maintenance, store=store, publisher=publisher, clock=later).run_once() == 1
    assert (
        await Promoter(maintenance, store=store, publisher=publisher, clock=later).run_once() == 1
    )
    assert await worker.producer.run_once() == 1
    await gates.running(2)
    yield Scene(store, gates, zombie, worker, sub.task.id, later)
    for runtime in (zombie, worker):
        await runtime.drain(grace_s=0)
    store.close()


def _lease_lost(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and "lease" in r.message]


async def _the_other_worker_finishes_it_alone(scene: Scene, before: tuple[Any, ...]) -> None:
    assert scene.row() == before, "the zombie changed the task"
    scene.gates.end(2, "succeed")
    assert await scene.worker.executor.wait_idle(10)
    assert await scene.worker.completer.run_once() == 1
    task = scene.store.get_task(scene.task_id)
    assert (task.state, task.attempt, task.result) == (TaskState.SUCCEEDED, 2, {"attempt": 2})
    assert [(a.worker, a.outcome) for a in task.attempts] == [
        ("zombie:1", "lease_lost"),
        ("worker:1", "succeeded"),
    ]


def _taken_over(scene: Scene) -> tuple[Any, ...]:
    row = scene.row()
    assert row[:3] == (TaskState.RUNNING, 2, "worker:1")
    assert row[4:] == (None, LEASE_EXPIRED)
    return row


@pytest.mark.parametrize("how", ["succeed", "fail"])
async def test_a_zombies_result_or_retry_is_refused_by_the_completers_fence(
    scene: Scene, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = _taken_over(scene)
    caplog.set_level(logging.INFO)
    scene.gates.end(1, how)  # the zombie's handler returns, or fails (a retry is due)
    assert await scene.zombie.executor.wait_idle(10)
    assert scene.zombie.completer.backlog == 1  # it never heard of the takeover
    assert await scene.zombie.completer.run_once() == 1
    assert _lease_lost(caplog, "skiplock.completer") == ["lease lost: result of attempt 1 dropped"]
    await _the_other_worker_finishes_it_alone(scene, before)


async def test_a_zombies_heartbeat_is_refused_and_its_result_dropped_unwritten(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    before = _taken_over(scene)
    caplog.set_level(logging.INFO)
    assert await scene.zombie.heartbeat.run_once() == 1
    assert scene.row() == before  # the other worker's lease was not extended
    assert _lease_lost(caplog, "skiplock.heartbeat") == [f"leases lost for tasks [{scene.task_id}]"]
    scene.gates.end(1, "succeed")
    assert await scene.zombie.executor.wait_idle(10)
    assert scene.zombie.completer.backlog == 0  # the executor dropped it: nothing to write
    assert _lease_lost(caplog, "skiplock.executor") == ["lease lost while running; result dropped"]
    await _the_other_worker_finishes_it_alone(scene, before)


async def test_a_zombie_shutting_down_cannot_release_the_task_back_to_the_queue(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    before = _taken_over(scene)
    caplog.set_level(logging.INFO)
    # SIGTERM with no grace left: the zombie abandons its handler and releases its lease.
    await scene.zombie.drain(grace_s=0)
    assert [r.getMessage() for r in caplog.records if r.name == "skiplock.worker"] == [
        "draining: waiting up to 0 s for 1 running tasks",
        "grace period over: released 0 tasks back to the queue",
    ]
    assert scene.store.ready_tenants() == []  # nothing was queued to run a second time
    await _the_other_worker_finishes_it_alone(scene, before)
