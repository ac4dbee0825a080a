"""The FastAPI application: routers, error mapping, body limits and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import __version__
from engine.api import (
    errors,
    routes_analytics,
    routes_ops,
    routes_sse,
    routes_tasks,
    routes_tenants,
)
from engine.api.context import ApiContext

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(ctx: ApiContext, *, lifespan: Lifespan | None = None) -> FastAPI:
    app = FastAPI(
        title="Skiplock",
        version=__version__,
        summary="A distributed background job engine with fair, rate-limited tenants.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(Guard, max_body_bytes=ctx.config.max_body_bytes)

    # Any authenticated route may answer these; operations routes declare their own.
    authenticated = errors.responses(400, 401, 403, 404, 409, 413, 422, 503)
    for router in (
        routes_tasks.router,
        routes_tenants.router,
        routes_sse.router,
        routes_analytics.router,
    ):
        app.include_router(router, responses=authenticated)
    app.include_router(routes_ops.router)
    _mount_dashboard(app)
    return app


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit; FastAPI re-raises HTTP
    exceptions met while it reads a body, so the error handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class Guard:
    """Request body limit and API response headers, as plain ASGI middleware.

    ``Content-Length`` over the limit is refused before the body is read. A body
    without one (``Transfer-Encoding: chunked``) is counted as it streams in and cut
    off at the limit, so no request can make the server buffer more than the limit.
    Plain ASGI rather than ``@app.middleware``: it sees the body chunk by chunk and does
    not buffer streaming responses (SSE)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The path as the routes see it: behind a proxy (SKIPLOCK_ROOT_PATH) the ASGI
        # path still carries the root path in front.
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        is_api = path.removeprefix(root).startswith("/api/")
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if is_api:
                    headers = MutableHeaders(scope=message)
                    headers.setdefault("Cache-Control", "no-store")
                    headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        declared = Headers(scope=scope).get("content-length")
        refusal = None
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            refusal = errors.error_response(400, "bad_request", "invalid Content-Length")
        elif declared is not None and int(declared) > self.limit:
            refusal = errors.error_response(
                413, "payload_too_large", f"request body over {self.limit} bytes"
            )
        if refusal is not None:
            await refusal(scope, receive, send_guarded)
            return

        seen = 0

        async def receive_limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        try:
            await self.app(scope, receive_limited, send_guarded)
        except BodyTooLarge as exc:
            # Read outside FastAPI's body parsing (no handler saw it): answer here.
            if started:
                raise
            response = errors.error_response(413, "payload_too_large", str(exc.detail))
            await response(scope, receive, send_guarded)


def _mount_dashboard(app: FastAPI) -> None:
    try:
        from engine.api.dashboard import mount_dashboard
    except ImportError:  # pragma: no cover - the dashboard module ships with the package
        return
    mount_dashboard(app, static_dir=STATIC_DIR)
