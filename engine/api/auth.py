"""Authentication (an API key in the ``Authorization`` header, or the dashboard's session
cookie) and the two roles. A tenant key on an admin route gets 403; everywhere else a
tenant key is scoped to its own tenant's rows.

The cookie never holds the key: signing in stores a random token's digest with the key's
id (the ``sessions`` table, shared by every instance), and signing out deletes it, so a
leaked cookie can be ended without revoking the key."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from engine import keys
from engine.api.context import ApiContext
from engine.api.errors import ApiError
from engine.domain.models import Principal, Role
from engine.ports import StoredKey

SESSION_COOKIE = "skiplock_session"
SESSION_TTL = timedelta(hours=12)
_CACHE_TTL_S = 5.0  # a revoked key or ended session stops working within this many seconds
_SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


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

    def drop(self, prefix: str) -> None:
        self._entries.pop(prefix, None)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <key>'")
        return value.strip()
    return None


def _cache(ctx: ApiContext, name: str) -> KeyCache:
    cache: KeyCache = ctx.extras.setdefault(name, KeyCache())
    return cache


async def resolve(ctx: ApiContext, key: str) -> Principal:
    parsed = keys.parse(key)
    if parsed is None:
        raise ApiError(401, "unauthorized", "malformed API key")
    cache = _cache(ctx, "key_cache")
    hit, stored = cache.get(parsed.prefix)
    if not hit:
        stored = await asyncio.to_thread(ctx.store.find_api_key, parsed.prefix)
        cache.put(parsed.prefix, stored)
    if stored is None or not keys.matches(parsed, stored.secret_hash):
        raise ApiError(401, "unauthorized", "unknown API key")
    return _principal(stored)


def session_hash(token: str) -> str:
    return keys.hash_secret(token)


async def resolve_session(ctx: ApiContext, token: str) -> Principal:
    expired = ApiError(401, "unauthorized", "the session has ended; sign in again")
    if not _SESSION_TOKEN.match(token):
        raise expired
    digest = session_hash(token)
    cache = _cache(ctx, "session_cache")
    hit, stored = cache.get(digest)
    if not hit:
        stored = await asyncio.to_thread(ctx.store.find_session, digest, now=ctx.clock.now())
        cache.put(digest, stored)
    if stored is None:
        raise expired
    return _principal(stored)


def forget_session(ctx: ApiContext, token: str) -> None:
    _cache(ctx, "session_cache").drop(session_hash(token))


def _principal(stored: StoredKey) -> Principal:
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
    key = _bearer(request)
    token = request.cookies.get(SESSION_COOKIE)
    if key:
        found = await resolve(context(request), key)
    elif token:
        found = await resolve_session(context(request), token)
    else:
        raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
    request.state.principal = found
    return found


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role is not Role.ADMIN:
        raise ApiError(403, "forbidden", "this endpoint needs an admin key")
    return who


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Ctx = Annotated[ApiContext, Depends(context)]
