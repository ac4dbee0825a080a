"""Cost-weighted sliding-window admission, as pure arithmetic.

The window holds (time, cost) entries of admitted requests. A request of ``cost`` is
admitted when the cost admitted in the last ``window`` seconds plus ``cost`` stays within
``limit``; a refused request adds nothing. This is the exact "at most L cost units in any
W-second window" contract (no bucket approximation); the Redis Lua script
(``adapters/redis/rate_limit.lua``) implements the same steps atomically."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    used: int  # cost admitted in the window after this decision
    retry_after_s: float  # 0 when allowed; else seconds until ``cost`` would fit
    reset_s: float  # seconds until the window is empty


@dataclass(slots=True)
class SlidingWindow:
    """Admitted entries in time order, with their running total."""

    entries: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def evict(self, now: float, window_s: float) -> None:
        """Drop entries that are ``window_s`` or more seconds old."""
        horizon = now - window_s
        while self.entries and self.entries[0][0] <= horizon:
            _, cost = self.entries.popleft()
            self.total -= cost

    def admit(self, now: float, cost: int, *, limit: int, window_s: float) -> Admission:
        if cost < 1:
            raise ValueError("cost must be at least 1")
        self.evict(now, window_s)
        if self.total + cost <= limit:
            self.entries.append((now, cost))
            self.total += cost
            return Admission(True, self.total, 0.0, self._reset(now, window_s))
        return Admission(
            False,
            self.total,
            self._retry_after(now, cost, limit, window_s),
            self._reset(now, window_s),
        )

    def _reset(self, now: float, window_s: float) -> float:
        if not self.entries:
            return 0.0
        return max(0.0, self.entries[-1][0] + window_s - now)

    def _retry_after(self, now: float, cost: int, limit: int, window_s: float) -> float:
        """Seconds until enough old entries leave the window for ``cost`` to fit;
        ``window_s`` when ``cost`` alone exceeds ``limit`` (it never fits)."""
        if cost > limit:
            return window_s
        need = self.total + cost - limit
        freed = 0
        for ts, c in self.entries:
            freed += c
            if freed >= need:
                return max(0.0, ts + window_s - now)
        return window_s  # unreachable when cost <= limit; kept total-order safe


def parse_rate_limit(text: str) -> tuple[int, int]:
    """``"COST/SECONDS"`` → (cost, seconds), both positive integers."""
    try:
        cost_s, window_s = text.strip().split("/", 1)
        cost, window = int(cost_s), int(window_s)
    except ValueError as exc:
        raise ValueError(f"rate limit {text!r} is not COST/SECONDS, e.g. 100/60") from exc
    if not 1 <= cost <= 10_000_000 or not 1 <= window <= 86_400:
        raise ValueError("rate limit needs 1 <= COST <= 10,000,000 and 1 <= SECONDS <= 86,400")
    return cost, window
