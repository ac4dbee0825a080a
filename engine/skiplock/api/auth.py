"""Authentication (an API key in the ``Authorization`` header, or the dashboard's session
cookie) and the three roles. A tenant key on an admin route gets 403; everywhere else a
tenant key is scoped to its own tenant's rows. A reader key reads what an admin reads and
gets 403 on every unsafe method, so it can be handed to monitoring and the operator.

The cookie never holds the key: signing in stores a random token's digest with the key's
id (the ``sessions`` table, shared by every instance), and signing out deletes it, so a
leaked cookie can be ended without revoking the key."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import Depends, Request

from skiplock import keys
from skiplock.api.context import ApiContext
from skiplock.api.errors import ApiError
from skiplock.domain.models import Principal, Role
from skiplock.ports import StoredKey

log = logging.getLogger("skiplock.api")

SESSION_COOKIE = "skiplock_session"
_SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Methods that change nothing (RFC 9110 "safe"); a reader key may use only these.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <key>'")
        return value.strip()
    return None


async def resolve(ctx: ApiContext, key: str) -> Principal:
    parsed = keys.parse(key)
    if parsed is None:
        raise ApiError(401, "unauthorized", "malformed API key")
    cache = ctx.state.keys
    hit, stored = cache.get(parsed.prefix)
    if not hit:
        stored = await asyncio.to_thread(ctx.store.find_api_key, parsed.prefix)
        cache.put(parsed.prefix, stored)
    if stored is None or not keys.matches(parsed, stored.secret_hash):
        raise ApiError(401, "unauthorized", "unknown API key")
    who = _principal(stored)
    if not hit:
        await _note_use(ctx, stored)
    return who


def session_hash(token: str) -> str:
    return keys.hash_secret(token)


async def resolve_session(ctx: ApiContext, token: str) -> Principal:
    expired = ApiError(401, "unauthorized", "the session has ended; sign in again")
    if not _SESSION_TOKEN.match(token):
        raise expired
    digest = session_hash(token)
    cache = ctx.state.sessions
    hit, stored = cache.get(digest)
    if not hit:
        stored = await asyncio.to_thread(ctx.store.find_session, digest, now=ctx.clock.now())
        cache.put(digest, stored)
    if stored is None:
        raise expired
    who = _principal(stored)
    if not hit:
        await _note_use(ctx, stored)
    return who


_USE_RESOLUTION_S = 60.0


async def _note_use(ctx: ApiContext, stored: StoredKey) -> None:
    """Keep the key's ``last_used_at`` (for ``skiplock key list``) to the minute. Runs
    only on a lookup-cache miss; a failed write never fails the request."""
    now = ctx.clock.now()
    last = stored.info.last_used_at
    if last is not None and (now - last).total_seconds() < _USE_RESOLUTION_S:
        return
    try:
        await asyncio.to_thread(ctx.store.touch_api_key, stored.info.id, now=now)
    except Exception as exc:
        log.debug("could not record the use of key %s: %s", stored.info.prefix, exc)


def forget_session(ctx: ApiContext, token: str) -> None:
    ctx.state.sessions.drop(session_hash(token))


def _principal(stored: StoredKey) -> Principal:
    if stored.info.revoked_at is not None:
        raise ApiError(401, "unauthorized", "this API key was revoked")
    return Principal(
        role=stored.info.role,
        key_id=stored.info.id,
        key_prefix=stored.info.prefix,
        tenant_id=stored.tenant_id,
        tenant_name=stored.info.tenant,
        key_name=stored.info.name,
    )


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request showed to prove who it is: an API key or a dashboard session token.
    Kept for the life of a request, so a long one (an event stream) can check it again."""

    kind: Literal["key", "session"]
    secret: str = field(repr=False)  # never in a log line or a traceback


def credential(request: Request) -> Credential | None:
    key = _bearer(request)
    if key:
        return Credential("key", key)
    token = request.cookies.get(SESSION_COOKIE)
    return Credential("session", token) if token else None


async def check(ctx: ApiContext, cred: Credential) -> Principal:
    """The principal behind ``cred`` now: 401 once the key is revoked or the session
    has ended (within the lookup caches' few seconds)."""
    if cred.kind == "key":
        return await resolve(ctx, cred.secret)
    return await resolve_session(ctx, cred.secret)


def require_same_origin(request: Request) -> None:
    """Refuse a state change a browser makes on another site's behalf.

    Cookies are ``SameSite=Strict``; this is the second wall. ``Sec-Fetch-Site`` (sent by
    every current browser) must say ``same-origin``; a browser too old to send it is
    held to ``Origin`` matching ``Host``. A request with neither is not from a browser's
    page (curl, the Python client) and cannot be forged by one."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None:
        allowed = site in ("same-origin", "none")
    elif origin is not None:
        allowed = urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()
    else:
        allowed = True
    if not allowed:
        raise ApiError(
            403,
            "forbidden",
            "cross-origin request refused: the session cookie works only from the "
            "dashboard's own origin (or send an API key)",
        )


async def authenticate(ctx: ApiContext, request: Request) -> Principal:
    """Who sends ``request``, from its headers alone (the body is never needed). Also
    run by the request guard before a body is read; the result is kept on the request."""
    cred = credential(request)
    if cred is None:
        raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
    if cred.kind == "session" and request.method not in SAFE_METHODS:
        require_same_origin(request)
    found = await check(ctx, cred)
    request.state.principal = found
    request.state.credential = cred
    return found


async def principal(request: Request) -> Principal:
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        found = await authenticate(context(request), request)
    # One check here covers every route, present and future, that takes a caller.
    if found.role is Role.READER and request.method not in SAFE_METHODS:
        raise ApiError(
            403, "forbidden", f"a reader key is read-only: {request.method} is not allowed"
        )
    return found


async def computing(request: Request) -> Principal:
    """Any valid key, readers included, for a POST that computes an answer from its body
    and changes nothing (a schedule's preview): the method is not what makes it safe."""
    found: Principal | None = getattr(request.state, "principal", None)
    return found if found is not None else await authenticate(context(request), request)


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """Admin routes; a reader passes too, but only for the safe methods (see principal)."""
    if not who.sees_all:
        raise ApiError(403, "forbidden", "this endpoint needs an admin key")
    return who


Caller = Annotated[Principal, Depends(principal)]
Computing = Annotated[Principal, Depends(computing)]
Admin = Annotated[Principal, Depends(admin)]
Ctx = Annotated[ApiContext, Depends(context)]
