"""Analytics: counts, throughput, latency percentiles and breakdowns, from the database.
Tenant keys see their own tenant's figures only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, TypeVar, cast

from fastapi import APIRouter, Query

from engine.api.auth import Caller, Ctx
from engine.api.context import ApiContext
from engine.api.errors import ApiError
from engine.domain.models import BreakdownRow, Percentiles, Principal

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

Window = Annotated[int, Query(ge=60, le=30 * 86_400, description="Window in seconds")]
MAX_POINTS = 1500
T = TypeVar("T")


def _scope(who: Principal) -> int | None:
    return None if who.is_admin else who.tenant_id


CACHE_TTL_S = 5.0


async def _cached(ctx: ApiContext, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Dashboards poll these figures from many tabs; each instance computes one set per
    scope and window at most every few seconds, and every tab shares it."""
    cache: dict[tuple[Any, ...], tuple[float, Any]] = ctx.extras.setdefault("analytics", {})
    hit = cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return cast(T, hit[1])
    value = await asyncio.to_thread(compute)
    if len(cache) > 256:
        cache.clear()
    cache[key] = (time.monotonic() + CACHE_TTL_S, value)
    return value


def _pct(p: Percentiles) -> dict[str, float | None]:
    return {
        k: None if v is None else round(v, 2)
        for k, v in (("p50", p.p50), ("p95", p.p95), ("p99", p.p99))
    }


@router.get("")
async def summary(who: Caller, ctx: Ctx, window_s: Window = 3600) -> dict[str, Any]:
    since = ctx.clock.now() - timedelta(seconds=window_s)
    s = await _cached(
        ctx,
        ("summary", window_s, _scope(who)),
        partial(ctx.store.analytics_summary, since=since, tenant_id=_scope(who)),
    )
    attempts = s.succeeded + s.failed
    return {
        "window_s": window_s,
        "counts": s.counts,
        "submitted": s.submitted,
        "succeeded": s.succeeded,
        "failed": s.failed,
        "dead": s.dead,
        "failure_rate": round(s.failed / attempts, 4) if attempts else 0.0,
        "queue_wait_ms": _pct(s.queue_wait_ms),
        "run_time_ms": _pct(s.run_time_ms),
        "top_failing_types": [{"type": t, "failed": n} for t, n in s.top_failing_types],
        "sample_size": s.sample_size,
    }


@router.get("/throughput")
async def throughput(
    who: Caller,
    ctx: Ctx,
    window_s: Window = 3600,
    bucket_s: Annotated[int, Query(ge=1, le=86_400)] = 60,
) -> dict[str, Any]:
    if window_s / bucket_s > MAX_POINTS:
        raise ApiError(
            422,
            "validation_error",
            f"window_s / bucket_s must be at most {MAX_POINTS} points",
            fields=[{"field": "bucket_s", "message": "too small for the window"}],
        )
    now = ctx.clock.now()
    points = await _cached(
        ctx,
        ("throughput", window_s, bucket_s, _scope(who)),
        partial(
            ctx.store.throughput,
            since=now - timedelta(seconds=window_s),
            until=now,
            bucket_s=bucket_s,
            tenant_id=_scope(who),
        ),
    )
    return {
        "window_s": window_s,
        "bucket_s": bucket_s,
        "points": [
            {
                "t": p.t.isoformat().replace("+00:00", "Z"),
                "submitted": p.submitted,
                "succeeded": p.succeeded,
                "failed": p.failed,
                "dead": p.dead,
            }
            for p in points
        ],
    }


def _rows(rows: list[BreakdownRow], key: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        c = r.counts
        out.append(
            {
                key: r.key,
                "total": sum(c.values()),
                "failed": r.failed_attempts,
                **{
                    s: c.get(s, 0)
                    for s in (
                        "queued",
                        "scheduled",
                        "running",
                        "retrying",
                        "succeeded",
                        "dead",
                        "cancelled",
                    )
                },
                "p50_run_ms": None if r.p50_run_ms is None else round(r.p50_run_ms, 2),
                "p95_run_ms": None if r.p95_run_ms is None else round(r.p95_run_ms, 2),
            }
        )
    return out


@router.get("/types")
async def by_type(who: Caller, ctx: Ctx, window_s: Window = 3600) -> dict[str, Any]:
    since = ctx.clock.now() - timedelta(seconds=window_s)
    rows = await _cached(
        ctx,
        ("breakdown", "type", window_s, _scope(who)),
        partial(ctx.store.breakdown, since=since, by="type", tenant_id=_scope(who)),
    )
    return {"window_s": window_s, "items": _rows(rows, "type")}


@router.get("/tenants")
async def by_tenant(who: Caller, ctx: Ctx, window_s: Window = 3600) -> dict[str, Any]:
    since = ctx.clock.now() - timedelta(seconds=window_s)
    rows = await _cached(
        ctx,
        ("breakdown", "tenant", window_s, _scope(who)),
        partial(ctx.store.breakdown, since=since, by="tenant", tenant_id=_scope(who)),
    )
    return {"window_s": window_s, "items": _rows(rows, "tenant")}
