"""The executor: runs claimed tasks in this instance's slots, each under its timeout.

Async handlers run on the event loop; sync handlers run in a thread pool. A task past its
timeout fails (and retries) and frees its slot at once; a sync handler's thread cannot be
killed, so the pool has spare threads and a stuck one is logged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from skiplock import metrics
from skiplock.domain import states
from skiplock.domain.failures import bound_traceback
from skiplock.domain.models import Claimed, Completion, Outcome
from skiplock.domain.retry import backoff_s
from skiplock.domain.states import Transition
from skiplock.handlers import HandlerContext, HandlerRegistry, Retry
from skiplock.ports import Clock, Lease, RunningTask

log = logging.getLogger("skiplock.executor")

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    slots: int
    retry_base_s: float
    spare_threads: int = 4

    def __post_init__(self) -> None:
        if self.slots < 0 or self.retry_base_s < 0:
            raise ValueError("executor: slots and retry_base_s must not be negative")


@dataclass(slots=True)
class _Running:
    claimed: Claimed
    task: asyncio.Task[None]


class Executor:
    """Runs claimed tasks; hands each finished attempt to ``on_done`` (the completer) and
    reports every freed slot, with the id of the task that held it, to ``on_slot_free``."""

    name = "executor"

    def __init__(
        self,
        config: ExecutorConfig,
        *,
        handlers: HandlerRegistry,
        clock: Clock,
        on_done: Callable[[Completion, Claimed], None],
        on_slot_free: Callable[[int], None] = lambda task_id: None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._handlers = handlers
        self._clock = clock
        self._on_done = on_done
        self._on_slot_free = on_slot_free
        self._rand = rand
        self._running: dict[int, _Running] = {}
        self._lost: set[int] = set()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.slots + config.spare_threads),
            thread_name_prefix="skiplock-handler",
        )
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        return len(self._running)

    def free_slots(self) -> int:
        return max(0, self.config.slots - len(self._running))

    def leases(self) -> list[Lease]:
        return [Lease(r.claimed.id, r.claimed.attempt) for r in self._running.values()]

    def running_tasks(self) -> list[RunningTask]:
        return [
            RunningTask(
                id=r.claimed.id,
                type=r.claimed.type,
                tenant=r.claimed.tenant,
                attempt=r.claimed.attempt,
                started_at=r.claimed.started_at,
            )
            for r in self._running.values()
        ]

    def lease_lost(self, task_ids: set[int]) -> None:
        """The heartbeat found these leases gone: their results will not be written."""
        self._lost |= task_ids & self._running.keys()

    def submit(self, claimed: Claimed) -> None:
        task = asyncio.create_task(self._run(claimed), name=f"task-{claimed.id}")
        self._running[claimed.id] = _Running(claimed, task)
        self._idle.clear()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no task runs; False when ``timeout_s`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    async def abandon(self) -> list[Lease]:
        """Stop every running task (graceful drain ran out of time); returns their leases
        so the caller can release them back to the queue."""
        leases = self.leases()
        for running in list(self._running.values()):
            running.task.cancel()
        for running in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await running.task
        return leases

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _invoke(self, claimed: Claimed) -> Any:
        handler = self._handlers.get(claimed.type)
        if handler is None:
            raise LookupError(f"no handler for task type {claimed.type!r} on this instance")
        ctx = HandlerContext(
            task_id=claimed.id,
            attempt=claimed.attempt,
            tenant=claimed.tenant,
            type=claimed.type,
            max_attempts=claimed.max_attempts,
            timeout_s=claimed.timeout_s,
            created_at=claimed.created_at,
        )
        # asyncio.timeout rather than wait_for: the same TimeoutError, without wrapping
        # every handler in a second task (a measurable share of a no-op task's cost).
        if handler.is_async:
            async with asyncio.timeout(claimed.timeout_s):
                return await handler.call(claimed.payload, ctx)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, partial(handler.call, claimed.payload, ctx))
        async with asyncio.timeout(claimed.timeout_s):
            return await future

    async def _run(self, claimed: Claimed) -> None:
        extra = {
            "task_id": claimed.id,
            "tenant": claimed.tenant,
            "type": claimed.type,
            "attempt": claimed.attempt,
        }
        started = self._clock.monotonic()
        metrics.TASK_QUEUE_WAIT_SECONDS.labels(claimed.type).observe(
            max(0.0, (claimed.started_at - claimed.run_at).total_seconds())
        )
        outcome, result, error = Outcome.SUCCEEDED, None, None
        trace: str | None = None
        delay_s: float | None = None
        try:
            result = await self._invoke(claimed)
            json.dumps(result)  # the result must be storable as JSON
        except asyncio.CancelledError:
            self._finish(claimed.id)
            raise
        except TimeoutError:
            outcome, error = Outcome.TIMED_OUT, f"timed out after {claimed.timeout_s:g} s"
            log.warning("task timed out", extra=extra)
        except Retry as exc:
            outcome, delay_s = Outcome.RETRY, exc.delay_s
            when = "" if delay_s is None else f" in {delay_s:g} s"
            error = (f"retry requested{when}" + (f": {exc}" if str(exc) else ""))[:MAX_ERROR_CHARS]
            log.info("task asked for a retry%s", when, extra=extra)
        except Exception as exc:
            outcome = Outcome.FAILED
            error = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[
                :MAX_ERROR_CHARS
            ]
            trace = bound_traceback("".join(traceback.format_exception(exc)))
            log.info("task attempt failed: %s", error, extra=extra)
        metrics.TASK_RUN_SECONDS.labels(claimed.type).observe(self._clock.monotonic() - started)
        if claimed.id in self._lost:
            metrics.LEASE_LOST.inc()
            log.warning("lease lost while running; result dropped", extra=extra)
            self._finish(claimed.id)
            return
        completion = self._completion(claimed, outcome, result, error, delay_s, trace=trace)
        self._on_done(completion, claimed)
        self._finish(claimed.id)

    def _completion(
        self,
        claimed: Claimed,
        outcome: Outcome,
        result: Any,
        error: str | None,
        delay_s: float | None = None,
        *,
        trace: str | None = None,
    ) -> Completion:
        now = self._clock.now()
        if outcome is Outcome.SUCCEEDED:
            return Completion(
                claimed.id, claimed.attempt, Transition.SUCCEED, outcome, now, result=result
            )
        transition = states.after_failure(
            attempt=claimed.attempt,
            attempt_base=claimed.attempt_base,
            max_attempts=claimed.max_attempts,
        )
        retry_at = None
        if transition is Transition.FAIL_RETRY:
            # A handler's Retry(delay_s=...) chooses the delay; otherwise the backoff.
            delay = delay_s
            if delay is None:
                delay = backoff_s(
                    claimed.attempt - claimed.attempt_base,
                    base_s=self.config.retry_base_s,
                    rand=self._rand,
                )
            retry_at = now + timedelta(seconds=delay)
        return Completion(
            claimed.id,
            claimed.attempt,
            transition,
            outcome,
            now,
            error=error,
            retry_at=retry_at,
            traceback=trace,
        )

    def _finish(self, task_id: int) -> None:
        self._running.pop(task_id, None)
        self._lost.discard(task_id)
        if not self._running:
            self._idle.set()
        self._on_slot_free(task_id)
