"""The schedule use cases — create, read, change, pause, resume, delete, trigger now and
preview fire times — in one place that the HTTP routes and the CLI both call, so
validation and tenant scoping cannot differ between them. Fires (the maintenance
role's and a manual trigger) go through :meth:`TaskService.fire`, like every other
submission.

Scoping follows tasks: an admin manages every tenant's schedules (``tenant`` names one;
left out, the default tenant), a tenant key only its own (another tenant's is
NotFound), a reader key reads every one and changes none."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from skiplock.domain import limits
from skiplock.domain.errors import Conflict, FieldError, Forbidden, NotFound, ValidationError
from skiplock.domain.models import Principal, Task, Tenant
from skiplock.domain.schedules import (
    CATCH_UP_BOUND,
    NAME_PATTERN,
    CatchUp,
    Schedule,
    ScheduleSpec,
    Timing,
    next_tick,
    next_ticks,
)
from skiplock.ports import Clock, TaskStore
from skiplock.services import submissions
from skiplock.services.submissions import TYPE_PATTERN, TaskIn
from skiplock.services.task_types import TypeCatalog
from skiplock.services.tasks import TaskService

PREVIEW_MAX = 50


class _Options(BaseModel):
    """The fields a schedule's owner sets, shared by the create and patch bodies."""

    model_config = ConfigDict(extra="forbid")

    payload: Any = Field(default=None, description="The payload of every task it fires.")
    cron: str | None = Field(
        None,
        max_length=128,
        description="5 fields (minute hour day month weekday), or 6 with seconds first.",
    )
    every_s: StrictInt | None = Field(
        None, description="Fire every this many seconds (counted from the Unix epoch)."
    )
    timezone: str = Field("UTC", max_length=64, description="IANA zone the cron runs in.")
    priority: int = Field(0, ge=limits.PRIORITY.low, le=limits.PRIORITY.high)
    cost: int | None = Field(None, ge=limits.COST.low, le=limits.COST.high)
    max_attempts: int | None = Field(None, ge=limits.MAX_ATTEMPTS.low, le=limits.MAX_ATTEMPTS.high)
    timeout_s: float | None = Field(None, ge=limits.TIMEOUT_S.low, le=limits.TIMEOUT_S.high)
    catch_up: CatchUp = Field(
        CatchUp.ONE,
        description=(
            "After downtime: none (skip missed ticks), one (fire the latest once), or all "
            f"(fire each, at most {CATCH_UP_BOUND})."
        ),
    )
    enabled: bool = True


class ScheduleIn(_Options):
    name: str = Field(pattern=NAME_PATTERN, description="Unique; as tenant names.")
    type: str = Field(pattern=TYPE_PATTERN, description="An announced task type.")
    tenant: str | None = Field(
        None, pattern=NAME_PATTERN, description="Admin keys only: the tenant it fires for."
    )


class SchedulePatch(_Options):
    """Fields given replace the schedule's; those left out keep their value. Giving
    ``cron`` clears ``every_s`` and the other way round."""

    type: str | None = Field(None, pattern=TYPE_PATTERN)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, max_length=128)
    every_s: StrictInt | None = None
    timezone: str = Field("UTC", max_length=64)
    count: int = Field(5, ge=1, le=PREVIEW_MAX)


def _timing(cron: str | None, every_s: int | None, timezone: str) -> Timing:
    return Timing(cron=cron, every_s=every_s, timezone=timezone)


class ScheduleService:
    """Every operation on schedules."""

    def __init__(
        self, *, store: TaskStore, tasks: TaskService, types: TypeCatalog, clock: Clock
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._types = types
        self._clock = clock

    # --- reading -------------------------------------------------------------------------

    async def visible(self, who: Principal) -> list[Schedule]:
        """The schedules the caller may see, by name."""
        return await asyncio.to_thread(self._store.list_schedules, tenant_id=_scope(who))

    async def get(self, who: Principal, name: str) -> Schedule:
        return await asyncio.to_thread(self._store.get_schedule, name, tenant_id=_scope(who))

    def preview(self, body: PreviewIn) -> list[datetime]:
        """The next ``count`` fire times (UTC) of a cron or interval in a zone."""
        timing = _timing(body.cron, body.every_s, body.timezone)
        return next_ticks(timing, self._clock.now(), body.count)

    # --- changing ------------------------------------------------------------------------

    async def create(self, who: Principal, body: ScheduleIn) -> Schedule:
        tenant = await self._tenant_for(who, body.tenant)
        spec = ScheduleSpec(
            name=body.name,
            tenant_id=tenant.id,
            type=body.type,
            timing=_timing(body.cron, body.every_s, body.timezone),
            payload=body.payload,
            priority=body.priority,
            cost=body.cost,
            max_attempts=body.max_attempts,
            timeout_s=body.timeout_s,
            catch_up=body.catch_up,
            enabled=body.enabled,
        )
        await self._check(spec)
        now = self._clock.now()
        return await asyncio.to_thread(
            self._store.create_schedule, spec, next_fire_at=next_tick(spec.timing, now), now=now
        )

    async def update(self, who: Principal, name: str, body: SchedulePatch) -> Schedule:
        """Apply the fields ``body`` sets. A new timing, or enabling a paused schedule,
        starts from the next tick after now: no catch-up for time it was not due."""
        _writer(who)
        found = await self.get(who, name)
        given = body.model_fields_set
        old = found.spec
        changes: dict[str, Any] = {k: getattr(body, k) for k in given if k in _SPEC_FIELDS}
        if "type" in changes and changes["type"] is None:
            raise ValidationError("type: may not be null", field="type")
        timing = old.timing
        if given & {"cron", "every_s", "timezone"}:
            cron = body.cron if "cron" in given else None if "every_s" in given else timing.cron
            every = (
                body.every_s if "every_s" in given else None if "cron" in given else timing.every_s
            )
            zone = body.timezone if "timezone" in given else timing.timezone
            timing = _timing(cron, every, zone)
        spec = replace(old, timing=timing, **changes)
        await self._check(spec)
        now = self._clock.now()
        rescheduled = timing != old.timing or (spec.enabled and not old.enabled)
        next_at = next_tick(timing, now) if rescheduled else found.next_fire_at
        return await asyncio.to_thread(
            self._store.update_schedule, found.id, spec, next_fire_at=next_at, now=now
        )

    async def pause(self, who: Principal, name: str) -> Schedule:
        return await self.update(who, name, SchedulePatch(enabled=False))

    async def resume(self, who: Principal, name: str) -> Schedule:
        return await self.update(who, name, SchedulePatch(enabled=True))

    async def delete(self, who: Principal, name: str) -> Schedule:
        _writer(who)
        return await asyncio.to_thread(self._store.delete_schedule, name, tenant_id=_scope(who))

    async def trigger(self, who: Principal, name: str) -> Task:
        """Fire one task now, outside the schedule's ticks (which are unchanged)."""
        _writer(who)
        found = await self.get(who, name)
        task = await self._tasks.fire(found, self._clock.now())
        if task is None:  # pragma: no cover - a tick at this very microsecond
            raise Conflict(f"schedule {name!r} fired at this instant already; trigger again")
        return task

    # --- helpers -------------------------------------------------------------------------

    async def _check(self, spec: ScheduleSpec) -> None:
        """The checks a submission of the schedule's task would pass: known type,
        storable payload."""
        types = await self._types.known({spec.type})
        item = TaskIn(type=spec.type, payload=spec.payload)
        submissions.check(item, types=types, rules=self._tasks.config.rules)

    async def _tenant_for(self, who: Principal, name: str | None) -> Tenant:
        _writer(who)
        if not who.is_admin:
            if name is not None and name != who.tenant_name:
                raise Forbidden("a tenant key manages only its own tenant's schedules")
            assert who.tenant_id is not None
            return await asyncio.to_thread(self._store.get_tenant, tenant_id=who.tenant_id)
        try:
            return await asyncio.to_thread(
                self._store.get_tenant, name=name or limits.DEFAULT_TENANT
            )
        except NotFound:
            raise ValidationError(
                f"tenant {name!r} does not exist",
                fields=[FieldError("tenant", "no such tenant")],
            ) from None


_SPEC_FIELDS = frozenset(
    {"type", "payload", "priority", "cost", "max_attempts", "timeout_s", "catch_up", "enabled"}
)


def _scope(who: Principal) -> int | None:
    return None if who.sees_all else who.tenant_id


def _writer(who: Principal) -> None:
    if not who.is_admin and who.tenant_id is None:
        raise Forbidden("a reader key is read-only")
