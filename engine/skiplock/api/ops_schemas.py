"""Response bodies of the routes the operator reads (``/api/queue/stats``,
``/api/workers``, ``/api/tenants``): declared so ``/openapi.json`` describes them and the
operator's parsing is tested against them (tests/skiplock_operator/test_engine_answers.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from skiplock.api.schemas import TenantOut


class StatsTotals(BaseModel):
    queued: int
    scheduled: int
    running: int
    retrying: int


class TenantStatsOut(BaseModel):
    tenant: str
    state: str = Field(description="active, paused or draining")
    weight: int
    queued: int
    scheduled: int
    running: int
    retrying: int
    oldest_queued_age_s: float | None = Field(description="Null, not zero, when nothing is queued")
    drained: bool = Field(description="Draining and no active task left")


class QueueStatsOut(BaseModel):
    tenants: list[TenantStatsOut]
    totals: StatsTotals
    oldest_queued_age_s: float | None


class RunningTaskOut(BaseModel):
    id: int
    type: str
    tenant: str
    attempt: int
    # ISO 8601 strings as the registry holds them (a datetime would change their form).
    started_at: str


class InstanceOut(BaseModel):
    id: str = Field(description="<pod or host>:<process id>")
    host: str
    roles: list[str]
    started_at: str
    last_heartbeat: str
    slots: int
    busy: int
    tasks: list[RunningTaskOut]
    types: list[str]


class WorkersOut(BaseModel):
    instances: list[InstanceOut]


class TenantListOut(BaseModel):
    items: list[TenantOut]
