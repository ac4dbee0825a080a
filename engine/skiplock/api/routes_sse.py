"""Server-Sent Events: every committed state change, from the one shared stream.

Any instance serves any client. Event ids are stream ids, so a client reconnecting with
``Last-Event-ID`` (or ``?last_event_id=`` after a manual reconnect) gets exactly what it
missed while the stream retains it, and an ``event: reset`` when it fell further behind.
A tenant key receives only its own tenant's events.

Policy for the connections themselves:

- An open stream checks its caller again every ``SKIPLOCK_SSE_RECHECK_S``: once the key
  is revoked or the session signed out or expired, it sends ``event: end`` (with the
  reason) and closes. Reconnecting then gets a 401.
- Slots per instance: ``SKIPLOCK_SSE_MAX_CONNECTIONS`` in all, of which
  ``SKIPLOCK_SSE_ADMIN_RESERVE`` only admin keys may use, and at most
  ``SKIPLOCK_SSE_MAX_PER_TENANT`` for any one tenant (or any one non-tenant key): one
  tenant holding its share locks out neither other tenants nor the admin."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from skiplock.api import auth
from skiplock.api.auth import Caller, Credential, Ctx
from skiplock.api.bodies import JsonRoute
from skiplock.api.context import ApiContext
from skiplock.api.errors import ApiError
from skiplock.api.state import StreamSlots
from skiplock.domain.models import Event, Principal

router = APIRouter(prefix="/api/sse", tags=["live"], route_class=JsonRoute)
log = logging.getLogger("skiplock.sse")

_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"


def slots(ctx: ApiContext) -> StreamSlots:
    return ctx.state.streams


def _frame(event: Event) -> str:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


def _visible(event: Event, who: Principal, kinds: set[str], states: set[str]) -> bool:
    if not who.sees_all and event.tenant_id != who.tenant_id:
        return False
    if kinds and event.kind not in kinds:
        return False
    return not (states and event.data.get("state") not in states)


async def _still_allowed(ctx: ApiContext, cred: Credential | None) -> str | None:
    """None while the caller may go on listening; else why not."""
    if cred is None:
        return None
    try:
        await auth.check(ctx, cred)
    except ApiError as exc:
        return exc.message
    except Exception as exc:  # the database cannot say: keep serving, check again later
        log.debug("SSE: could not re-check the caller: %s", exc)
    return None


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
    recheck = ctx.config.sse_recheck_s
    block_s = min(heartbeat, recheck, 5.0)
    cred: Credential | None = getattr(request.state, "credential", None)
    loop = asyncio.get_running_loop()
    try:
        # An empty stream starts at "0-0", so nothing published after this point is missed.
        position = after if after is not None else (await ctx.stream.last_id() or "0-0")
        yield "retry: 3000\n: connected\n\n"
        beat_at = checked_at = loop.time()
        while not await request.is_disconnected():
            if loop.time() - checked_at >= recheck:
                checked_at = loop.time()
                reason = await _still_allowed(ctx, cred)
                if reason is not None:
                    yield f"event: end\ndata: {json.dumps({'reason': reason})}\n\n"
                    return
            got = await ctx.stream.read(after=position, count=500, block_s=block_s)
            if got.reset:
                position = await ctx.stream.last_id() or "0-0"
                yield f"id: {position}\nevent: reset\ndata: {{}}\n\n"
                continue
            if got.events:
                position = got.events[-1].id or position
            frames = [_frame(e) for e in got.events if _visible(e, who, kinds, states)]
            if frames:
                beat_at = loop.time()
                yield "".join(frames)
            elif loop.time() - beat_at >= heartbeat:
                beat_at = loop.time()
                yield ": heartbeat\n\n"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the stream backend failed: end; the client reconnects
        log.warning("SSE stream ended: %s", exc)
    finally:
        slots(ctx).give_back(who)


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
    slots(ctx).take(who, ctx.config)
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
