"""Prometheus metrics (prometheus-client), named by the Prometheus conventions with the
``skiplock_`` prefix. Label sets stay bounded: tenant and task type names only."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
)

TASKS_SUBMITTED = Counter(
    "skiplock_tasks_submitted", "Tasks accepted by the API.", ["tenant", "type"]
)
TASKS_COMPLETED = Counter(
    "skiplock_tasks_completed",
    "Finished attempts by outcome (succeeded, failed, timed_out, dead).",
    ["tenant", "type", "outcome"],
)
TASK_RUN_SECONDS = Histogram(
    "skiplock_task_run_seconds", "Handler run time per attempt.", ["type"], buckets=_LATENCY_BUCKETS
)
TASK_QUEUE_WAIT_SECONDS = Histogram(
    "skiplock_task_queue_wait_seconds",
    "Time from due (run_at) to claim.",
    ["type"],
    buckets=_LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "skiplock_queue_depth", "Tasks by tenant and active state.", ["tenant", "state"]
)
QUEUE_OLDEST_AGE = Gauge(
    "skiplock_queue_oldest_age_seconds", "Age of the oldest queued task.", ["tenant"]
)
WORKER_SLOTS = Gauge("skiplock_worker_slots", "Worker slots of this instance.", ["instance"])
WORKER_BUSY = Gauge("skiplock_worker_busy_slots", "Busy worker slots.", ["instance"])
RATE_LIMITED = Counter(
    "skiplock_rate_limited", "Submissions refused by the rate limiter.", ["tenant"]
)
RATE_LIMITER_ERRORS = Counter(
    "skiplock_rate_limiter_errors",
    "Rate-limiter backend failures, by the mode applied (open or closed).",
    ["mode"],
)
LEASE_LOST = Counter("skiplock_lease_lost", "Results dropped because the lease was lost.")
RESCUED = Counter("skiplock_rescued", "Running tasks recovered after their lease expired.")
RETRIED = Counter("skiplock_retried", "Failed attempts scheduled for retry.", ["type"])
DEAD_LETTERED = Counter("skiplock_dead_lettered", "Tasks moved to the dead-letter queue.", ["type"])
PROMOTED = Counter("skiplock_promoted", "Scheduled or retrying tasks made ready.")
PRUNED = Counter("skiplock_pruned", "Finished tasks deleted by the cleaner.")
DB_ERRORS = Counter(
    "skiplock_database_errors", "Database calls that failed, by service.", ["service"]
)
SSE_CONNECTIONS = Gauge("skiplock_sse_connections", "Open SSE connections on this instance.")
SCHEDULE_FIRES = Counter(
    "skiplock_schedule_fires",
    "Tasks fired by schedules (a manual trigger included), by schedule.",
    ["schedule"],
)
SCHEDULE_LAG_SECONDS = Histogram(
    "skiplock_schedule_lag_seconds",
    "Time from a schedule's tick to its task being stored (triggers excluded).",
    buckets=_LATENCY_BUCKETS,
)
SCHEDULE_SKIPPED = Counter(
    "skiplock_schedule_skipped_ticks",
    "Ticks that fired no task, by schedule and why: catch_up (missed beyond the "
    "catch-up policy or bound), rate_limited, draining, invalid.",
    ["schedule", "reason"],
)
