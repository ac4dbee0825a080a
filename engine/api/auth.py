"""Authentication (API keys from the ``Authorization`` header or the session cookie) and
the two roles. A tenant key on an admin route gets 403; everywhere else a tenant key is
scoped to its own tenant's rows."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import Depends, Request

from engine import keys
from engine.api.context import ApiContext
from engine.api.errors import ApiError
from engine.domain.models import Principal, Role
from engine.ports import StoredKey

SESSION_COOKIE = "skiplock_session"
_CACHE_TTL_S = 5.0  # a revoked key stops working within this many seconds


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


class KeyCache:
    """Looked-up keys for a few seconds, so each request does not cost a query."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, StoredKey | None]] = {}

    def get(self, prefix: str) -> tuple[bool, StoredKey | None]:
        hit = self._entries.get(prefix)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, prefix: str, stored: StoredKey | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[prefix] = (time.monotonic() + _CACHE_TTL_S, stored)


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <key>'")
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


async def resolve(ctx: ApiContext, key: str) -> Principal:
    parsed = keys.parse(key)
    if parsed is None:
        raise ApiError(401, "unauthorized", "malformed API key")
    cache: KeyCache = ctx.extras.setdefault("key_cache", KeyCache())
    hit, stored = cache.get(parsed.prefix)
    if not hit:
        stored = await asyncio.to_thread(ctx.store.find_api_key, parsed.prefix)
        cache.put(parsed.prefix, stored)
    if stored is None or not keys.matches(parsed, stored.secret_hash):
        raise ApiError(401, "unauthorized", "unknown API key")
    if stored.info.revoked_at is not None:
        raise ApiError(401, "unauthorized", "this API key was revoked")
    return Principal(
        role=stored.info.role,
        key_id=stored.info.id,
        key_prefix=stored.info.prefix,
        tenant_id=stored.tenant_id,
        tenant_name=stored.info.tenant,
    )


async def principal(request: Request) -> Principal:
    key = _presented_key(request)
    if not key:
        raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
    found = await resolve(context(request), key)
    request.state.principal = found
    return found


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role is not Role.ADMIN:
        raise ApiError(403, "forbidden", "this endpoint needs an admin key")
    return who


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Ctx = Annotated[ApiContext, Depends(context)]
