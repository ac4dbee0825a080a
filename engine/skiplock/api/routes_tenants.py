"""Tenants and API keys (admin; reader keys may read them), plus browser sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from skiplock import keys
from skiplock.api.auth import (
    SESSION_COOKIE,
    Admin,
    Caller,
    Ctx,
    forget_session,
    require_same_origin,
    resolve,
    session_hash,
)
from skiplock.api.bodies import JsonRoute
from skiplock.api.context import ApiContext
from skiplock.api.ops_schemas import TenantListOut
from skiplock.api.routes_ops import cached_stats
from skiplock.api.schemas import (
    NAME_PATTERN,
    KeyCreatedOut,
    KeyIn,
    KeyOut,
    SessionIn,
    TenantCreatedOut,
    TenantIn,
    TenantOut,
    TenantPatch,
    WhoAmI,
)
from skiplock.domain.models import RateLimit, Role, Tenant, TenantState
from skiplock.domain.ratelimit import parse_rate_limit
from skiplock.services.keys import check_name, check_scope, issue_key

router = APIRouter(prefix="/api", tags=["tenants"], route_class=JsonRoute)

TenantName = Annotated[str, Path(max_length=64, pattern=NAME_PATTERN)]


def _rate(text: str | None) -> RateLimit | None:
    if text is None:
        return None
    cost, window = parse_rate_limit(text)
    return RateLimit(cost=cost, window_s=window)


async def _counts(ctx: ApiContext) -> dict[int, dict[str, int]]:
    # The same short-lived per-instance figures as /api/queue/stats: counting every active
    # row is an O(rows) scan, too costly to repeat on each tenant request.
    stats = await cached_stats(ctx)
    return {s.tenant_id: s.counts for s in stats}


async def _out(ctx: ApiContext, tenant: Tenant) -> TenantOut:
    return TenantOut.of(tenant, (await _counts(ctx)).get(tenant.id))


@router.get("/tenants")
async def list_tenants(_: Admin, ctx: Ctx) -> TenantListOut:
    tenants = await asyncio.to_thread(ctx.store.list_tenants)
    counts = await _counts(ctx)
    return TenantListOut(items=[TenantOut.of(t, counts.get(t.id)) for t in tenants])


@router.post("/tenants", status_code=201, response_model=TenantCreatedOut)
async def create_tenant(body: TenantIn, _: Admin, ctx: Ctx) -> TenantCreatedOut:
    tenant, key = await ctx.tenants.create(
        body.name, weight=body.weight, rate_limit=_rate(body.rate_limit)
    )
    return TenantCreatedOut(tenant=await _out(ctx, tenant), api_key=key)


@router.get("/tenants/{name}", response_model=TenantOut)
async def get_tenant(name: TenantName, _: Admin, ctx: Ctx) -> TenantOut:
    tenant = await asyncio.to_thread(ctx.store.get_tenant, name=name)
    return await _out(ctx, tenant)


async def _update(ctx: ApiContext, name: str, body: TenantPatch) -> TenantOut:
    fields = body.model_fields_set
    updated = await ctx.tenants.update(
        name,
        weight=body.weight,
        rate_limit=_rate(body.rate_limit),
        clear_rate_limit="rate_limit" in fields and body.rate_limit is None,
        state=TenantState(body.state) if body.state else None,
    )
    return await _out(ctx, updated)


@router.patch("/tenants/{name}", response_model=TenantOut)
async def patch_tenant(name: TenantName, body: TenantPatch, _: Admin, ctx: Ctx) -> TenantOut:
    return await _update(ctx, name, body)


@router.post("/tenants/{name}/pause", response_model=TenantOut)
async def pause_tenant(name: TenantName, _: Admin, ctx: Ctx) -> TenantOut:
    return await _update(ctx, name, TenantPatch(state="paused"))


@router.post("/tenants/{name}/resume", response_model=TenantOut)
async def resume_tenant(name: TenantName, _: Admin, ctx: Ctx) -> TenantOut:
    return await _update(ctx, name, TenantPatch(state="active"))


@router.post("/tenants/{name}/drain", response_model=TenantOut)
async def drain_tenant(name: TenantName, _: Admin, ctx: Ctx) -> TenantOut:
    return await _update(ctx, name, TenantPatch(state="draining"))


# --- keys ----------------------------------------------------------------------------
@router.get("/keys")
async def list_keys(_: Admin, ctx: Ctx) -> dict[str, list[KeyOut]]:
    items = await asyncio.to_thread(ctx.store.list_api_keys)
    return {"items": [KeyOut.of(k) for k in items]}


@router.post("/keys", status_code=201, response_model=KeyCreatedOut)
async def create_key(body: KeyIn, _: Admin, ctx: Ctx) -> KeyCreatedOut:
    role = Role(body.role)
    check_scope(role, has_tenant=body.tenant is not None)  # before looking the tenant up
    check_name(body.name)
    tenant_id = None
    if body.tenant is not None:
        tenant_id = (await asyncio.to_thread(ctx.store.get_tenant, name=body.tenant)).id
    issued = await asyncio.to_thread(
        issue_key, ctx.store, role=role, tenant_id=tenant_id, name=body.name, now=ctx.clock.now()
    )
    return KeyCreatedOut(**KeyOut.of(issued.info).model_dump(), key=issued.key)


@router.delete("/keys/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: int, _: Admin, ctx: Ctx) -> KeyOut:
    info = await asyncio.to_thread(ctx.store.revoke_api_key, key_id, now=ctx.clock.now())
    # Revocation takes effect here at once (other instances: within the caches' 5 s).
    ctx.state.forget_keys()
    return KeyOut.of(info)


# --- sessions ------------------------------------------------------------------------
@router.post("/session", response_model=WhoAmI)
async def login(body: SessionIn, request: Request, ctx: Ctx, response: Response) -> WhoAmI:
    """Sign the browser in: the cookie gets a random session token, never the key."""
    require_same_origin(request)  # another site must not sign a browser in as itself
    who = await resolve(ctx, body.key)
    token = keys.new_session_token()
    now = ctx.clock.now()
    await asyncio.to_thread(
        ctx.store.create_session,
        token_hash=session_hash(token),
        key_id=who.key_id,
        now=now,
        expires_at=now + timedelta(seconds=ctx.config.session_ttl_s),
        keep=ctx.config.max_sessions_per_key,
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=ctx.config.secure_cookies or request.url.scheme == "https",
        path="/",
        max_age=int(ctx.config.session_ttl_s),
    )
    return WhoAmI(role=who.role.value, tenant=who.tenant_name, key_prefix=who.key_prefix)


@router.delete("/session", status_code=204)
async def logout(request: Request, ctx: Ctx, response: Response) -> Response:
    """Sign out: the session ends on every instance, whoever holds a copy of the cookie."""
    require_same_origin(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await asyncio.to_thread(ctx.store.delete_session, session_hash(token))
        forget_session(ctx, token)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=ctx.config.secure_cookies or request.url.scheme == "https",
    )
    response.status_code = 204
    return response


@router.get("/whoami", response_model=WhoAmI)
async def whoami(who: Caller) -> WhoAmI:
    return WhoAmI(role=who.role.value, tenant=who.tenant_name, key_prefix=who.key_prefix)
