"""Serves the built React dashboard (``engine/skiplock/web/static``) from the API process.

Policy:

- ``/assets/*`` are Vite's content-hashed files: cached for a year, ``immutable``.
- Any other GET outside the API's own prefixes answers ``index.html`` (the single-page
  app routes on the client), marked ``no-cache`` so a new build is picked up at once.
- ``index.html`` is built with relative asset URLs, so one build works under any path
  prefix. At request time the ``<!--skiplock-config-->`` placeholder becomes the runtime
  config (``basePath`` from the ASGI ``root_path``) plus a ``<base href>`` that anchors
  those relative URLs at the prefix, also on deep links such as ``/prefix/tasks/42``.
  The config also says whether the demo-data controls are offered (``SKIPLOCK_DEMO``).
- Text assets (scripts, styles, SVG) are sent gzip-compressed to clients that accept it,
  compressed once per file and kept in memory (the build is immutable while the process
  runs). Only the dashboard's files are compressed, never API responses: those may
  carry secrets beside text a caller chose (BREACH).
- Every dashboard response carries a strict Content-Security-Policy: the app needs no
  inline script (the config tag is JSON data, not code) and talks only to its origin.

The routes refuse to match the API's prefixes, so the catch-all can never swallow an
``/api`` path, whatever order routers are included in.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
import mimetypes
import pathlib
from typing import Any, Final

import fastapi
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

CONFIG_PLACEHOLDER: Final = "<!--skiplock-config-->"

EXCLUDED_PREFIXES: Final = ("/api", "/metrics", "/docs", "/redoc", "/openapi.json")

SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

ASSET_CACHE: Final = "public, max-age=31536000, immutable"

# Worth compressing: text. Images and fonts are compressed already; tiny files gain nothing.
COMPRESSIBLE: Final = (".js", ".css", ".svg", ".html", ".json", ".map", ".txt")
MIN_COMPRESS_BYTES: Final = 1024


@functools.lru_cache(maxsize=256)
def _gzipped(path: pathlib.Path, mtime_ns: int) -> bytes:
    """``path`` compressed; ``mtime_ns`` is part of the key so a rebuilt file is redone."""
    del mtime_ns
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def _accepts_gzip(request: Request) -> bool:
    accepted = request.headers.get("accept-encoding", "")
    return any(part.split(";")[0].strip() == "gzip" for part in accepted.split(","))


NOT_BUILT_PAGE: Final = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Skiplock dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;">
<h1>The Skiplock dashboard is not built</h1>
<p>The API is running; only the web dashboard is missing from this installation.</p>
<p>Build it from a source checkout with <code>make frontend-build</code>
(Node.js 20.19 or newer), then reload this page.</p>
<p>The API is described at <a href="openapi.json">openapi.json</a>.</p>
</body>
</html>
"""


def _route_path(scope: Scope) -> str:
    """The request path below the mount point, as Starlette's router computes it."""
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path


def _is_excluded(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in EXCLUDED_PREFIXES)


class _DashboardRoute(Route):
    """A GET route that never matches the API's own prefixes."""

    def __init__(self, *args: Any, match_mount_root: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.match_mount_root = match_mount_root

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return super().matches(scope)
        route_path = _route_path(scope)
        if _is_excluded(route_path):
            return Match.NONE, {}
        if route_path == "" and self.match_mount_root:
            # "/prefix" without its trailing slash: Starlette's "/{path}" cannot match it.
            child_scope: Scope = {"endpoint": self.endpoint, "path_params": {"path": ""}}
            ok = self.methods is None or scope["method"] in self.methods
            return (Match.FULL if ok else Match.PARTIAL), child_scope
        return super().matches(scope)


def render_index(template: str, base_path: str, *, demo: bool = False) -> str:
    """Fill the config placeholder: JSON safe inside <script>, and a matching <base href>."""
    config = json.dumps({"basePath": base_path, "demo": demo}, ensure_ascii=True)
    # "<" (and, for good measure, ">" and "&") as \\u escapes: still the same JSON string,
    # but "</script>" or "<!--" in a prefix can no longer end the script element.
    config = config.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    base_href = html.escape(base_path.rstrip("/") + "/", quote=True)
    tag = (
        f'<base href="{base_href}">\n    '
        f'<script id="skiplock-config" type="application/json">{config}</script>'
    )
    return template.replace(CONFIG_PLACEHOLDER, tag, 1)


def mount_dashboard(app: fastapi.FastAPI, *, static_dir: pathlib.Path, demo: bool = False) -> None:
    """Add the dashboard routes to ``app``: hashed assets, then the SPA fallback.

    ``static_dir`` is the Vite build output (``index.html`` and ``assets/``); it may be
    missing or empty, in which case pages explain how to build the dashboard. ``demo``
    tells the app to offer the demo-data controls.
    """
    static_root = static_dir.resolve()
    assets_root = static_root / "assets"

    async def asset(request: Request) -> Response:
        relative: str = request.path_params["path"]
        missing = JSONResponse(
            {"error": "not_found", "message": "no such asset"},
            status_code=404,
            headers=SECURITY_HEADERS,
        )
        try:
            candidate = (assets_root / relative).resolve()
            found = candidate.is_relative_to(assets_root) and candidate.is_file()
        except (ValueError, OSError):  # a NUL in the name, a name too long to look up
            found = False
        if not found:
            return missing
        headers = {**SECURITY_HEADERS, "Cache-Control": ASSET_CACHE}
        if candidate.suffix in COMPRESSIBLE:
            headers["Vary"] = "Accept-Encoding"
            stat = candidate.stat()
            if _accepts_gzip(request) and stat.st_size >= MIN_COMPRESS_BYTES:
                media_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
                body = _gzipped(candidate, stat.st_mtime_ns)
                headers["Content-Encoding"] = "gzip"
                return Response(body, media_type=media_type, headers=headers)
        return FileResponse(candidate, headers=headers)

    async def index(request: Request) -> Response:
        index_file = static_root / "index.html"
        if not index_file.is_file():
            return HTMLResponse(
                NOT_BUILT_PAGE,
                status_code=404,
                headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
            )
        root_path: str = request.scope.get("root_path", "") or ""
        body = render_index(
            index_file.read_text(encoding="utf-8"), root_path.rstrip("/"), demo=demo
        )
        return HTMLResponse(body, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    app.router.routes.append(
        _DashboardRoute(
            "/assets/{path:path}", asset, methods=["GET", "HEAD"], include_in_schema=False
        )
    )
    app.router.routes.append(
        _DashboardRoute(
            "/{path:path}",
            index,
            methods=["GET", "HEAD"],
            include_in_schema=False,
            match_mount_root=True,
        )
    )
