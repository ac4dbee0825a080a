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

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                handled = await self.run_once()
                failures = 0
            except Unavailable as exc:
                failures += 1
                metrics.DB_ERRORS.labels(self.name).inc()
                log.warning("%s: %s (retrying)", self.name, exc)
                await self._sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            except Exception:
                failures += 1
                metrics.DB_ERRORS.labels(self.name).inc()
                log.exception("%s: cycle failed (retrying)", self.name)
                await self._sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            if handled and self.busy_again(handled):
                await asyncio.sleep(0)
                continue
            await self._sleep(self._delay())

    def busy_again(self, handled: int) -> bool:
        """Whether a cycle that handled ``handled`` items should repeat at once."""
        return False
