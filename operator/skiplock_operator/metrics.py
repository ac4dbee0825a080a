"""The operator's own Prometheus metrics (the engine exports the queue's)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

DESIRED_REPLICAS = Gauge(
    "skiplock_operator_desired_replicas",
    "Worker replicas the operator wants for a TaskQueue (or would want, when only reporting).",
    ["taskqueue"],
)
CURRENT_REPLICAS = Gauge(
    "skiplock_operator_current_replicas",
    "The worker Deployment's spec.replicas as last observed.",
    ["taskqueue"],
)
SCALE_EVENTS = Counter(
    "skiplock_operator_scale_events",
    "Replica changes the operator applied, by direction (up or down).",
    ["taskqueue", "direction"],
)
STATS_ERRORS = Counter(
    "skiplock_operator_stats_errors",
    "Failed reads of the engine's queue stats.",
    ["taskqueue"],
)


def forget(taskqueue: str) -> None:
    """Drop a deleted TaskQueue's series so dashboards do not show it frozen."""
    for gauge in (DESIRED_REPLICAS, CURRENT_REPLICAS):
        with contextlib.suppress(KeyError):
            gauge.remove(taskqueue)
    for direction in ("up", "down"):
        with contextlib.suppress(KeyError):
            SCALE_EVENTS.remove(taskqueue, direction)
    with contextlib.suppress(KeyError):
        STATS_ERRORS.remove(taskqueue)
