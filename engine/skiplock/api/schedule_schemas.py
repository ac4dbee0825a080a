"""Schedule bodies. The request bodies are the service's own (one set of rules for the
API and the CLI); these are the responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from skiplock.domain.schedules import CatchUp, Schedule

# Re-exported: the request bodies live with the use cases every entry point calls.
from skiplock.services.schedules import PreviewIn as PreviewIn  # noqa: PLC0414
from skiplock.services.schedules import ScheduleIn as ScheduleIn  # noqa: PLC0414
from skiplock.services.schedules import SchedulePatch as SchedulePatch  # noqa: PLC0414


class ScheduleOut(BaseModel):
    name: str
    tenant: str
    type: str
    payload: Any
    cron: str | None
    every_s: int | None
    timezone: str
    priority: int
    cost: int | None = Field(description="None: the handler's cost at each fire.")
    max_attempts: int | None
    timeout_s: float | None
    catch_up: CatchUp
    enabled: bool
    next_run_at: datetime | None = Field(description="The next tick; null while paused.")
    last_run_at: datetime | None = Field(description="The tick of the latest fire.")
    last_task_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Schedule) -> ScheduleOut:
        spec = s.spec
        return cls(
            name=spec.name,
            tenant=s.tenant,
            type=spec.type,
            payload=spec.payload,
            cron=spec.timing.cron,
            every_s=spec.timing.every_s,
            timezone=spec.timing.timezone,
            priority=spec.priority,
            cost=spec.cost,
            max_attempts=spec.max_attempts,
            timeout_s=spec.timeout_s,
            catch_up=spec.catch_up,
            enabled=spec.enabled,
            next_run_at=s.next_run_at,
            last_run_at=s.last_run_at,
            last_task_id=s.last_task_id,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class ScheduleListOut(BaseModel):
    items: list[ScheduleOut]


class PreviewOut(BaseModel):
    next: list[datetime] = Field(description="The next fire times, UTC, oldest first.")
