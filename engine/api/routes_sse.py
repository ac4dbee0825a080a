"""Server-Sent Events: every committed state change, from the one shared stream.

Any instance serves any client. Event ids are stream ids, so a client reconnecting with
``Last-Event-ID`` (or ``?last_event_id=`` after a manual reconnect) gets exactly what it
missed while the stream retains it, and an ``event: reset`` when it fell further behind.
A tenant key receives only its own tenant's events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from engine import metrics
from engine.api.auth import Caller, Ctx
from engine.api.context import ApiContext
from engine.api.errors import ApiError
from engine.domain.models import Event, Principal

router = APIRouter(prefix="/api/sse", tags=["live"])
log = logging.getLogger("skiplock.sse")

_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"


def _frame(event: Event) -> str:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


def _visible(event: Event, who: Principal, kinds: set[str], states: set[str]) -> bool:
    if not who.is_admin and event.tenant_id != who.tenant_id:
        return False
    if kinds and event.kind not in kinds:
        return False
    return not (states and event.data.get("state") not in states)


async def _stream(
    request: Request,
    ctx: ApiContext,
    who: Principal,
    *,
    after: str | None,
    kinds: set[str],
    states: set[str],
) -> AsyncIterator[str]:
    heartbeat = ctx.config.sse_heartbeat_s
    try:
        # An empty stream starts at "0-0", so nothing published after this point is missed.
        position = after if after is not None else (await ctx.stream.last_id() or "0-0")
        yield "retry: 3000\n: connected\n\n"
        since_beat = 0.0
        while not await request.is_disconnected():
            got = await ctx.stream.read(after=position, count=500, block_s=min(heartbeat, 5.0))
            if got.reset:
                position = await ctx.stream.last_id() or "0-0"
                yield f"id: {position}\nevent: reset\ndata: {{}}\n\n"
                continue
            if not got.events:
                since_beat += min(heartbeat, 5.0)
                if since_beat >= heartbeat:
                    since_beat = 0.0
                    yield ": heartbeat\n\n"
                continue
            position = got.events[-1].id or position
            frames = [_frame(e) for e in got.events if _visible(e, who, kinds, states)]
            if frames:
                since_beat = 0.0
                yield "".join(frames)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the stream backend failed: end; the client reconnects
        log.warning("SSE stream ended: %s", exc)
    finally:
        ctx.sse_connections -= 1
        metrics.SSE_CONNECTIONS.set(ctx.sse_connections)


@router.get("/events", response_class=StreamingResponse)
async def events(
    request: Request,
    who: Caller,
    ctx: Ctx,
    kind: Annotated[list[str] | None, Query(max_length=5)] = None,
    state: Annotated[list[str] | None, Query(max_length=10)] = None,
    last_event_id: Annotated[str | None, Query(pattern=_ID_PATTERN)] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=_ID_PATTERN)
    ] = None,
) -> StreamingResponse:
    if ctx.sse_connections >= ctx.config.sse_max_connections:
        raise ApiError(
            503,
            "unavailable",
            "too many live connections on this instance; retry",
            headers={"Retry-After": "5"},
        )
    ctx.sse_connections += 1
    metrics.SSE_CONNECTIONS.set(ctx.sse_connections)
    after = last_event_id_header or last_event_id
    return StreamingResponse(
        _stream(request, ctx, who, after=after, kinds=set(kind or ()), states=set(state or ())),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "Connection": "keep-alive",
        },
    )
