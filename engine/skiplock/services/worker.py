"""The worker runtime: producer → executor → completer, with the lease heartbeat, start-up
recovery and graceful drain (DESIGN §3.4).

On drain: stop claiming; let running tasks finish within the grace period; release the
rest back to ``queued`` without spending an attempt; write every result; return."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from skiplock.domain.models import Claimed, Completion
from skiplock.handlers import HandlerRegistry
from skiplock.ports import Clock, Notifier, TaskStore
from skiplock.services.completer import Completer, CompleterConfig
from skiplock.services.executor import Executor, ExecutorConfig
from skiplock.services.heartbeat import HeartbeatConfig, LeaseHeartbeat
from skiplock.services.maintenance import Rescuer
from skiplock.services.producer import Producer, ProducerConfig
from skiplock.services.publisher import EventPublisher
from skiplock.settings import WorkerSettings

log = logging.getLogger("skiplock.worker")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    worker_id: str
    slots: int
    lease_s: float
    retry_base_s: float
    poll_interval_s: float
    claim_batch: int
    complete_batch: int
    complete_flush_s: float

    @classmethod
    def of(cls, settings: WorkerSettings, *, worker_id: str) -> WorkerConfig:
        return cls(
            worker_id=worker_id,
            slots=settings.workers,
            lease_s=settings.lease_s,
            retry_base_s=settings.retry_base_s,
            poll_interval_s=settings.poll_interval_s,
            claim_batch=settings.claim_batch,
            complete_batch=settings.complete_batch,
            complete_flush_s=settings.complete_flush_s,
        )

    def __post_init__(self) -> None:
        if ":" not in self.worker_id:
            raise ValueError("worker_id is '<instance name>:<per-start suffix>'")


class WorkerRuntime:
    def __init__(
        self,
        config: WorkerConfig,
        *,
        store: TaskStore,
        publisher: EventPublisher,
        notifier: Notifier,
        clock: Clock,
        handlers: HandlerRegistry,
        rescuer: Rescuer,
    ) -> None:
        self.config = config
        self._store = store
        self._notifier = notifier
        self._rescuer = rescuer
        self._clock = clock
        self.completer = Completer(
            CompleterConfig(max_batch=config.complete_batch, flush_s=config.complete_flush_s),
            store=store,
            publisher=publisher,
        )
        self.executor = Executor(
            ExecutorConfig(slots=config.slots, retry_base_s=config.retry_base_s),
            handlers=handlers,
            clock=clock,
            on_done=self._done,
            on_slot_free=self._slot_free,
        )
        self.producer = Producer(
            ProducerConfig(
                worker_id=config.worker_id,
                lease_s=config.lease_s,
                poll_interval_s=config.poll_interval_s,
                max_batch=config.claim_batch,
            ),
            store=store,
            executor=self.executor,
            publisher=publisher,
            clock=clock,
            completer=self.completer,
        )
        self.heartbeat = LeaseHeartbeat(
            HeartbeatConfig(worker_id=config.worker_id, lease_s=config.lease_s),
            store=store,
            executor=self.executor,
            clock=clock,
        )
        self._listener: asyncio.Task[None] | None = None
        self._draining = False

    def _done(self, completion: Completion, claimed: Claimed) -> None:
        self.completer.add(completion, claimed)

    def _slot_free(self, task_id: int) -> None:
        self.producer.task_finished(task_id)
        if not self._draining:
            self.producer.wake()

    async def start(self) -> None:
        recovered = 0
        with contextlib.suppress(Exception):  # the rescuer will get them later anyway
            recovered = await self._rescuer.recover_own(self.config.worker_id)
        if recovered:
            log.warning("recovered %d tasks from a previous incarnation", recovered)
        self.completer.start()
        self.heartbeat.start()
        self.producer.start()
        self._listener = asyncio.create_task(self._listen(), name="wake-listener")

    async def _listen(self) -> None:
        while not self._draining:
            try:
                if await self._notifier.wait(self.config.poll_interval_s):
                    self.producer.work_arrived()
            except Exception as exc:  # polling still runs; a lost wake-up costs latency only
                log.warning("wake-up listener: %s", exc)
                await asyncio.sleep(self.config.poll_interval_s)

    async def drain(self, grace_s: float) -> None:
        """Graceful shutdown; see the module docstring."""
        self._draining = True
        await self.producer.stop()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        busy = self.executor.busy
        if busy:
            log.info("draining: waiting up to %.0f s for %d running tasks", grace_s, busy)
        if not await self.executor.wait_idle(grace_s):
            leases = await self.executor.abandon()
            released = await asyncio.to_thread(self._store.release, leases, now=self._clock.now())
            log.warning("grace period over: released %d tasks back to the queue", len(released))
        await self.completer.drain(timeout_s=max(5.0, grace_s))
        await self.heartbeat.stop()
        await self.completer.stop()
        self.executor.shutdown()
