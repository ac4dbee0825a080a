"""Value objects passed between the ports, services and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.domain.states import TaskState, Transition

JSON = Any  # a JSON-compatible value (dict, list, str, int, float, bool or None)


class TenantState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # accepts submissions; nothing is claimed
    DRAINING = "draining"  # refuses submissions; queued work still runs


class Role(StrEnum):
    ADMIN = "admin"
    TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``cost`` units admitted in any sliding window of ``window_s`` seconds."""

    cost: int
    window_s: int

    def __str__(self) -> str:
        return f"{self.cost}/{self.window_s}"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    weight: int
    state: TenantState
    rate_limit: RateLimit | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin, or a tenant's key."""

    role: Role
    key_id: int
    key_prefix: str
    tenant_id: int | None = None
    tenant_name: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    prefix: str
    role: Role
    tenant: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated submission, ready to be stored."""

    tenant_id: int
    type: str
    payload: JSON
    priority: int
    cost: int
    max_attempts: int
    timeout_s: float
    run_at: datetime
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    tenant_id: int
    tenant: str
    type: str
    state: TaskState
    priority: int
    cost: int
    attempt: int
    attempt_base: int
    max_attempts: int
    timeout_s: float
    payload: JSON
    result: JSON
    last_error: str | None
    idempotency_key: str | None
    created_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: tuple[Attempt, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task handed to a worker: everything the executor needs, plus its fencing token."""

    id: int
    tenant_id: int
    tenant: str
    type: str
    payload: JSON
    attempt: int
    attempt_base: int
    max_attempts: int
    timeout_s: float
    cost: int
    created_at: datetime
    run_at: datetime
    started_at: datetime


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LEASE_LOST = "lease_lost"
    RELEASED = "released"
    CANCELLED = "cancelled"


# The error a rescued task records: its worker stopped heartbeating.
LEASE_EXPIRED = "lease expired: the worker stopped heartbeating"


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished attempt, as the completer writes it (fenced on ``attempt``)."""

    task_id: int
    attempt: int
    transition: Transition  # SUCCEED, FAIL_RETRY or FAIL_DEAD, decided by the domain
    outcome: Outcome  # what the attempt history records
    finished_at: datetime
    result: JSON = None
    error: str | None = None
    retry_at: datetime | None = None  # when FAIL_RETRY: the backoff's due time


@dataclass(frozen=True, slots=True)
class TaskFilter:
    tenant_id: int | None = None
    states: tuple[TaskState, ...] = ()
    types: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Task]
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class Event:
    """One committed state change, as published on the event stream."""

    kind: str  # "task" for task state changes; "tenant" for tenant changes
    tenant_id: int | None
    data: dict[str, JSON]
    id: str | None = None  # assigned by the stream


@dataclass(frozen=True, slots=True)
class TenantDepth:
    tenant_id: int
    tenant: str
    state: TenantState
    weight: int
    counts: dict[str, int]
    oldest_queued_at: datetime | None


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class AnalyticsSummary:
    counts: dict[str, int]  # active states now, plus terminal states finished in the window
    submitted: int
    succeeded: int
    failed: int  # failed attempts in the window (each retry or dead-letter)
    dead: int
    queue_wait_ms: Percentiles
    run_time_ms: Percentiles
    top_failing_types: list[tuple[str, int]]
    sample_size: int


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    t: datetime
    submitted: int
    succeeded: int
    failed: int
    dead: int


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    key: str
    counts: dict[str, int]
    failed_attempts: int
    p50_run_ms: float | None
    p95_run_ms: float | None
