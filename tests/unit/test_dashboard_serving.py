"""The dashboard is served from the API process: SPA fallback, asset caching, base path."""

from __future__ import annotations

import json
import pathlib
import re

import fastapi
import httpx
import pytest

from skiplock.api.dashboard import CONFIG_PLACEHOLDER, mount_dashboard, render_index

INDEX = f"""<!doctype html>
<html><head><meta charset="UTF-8" />
    {CONFIG_PLACEHOLDER}
    <script type="module" crossorigin src="./assets/index-abc123.js"></script>
</head><body><div id="root"></div></body></html>
"""


@pytest.fixture
def static_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX, encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('hi')", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not an asset", encoding="utf-8")
    return tmp_path


def make_app(static_dir: pathlib.Path, *, demo: bool = False) -> fastapi.FastAPI:
    app = fastapi.FastAPI()
    # Mounted first on purpose: the catch-all must not shadow API routes added later.
    mount_dashboard(app, static_dir=static_dir, demo=demo)

    @app.get("/api/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @app.get("/metrics")
    async def metrics() -> fastapi.Response:
        return fastapi.Response("skiplock_up 1\n", media_type="text/plain")

    return app


def client(app: fastapi.FastAPI, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def injected_config(body: str) -> dict[str, object]:
    match = re.search(
        r'<script id="skiplock-config" type="application/json">(.*?)</script>', body, re.S
    )
    assert match, body
    parsed: dict[str, object] = json.loads(match.group(1))
    return parsed


async def test_index_gets_base_path_from_root_path_on_deep_links(
    static_dir: pathlib.Path,
) -> None:
    async with client(make_app(static_dir), root_path="/jobs") as c:
        response = await c.get("/jobs/tasks/42")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert injected_config(response.text) == {"basePath": "/jobs", "demo": False}
    assert '<base href="/jobs/">' in response.text
    assert CONFIG_PLACEHOLDER not in response.text


async def test_index_without_root_path_has_empty_base_path(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir)) as c:
        response = await c.get("/")
    assert response.status_code == 200
    assert injected_config(response.text) == {"basePath": "", "demo": False}
    assert '<base href="/">' in response.text


async def test_mount_root_without_trailing_slash_serves_index(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir), root_path="/jobs") as c:
        response = await c.get("/jobs")
    assert response.status_code == 200
    assert injected_config(response.text) == {"basePath": "/jobs", "demo": False}


async def test_index_tells_the_app_when_demo_data_is_offered(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir, demo=True)) as c:
        response = await c.get("/tasks")
    assert injected_config(response.text) == {"basePath": "", "demo": True}


def test_injected_config_cannot_close_the_script_tag() -> None:
    hostile = '/x</script><script>alert(1)</script>"&'
    body = render_index(INDEX, hostile)
    config_text = body.split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in config_text
    assert json.loads(config_text) == {"basePath": hostile, "demo": False}
    assert "<script>alert(1)" not in body
    escaped = "/x&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;/"
    assert f'<base href="{escaped}">' in body


async def test_assets_are_cached_immutably(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir), root_path="/jobs") as c:
        response = await c.get("/jobs/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log('hi')"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.headers["content-type"]


async def test_text_assets_are_gzipped_for_clients_that_accept_it(
    static_dir: pathlib.Path,
) -> None:
    script = "export const x = 1;\n" * 500
    (static_dir / "assets" / "big-abc123.js").write_text(script, encoding="utf-8")
    async with client(make_app(static_dir)) as c:
        gzipped = await c.get("/assets/big-abc123.js", headers={"accept-encoding": "gzip"})
        plain = await c.get("/assets/big-abc123.js", headers={"accept-encoding": "identity"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < len(script) // 10
    assert gzipped.text == script  # httpx decodes it: the same file
    assert gzipped.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert gzipped.headers["vary"] == "Accept-Encoding"
    assert "javascript" in gzipped.headers["content-type"]
    assert "content-encoding" not in plain.headers
    assert plain.text == script


async def test_missing_asset_is_404_not_index(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir)) as c:
        response = await c.get("/assets/nope.js")
    assert response.status_code == 404
    assert '<div id="root">' not in response.text


async def test_asset_path_cannot_escape_the_assets_directory(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir)) as c:
        response = await c.get("/assets/%2e%2e/secret.txt")
    assert response.status_code == 404
    assert "not an asset" not in response.text


async def test_dashboard_responses_carry_security_headers(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir)) as c:
        for path in ("/", "/workers", "/assets/index-abc123.js"):
            response = await c.get(path)
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "script-src 'self'" in csp
            assert "img-src 'self' data:" in csp
            assert "style-src 'self' 'unsafe-inline'" in csp
            assert "connect-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"


async def test_missing_build_explains_how_to_build(tmp_path: pathlib.Path) -> None:
    async with client(make_app(tmp_path / "static")) as c:
        response = await c.get("/")
    assert response.headers["content-type"].startswith("text/html")
    assert "not built" in response.text
    assert "make frontend-build" in response.text
    assert response.headers["x-frame-options"] == "DENY"


async def test_api_paths_are_not_swallowed_by_the_spa_fallback(
    static_dir: pathlib.Path,
) -> None:
    async with client(make_app(static_dir)) as c:
        ping = await c.get("/api/ping")
        unknown = await c.get("/api/does-not-exist")
        metrics = await c.get("/metrics")
        openapi = await c.get("/openapi.json")
    assert ping.json() == {"pong": "yes"}
    assert unknown.status_code == 404
    assert '<div id="root">' not in unknown.text
    assert metrics.text == "skiplock_up 1\n"
    assert openapi.headers["content-type"].startswith("application/json")


async def test_api_paths_under_a_root_path_are_not_swallowed(static_dir: pathlib.Path) -> None:
    async with client(make_app(static_dir), root_path="/jobs") as c:
        unknown = await c.get("/jobs/api/nope")
        ping = await c.get("/jobs/api/ping")
    assert unknown.status_code == 404
    assert '<div id="root">' not in unknown.text
    assert ping.json() == {"pong": "yes"}


async def test_dashboard_routes_stay_out_of_the_openapi_schema(
    static_dir: pathlib.Path,
) -> None:
    async with client(make_app(static_dir)) as c:
        schema = (await c.get("/openapi.json")).json()
    assert set(schema["paths"]) == {"/api/ping", "/metrics"}
