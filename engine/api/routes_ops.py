"""Health, readiness, metrics, the worker registry, queue stats and demo data."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from engine import metrics
from engine.api.auth import Admin, Caller, Ctx
from engine.api.context import ApiContext
from engine.api.errors import is_outage, responses
from engine.domain.errors import Conflict, NotFound, Unavailable
from engine.domain.models import NewTask, TenantDepth
from engine.handlers import SIMULATIONS
from engine.services.publisher import task_event

router = APIRouter(tags=["operations"])
log = logging.getLogger("skiplock.api")

DEMO_TENANTS = {"demo-acme": 3, "demo-globex": 1, "demo-initech": 1}
_STATS_TTL_S = 2.0


@router.get("/api/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, str]


@router.get(
    "/api/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready: the database is unreachable"}},
)
async def ready(ctx: Ctx) -> JSONResponse:
    # Unauthenticated, so a failing check names only the kind of error: driver messages
    # carry host names and ports. The server log has the details.
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


async def cached_stats(ctx: ApiContext) -> list[TenantDepth]:
    """Queue depth, recomputed at most every couple of seconds per instance."""
    hit = ctx.extras.get("stats")
    if hit is not None and hit[0] > time.monotonic():
        return list(hit[1])
    stats = await asyncio.to_thread(ctx.store.queue_stats, now=ctx.clock.now())
    ctx.extras["stats"] = (time.monotonic() + _STATS_TTL_S, stats)
    return stats


@router.get("/metrics", include_in_schema=False)
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


@router.get("/api/workers", responses=responses(400, 401, 503))
async def workers(_: Caller, ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
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
                ],
            }
            for i in instances
        ]
    }


@router.get("/api/queue/stats", responses=responses(400, 401, 503))
async def queue_stats(who: Caller, ctx: Ctx) -> dict[str, Any]:
    stats = await cached_stats(ctx)
    if not who.is_admin:
        stats = [s for s in stats if s.tenant_id == who.tenant_id]
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


class SeedIn(BaseModel):
    count: int = Field(300, ge=1, le=5000)


@router.post("/api/demo/seed", responses=responses(400, 401, 403, 413, 422, 503))
async def demo_seed(_: Admin, ctx: Ctx, body: SeedIn | None = None) -> dict[str, Any]:
    count = (body or SeedIn()).count
    now = ctx.clock.now()
    tenant_ids = {}
    for name, weight in DEMO_TENANTS.items():
        try:
            tenant = await asyncio.to_thread(ctx.store.get_tenant, name=name)
        except NotFound:
            try:
                tenant = await asyncio.to_thread(
                    ctx.store.create_tenant, name, weight=weight, rate_limit=None, now=now
                )
            except Conflict:
                tenant = await asyncio.to_thread(ctx.store.get_tenant, name=name)
        tenant_ids[name] = tenant.id
    rng = random.Random()
    types = list(SIMULATIONS)
    new = []
    for _i in range(count):
        demo_tenant = rng.choices(list(DEMO_TENANTS), weights=[6, 2, 2])[0]
        delay = rng.choice([0, 0, 0, 0, 5, 15, 30])
        new.append(
            NewTask(
                tenant_id=tenant_ids[demo_tenant],
                type=rng.choice(types),
                payload={"demo": True, "n": _i},
                priority=rng.choice([0, 0, 0, 5, 10]),
                cost=rng.choice([1, 1, 1, 2, 5]),
                max_attempts=3,
                timeout_s=30.0,
                run_at=now + timedelta(seconds=delay),
            )
        )
    stored = await asyncio.to_thread(ctx.store.submit, new, now=now)
    ctx.publisher.emit(
        task_event(
            task_id=s.task.id,
            tenant_id=s.task.tenant_id,
            tenant=s.task.tenant,
            type=s.task.type,
            state=s.task.state,
            attempt=0,
            at=now,
        )
        for s in stored
    )
    ctx.publisher.work_ready()
    return {"created": len(stored), "tenants": list(DEMO_TENANTS)}


@router.post("/api/demo/clear", responses=responses(400, 401, 403, 503))
async def demo_clear(_: Admin, ctx: Ctx) -> dict[str, int]:
    ids = []
    for name in DEMO_TENANTS:
        try:
            ids.append((await asyncio.to_thread(ctx.store.get_tenant, name=name)).id)
        except NotFound:
            continue
    deleted = await asyncio.to_thread(ctx.store.delete_tenant_tasks, ids) if ids else 0
    ctx.extras.pop("stats", None)
    return {"deleted": deleted}
