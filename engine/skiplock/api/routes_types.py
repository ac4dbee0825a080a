"""Task types: which ones workers have announced and which live instances handle each."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from skiplock.api.auth import Caller, Ctx
from skiplock.api.bodies import JsonRoute
from skiplock.api.errors import is_outage, responses
from skiplock.domain.errors import Unavailable

router = APIRouter(tags=["operations"], route_class=JsonRoute)


class TaskTypeOut(BaseModel):
    name: str
    instances: list[str] = Field(
        description="Live instances whose workers handle this type now (from the worker "
        "registry); empty when none runs."
    )
    first_seen: datetime = Field(description="When a worker first announced this type.")
    last_seen: datetime = Field(
        description="When a worker last announced it (refreshed about once a minute)."
    )
    max_attempts: int | None = Field(description="The handler's default; null: the engine's.")
    timeout_s: float | None = Field(description="The handler's default; null: the engine's.")
    cost: int | None = Field(description="The handler's default; null: 1.")


class TaskTypesOut(BaseModel):
    types: list[TaskTypeOut]


@router.get("/api/task-types", response_model=TaskTypesOut, responses=responses(400, 401, 503))
async def task_types(_: Caller, ctx: Ctx) -> TaskTypesOut:
    """Every task type a worker has ever announced (the types submissions may name), by
    name, with the live instances that handle it now."""
    try:
        views = await asyncio.wait_for(
            ctx.types.overview(ctx.registry), timeout=ctx.config.db_timeout_s
        )
    except Exception as exc:
        if not is_outage(exc):
            raise
        raise Unavailable(f"task types unavailable: {exc!r}") from exc
    return TaskTypesOut(
        types=[
            TaskTypeOut(
                name=v.type.name,
                instances=list(v.instances),
                first_seen=v.type.first_seen,
                last_seen=v.type.last_seen,
                max_attempts=v.type.max_attempts,
                timeout_s=v.type.timeout_s,
                cost=v.type.cost,
            )
            for v in views
        ]
    )
