"""The FastAPI application: routers, error mapping, the request guard and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from skiplock import __version__
from skiplock.api import (
    errors,
    routes_analytics,
    routes_ops,
    routes_schedules,
    routes_sse,
    routes_tasks,
    routes_tenants,
    routes_types,
)
from skiplock.api.context import ApiContext
from skiplock.api.guard import Guard
from skiplock.api.starting import StartingGate

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    ctx: ApiContext, *, lifespan: Lifespan | None = None, serve_metrics: bool = True
) -> FastAPI:
    """The whole API. ``serve_metrics=False`` leaves ``/metrics`` to
    :func:`create_metrics_app` on its own port (``SKIPLOCK_METRICS_PORT``)."""
    app = FastAPI(
        title="Skiplock",
        version=__version__,
        summary="A distributed background job engine with fair, rate-limited tenants.",
        lifespan=lifespan,
        # /openapi.json always; the interactive pages only by choice (_add_docs).
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(Guard, ctx=ctx)
    app.add_middleware(StartingGate, ctx=ctx)

    # Any authenticated route may answer these; operations routes declare their own.
    authenticated = errors.responses(400, 401, 403, 404, 409, 413, 422, 503)
    for router in (
        routes_tasks.router,
        routes_tenants.router,
        routes_schedules.router,
        routes_sse.router,
        routes_analytics.router,
    ):
        app.include_router(router, responses=authenticated)
    app.include_router(routes_ops.router)
    app.include_router(routes_types.router)
    if serve_metrics:
        app.include_router(routes_ops.metrics_router)
    else:
        # Answered here so that the dashboard's catch-all route does not serve it a page.
        app.add_api_route("/metrics", _no_metrics, include_in_schema=False)
    if ctx.config.api_docs:
        _add_docs(app)
    _mount_dashboard(app, demo=ctx.config.demo)
    return app


def create_metrics_app(ctx: ApiContext) -> FastAPI:
    """``/metrics`` alone, for ``SKIPLOCK_METRICS_PORT``: scrapers reach it there while the
    API port, which an Ingress may publish, does not serve it."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.include_router(routes_ops.metrics_router)
    return app


async def _no_metrics() -> Response:
    return errors.error_response(404, "not_found", "/metrics is served on the metrics port")


# The interactive API pages load their scripts from a CDN into the engine's origin,
# where the dashboard's session cookie lives: off unless SKIPLOCK_API_DOCS=true, and
# then at exact versions, never a moving "@5" tag.
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
REDOC = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js"


def _add_docs(app: FastAPI) -> None:
    def openapi_url(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/") + str(app.openapi_url)

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - API",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url(request), title=f"{app.title} - API", redoc_js_url=REDOC
        )


def _mount_dashboard(app: FastAPI, *, demo: bool) -> None:
    try:
        from skiplock.api.dashboard import mount_dashboard
    except ImportError:  # pragma: no cover - the dashboard module ships with the package
        return
    mount_dashboard(app, static_dir=STATIC_DIR, demo=demo)
