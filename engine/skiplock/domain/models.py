"""Value objects passed between the ports, services and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from skiplock.domain.states import TaskState, Transition

JSON = Any  # a JSON-compatible value (dict, list, str, int, float, bool or None)


class TenantState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # accepts submissions; nothing is claimed
    DRAINING = "draining"  # refuses submissions; queued work still runs


class Role(StrEnum):
    ADMIN = "admin"  # sees and changes everything
    READER = "reader"  # sees what an admin sees, changes nothing (monitoring, the operator)
    TENANT = "tenant"  # sees and changes its own tenant's tasks only


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
    key_name: str = ""  # what the key was named at creation; may be empty

    @property
    def is_admin(self) -> bool:
        """May change anything (tenants, keys, any tenant's tasks)."""
        return self.role is Role.ADMIN

    @property
    def sees_all(self) -> bool:
        """May read every tenant's rows: an admin, or a read-only reader."""
        return self.role in (Role.ADMIN, Role.READER)


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    prefix: str
    role: Role
    tenant: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = None


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
    traceback: str | None = None


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
    # The last manual requeue (attempts up to ``attempt_base`` ran before it).
    requeued_at: datetime | None = None
    requeued_by: str | None = None
    # The schedule that fired it (its name then), or None.
    schedule: str | None = None


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
    RETRY = "retry"  # the handler raised Retry: spends the attempt, not counted as failed
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
    traceback: str | None = None  # a failure's, bounded (domain.failures)


@dataclass(frozen=True, slots=True)
class TaskFilter:
    tenant_id: int | None = None
    states: tuple[TaskState, ...] = ()
    types: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    # Search words (domain.search.search_words): each must start a word of the payload
    # or the last error.
    words: tuple[str, ...] = ()


class TaskOrder(StrEnum):
    """How a task list is sorted. ``created`` is id order (ids grow with creation);
    ``finished`` lists only finished tasks (the others have no finish time)."""

    CREATED_DESC = "-created"
    CREATED_ASC = "created"
    RUN_DESC = "-run_at"
    RUN_ASC = "run_at"
    FINISHED_DESC = "-finished"
    FINISHED_ASC = "finished"

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def by_time(self) -> bool:
        return self not in (TaskOrder.CREATED_DESC, TaskOrder.CREATED_ASC)


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a page ends: the sort column's value there (None in id order) and the id."""

    at: datetime | None
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Task]
    next_cursor: int | None
    # The full position of the next page (time-ordered lists need the time as well).
    next_key: PageKey | None = None


@dataclass(frozen=True, slots=True)
class Total:
    """How many tasks match a filter: exact, or at least ``n`` when counting stopped."""

    n: int
    exact: bool


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


@dataclass(frozen=True, slots=True)
class AnnouncedType:
    """A task type a worker handles, with its handler's defaults for submissions that
    leave them out (``None``: the engine's default)."""

    name: str
    max_attempts: int | None = None
    timeout_s: float | None = None
    cost: int | None = None


@dataclass(frozen=True, slots=True)
class TaskType:
    """A task type some worker has announced: what it last said, when it first and last
    did so."""

    name: str
    max_attempts: int | None
    timeout_s: float | None
    cost: int | None
    first_seen: datetime
    last_seen: datetime
