"""Tenants and API keys (admin only), plus browser sessions."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from engine import keys
from engine.api.auth import (
    SESSION_COOKIE,
    SESSION_TTL,
    Admin,
    Caller,
    Ctx,
    forget_session,
    resolve,
    session_hash,
)
from engine.api.context import ApiContext
from engine.api.errors import ApiError
from engine.api.routes_ops import cached_stats
from engine.api.schemas import (
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
from engine.domain.models import Event, RateLimit, Role, Tenant, TenantState
from engine.domain.ratelimit import parse_rate_limit

router = APIRouter(prefix="/api", tags=["tenants"])

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


async def create_tenant_key(ctx: ApiContext, tenant: Tenant, name: str = "") -> str:
    key, parsed = keys.generate()
    await asyncio.to_thread(
        ctx.store.create_api_key,
        role=Role.TENANT,
        tenant_id=tenant.id,
        name=name or tenant.name,
        prefix=parsed.prefix,
        secret_hash=parsed.secret_hash,
        now=ctx.clock.now(),
    )
    return key


@router.get("/tenants")
async def list_tenants(_: Admin, ctx: Ctx) -> dict[str, list[TenantOut]]:
    tenants = await asyncio.to_thread(ctx.store.list_tenants)
    counts = await _counts(ctx)
    return {"items": [TenantOut.of(t, counts.get(t.id)) for t in tenants]}


@router.post("/tenants", status_code=201, response_model=TenantCreatedOut)
async def create_tenant(body: TenantIn, _: Admin, ctx: Ctx) -> TenantCreatedOut:
    tenant = await asyncio.to_thread(
        ctx.store.create_tenant,
        body.name,
        weight=body.weight,
        rate_limit=_rate(body.rate_limit),
        now=ctx.clock.now(),
    )
    key = await create_tenant_key(ctx, tenant)
    _tenant_event(ctx, tenant)
    return TenantCreatedOut(tenant=await _out(ctx, tenant), api_key=key)


@router.get("/tenants/{name}", response_model=TenantOut)
async def get_tenant(name: TenantName, _: Admin, ctx: Ctx) -> TenantOut:
    tenant = await asyncio.to_thread(ctx.store.get_tenant, name=name)
    return await _out(ctx, tenant)


def _tenant_event(ctx: ApiContext, tenant: Tenant) -> None:
    ctx.extras.pop("stats", None)  # tenant rows changed: recount on the next read
    ctx.publisher.emit(
        [
            Event(
                kind="tenant",
                tenant_id=tenant.id,
                data={"tenant": tenant.name, "state": tenant.state.value, "weight": tenant.weight},
            )
        ]
    )


async def _update(ctx: ApiContext, name: str, body: TenantPatch) -> TenantOut:
    tenant = await asyncio.to_thread(ctx.store.get_tenant, name=name)
    fields = body.model_fields_set
    updated = await asyncio.to_thread(
        ctx.store.update_tenant,
        tenant.id,
        weight=body.weight,
        rate_limit=_rate(body.rate_limit),
        clear_rate_limit="rate_limit" in fields and body.rate_limit is None,
        state=TenantState(body.state) if body.state else None,
    )
    _tenant_event(ctx, updated)
    if updated.state is not TenantState.PAUSED and tenant.state is TenantState.PAUSED:
        ctx.publisher.work_ready()
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
    tenant_id = None
    if body.role == "tenant":
        if body.tenant is None:
            raise ApiError(
                422,
                "validation_error",
                "a tenant key needs 'tenant'",
                fields=[{"field": "tenant", "message": "required for role tenant"}],
            )
        tenant_id = (await asyncio.to_thread(ctx.store.get_tenant, name=body.tenant)).id
    elif body.tenant is not None:
        raise ApiError(
            422,
            "validation_error",
            "an admin key has no tenant",
            fields=[{"field": "tenant", "message": "not allowed for role admin"}],
        )
    key, parsed = keys.generate()
    info = await asyncio.to_thread(
        ctx.store.create_api_key,
        role=Role(body.role),
        tenant_id=tenant_id,
        name=body.name,
        prefix=parsed.prefix,
        secret_hash=parsed.secret_hash,
        now=ctx.clock.now(),
    )
    return KeyCreatedOut(**KeyOut.of(info).model_dump(), key=key)


@router.delete("/keys/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: int, _: Admin, ctx: Ctx) -> KeyOut:
    info = await asyncio.to_thread(ctx.store.revoke_api_key, key_id, now=ctx.clock.now())
    # Revocation takes effect here at once (other instances: within the caches' 5 s).
    ctx.extras.pop("key_cache", None)
    ctx.extras.pop("session_cache", None)
    return KeyOut.of(info)


# --- sessions ------------------------------------------------------------------------
@router.post("/session", response_model=WhoAmI)
async def login(body: SessionIn, ctx: Ctx, response: Response) -> WhoAmI:
    """Sign the browser in: the cookie gets a random session token, never the key."""
    who = await resolve(ctx, body.key)
    token = keys.new_session_token()
    now = ctx.clock.now()
    await asyncio.to_thread(
        ctx.store.create_session,
        token_hash=session_hash(token),
        key_id=who.key_id,
        now=now,
        expires_at=now + SESSION_TTL,
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=ctx.config.secure_cookies,
        path="/",
        max_age=int(SESSION_TTL.total_seconds()),
    )
    return WhoAmI(role=who.role.value, tenant=who.tenant_name, key_prefix=who.key_prefix)


@router.delete("/session", status_code=204)
async def logout(request: Request, ctx: Ctx, response: Response) -> Response:
    """Sign out: the session ends on every instance, whoever holds a copy of the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await asyncio.to_thread(ctx.store.delete_session, session_hash(token))
        forget_session(ctx, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/whoami", response_model=WhoAmI)
async def whoami(who: Caller) -> WhoAmI:
    return WhoAmI(role=who.role.value, tenant=who.tenant_name, key_prefix=who.key_prefix)
