"""Cost-weighted sliding-window admission, as pure arithmetic.

The window holds (time, cost) entries of admitted requests. A request of ``cost`` is
admitted when the cost admitted in the last ``window`` seconds plus ``cost`` stays within
``limit``; a refused request adds nothing. This is the exact "at most L cost units in any
W-second window" contract (no bucket approximation); the Redis Lua script
(``adapters/redis/rate_limit.lua``) implements the same steps atomically."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
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
        return admit_all([Ask(self, cost, limit, window_s)], now)[0]

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


@dataclass(frozen=True, slots=True)
class Ask:
    """``cost`` units asked of one window, under that window's ``limit`` per
    ``window_s`` seconds."""

    window: SlidingWindow
    cost: int
    limit: int
    window_s: float


def admit_all(asks: Sequence[Ask], now: float) -> list[Admission]:
    """Admit every ask or none (a batch spanning tenants is one request): each window
    first forgets what left it; then, if every cost fits its window, each is recorded
    and its admission is ``allowed``. Otherwise nothing is recorded, every admission is
    refused, and ``retry_after_s`` is 0 for the windows that had room and, for those
    that had not, the seconds until their cost would fit."""
    if any(a.cost < 1 for a in asks):
        raise ValueError("cost must be at least 1")
    if len({id(a.window) for a in asks}) != len(asks):
        raise ValueError("each window may be asked once per request")
    for a in asks:
        a.window.evict(now, a.window_s)
    if all(a.window.total + a.cost <= a.limit for a in asks):
        for a in asks:
            a.window.entries.append((now, a.cost))
            a.window.total += a.cost
        return [
            Admission(True, a.window.total, 0.0, a.window._reset(now, a.window_s)) for a in asks
        ]
    return [
        Admission(
            False,
            a.window.total,
            0.0
            if a.window.total + a.cost <= a.limit
            else a.window._retry_after(now, a.cost, a.limit, a.window_s),
            a.window._reset(now, a.window_s),
        )
        for a in asks
    ]


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
