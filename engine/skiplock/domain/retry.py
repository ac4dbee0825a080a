"""Retry backoff: exponential with full jitter (AWS architecture blog, "Exponential Backoff
And Jitter"): the delay is uniform in [0, min(cap, base * 2**(attempt-1))], which spreads
retries of a failed burst instead of stampeding them back together."""

from __future__ import annotations

from collections.abc import Callable

MAX_BACKOFF_S = 3600.0


def backoff_s(
    attempt: int,
    *,
    base_s: float,
    rand: Callable[[], float],
    cap_s: float = MAX_BACKOFF_S,
) -> float:
    """Seconds to wait before the retry that follows failed attempt number ``attempt``.

    ``rand`` returns a float in [0, 1); it is injected so tests are deterministic.
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    exponent = min(attempt - 1, 62)  # 2**62 already exceeds any cap; avoids overflow
    ceiling = min(cap_s, base_s * float(2**exponent))
    return ceiling * rand()
