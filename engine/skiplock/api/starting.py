"""Requests that arrive while the instance still waits at start (for the database,
Redis or the schema) get a 503 that says so, instead of a driver error from a database
that is not there yet. Health and readiness answer as usual: they are how a supervisor
learns what the instance waits for."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from skiplock.api import errors
from skiplock.api.context import ApiContext

ALWAYS = ("/api/health", "/api/ready")


class StartingGate:
    """Plain ASGI middleware: passes everything through once the start has finished."""

    def __init__(self, app: ASGIApp, *, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        startup = self.ctx.startup
        if scope["type"] != "http" or startup is None or startup.done:
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
        if not path.startswith("/api/") or path in ALWAYS:
            await self.app(scope, receive, send)
            return
        response = errors.error_response(
            503,
            "unavailable",
            f"starting: waiting for {startup.waiting_for or 'start'}",
            headers={"Retry-After": "2"},
        )
        await response(scope, receive, send)
