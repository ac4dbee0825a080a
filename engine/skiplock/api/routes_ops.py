"""Health, readiness, metrics, the worker registry, queue stats and demo data."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, StringConstraints

from skiplock import metrics
from skiplock.api.auth import Admin, Caller, Ctx
from skiplock.api.bodies import JsonRoute
from skiplock.api.context import ApiContext
from skiplock.api.errors import ApiError, is_outage, responses
from skiplock.api.ops_schemas import QueueStatsOut, WorkersOut
from skiplock.api.schemas import NAME_PATTERN
from skiplock.domain.errors import Unavailable
from skiplock.domain.models import Principal, TenantDepth
from skiplock.services import demo
from skiplock.services.demo import DEMO_TENANTS

router = APIRouter(tags=["operations"], route_class=JsonRoute)
# Separate so that ``SKIPLOCK_METRICS_PORT`` can serve it on its own port, away from the
# API port that an Ingress exposes.
metrics_router = APIRouter()
log = logging.getLogger("skiplock.api")

_STATS_TTL_S = 2.0


@router.get("/api/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, str]
    waiting_for: str | None = Field(
        None, description="while starting: what the instance waits for, and why"
    )


@router.get(
    "/api/ready",
    response_model=ReadyOut,
    responses={
        503: {
            "model": ReadyOut,
            "description": "Not ready: still starting, or the database is unreachable",
        }
    },
)
async def ready(ctx: Ctx) -> JSONResponse:
    # Unauthenticated, so a failing check names only the kind of error: driver messages
    # carry host names and ports. The server log has the details.
    startup = ctx.startup
    if startup is not None and not startup.done:
        waiting = "nothing: the start failed" if startup.failure else startup.waiting_for
        return JSONResponse(
            {"ready": False, "checks": {"startup": "waiting"}, "waiting_for": waiting},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(ctx.store.ping), timeout=ctx.config.db_timeout_s)
        checks["database"] = "ok"
    except Exception as exc:
        log.debug("readiness: database check failed: %s", exc)
        checks["database"] = f"unavailable ({type(exc).__name__})"
    if ctx.redis_ping is not None:
        try:
            await asyncio.wait_for(ctx.redis_ping(), timeout=ctx.config.db_timeout_s)
            checks["redis"] = "ok"
        except Exception as exc:
            log.debug("readiness: redis check failed: %s", exc)
            checks["redis"] = f"unavailable ({type(exc).__name__})"
    if checks["database"] == "ok":  # Redis down degrades, it does not stop us
        return JSONResponse({"ready": True, "checks": checks})
    return JSONResponse(
        {"ready": False, "checks": checks}, status_code=503, headers={"Retry-After": "5"}
    )


async def cached_stats(ctx: ApiContext, *, fresh: bool = False) -> list[TenantDepth]:
    """Queue depth, recomputed at most every couple of seconds per instance."""
    hit = ctx.state.stats
    if not fresh and hit is not None and hit[0] > time.monotonic():
        return list(hit[1])
    stats = await asyncio.to_thread(ctx.store.queue_stats, now=ctx.clock.now())
    ctx.state.stats = (time.monotonic() + _STATS_TTL_S, stats)
    return stats


@metrics_router.get("/metrics", include_in_schema=False)
async def prometheus(ctx: Ctx) -> Response:
    try:
        stats = await cached_stats(ctx)
    except Exception:  # depth gauges keep their last values while the database is down
        stats = []
    now = ctx.clock.now()
    for s in stats:
        for state, n in s.counts.items():
            metrics.QUEUE_DEPTH.labels(s.tenant, state).set(n)
        age = (now - s.oldest_queued_at).total_seconds() if s.oldest_queued_at else 0.0
        metrics.QUEUE_OLDEST_AGE.labels(s.tenant).set(max(0.0, age))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/workers", response_model=WorkersOut, responses=responses(400, 401, 503))
async def workers(who: Caller, ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
    """Instances, their slots and what runs in them. A tenant key sees every instance
    and how busy it is, but only its own tenant's running tasks."""
    try:
        instances = await asyncio.wait_for(
            ctx.registry.instances(), timeout=ctx.config.db_timeout_s
        )
    except Exception as exc:
        if not is_outage(exc):
            raise
        # Raised here rather than left to the catch-all handler, which answers 503 too
        # but hands the exception on to the server to log with a traceback.
        raise Unavailable(f"worker registry unavailable: {exc!r}") from exc
    return {
        "instances": [
            {
                "id": i.id,
                "host": i.host,
                "roles": list(i.roles),
                "started_at": i.started_at.isoformat(),
                "last_heartbeat": i.last_heartbeat.isoformat(),
                "slots": i.slots,
                "busy": i.busy,
                "tasks": [
                    {
                        "id": t.id,
                        "type": t.type,
                        "tenant": t.tenant,
                        "attempt": t.attempt,
                        "started_at": t.started_at.isoformat(),
                    }
                    for t in i.tasks
                    if who.is_admin or t.tenant == who.tenant_name
                ],
                "types": list(i.types),
            }
            for i in instances
        ]
    }


TenantParam = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
# 100 names of up to 64 characters keep the request line inside uvicorn's 16 KiB limit
# (h11's max incomplete event size); more would be refused before the app sees them.
MAX_STATS_TENANTS = 100


@router.get(
    "/api/queue/stats", response_model=QueueStatsOut, responses=responses(400, 401, 404, 422, 503)
)
async def queue_stats(
    who: Caller,
    ctx: Ctx,
    tenant: Annotated[
        list[TenantParam] | None,
        Query(
            max_length=MAX_STATS_TENANTS,
            description="Only these tenants (repeatable); rows and totals cover just them.",
        ),
    ] = None,
) -> dict[str, Any]:
    stats = await _stats_for(ctx, who, tenant)
    now = ctx.clock.now()
    rows = []
    totals = {"queued": 0, "scheduled": 0, "running": 0, "retrying": 0}
    oldest_all: float | None = None
    for s in stats:
        # Null, not zero, when nothing is queued: "no wait" and "no queue" differ.
        age = (
            max(0.0, round((now - s.oldest_queued_at).total_seconds(), 3))
            if s.oldest_queued_at
            else None
        )
        if age is not None:
            oldest_all = max(oldest_all or 0.0, age)
        for k in totals:
            totals[k] += s.counts.get(k, 0)
        rows.append(
            {
                "tenant": s.tenant,
                "state": s.state.value,
                "weight": s.weight,
                **{k: s.counts.get(k, 0) for k in totals},
                "oldest_queued_age_s": age,
                "drained": s.state.value == "draining" and sum(s.counts.values()) == 0,
            }
        )
    return {"tenants": rows, "totals": totals, "oldest_queued_age_s": oldest_all}


async def _stats_for(ctx: ApiContext, who: Principal, names: list[str] | None) -> list[TenantDepth]:
    """The rows the caller may see, narrowed to ``names`` when given. A name the caller
    cannot see is 404 like an unknown one, so a tenant key learns nothing of others."""
    stats = await cached_stats(ctx)
    if not who.sees_all:
        stats = [s for s in stats if s.tenant_id == who.tenant_id]
    if names is None:
        return stats
    wanted = set(names)
    missing = wanted - {s.tenant for s in stats}
    if missing and who.sees_all:
        # The cached figures may predate a tenant created on another instance: one fresh
        # read before calling it unknown. Only admin and reader keys can cause it.
        stats = await cached_stats(ctx, fresh=True)
        missing = wanted - {s.tenant for s in stats}
    if missing:
        first = sorted(missing)[:10]
        more = f" and {len(missing) - len(first)} more" if len(missing) > len(first) else ""
        listed = ", ".join(repr(n) for n in first)
        raise ApiError(404, "not_found", f"unknown tenant(s): {listed}{more}")
    return [s for s in stats if s.tenant in wanted]


class SeedIn(BaseModel):
    count: int = Field(300, ge=1, le=5000)


class ClearIn(BaseModel):
    dry_run: bool = Field(False, description="count the tasks it would delete, delete none")


def _require_demo(ctx: ApiContext) -> None:
    # Off in production: one click must not be able to delete every task of the demo-*
    # tenants (which may be real tenants' names there) or flood the queue.
    if not ctx.config.demo:
        raise ApiError(404, "not_found", "demo data is off on this server (SKIPLOCK_DEMO=true)")


@router.post("/api/demo/seed", responses=responses(400, 401, 403, 404, 413, 422, 429, 503))
async def demo_seed(who: Admin, ctx: Ctx, body: SeedIn | None = None) -> dict[str, Any]:
    _require_demo(ctx)
    created = await demo.seed(
        ctx.tasks, who, store=ctx.store, clock=ctx.clock, count=(body or SeedIn()).count
    )
    return {"created": created, "tenants": list(DEMO_TENANTS)}


@router.post("/api/demo/clear", responses=responses(400, 401, 403, 404, 422, 503))
async def demo_clear(_: Admin, ctx: Ctx, body: ClearIn | None = None) -> dict[str, Any]:
    """Delete the demo tenants' tasks; ``dry_run`` only counts them (for a confirmation)."""
    _require_demo(ctx)
    dry_run = (body or ClearIn()).dry_run
    deleted = await demo.clear(ctx.store, dry_run=dry_run)
    if not dry_run:
        ctx.state.forget_stats()
    return {"deleted": deleted, "dry_run": dry_run}
