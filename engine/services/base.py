"""The shape every background service shares: a frozen config validated at construction,
``start()``, ``stop()`` and ``run_once()`` (which tests call directly)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod

from engine import metrics
from engine.domain.errors import Unavailable

log = logging.getLogger("skiplock.services")


def _is_outage(exc: Exception) -> bool:
    """A dependency being down (expected, logged without a traceback), not a bug. Redis
    errors are matched by name: services do not import the Redis client."""
    return isinstance(exc, Unavailable | OSError) or type(exc).__name__ in (
        "ConnectionError",
        "TimeoutError",
    )


class LoopService(ABC):
    """Runs ``run_once`` every ``interval_s`` (± jitter) until stopped. A failing cycle
    is logged and retried with backoff; it never kills the process."""

    name = "service"

    def __init__(self, *, interval_s: float, jitter: float = 0.1) -> None:
        if interval_s <= 0:
            raise ValueError(f"{self.name}: interval_s must be positive")
        self._interval_s = interval_s
        self._jitter = jitter
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    @abstractmethod
    async def run_once(self) -> int:
        """Do one cycle of work; returns how many items it handled."""

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

    def wake(self) -> None:
        """Run the next cycle now instead of after the interval."""
        self._wake.set()

    def _delay(self) -> float:
        return self._interval_s * (1 + random.uniform(-self._jitter, self._jitter))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    def backoff_s(self, failures: int) -> float:
        """How long to wait after ``failures`` failed cycles in a row.

        Doubles from 0.5 s but never past the service's own interval (at least 1 s): a
        dependency that is down then sees no more calls than in normal operation, and
        the service resumes within one interval of its return. A longer backoff would
        be harmful, not cautious: the lease heartbeat backing off past the lease lets a
        short database outage expire every lease and run the tasks twice."""
        doubling = 0.5 * 2.0 ** min(failures, 6)
        return min(30.0, max(self._interval_s, 1.0), doubling)

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                handled = await self.run_once()
                if failures:
                    log.info("%s: recovered after %d failed cycles", self.name, failures)
                failures = 0
            except Exception as exc:
                failures += 1
                metrics.DB_ERRORS.labels(self.name).inc()
                # Every cycle of a down dependency fails; log the first and then ever
                # more rarely (powers of two), not once per interval.
                if failures & (failures - 1) == 0:
                    if _is_outage(exc):
                        log.warning("%s: %s (retrying; failure %d)", self.name, exc, failures)
                    else:
                        log.exception(
                            "%s: cycle failed (failure %d; retrying)", self.name, failures
                        )
                await self._sleep(self.backoff_s(failures))
                continue
            if handled and self.busy_again(handled):
                await asyncio.sleep(0)
                continue
            await self._sleep(self._delay())

    def busy_again(self, handled: int) -> bool:
        """Whether a cycle that handled ``handled`` items should repeat at once."""
        return False
