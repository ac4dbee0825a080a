"""The bounds of a submission's options: one definition that the HTTP schema, handler
options and transactional enqueue all check against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Bounds:
    """A closed range ``low <= value <= high``."""

    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}"


PRIORITY = Bounds(-100, 100)
COST = Bounds(1, 1000)
MAX_ATTEMPTS = Bounds(1, 100)
TIMEOUT_S = Bounds(0.1, 86_400)
DELAY_S = Bounds(0, 31_536_000)  # a year

# Times a task may be scheduled at: inside every database's DATETIME range, and far
# enough from datetime's limits that converting any UTC offset cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

DEFAULT_COST = 1
DEFAULT_TENANT = "default"
