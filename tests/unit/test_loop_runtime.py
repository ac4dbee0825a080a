"""One loop runtime for every background service: the completer and the publisher (queue
services) run on the same start/stop, backoff and failure logging as the polling
services, keep what they hold through an outage and write it once the dependency is
back. Outages are told from bugs by the domain's ``Unavailable`` alone."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

import skiplock
from skiplock.adapters.memory.notifier import MemoryNotifier
from skiplock.domain.errors import Unavailable
from skiplock.domain.models import Claimed, Completion, Event, Outcome
from skiplock.domain.states import Transition
from skiplock.ports import EventStream, TaskStore
from skiplock.services.announcer import Announcer
from skiplock.services.base import LoopService
from skiplock.services.completer import Completer, CompleterConfig
from skiplock.services.heartbeat import LeaseHeartbeat
from skiplock.services.maintenance import Cleaner, Promoter, Rescuer
from skiplock.services.producer import Producer
from skiplock.services.publisher import EventPublisher

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ENGINE = Path(skiplock.__file__).parent


def test_every_background_service_runs_on_the_one_runtime() -> None:
    for service in (
        Producer,
        Completer,
        EventPublisher,
        Promoter,
        Rescuer,
        Cleaner,
        LeaseHeartbeat,
        Announcer,
    ):
        assert issubclass(service, LoopService), service
        for own in ("_loop", "start"):
            assert own not in vars(service), f"{service.__name__} runs a loop of its own"


def test_no_exception_is_recognised_by_its_class_name() -> None:
    matching = re.compile(r"__name__\s*(in\b|==|!=)(?!\s*[\"']__main__)")
    found = [
        str(path.relative_to(ENGINE))
        for path in ENGINE.rglob("*.py")
        if matching.search(path.read_text())
    ]
    assert found == []


class FlakyStore:
    """A store whose first ``failures`` completion writes find the database down."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[Completion] = []

    def complete(self, completions: Sequence[Completion]) -> list[Completion]:
        if self.failures:
            self.failures -= 1
            raise Unavailable("database unavailable: gone")
        self.written += completions
        return list(completions)


class FlakyStream:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        if self.failures:
            self.failures -= 1
            raise Unavailable("redis unavailable: gone")
        self.published += events


def _finished(task_id: int) -> tuple[Completion, Claimed]:
    completion = Completion(task_id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, NOW)
    claimed = Claimed(
        id=task_id,
        tenant_id=1,
        tenant="default",
        type="t",
        payload=None,
        attempt=1,
        attempt_base=0,
        max_attempts=3,
        timeout_s=10,
        cost=1,
        created_at=NOW,
        run_at=NOW,
        started_at=NOW,
    )
    return completion, claimed


async def test_the_completer_keeps_results_through_an_outage_and_writes_them_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore(failures=2)
    stream = FlakyStream(failures=1)
    publisher = EventPublisher(cast(EventStream, stream), MemoryNotifier())
    completer = Completer(
        CompleterConfig(max_batch=10, flush_s=0),
        store=cast(TaskStore, store),
        publisher=publisher,
    )
    publisher.start()
    completer.start()
    for i in range(1, 4):
        completer.add(*_finished(i))
    assert await completer.drain(timeout_s=10)
    await completer.stop()
    await publisher.stop()
    assert [c.task_id for c in store.written] == [1, 2, 3]
    assert [e.data["id"] for e in stream.published] == [1, 2, 3]
    assert "cannot write 3 results yet" in caplog.text
    assert "event stream publish failed (1)" in caplog.text
    assert "Traceback" not in caplog.text  # outages are warnings, not bugs


async def test_a_stopping_queue_service_writes_what_it_holds_first() -> None:
    stream = FlakyStream(failures=0)
    publisher = EventPublisher(cast(EventStream, stream), MemoryNotifier())
    publisher.start()
    publisher.emit([Event(kind="task", tenant_id=1, data={"id": i}) for i in range(5)])
    await publisher.stop()
    assert len(stream.published) == 5


def test_queue_services_back_off_within_their_caps() -> None:
    publisher = EventPublisher(cast(EventStream, FlakyStream(0)), MemoryNotifier())
    completer = Completer(
        CompleterConfig(max_batch=200, flush_s=0.005),
        store=cast(TaskStore, FlakyStore(0)),
        publisher=publisher,
    )
    for service, first, cap in ((completer, 0.2, 10.0), (publisher, 0.1, 5.0)):
        waits = [service.backoff_s(n) for n in range(1, 40)]
        assert waits[0] == pytest.approx(first)
        assert waits == sorted(waits)
        assert max(waits) == cap


class _DownNotifier(MemoryNotifier):
    """Fails while ``down``; rings the memory notifier otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.rung = asyncio.Event()

    async def notify(self) -> None:
        self.rung.set()
        if self.down:
            raise ConnectionError("redis unavailable")
        await super().notify()


async def test_failed_wake_ups_log_once_per_outage_and_once_on_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="skiplock")
    notifier = _DownNotifier()
    publisher = EventPublisher(cast(EventStream, FlakyStream(0)), notifier, wake_debounce_s=0)

    async def ring() -> None:
        notifier.rung.clear()
        publisher.work_ready()
        await notifier.rung.wait()
        task = publisher._wake_task
        assert task is not None
        await task

    for _ in range(50):
        await ring()
    assert publisher.wake_failures == 50
    notifier.down = False
    await ring()
    assert publisher.wake_failures == 0
    lines = [r.getMessage() for r in caplog.records if "wake-up" in r.getMessage()]
    assert lines == [
        "wake-up signals failing (workers poll meanwhile): redis unavailable",
        "wake-up signals recovered after 50 failed",
    ]
