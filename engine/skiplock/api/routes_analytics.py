"""Analytics: counts, throughput, latency percentiles and breakdowns, from the database.
Tenant keys see their own tenant's figures only.

These are the engine's slow reads, so they are fenced off from the hot path:

- Windows and buckets snap up to a small set (:data:`WINDOWS`, :data:`BUCKETS`); the
  answer names the ones used. With the per-instance cache (a few seconds) and one
  computation per distinct question in flight at a time, no choice of parameters makes
  an instance compute more than a few dozen distinct figures.
- Each caller (a tenant, or a non-tenant key) has ``SKIPLOCK_ANALYTICS_PER_CALLER``
  computations running at once; a few more wait, the rest get 429.
- They run on their own pool of ``SKIPLOCK_ANALYTICS_THREADS`` threads, never the one
  that serves task reads and writes, and every statement stops after
  ``SKIPLOCK_ANALYTICS_TIMEOUT_S`` (503)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, TypeVar, cast

from fastapi import APIRouter, Query

from skiplock.api.auth import Caller, Ctx
from skiplock.api.bodies import JsonRoute
from skiplock.api.context import ApiContext
from skiplock.api.errors import ApiError
from skiplock.api.state import SlowReads
from skiplock.domain.models import BreakdownRow, Percentiles, Principal

router = APIRouter(prefix="/api/analytics", tags=["analytics"], route_class=JsonRoute)

WINDOWS = (60, 300, 600, 900, 1800, 3600, 6 * 3600, 86_400, 7 * 86_400, 30 * 86_400)
BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86_400)
Window = Annotated[
    int,
    Query(
        ge=60,
        le=30 * 86_400,
        description=f"Window in seconds; rounded up to one of {', '.join(map(str, WINDOWS))}",
    ),
]
MAX_POINTS = 1500
# Computations a caller may have waiting for its turn, beyond those running.
MAX_WAITING_PER_CALLER = 8
T = TypeVar("T")


def snap(value: int, allowed: tuple[int, ...]) -> int:
    """The smallest allowed value at least ``value`` (the largest, past the end)."""
    return next((a for a in allowed if a >= value), allowed[-1])


def _scope(who: Principal) -> int | None:
    return None if who.sees_all else who.tenant_id


def _caller(who: Principal) -> tuple[str, int]:
    return ("tenant", who.tenant_id) if who.tenant_id is not None else ("key", who.key_id)


CACHE_TTL_S = 5.0


def _reads(ctx: ApiContext) -> SlowReads:
    return ctx.state.slow_reads


async def _cached(
    ctx: ApiContext, who: Principal, key: tuple[Any, ...], compute: Callable[[], T]
) -> T:
    """Dashboards poll these figures from many tabs; each instance computes one set per
    question at most every few seconds, one computation at a time, and every tab (and
    every caller asking the same question meanwhile) shares it."""
    reads = _reads(ctx)
    hit = reads.cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return cast(T, hit[1])
    flight = reads.in_flight.get(key)
    if flight is None:
        flight = asyncio.ensure_future(_compute(ctx, reads, _caller(who), key, compute))
        reads.in_flight[key] = flight
        flight.add_done_callback(lambda done: _landed(reads, key, done))
    # Shielded: a caller who hangs up does not cancel the others' shared computation.
    return cast(T, await asyncio.shield(flight))


def _landed(reads: SlowReads, key: tuple[Any, ...], done: asyncio.Future[Any]) -> None:
    reads.in_flight.pop(key, None)
    if not done.cancelled():
        done.exception()  # retrieved here: every asker may have hung up meanwhile


async def _compute(
    ctx: ApiContext,
    reads: SlowReads,
    caller: tuple[str, int],
    key: tuple[Any, ...],
    compute: Callable[[], T],
) -> T:
    turn = reads.turns.setdefault(caller, asyncio.Semaphore(ctx.config.analytics_per_caller))
    if turn.locked() and reads.waiting.get(caller, 0) >= MAX_WAITING_PER_CALLER:
        raise ApiError(
            429,
            "rate_limited",
            "too many analytics requests at once from this caller; retry shortly",
            headers={"Retry-After": "1"},
        )
    reads.waiting[caller] = reads.waiting.get(caller, 0) + 1
    try:
        await turn.acquire()
    finally:
        reads.waiting[caller] -= 1
    try:
        value = await asyncio.get_running_loop().run_in_executor(ctx.slow_reads, compute)
    finally:
        turn.release()
    if len(reads.cache) > 256:
        reads.cache.clear()
    reads.cache[key] = (time.monotonic() + CACHE_TTL_S, value)
    return value


def _pct(p: Percentiles) -> dict[str, float | None]:
    return {
        k: None if v is None else round(v, 2)
        for k, v in (("p50", p.p50), ("p95", p.p95), ("p99", p.p99))
    }


@router.get("")
async def summary(who: Caller, ctx: Ctx, window_s: Window = 3600) -> dict[str, Any]:
    window_s = snap(window_s, WINDOWS)
    since = ctx.clock.now() - timedelta(seconds=window_s)
    s = await _cached(
        ctx,
        who,
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
    bucket_s: Annotated[
        int,
        Query(
            ge=1,
            le=86_400,
            description=f"Bucket in seconds; rounded up to one of {', '.join(map(str, BUCKETS))}",
        ),
    ] = 60,
) -> dict[str, Any]:
    window_s, bucket_s = snap(window_s, WINDOWS), snap(bucket_s, BUCKETS)
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
        who,
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
    window_s = snap(window_s, WINDOWS)
    since = ctx.clock.now() - timedelta(seconds=window_s)
    rows = await _cached(
        ctx,
        who,
        ("breakdown", "type", window_s, _scope(who)),
        partial(ctx.store.breakdown, since=since, by="type", tenant_id=_scope(who)),
    )
    return {"window_s": window_s, "items": _rows(rows, "type")}


@router.get("/tenants")
async def by_tenant(who: Caller, ctx: Ctx, window_s: Window = 3600) -> dict[str, Any]:
    window_s = snap(window_s, WINDOWS)
    since = ctx.clock.now() - timedelta(seconds=window_s)
    rows = await _cached(
        ctx,
        who,
        ("breakdown", "tenant", window_s, _scope(who)),
        partial(ctx.store.breakdown, since=since, by="tenant", tenant_id=_scope(who)),
    )
    return {"window_s": window_s, "items": _rows(rows, "tenant")}
