"""The FastAPI application: routers, error mapping, body limits and the dashboard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI, Request, Response

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

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return errors.error_response(400, "bad_request", "invalid Content-Length")
            if int(declared) > ctx.config.max_body_bytes:
                return errors.error_response(
                    413,
                    "payload_too_large",
                    f"request body over {ctx.config.max_body_bytes} bytes",
                )
        response = await call_next(request)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    for router in (
        routes_tasks.router,
        routes_tenants.router,
        routes_ops.router,
        routes_sse.router,
        routes_analytics.router,
    ):
        app.include_router(router)
    _mount_dashboard(app)
    return app


def _mount_dashboard(app: FastAPI) -> None:
    try:
        from engine.api.dashboard import mount_dashboard
    except ImportError:  # pragma: no cover - the dashboard module ships with the package
        return
    mount_dashboard(app, static_dir=STATIC_DIR)
