"""Schedule endpoints: create, list, read, change, delete, pause, resume, trigger now,
and a preview of fire times. Each translates to one ScheduleService call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from skiplock.api.auth import Caller, Computing, Ctx
from skiplock.api.bodies import JsonRoute
from skiplock.api.schedule_schemas import (
    PreviewIn,
    PreviewOut,
    ScheduleIn,
    ScheduleListOut,
    ScheduleOut,
    SchedulePatch,
)
from skiplock.api.schemas import TaskOut
from skiplock.domain.schedules import NAME_PATTERN

router = APIRouter(prefix="/api/schedules", tags=["schedules"], route_class=JsonRoute)

ScheduleName = Annotated[str, Path(max_length=64, pattern=NAME_PATTERN)]


@router.get("", response_model=ScheduleListOut)
async def list_schedules(who: Caller, ctx: Ctx) -> ScheduleListOut:
    return ScheduleListOut(items=[ScheduleOut.of(s) for s in await ctx.schedules.visible(who)])


@router.post("", status_code=201, response_model=ScheduleOut)
async def create_schedule(body: ScheduleIn, who: Caller, ctx: Ctx) -> ScheduleOut:
    return ScheduleOut.of(await ctx.schedules.create(who, body))


@router.post("/preview", response_model=PreviewOut)
async def preview(body: PreviewIn, _: Computing, ctx: Ctx) -> PreviewOut:
    """The next fire times of a cron or interval, for a live preview while editing."""
    return PreviewOut(next=ctx.schedules.preview(body))


@router.get("/{name}", response_model=ScheduleOut)
async def get_schedule(name: ScheduleName, who: Caller, ctx: Ctx) -> ScheduleOut:
    return ScheduleOut.of(await ctx.schedules.get(who, name))


@router.patch("/{name}", response_model=ScheduleOut)
async def patch_schedule(
    name: ScheduleName, body: SchedulePatch, who: Caller, ctx: Ctx
) -> ScheduleOut:
    return ScheduleOut.of(await ctx.schedules.update(who, name, body))


@router.delete("/{name}", response_model=ScheduleOut)
async def delete_schedule(name: ScheduleName, who: Caller, ctx: Ctx) -> ScheduleOut:
    return ScheduleOut.of(await ctx.schedules.delete(who, name))


@router.post("/{name}/pause", response_model=ScheduleOut)
async def pause_schedule(name: ScheduleName, who: Caller, ctx: Ctx) -> ScheduleOut:
    return ScheduleOut.of(await ctx.schedules.pause(who, name))


@router.post("/{name}/resume", response_model=ScheduleOut)
async def resume_schedule(name: ScheduleName, who: Caller, ctx: Ctx) -> ScheduleOut:
    return ScheduleOut.of(await ctx.schedules.resume(who, name))


@router.post("/{name}/trigger", status_code=201, response_model=TaskOut)
async def trigger_schedule(name: ScheduleName, who: Caller, ctx: Ctx) -> TaskOut:
    """Fire one task now through the task service; the schedule's ticks are unchanged."""
    return TaskOut.of(await ctx.schedules.trigger(who, name))
