"""Request and response bodies. Every field is bounded; pydantic rejects the rest with
a 422 that names the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

from skiplock.domain.models import ApiKeyInfo, Task, Tenant
from skiplock.domain.ratelimit import parse_rate_limit
from skiplock.domain.search import MAX_TEXT
from skiplock.domain.states import TaskState

# Re-exported: the submission body lives with the rules that every entry point applies.
from skiplock.services.submissions import NAME_PATTERN as NAME_PATTERN  # noqa: PLC0414
from skiplock.services.submissions import TaskIn as TaskIn  # noqa: PLC0414

RATE_PATTERN = r"^\s*[0-9]{1,8}\s*/\s*[0-9]{1,5}\s*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchIn(Strict):
    tasks: list[TaskIn] = Field(min_length=1, description="Up to SKIPLOCK_MAX_BATCH tasks.")


class AttemptOut(BaseModel):
    attempt: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None
    traceback: str | None = Field(
        None, description="a failed attempt's traceback, at most 16 KiB (cut in the middle)"
    )


class TaskOut(BaseModel):
    id: int
    tenant: str
    type: str
    state: TaskState
    priority: int
    cost: int
    attempt: int
    attempts_used: int
    max_attempts: int
    timeout_s: float
    payload: Any
    result: Any
    last_error: str | None
    idempotency_key: str | None
    created_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempt_base: int = Field(
        0,
        description="attempts not charged to the budget: those before a manual requeue "
        "(or a graceful release)",
    )
    requeued_at: datetime | None = Field(None, description="the last manual requeue")
    requeued_by: str | None = Field(
        None, description="who requeued it last: role, key name and key prefix"
    )
    schedule: str | None = Field(None, description="The schedule that fired it, if any.")

    @classmethod
    def of(cls, t: Task) -> TaskOut:
        return cls(
            id=t.id,
            tenant=t.tenant,
            type=t.type,
            state=t.state,
            priority=t.priority,
            cost=t.cost,
            attempt=t.attempt,
            attempts_used=t.attempt - t.attempt_base,
            max_attempts=t.max_attempts,
            timeout_s=t.timeout_s,
            payload=t.payload,
            result=t.result,
            last_error=t.last_error,
            idempotency_key=t.idempotency_key,
            created_at=t.created_at,
            run_at=t.run_at,
            started_at=t.started_at,
            finished_at=t.finished_at,
            lease_owner=t.lease_owner,
            lease_expires_at=t.lease_expires_at,
            attempt_base=t.attempt_base,
            requeued_at=t.requeued_at,
            requeued_by=t.requeued_by,
            schedule=t.schedule,
        )


class TaskDetailOut(TaskOut):
    attempts: list[AttemptOut]

    @classmethod
    def detail(cls, t: Task) -> TaskDetailOut:
        base = TaskOut.of(t).model_dump()
        attempts = [
            AttemptOut(
                attempt=a.attempt,
                worker=a.worker,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                error=a.error,
                traceback=a.traceback,
            )
            for a in t.attempts
        ]
        return cls(**base, attempts=attempts)


class BatchOut(BaseModel):
    items: list[TaskOut]


class PageOut(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class CountOut(BaseModel):
    total: int
    exact: bool = Field(description="false: at least ``total`` (counting stopped there)")


def _listify(value: Any) -> Any:
    """Accept "a,b" as well as ["a", "b"], like the list endpoint's query parameters."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class BulkFilter(Strict):
    state: list[TaskState] | None = Field(None, max_length=7)
    type: list[str] | None = Field(None, max_length=50)

    _lists = field_validator("state", "type", mode="before")(_listify)
    tenant: str | None = Field(None, pattern=NAME_PATTERN)
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    q: str | None = Field(
        None, max_length=MAX_TEXT, description="Search words, as the list's q parameter."
    )


class BulkIn(Strict):
    ids: list[StrictInt] | None = Field(None, min_length=1, max_length=10_000)
    filter: BulkFilter | None = None
    dry_run: bool = Field(
        False, description="Change nothing; answer with the tasks the action would change."
    )


class BulkOut(BaseModel):
    changed: int = Field(description="Tasks changed (with dry_run: that would change).")
    ids: list[int] = Field(description="The first 1,000 of them.")
    truncated: bool = Field(description="More matched than one call changes (10,000).")
    dry_run: bool = False


class RateLimitOut(BaseModel):
    cost: int
    window_s: int


def _check_rate_limit(value: str | None) -> str | None:
    if value is not None:
        parse_rate_limit(value)
    return value


class TenantIn(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    weight: int = Field(1, ge=1, le=1000)
    rate_limit: str | None = Field(
        None, max_length=32, pattern=RATE_PATTERN, description="COST/SECONDS, e.g. 100/60"
    )

    _rl = field_validator("rate_limit")(_check_rate_limit)


class TenantPatch(Strict):
    weight: int | None = Field(None, ge=1, le=1000)
    rate_limit: str | None = Field(
        None, max_length=32, pattern=RATE_PATTERN, description="COST/SECONDS, or null"
    )
    state: Literal["active", "paused", "draining"] | None = None

    _rl = field_validator("rate_limit")(_check_rate_limit)


class TenantOut(BaseModel):
    id: int
    name: str
    weight: int
    state: str
    rate_limit: RateLimitOut | None
    created_at: datetime
    queued: int = 0
    scheduled: int = 0
    running: int = 0
    retrying: int = 0
    drained: bool = False

    @classmethod
    def of(cls, t: Tenant, counts: dict[str, int] | None = None) -> TenantOut:
        c = counts or {}
        active = sum(c.values())
        return cls(
            id=t.id,
            name=t.name,
            weight=t.weight,
            state=t.state.value,
            rate_limit=RateLimitOut(cost=t.rate_limit.cost, window_s=t.rate_limit.window_s)
            if t.rate_limit
            else None,
            created_at=t.created_at,
            queued=c.get("queued", 0),
            scheduled=c.get("scheduled", 0),
            running=c.get("running", 0),
            retrying=c.get("retrying", 0),
            drained=t.state.value == "draining" and active == 0,
        )


class TenantCreatedOut(BaseModel):
    tenant: TenantOut
    api_key: str


class KeyIn(Strict):
    role: Literal["admin", "reader", "tenant"]
    tenant: str | None = Field(None, pattern=NAME_PATTERN)
    name: str = Field("", max_length=128)


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: str
    tenant: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(None, description="To the minute; null: never")

    @classmethod
    def of(cls, k: ApiKeyInfo) -> KeyOut:
        return cls(
            id=k.id,
            prefix=k.prefix,
            role=k.role.value,
            tenant=k.tenant,
            name=k.name,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            last_used_at=k.last_used_at,
        )


class KeyCreatedOut(KeyOut):
    key: str


class SessionIn(Strict):
    key: str = Field(min_length=1, max_length=256)


class WhoAmI(BaseModel):
    role: str
    tenant: str | None
    key_prefix: str
