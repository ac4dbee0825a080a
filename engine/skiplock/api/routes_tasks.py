"""Task endpoints: submit, batch, list, count, get, run now, delete, cancel, retry, and
bulk actions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from skiplock.api.auth import Caller, Ctx
from skiplock.api.bodies import JsonRoute
from skiplock.api.context import ApiContext
from skiplock.api.errors import ApiError, responses
from skiplock.api.schemas import (
    BatchIn,
    BatchOut,
    BulkIn,
    BulkOut,
    CountOut,
    PageOut,
    TaskDetailOut,
    TaskIn,
    TaskOut,
)
from skiplock.domain import limits
from skiplock.domain.models import Page, PageKey, Principal, TaskFilter, TaskOrder
from skiplock.domain.search import MAX_TEXT, BadSearch, search_words
from skiplock.domain.states import TaskState
from skiplock.services.tasks import Changed

router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=JsonRoute)

MAX_ID = 2**62
# ``{task_id:int}`` matches digits only, so ``GET /api/tasks/batch`` is a 405 (the path
# exists for POST), not a failed integer parse; the bound keeps ids inside BIGINT.
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Each comma-separated value of a ``state=``/``type=`` filter, like a task type itself.
MAX_FILTER_VALUE = 128


def _scope(who: Principal) -> int | None:
    return None if who.sees_all else who.tenant_id


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
    done = await ctx.tasks.submit(who, [body], batch=False)
    if done.quota is not None:
        response.headers.update(done.quota.headers())
    if not done.stored[0].created:
        response.status_code = 200
    return TaskOut.of(done.stored[0].task)


@router.post("/batch", status_code=201, response_model=BatchOut, responses=responses(429))
async def create_batch(body: BatchIn, who: Caller, ctx: Ctx, response: Response) -> BatchOut:
    done = await ctx.tasks.submit(who, body.tasks, batch=True)
    if done.quota is not None:
        response.headers.update(done.quota.headers())
    return BatchOut(items=[TaskOut.of(s.task) for s in done.stored])


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
        if not limits.EARLIEST <= moment < limits.LATEST:
            raise ApiError(
                422,
                "validation_error",
                f"{name} must be between {limits.EARLIEST:%Y-%m-%d} and "
                f"{limits.LATEST:%Y-%m-%d} (UTC)",
                fields=[{"field": name, "message": "out of range"}],
            )


async def _tenant_filter(ctx: ApiContext, who: Principal, tenant: str | None) -> int | None:
    if not who.sees_all:
        if tenant is not None and tenant != who.tenant_name:
            raise ApiError(404, "not_found", f"tenant {tenant!r} does not exist")
        return who.tenant_id
    if tenant is None:
        return None
    found = await asyncio.to_thread(ctx.store.get_tenant, name=tenant)
    return found.id


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Counting stops here: past it a list's total reads "10,000+" (the cost stays bounded).
COUNT_CAP = 10_000


def _bad_cursor() -> ApiError:
    return ApiError(
        400,
        "bad_request",
        "cursor is not valid; use next_cursor as given",
        fields=[{"field": "cursor", "message": "invalid"}],
    )


def _digits(text: str) -> int:
    # isascii: "²" and other Unicode digits pass isdigit() but not int().
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise _bad_cursor()
    return int(text)


def parse_cursor(cursor: str, order: TaskOrder) -> int | PageKey:
    """``ID`` in creation order; ``MICROSECONDS.ID`` (since the epoch) in time orders."""
    if not order.by_time:
        task_id = _digits(cursor)
        if not 1 <= task_id <= MAX_ID:
            raise _bad_cursor()
        return task_id
    micros, _, task_id_text = cursor.partition(".")
    task_id = _digits(task_id_text)
    at = _EPOCH + timedelta(microseconds=_digits(micros))
    if not (1 <= task_id <= MAX_ID and limits.EARLIEST <= at < limits.LATEST):
        raise _bad_cursor()
    return PageKey(at, task_id)


def format_cursor(page: Page, order: TaskOrder) -> str | None:
    if page.next_cursor is None:
        return None
    key = page.next_key
    if not order.by_time or key is None or key.at is None:
        return str(page.next_cursor)
    micros = (key.at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{key.id}"


SEARCH_HELP = (
    "Search words: a task matches when each word (3 to 84 letters, digits or '_'; up to "
    "8) starts a word of its payload or last error, in any case. Shorter words are ignored."
)


def _search(q: str | None) -> tuple[str, ...]:
    if q is None:
        return ()
    try:
        return search_words(q)
    except BadSearch as exc:
        raise ApiError(
            422, "validation_error", str(exc), fields=[{"field": "q", "message": str(exc)}]
        ) from exc


async def task_filter(
    who: Caller,
    ctx: Ctx,
    state: Annotated[list[str] | None, Query(max_length=20)] = None,
    type: Annotated[list[str] | None, Query(max_length=50)] = None,  # noqa: A002
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    id: Annotated[int | None, Query(ge=1, le=2**62)] = None,  # noqa: A002
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    q: Annotated[str | None, Query(max_length=MAX_TEXT, description=SEARCH_HELP)] = None,
) -> TaskFilter:
    """The filters the task list and its count share: one definition, so the count is
    always the count of the list."""
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
    _check_times(created_after=created_after, created_before=created_before)
    words = _search(q)
    return TaskFilter(
        tenant_id=await _tenant_filter(ctx, who, tenant),
        states=states,
        types=tuple(_split("type", type)),
        ids=(id,) if id is not None else (),
        created_after=created_after,
        created_before=created_before,
        words=words,
    )


Filtered = Annotated[TaskFilter, Depends(task_filter)]


@router.get("", response_model=PageOut)
async def list_tasks(
    ctx: Ctx,
    flt: Filtered,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=48)] = None,
    sort: Annotated[
        TaskOrder,
        Query(
            description="created (id order), run_at or finished (finished tasks only); "
            "a leading '-' for newest first"
        ),
    ] = TaskOrder.CREATED_DESC,
) -> PageOut:
    after = parse_cursor(cursor, sort) if cursor is not None else None
    page = await asyncio.to_thread(ctx.store.list_tasks, flt, limit=limit, cursor=after, order=sort)
    return PageOut(items=[TaskOut.of(t) for t in page.items], next_cursor=format_cursor(page, sort))


@router.get("/count", response_model=CountOut)
async def count_tasks(
    ctx: Ctx,
    flt: Filtered,
    exact: Annotated[
        bool,
        Query(
            description="count every match, however many (may take seconds at millions "
            "of rows; 503 past SKIPLOCK_ANALYTICS_TIMEOUT_S)"
        ),
    ] = False,
) -> CountOut:
    """How many tasks match the same filters as the list: exact for active states (from
    the maintained counts, without a search), else counted up to 10,000 (``exact:
    false`` past it; a search may stop earlier, at a common word's first few hundred).
    ``exact=true`` counts them all."""
    cap = None if exact else COUNT_CAP
    total = await asyncio.to_thread(ctx.store.count_tasks, flt, cap=cap)
    return CountOut(total=total.n, exact=total.exact)


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
        words=_search(f.q),
    )


@router.post("/bulk/cancel", response_model=BulkOut)
async def bulk_cancel(body: BulkIn, who: Caller, ctx: Ctx) -> BulkOut:
    flt = await _bulk_filter(ctx, who, body)
    return _bulk_out(await ctx.tasks.cancel_matching(who, flt, dry_run=body.dry_run))


@router.post("/bulk/retry", response_model=BulkOut, responses=responses(429))
async def bulk_retry(body: BulkIn, who: Caller, ctx: Ctx, response: Response) -> BulkOut:
    """Requeue dead and cancelled tasks, charged to their tenants' rate limits like new
    submissions: refused whole (429) when over, with nothing changed."""
    flt = await _bulk_filter(ctx, who, body)
    done = await ctx.tasks.retry_matching(who, flt, dry_run=body.dry_run)
    if done.quota is not None:
        response.headers.update(done.quota.headers())
    return _bulk_out(done)


def _bulk_out(done: Changed) -> BulkOut:
    return BulkOut(
        changed=len(done.ids), ids=done.ids[:1000], truncated=done.truncated, dry_run=done.dry_run
    )


@router.get("/{task_id:int}", response_model=TaskDetailOut)
async def get_task(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskDetailOut:
    task = await asyncio.to_thread(ctx.store.get_task, task_id, tenant_id=_scope(who))
    return TaskDetailOut.detail(task)


@router.post("/{task_id:int}/run-now", response_model=TaskOut)
async def run_task_now(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskOut:
    """Make a scheduled or retrying task due now (409 from any other state)."""
    return TaskOut.of(await ctx.tasks.run_now(who, task_id))


@router.delete("/{task_id:int}", response_model=TaskOut)
async def delete_task(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskOut:
    """Delete a scheduled task, not yet due (409 naming the state from any other); the
    answer is the task as it was."""
    return TaskOut.of(await ctx.tasks.delete(who, task_id))


@router.post("/{task_id:int}/cancel", response_model=TaskOut)
async def cancel_task(task_id: TaskId, who: Caller, ctx: Ctx) -> TaskOut:
    return TaskOut.of(await ctx.tasks.cancel(who, task_id))


@router.post("/{task_id:int}/retry", response_model=TaskOut, responses=responses(429))
async def retry_task(task_id: TaskId, who: Caller, ctx: Ctx, response: Response) -> TaskOut:
    """Requeue a dead or cancelled task, charged like a submission (429 when over)."""
    task, quota = await ctx.tasks.retry(who, task_id)
    if quota is not None:
        response.headers.update(quota.headers())
    return TaskOut.of(task)
