"""Task endpoints: submit, batch, list, get, cancel, retry, and bulk actions."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from engine.api import submission
from engine.api.auth import Caller, Ctx
from engine.api.context import ApiContext
from engine.api.errors import ApiError, responses
from engine.api.schemas import (
    BatchIn,
    BatchOut,
    BulkIn,
    BulkOut,
    PageOut,
    TaskDetailOut,
    TaskIn,
    TaskOut,
)
from engine.domain.models import Principal, Task, TaskFilter
from engine.domain.states import TaskState
from engine.services.publisher import task_event

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

BULK_LIMIT = 10_000
MAX_ID = 2**62
# ``{task_id:int}`` matches digits only, so ``GET /api/tasks/batch`` is a 405 (the path
# exists for POST), not a failed integer parse; the bound keeps ids inside BIGINT.
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Each comma-separated value of a ``state=``/``type=`` filter, like a task type itself.
MAX_FILTER_VALUE = 128


def _scope(who: Principal) -> int | None:
    return None if who.is_admin else who.tenant_id


def _emit(ctx: ApiContext, task: Task) -> None:
    ctx.publisher.emit(
        [
            task_event(
                task_id=task.id,
                tenant_id=task.tenant_id,
                tenant=task.tenant,
                type=task.type,
                state=task.state,
                attempt=task.attempt,
                at=ctx.clock.now(),
            )
        ]
    )


@router.post(
    "",
    status_code=201,
    response_model=TaskOut,
    responses={
        200: {"model": TaskOut, "description": "An idempotent repeat: the original task"},
        **responses(429),
    },
)
async def create_task(body: TaskIn, who: Caller, ctx: Ctx, response: Response) -> TaskOut:
    stored, headers = await submission.submit(ctx, who, [body], batch=False)
    response.headers.update(headers)
    if not stored[0].created:
        response.status_code = 200
    return TaskOut.of(stored[0].task)


@router.post("/batch", status_code=201, response_model=BatchOut, responses=responses(429))
async def create_batch(body: BatchIn, who: Caller, ctx: Ctx, response: Response) -> BatchOut:
    stored, headers = await submission.submit(ctx, who, body.tasks, batch=True)
    response.headers.update(headers)
    return BatchOut(items=[TaskOut.of(s.task) for s in stored])


def _split(name: str, values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
    if len(out) > 50 or any(len(v) > MAX_FILTER_VALUE for v in out):
        raise ApiError(
            422,
            "validation_error",
            f"{name}: at most 50 values of at most {MAX_FILTER_VALUE} characters",
            fields=[{"field": name, "message": "too many or too long values"}],
        )
    return out


def _check_times(**moments: datetime | None) -> None:
    for name, moment in moments.items():
        if moment is None:
            continue
        if moment.tzinfo is None:
            raise ApiError(
                422,
                "validation_error",
                f"{name} needs a timezone (e.g. ...Z)",
                fields=[{"field": name, "message": "timezone required"}],
            )
        if not submission.EARLIEST <= moment < submission.LATEST:
            raise ApiError(
                422,
                "validation_error",
                f"{name} must be between {submission.EARLIEST:%Y-%m-%d} and "
                f"{submission.LATEST:%Y-%m-%d} (UTC)",
                fields=[{"field": name, "message": "out of range"}],
            )


async def _tenant_filter(ctx: ApiContext, who: Principal, tenant: str | None) -> int | None:
    if not who.is_admin:
        if tenant is not None and tenant != who.tenant_name:
            raise ApiError(404, "not_found", f"tenant {tenant!r} does not exist")
        return who.tenant_id
    if tenant is None:
        return None
    found = await asyncio.to_thread(ctx.store.get_tenant, name=tenant)
    return found.id


@router.get("", response_model=PageOut)
async def list_tasks(
    who: Caller,
    ctx: Ctx,
    state: Annotated[list[str] | None, Query(max_length=20)] = None,
    type: Annotated[list[str] | None, Query(max_length=50)] = None,  # noqa: A002
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    id: Annotated[int | None, Query(ge=1, le=2**62)] = None,  # noqa: A002
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=24)] = None,
) -> PageOut:
    try:
        states = tuple(TaskState(s) for s in _split("state", state))
    except ValueError as exc:
        known = ", ".join(s.value for s in TaskState)
        raise ApiError(
            422,
            "validation_error",
            f"unknown state; known states: {known}",
            fields=[{"field": "state", "message": str(exc)}],
        ) from exc
    after = None
    if cursor is not None:
        if not cursor.isdigit() or int(cursor) < 1 or int(cursor) > 2**62:
            raise ApiError(
                400,
                "bad_request",
                "cursor is not valid; use next_cursor as given",
                fields=[{"field": "cursor", "message": "invalid"}],
            )
        after = int(cursor)
    _check_times(created_after=created_after, created_before=created_before)
    flt = TaskFilter(
        tenant_id=await _tenant_filter(ctx, who, tenant),
        states=states,
        types=tuple(_split("type", type)),
        ids=(id,) if id is not None else (),
        created_after=created_after,
        created_before=created_before,
    )
    page = await asyncio.to_thread(ctx.store.list_tasks, flt, limit=limit, cursor=after)
    return PageOut(
        items=[TaskOut.of(t) for t in page.items],
        next_cursor=str(page.next_cursor) if page.next_cursor else None,
    )


# Bulk routes come before /{task_id} routes, which would otherwise match 'bulk'.
async def _bulk_filter(ctx: ApiContext, who: Principal, body: BulkIn) -> TaskFilter:
    if (body.ids is None) == (body.filter is None):
        raise ApiError(
            422,
            "validation_error",
            "give either ids or filter",
            fields=[{"field": "ids", "message": "give either ids or filter"}],
        )
    if body.ids is not None:
        if not all(1 <= i <= MAX_ID for i in body.ids):
            raise ApiError(
                422,
                "validation_error",
                f"ids must be between 1 and {MAX_ID}",
                fields=[{"field": "ids", "message": "out of range"}],
            )
        return TaskFilter(tenant_id=_scope(who), ids=tuple(body.ids))
    f = body.filter
    assert f is not None
    _check_times(created_after=f.created_after, created_before=f.created_before)
    return TaskFilter(
        tenant_id=await _tenant_filter(ctx, who, f.tenant),
        states=tuple(f.state or ()),
        types=tuple(f.type or ()),
        created_after=f.created_after,
        created_before=f.created_before,
    )


@router.post("/bulk/cancel", response_model=BulkOut)
async def bulk_cancel(body: BulkIn, who: Caller, ctx: Ctx) -> BulkOut:
    flt = await _bulk_filter(ctx, who, body)
    ids = await asyncio.to_thread(
        ctx.store.cancel_matching, flt, now=ctx.clock.now(), limit=BULK_LIMIT
    )
    return BulkOut(changed=len(ids), ids=ids[:1000], truncated=len(ids) >= BULK_LIMIT)


@router.post("/bulk/retry", response_model=BulkOut)
async def bulk_retry(body: BulkIn, who: Caller, ctx: Ctx) -> BulkOut:
    flt = await _bulk_filter(ctx, who, body)
    ids = await asyncio.to_thread(
        ctx.store.requeue_matching, flt, now=ctx.clock.now(), limit=BULK_LIMIT
    )
    if ids:
        ctx.publisher.work_ready()
    return BulkOut(changed=len(ids), ids=ids[:1000], truncated=len(ids) >= BULK_LIMIT)


@router.get("/{task_id:int}", response_model=TaskDetailOut)
async def get_task(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskDetailOut:
    task = await asyncio.to_thread(ctx.store.get_task, task_id, tenant_id=_scope(who))
    return TaskDetailOut.detail(task)


@router.post("/{task_id:int}/cancel", response_model=TaskOut)
async def cancel_task(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskOut:
    task = await asyncio.to_thread(
        ctx.store.cancel, task_id, tenant_id=_scope(who), now=ctx.clock.now()
    )
    _emit(ctx, task)
    return TaskOut.of(task)


@router.post("/{task_id:int}/retry", response_model=TaskOut)
async def retry_task(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskOut:
    task = await asyncio.to_thread(
        ctx.store.requeue, task_id, tenant_id=_scope(who), now=ctx.clock.now()
    )
    _emit(ctx, task)
    ctx.publisher.work_ready()
    return TaskOut.of(task)
