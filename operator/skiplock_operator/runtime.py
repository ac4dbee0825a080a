"""What one TaskQueue's reconciler keeps between passes, and how it reports problems."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from typing import Protocol

from skiplock_operator.access import EngineAccess
from skiplock_operator.scaling import ScalerMemory

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    """Kubernetes events on the TaskQueue (kopf.info / kopf.warn in production)."""

    def __call__(self, *, warning: bool, reason: str, message: str) -> None: ...


@dataclass
class QueueRuntime:
    """State of one TaskQueue between passes. The scaling memory is also written to
    ``status.scalingHistory`` and read back on the first pass, so a restarted operator
    keeps honouring the stabilisation windows (the HPA forgets them)."""

    memory: ScalerMemory = field(default_factory=ScalerMemory)
    access: EngineAccess = field(default_factory=EngineAccess)
    last_scale_at: datetime.datetime | None = None
    seeded: bool = False
    # The problems warned about in the previous pass, so each gets one event, not one
    # per poll; a problem that goes away and comes back is warned about again.
    warned: set[tuple[str, str]] = field(default_factory=set)
    warning_now: set[tuple[str, str]] = field(default_factory=set)

    async def close(self) -> None:
        await self.access.close()


class Warnings:
    """Collects one pass's problems; posts a warning event for each new one."""

    def __init__(self, runtime: QueueRuntime, events: EventSink) -> None:
        self._runtime = runtime
        self._events = events
        runtime.warning_now = set()

    def __call__(self, reason: str, message: str) -> None:
        logger.warning("%s: %s", reason, message)
        key = (reason, message)
        self._runtime.warning_now.add(key)
        if key not in self._runtime.warned:
            self._events(warning=True, reason=reason, message=message)

    def end_pass(self) -> None:
        self._runtime.warned = self._runtime.warning_now
