"""Percentiles for analytics, computed from a bounded sample (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from skiplock.domain.models import Percentiles


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def percentiles(values: Sequence[float]) -> Percentiles:
    ordered = sorted(values)
    return Percentiles(
        p50=percentile(ordered, 50), p95=percentile(ordered, 95), p99=percentile(ordered, 99)
    )
