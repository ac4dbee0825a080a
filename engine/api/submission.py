"""Turning validated submissions into stored tasks: tenant checks, payload limits, known
types, then the rate limiter, then one all-or-nothing write. Nothing is stored unless
every check passes."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from engine import metrics
from engine.api.context import ApiContext
from engine.api.errors import ApiError, OutageLog
from engine.api.schemas import TaskIn
from engine.domain.models import NewTask, Principal, Tenant, TenantState
from engine.domain.states import TaskState
from engine.ports import Submitted
from engine.services.publisher import task_event

log = logging.getLogger("skiplock.api")
limiter_log = OutageLog(log)

DEFAULT_TENANT = "default"
# Times a task may be scheduled at: inside every database's DATETIME range, and far
# enough from datetime's limits that converting any UTC offset cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping once past ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


async def _tenant_for(ctx: ApiContext, who: Principal, name: str | None) -> Tenant:
    if not who.is_admin:
        if name is not None and name != who.tenant_name:
            raise ApiError(403, "forbidden", "a tenant key submits only for its own tenant")
        assert who.tenant_id is not None
        return await asyncio.to_thread(ctx.store.get_tenant, tenant_id=who.tenant_id)
    return await asyncio.to_thread(ctx.store.get_tenant, name=name or DEFAULT_TENANT)


def _check_task(ctx: ApiContext, index: int | None, task: TaskIn) -> None:
    where = "" if index is None else f"tasks.{index}."
    if task.type not in ctx.handlers:
        known = ", ".join(ctx.handlers.names())
        raise ApiError(
            422,
            "validation_error",
            f"unknown task type {task.type!r}; known types: {known}",
            fields=[{"field": f"{where}type", "message": f"known types: {known}"}],
        )
    if task.delay_s is not None and task.run_at is not None:
        raise ApiError(
            422,
            "validation_error",
            "give delay_s or run_at, not both",
            fields=[{"field": f"{where}run_at", "message": "conflicts with delay_s"}],
        )
    if task.run_at is not None and not EARLIEST <= task.run_at < LATEST:
        raise ApiError(
            422,
            "validation_error",
            f"{where}run_at must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)",
            fields=[{"field": f"{where}run_at", "message": "out of range"}],
        )
    if json_depth(task.payload, ctx.config.max_json_depth) > ctx.config.max_json_depth:
        raise ApiError(
            422,
            "validation_error",
            f"{where}payload nests deeper than {ctx.config.max_json_depth} levels",
            fields=[{"field": f"{where}payload", "message": "too deeply nested"}],
        )
    size = len(_stored_json(task.payload, f"{where}payload"))
    if size > ctx.config.max_payload_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"{where}payload is {size} bytes; the limit is {ctx.config.max_payload_bytes}",
            fields=[{"field": f"{where}payload", "message": "too large"}],
        )


def _stored_json(value: Any, field: str) -> bytes:
    """``value`` as the store will write it (UTF-8 JSON). Python's parser lets through
    what is not JSON and what no database can store: NaN and Infinity (also as 1e400)
    and lone UTF-16 surrogates (``"\\ud800"``); refuse them here with a 422."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode()
    except UnicodeEncodeError:  # before ValueError, its base class
        message = "strings must be valid Unicode (no lone surrogates)"
    except ValueError:
        message = "NaN and Infinity are not JSON numbers"
    raise ApiError(
        422,
        "validation_error",
        f"{field}: {message}",
        fields=[{"field": field, "message": message}],
    )


async def submit(
    ctx: ApiContext, who: Principal, items: Sequence[TaskIn], *, batch: bool
) -> tuple[list[Submitted], dict[str, str]]:
    """Validate, rate-limit and store ``items``; returns them and the RateLimit headers."""
    if len(items) > ctx.config.max_batch:
        raise ApiError(
            422,
            "validation_error",
            f"a batch holds at most {ctx.config.max_batch} tasks; got {len(items)}",
            fields=[{"field": "tasks", "message": "too many tasks"}],
        )
    tenants: dict[str | None, Tenant] = {}
    for i, item in enumerate(items):
        _check_task(ctx, i if batch else None, item)
        if item.tenant not in tenants:
            tenants[item.tenant] = await _tenant_for(ctx, who, item.tenant)
    for tenant in tenants.values():
        if tenant.state is TenantState.DRAINING:
            raise ApiError(
                409, "conflict", f"tenant {tenant.name!r} is draining and accepts no new tasks"
            )
    headers: dict[str, str] = {}
    for tenant in {t.id: t for t in tenants.values()}.values():
        cost = sum(i.cost for i in items if tenants[i.tenant].id == tenant.id)
        headers = await _admit(ctx, tenant, cost)
    now = ctx.clock.now()
    new = [
        NewTask(
            tenant_id=tenants[i.tenant].id,
            type=i.type,
            payload=i.payload,
            priority=i.priority,
            cost=i.cost,
            max_attempts=i.max_attempts or ctx.config.default_max_attempts,
            timeout_s=i.timeout_s or ctx.config.default_timeout_s,
            run_at=i.run_at if i.run_at is not None else now + timedelta(seconds=i.delay_s or 0),
            idempotency_key=i.idempotency_key,
        )
        for i in items
    ]
    stored = await asyncio.to_thread(ctx.store.submit, new, now=now)
    created = [s.task for s in stored if s.created]
    for t in created:
        metrics.TASKS_SUBMITTED.labels(t.tenant, t.type).inc()
    ctx.publisher.emit(
        task_event(
            task_id=t.id,
            tenant_id=t.tenant_id,
            tenant=t.tenant,
            type=t.type,
            state=t.state,
            attempt=0,
            at=t.created_at,
        )
        for t in created
    )
    if any(t.state is TaskState.QUEUED for t in created):
        ctx.publisher.work_ready()
    return stored, headers


async def _admit(ctx: ApiContext, tenant: Tenant, cost: int) -> dict[str, str]:
    limit = tenant.rate_limit
    if limit is None:
        return {}
    if cost > limit.cost:
        raise ApiError(
            422,
            "validation_error",
            f"this request costs {cost}, more than tenant {tenant.name!r} may spend in "
            f"any window ({limit.cost} per {limit.window_s} s); split it",
        )
    try:
        decision = await asyncio.wait_for(
            ctx.limiter.acquire(f"tenant:{tenant.id}", cost, limit), timeout=ctx.config.db_timeout_s
        )
    except Exception as exc:
        mode = "open" if ctx.config.rate_limit_fail_open else "closed"
        metrics.RATE_LIMITER_ERRORS.labels(mode).inc()
        limiter_log.warning("rate limiter unavailable (%s); failing %s", exc, mode)
        if ctx.config.rate_limit_fail_open:
            return {}
        raise ApiError(
            503,
            "unavailable",
            "the rate limiter is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        ) from exc
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_s)),
        "RateLimit-Policy": f"{limit.cost};w={limit.window_s}",
    }
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(tenant.name).inc()
        retry = max(1, math.ceil(decision.retry_after_s))
        raise ApiError(
            429,
            "rate_limited",
            f"tenant {tenant.name!r} is over its limit of {limit.cost} cost units per "
            f"{limit.window_s} s; retry in {retry} s",
            headers={**headers, "Retry-After": str(retry)},
        )
    return headers
