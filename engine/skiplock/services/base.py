"""The one runtime every background service runs on: a frozen config validated at
construction, ``start()``, ``stop()`` and ``run_once()`` (which tests call directly),
with the same backoff and the same throttled failure logging for all of them.

Two kinds of service share it:

- **polling** services (producer, heartbeat, announcer, promoter, rescuer, cleaner) run
  a cycle every ``interval_s`` (± jitter), sooner when woken; ``stop`` ends them at once;
- **queue** services (completer, publisher) run while they hold work and sleep until
  more is handed to them (``wake``); ``stop`` lets them write what they hold first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod

from skiplock import metrics
from skiplock.domain.errors import Unavailable

log = logging.getLogger("skiplock.services")


def _is_outage(exc: Exception) -> bool:
    """A dependency being down (expected, logged without a traceback), not a bug. Every
    adapter raises ``Unavailable`` for its outages."""
    return isinstance(exc, Unavailable | OSError)


def should_log(failures: int) -> bool:
    """Every cycle of a down dependency fails: log the first failure and then ever more
    rarely (powers of two), not once per interval."""
    return failures & (failures - 1) == 0


class LoopService(ABC):
    """Runs ``run_once`` until stopped. A failing cycle is logged (throttled) and retried
    with backoff; it never kills the process."""

    name = "service"
    # The wait after ``n`` failures in a row is ``backoff_base_s * 2**n``, capped.
    backoff_base_s = 0.5
    # Failed cycles a queue service tries while stopping before it gives up its work.
    tries_when_stopping = 1
    # Whether a failed cycle counts in skiplock_database_errors (not for Redis alone).
    counts_database_errors = True

    def __init__(
        self, *, interval_s: float | None, jitter: float = 0.1, max_backoff_s: float | None = None
    ) -> None:
        """``interval_s`` None: a queue service, which runs when woken and has work."""
        if interval_s is not None and interval_s <= 0:
            raise ValueError(f"{self.name}: interval_s must be positive")
        self._interval_s = interval_s
        self._jitter = jitter
        # Never past the service's own interval (at least 1 s) unless told otherwise.
        self._max_backoff_s = (
            max_backoff_s if max_backoff_s is not None else min(30.0, max(interval_s or 1.0, 1.0))
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    @abstractmethod
    async def run_once(self) -> int:
        """Do one cycle of work; returns how many items it handled."""

    def has_work(self) -> bool:
        """A queue service's held work: it runs while there is some, and finishes it
        when stopped. A polling service holds none."""
        return False

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Run the next cycle now instead of after the interval (polling), or because
        work was handed over (queue)."""
        self._wake.set()

    def _delay(self) -> float:
        assert self._interval_s is not None
        return self._interval_s * (1 + random.uniform(-self._jitter, self._jitter))

    async def _sleep(self, seconds: float | None) -> None:
        """Until woken, or ``seconds`` pass (None: until woken)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _back_off(self, seconds: float) -> None:
        """After a failure. A polling service may be woken early, as between cycles; a
        queue service is handed work all the time, so only ``stop`` cuts it short (or
        an outage would be retried at the rate work arrives)."""
        if self._interval_s is not None:
            await self._sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def backoff_s(self, failures: int) -> float:
        """How long to wait after ``failures`` failed cycles in a row.

        Doubles per failure but never past the service's own interval (at
        least 1 s): a dependency that is down then sees no more calls than in normal
        operation, and the service resumes within one interval of its return. A longer
        backoff would be harmful, not cautious: the lease heartbeat backing off past the
        lease lets a short database outage expire every lease and run the tasks twice."""
        return min(self._max_backoff_s, self.backoff_base_s * 2.0 ** min(failures, 7))

    def log_failure(self, exc: Exception, failures: int) -> None:
        if _is_outage(exc):
            log.warning("%s: %s (retrying; failure %d)", self.name, exc, failures)
        else:
            log.exception("%s: cycle failed (failure %d; retrying)", self.name, failures)

    def gave_up(self) -> None:
        """Stopping, and the work still held could not be finished."""
        log.error("%s: stopping with work it could not finish", self.name)

    async def idle(self) -> None:
        """Wait for the next cycle: the interval, or (queue) until work is handed over."""
        if self._interval_s is not None:
            await self._sleep(self._delay())
            return
        while not self.has_work() and not self.stopping:
            await self._sleep(None)

    async def _loop(self) -> None:
        failures = 0
        while not (self.stopping and not self.has_work()):
            try:
                handled = await self.run_once()
            except Exception as exc:
                failures += 1
                if self.counts_database_errors:
                    metrics.DB_ERRORS.labels(self.name).inc()
                if should_log(failures):
                    self.log_failure(exc, failures)
                if self.stopping and failures >= self.tries_when_stopping:
                    if self.has_work():
                        self.gave_up()
                    return
                await self._back_off(self.backoff_s(failures))
                continue
            if failures:
                log.info("%s: recovered after %d failed cycles", self.name, failures)
            failures = 0
            if handled and self.busy_again(handled):
                await asyncio.sleep(0)
                continue
            await self.idle()

    def busy_again(self, handled: int) -> bool:
        """Whether a cycle that handled ``handled`` items should repeat at once."""
        return False
