"""Hostile input and the API's security defaults: every body, string, number, time and
query parameter is bounded; whatever a client sends, the answer is a JSON 4xx and
nothing is stored; keys never reach the logs; no CORS; security headers everywhere."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from engine import keys
from tests.integration.conftest import Harness, live_server

SMALL_LIMIT = 64 * 1024  # the smallest SKIPLOCK_MAX_BODY_BYTES allowed
DEFAULT_LIMIT = 16 * 1024 * 1024
JSON = {"content-type": "application/json"}


@pytest.fixture
async def small(harness_factory: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Harness]:
    """An API whose request bodies are limited to 64 KiB."""
    h = await harness_factory(sqlite_url, max_body_bytes=SMALL_LIMIT)
    yield h
    await h.client.aclose()
    await h.engine.stop()


class Chunks:
    """A request body streamed in chunks with no Content-Length (chunked encoding),
    counting how much of it the server pulled."""

    def __init__(self, total: int, *, chunk: int = 64 * 1024, prefix: bytes = b"") -> None:
        self.total, self.chunk, self.prefix = total, chunk, prefix
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.prefix:
            self.sent += len(self.prefix)
            yield self.prefix
        while self.sent < self.total:
            piece = b" " * min(self.chunk, self.total - self.sent)
            self.sent += len(piece)
            yield piece


def assert_json_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == error, r.text


# --- request bodies ----------------------------------------------------------------


async def test_a_chunked_body_over_the_limit_is_413_before_it_is_all_read(small: Harness) -> None:
    body = Chunks(10 * SMALL_LIMIT, chunk=4096, prefix=b'{"type": "noop", "payload": "')
    r = await small.client.post("/api/tasks", content=body, headers={**small.admin, **JSON})
    assert "content-length" not in r.request.headers
    assert_json_error(r, 413, "payload_too_large")
    assert body.sent < 2 * SMALL_LIMIT, "the server read on past the limit"
    assert await small.count() == 0


async def test_a_chunked_body_over_the_default_16_mib_is_413(api: Harness) -> None:
    body = Chunks(DEFAULT_LIMIT + 4 * 1024 * 1024, chunk=1024 * 1024)
    r = await api.client.post("/api/tasks/batch", content=body, headers={**api.admin, **JSON})
    assert_json_error(r, 413, "payload_too_large")
    assert body.sent <= DEFAULT_LIMIT + 1024 * 1024
    assert await api.count() == 0


async def test_a_chunked_body_over_the_limit_is_413_on_a_real_socket(small: Harness) -> None:
    async with live_server(small) as client:
        body = Chunks(4 * SMALL_LIMIT, chunk=8192, prefix=b'{"type": "noop", "payload": "')
        r = await client.post("/api/tasks", content=body, headers={**small.admin, **JSON})
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert_json_error(r, 413, "payload_too_large")
    assert await small.count() == 0


async def test_a_chunked_body_within_the_limit_is_accepted(small: Harness) -> None:
    body = Chunks(0, prefix=b'{"type": "noop", "payload": {"a": 1}}')
    r = await small.client.post("/api/tasks", content=body, headers={**small.admin, **JSON})
    assert r.status_code == 201, r.text
    assert r.json()["payload"] == {"a": 1}


async def test_a_declared_length_over_the_limit_is_413_without_reading_the_body(
    small: Harness,
) -> None:
    body = Chunks(SMALL_LIMIT + 1)
    headers = {**small.admin, **JSON, "content-length": str(SMALL_LIMIT + 1)}
    r = await small.client.post("/api/tasks", content=body, headers=headers)
    assert_json_error(r, 413, "payload_too_large")
    assert body.sent == 0


# "²" is a digit to str.isdigit() but not to int(): the case that used to be a 500.
@pytest.mark.parametrize("declared", [b"12a", b"-1", b"1e3", b"\xb2", b" 5"])
async def test_a_malformed_content_length_is_400(api: Harness, declared: bytes) -> None:
    # Real servers (h11) refuse these before the app; the app must not trust its server.
    # Straight to the ASGI app: httpx itself refuses to send such headers.
    app = api.client._transport.app  # type: ignore[attr-defined]  # httpx keeps it private
    auth = api.admin["Authorization"].encode()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"type": "noop"}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/tasks",
        "raw_path": b"/api/tasks",
        "root_path": "",
        "query_string": b"",
        "server": ("skiplock.test", 80),
        "client": ("127.0.0.1", 1),
        "headers": [
            (b"authorization", auth),
            (b"content-type", b"application/json"),
            (b"content-length", declared),
        ],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert json.loads(body)["error"] == "bad_request"
    assert await api.count() == 0


def nested(depth: int) -> str:
    """A JSON array nested ``depth`` levels deep (``[]`` is one level)."""
    return "[" * depth + "]" * depth


async def test_a_payload_nested_32_levels_is_stored_and_33_is_422(api: Harness) -> None:
    ok = await api.client.post(
        "/api/tasks",
        content=f'{{"type": "noop", "payload": {nested(32)}}}',
        headers={**api.admin, **JSON},
    )
    assert ok.status_code == 201, ok.text
    deep = await api.client.post(
        "/api/tasks/batch",
        content=f'{{"tasks": [{{"type": "noop"}}, {{"type": "noop", "payload": {nested(33)}}}]}}',
        headers={**api.admin, **JSON},
    )
    assert_json_error(deep, 422, "validation_error")
    assert deep.json()["fields"][0]["field"] == "tasks.1.payload"
    assert await api.count() == 1


@pytest.mark.parametrize("depth", [1000, 100_000])
async def test_json_nested_past_the_parsers_limit_is_422_not_500(api: Harness, depth: int) -> None:
    for body in (nested(depth), f'{{"type": "noop", "payload": {nested(depth)}}}'):
        r = await api.client.post("/api/tasks", content=body, headers={**api.admin, **JSON})
        assert_json_error(r, 422, "validation_error")
    assert await api.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        b'{"x": NaN}',
        b"[Infinity]",
        b"-Infinity",
        b"1e400",  # parses as infinity
        b'"\\ud800"',  # a lone surrogate: not storable as UTF-8
        b'{"\\udfff": 1}',
    ],
)
async def test_a_payload_that_is_not_json_or_not_unicode_is_422(
    api: Harness, payload: bytes
) -> None:
    body = b'{"type": "noop", "payload": ' + payload + b"}"
    r = await api.client.post("/api/tasks", content=body, headers={**api.admin, **JSON})
    assert_json_error(r, 422, "validation_error")
    assert r.json()["fields"][0]["field"] == "payload"
    assert await api.count() == 0


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\x00", b"", b"null", b"[]", b'"noop"', b'{"type": "noop"', b'{"type": "noop"}}'],
)
async def test_a_body_that_is_not_a_task_object_is_422(api: Harness, body: bytes) -> None:
    r = await api.client.post("/api/tasks", content=body, headers={**api.admin, **JSON})
    assert_json_error(r, 422, "validation_error")
    assert await api.count() == 0


# --- strings, numbers, times ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tasks", {"type": "t" * 129}),
        ("/api/tasks", {"type": "noop", "idempotency_key": "k" * 129}),
        ("/api/tasks", {"type": "noop", "idempotency_key": "with space"}),
        ("/api/tasks", {"type": "noop", "tenant": "n" * 65}),
        ("/api/tasks", {"type": "noop", "priority": 10**30}),
        ("/api/tasks", {"type": "noop", "cost": -1}),
        ("/api/tasks", {"type": "noop", "delay_s": 1e300}),
        ("/api/tasks", {"type": "noop", "run_at": "0001-01-01T00:00:00+14:00"}),
        ("/api/tasks", {"type": "noop", "run_at": "9999-12-31T23:59:59-14:00"}),
        ("/api/tasks", {"type": "noop", "run_at": "2030-01-01T00:00:00"}),  # naive
        ("/api/tasks/bulk/cancel", {"ids": [2**70]}),
        ("/api/tasks/bulk/retry", {"ids": [0, -1]}),
        ("/api/tasks/bulk/cancel", {"filter": {"created_after": "0001-01-01T00:00:00+01:00"}}),
        ("/api/tasks/bulk/cancel", {"filter": {"type": ["x"] * 51}}),
        ("/api/tenants", {"name": "n" * 65}),
        ("/api/tenants", {"name": "ok", "rate_limit": "9" * 40}),
        ("/api/keys", {"role": "admin", "name": "n" * 129}),
        ("/api/session", {"key": "k" * 257}),
    ],
)
async def test_every_string_number_and_time_in_a_body_is_bounded(
    api: Harness, path: str, body: dict[str, Any]
) -> None:
    r = await api.client.post(path, json=body, headers=api.admin)
    assert_json_error(r, 422, "validation_error")
    assert await api.count() == 0


@pytest.mark.parametrize(
    "query",
    [
        "/api/tasks?limit=0",
        "/api/tasks?limit=501",
        "/api/tasks?id=0",
        f"/api/tasks?id={2**63}",
        f"/api/tasks?cursor={'1' * 25}",
        f"/api/tasks?tenant={'t' * 65}",
        f"/api/tasks?state={'s' * 129}",
        f"/api/tasks?type={'t' * 129}",
        "/api/tasks?type=" + ",".join(["t"] * 51),
        "/api/tasks?" + "&".join(["state=queued"] * 21),
        "/api/tasks?created_after=0001-01-01T00:00:00%2B14:00",
        "/api/tasks?created_before=9999-12-31T23:59:59-14:00",
        "/api/tasks?created_after=2030-01-01T00:00:00",  # naive
        f"/api/tasks/{2**70}",
        "/api/analytics?window_s=10",
        f"/api/analytics?window_s={10**30}",
        "/api/analytics/throughput?bucket_s=0",
        "/api/analytics/types?window_s=-1",
        "/api/sse/events?last_event_id=not-an-id",
        "/api/sse/events?" + "&".join(["kind=task"] * 6),
    ],
)
async def test_every_query_parameter_is_bounded(api: Harness, query: str) -> None:
    r = await api.client.get(query, headers=api.admin)
    assert_json_error(r, 422, "validation_error")


async def test_an_id_that_is_not_a_number_is_404_and_a_wrong_method_405(api: Harness) -> None:
    for path in ("/api/tasks/abc", "/api/tasks/-1", "/api/tasks/1.5"):
        assert_json_error(await api.client.get(path, headers=api.admin), 404, "not_found")
    batch = await api.client.get("/api/tasks/batch", headers=api.admin)
    assert_json_error(batch, 405, "method_not_allowed")
    assert batch.headers["allow"] == "POST"
    keys_options = await api.client.options("/api/keys", headers=api.admin)
    assert_json_error(keys_options, 405, "method_not_allowed")
    assert keys_options.headers["allow"] == "GET, POST"  # every route at the path


# --- security defaults ----------------------------------------------------------------


async def test_there_is_no_cors_by_default(api: Harness) -> None:
    origin = {"Origin": "https://evil.example"}
    preflight = await api.client.options(
        "/api/tasks",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 405
    simple = await api.client.get("/api/tasks", headers={**api.admin, **origin})
    assert simple.status_code == 200
    for r in (preflight, simple):
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], r.headers


async def test_api_responses_carry_the_security_headers(small: Harness) -> None:
    h = small.admin
    answers = [
        await small.client.get("/api/tasks", headers=h),  # 200
        await small.client.get("/api/health"),  # 200, unauthenticated
        await small.client.get("/api/tasks"),  # 401
        await small.client.get("/api/tasks/999", headers=h),  # 404
        await small.client.get("/api/tasks/batch", headers=h),  # 405
        await small.client.post("/api/tasks", content=Chunks(2 * SMALL_LIMIT), headers=h),  # 413
        await small.client.post(
            "/api/tasks", content=b"{}", headers={**h, "content-length": "x"}
        ),  # 400, answered before routing
        await small.client.post("/api/tasks", json={"type": "?"}, headers=h),  # 422
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 404, 405, 413, 400, 422]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.request.url
        assert r.headers["cache-control"] == "no-store", r.request.url


async def test_security_headers_survive_a_root_path(api: Harness) -> None:
    """Behind a prefix-stripping proxy (SKIPLOCK_ROOT_PATH) the ASGI path keeps the
    prefix; API responses still get their headers."""
    app = api.client._transport.app  # type: ignore[attr-defined]  # httpx keeps it private
    transport = httpx.ASGITransport(app=app, root_path="/skiplock")
    async with httpx.AsyncClient(transport=transport, base_url="http://skiplock.test") as c:
        r = await c.get("/skiplock/api/tasks", headers=api.admin)
        denied = await c.get("/skiplock/api/tasks")
    assert (r.status_code, denied.status_code) == (200, 401)
    for answer in (r, denied):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"


async def test_keys_never_reach_the_logs_or_error_bodies(
    api: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant_key = await api.tenant("acme")
    parsed = keys.parse(tenant_key)
    assert parsed is not None
    forged = f"sk_{parsed.prefix}_{'A' * 43}"  # the right prefix, a wrong secret
    unknown, _ = keys.generate()
    bodies = []
    for key in (tenant_key, forged, unknown, f"{tenant_key}x", "sk_short_secret"):
        bearer = {"Authorization": f"Bearer {key}"}
        bodies.append((await api.client.get("/api/tasks", headers=bearer)).text)
        bodies.append((await api.client.post("/api/session", json={"key": key})).text)
        bodies.append(
            (await api.client.post("/api/tasks", json={"type": "nope"}, headers=bearer)).text
        )
    created = await api.client.post("/api/keys", json={"role": "admin"}, headers=api.admin)
    new_key = created.json()["key"]
    revoke = await api.client.delete(f"/api/keys/{created.json()['id']}", headers=api.admin)
    assert revoke.status_code in (200, 204)
    await api.client.get("/api/tasks", headers=api.as_key(new_key))
    secrets = [k.rsplit("_", 1)[1] for k in (tenant_key, forged, unknown, new_key, api.admin_key)]
    for secret in secrets:
        assert secret not in caplog.text
        assert not [b for b in bodies if secret in b]


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = keys.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    _, parsed = keys.generate()
    assert keys.matches(parsed, parsed.secret_hash)
    assert not keys.matches(parsed, keys.hash_secret("other"))
    assert len(calls) == 2


async def test_a_hostile_request_is_answered_fast(api: Harness) -> None:
    """Bounded work per request: the worst inputs above cost milliseconds, not seconds."""
    started = time.monotonic()
    for body in (nested(100_000), f'{{"type": "noop", "payload": {nested(33)}}}'):
        await api.client.post("/api/tasks", content=body, headers={**api.admin, **JSON})
    wide = {"type": "noop", "payload": [[0] * 30] * 2000}  # 60 000 numbers, 2 levels
    r = await api.client.post("/api/tasks", json=wide, headers=api.admin)
    assert r.status_code == 201
    assert time.monotonic() - started < 5.0
