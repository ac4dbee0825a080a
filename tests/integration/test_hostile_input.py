"""Hostile input and the API's security defaults: every body, string, number, time and
query parameter is bounded; whatever a client sends, the answer is a JSON 4xx and
nothing is stored; keys never reach the logs; no CORS; security headers everywhere.

The tests marked ``slow`` run real ``skiplock serve`` processes (what is about a process:
memory, stalls, sockets, logs, key rotation across restarts); the rest drive the app
in-process. docs/SECURITY.md maps each finding to its test."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from skiplock import keys
from skiplock.adapters.sql import create_store
from tests.integration.conftest import Harness, live_server
from tests.integration.probes import (
    EventStream,
    LatencyProbe,
    RawAnswer,
    peak_rss_mib,
    raw_post,
    repeated,
)
from tests.processes import SKIPLOCK, EngineProcess

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


async def test_a_body_without_a_valid_key_is_refused_before_it_is_read(api: Harness) -> None:
    for headers in ({}, {"Authorization": "Bearer sk_unknown00_" + "A" * 43}):
        body = Chunks(10 * 1024 * 1024, prefix=b'{"type": "noop", "payload": "')
        r = await api.client.post("/api/tasks/batch", content=body, headers={**headers, **JSON})
        assert_json_error(r, 401, "unauthorized")
        assert body.sent == 0, f"the server read {body.sent} bytes of an unauthenticated body"
    assert await api.count() == 0


async def test_a_single_task_body_is_capped_near_the_payload_limit_and_a_batch_is_not(
    api: Harness,
) -> None:
    cap = api.engine.settings.task_body_limit
    assert cap < DEFAULT_LIMIT // 8
    # The largest legitimate single task: a payload at the limit, its non-ASCII text
    # written as \u escapes (json.dumps' default) so the body is twice the stored size.
    text = "é" * (api.engine.context.tasks.config.rules.max_payload_bytes // 2 - 8)
    body = json.dumps({"type": "noop", "payload": text}).encode()
    assert len(body) > 2 * len(text)
    ok = await api.client.post("/api/tasks", content=body, headers={**api.admin, **JSON})
    assert ok.status_code == 201, ok.text
    over = Chunks(cap + 1, prefix=b'{"type": "noop", "payload": "')
    r = await api.client.post("/api/tasks", content=over, headers={**api.admin, **JSON})
    assert_json_error(r, 413, "payload_too_large")
    assert over.sent <= cap + 64 * 1024
    login = await api.client.post("/api/session", content=b" " * 5000, headers=JSON)
    assert_json_error(login, 413, "payload_too_large")
    # A batch keeps the large limit: 2 MiB of tasks is fine.
    tasks = [{"type": "noop", "payload": "x" * 2000}] * 1000
    batch = await api.client.post("/api/tasks/batch", json={"tasks": tasks}, headers=api.admin)
    assert batch.status_code == 201, batch.text[:300]
    assert await api.count() == 500  # the page limit: 1001 were stored


async def test_a_body_with_too_many_json_values_is_413_before_it_is_parsed(api: Harness) -> None:
    limit = api.engine.context.config.max_json_values
    values = b",".join([b"{}"] * (limit + 1))
    body = Chunks(0, prefix=b'{"tasks": [{"type": "noop", "payload": [' + values + b"]}]}")
    r = await api.client.post("/api/tasks/batch", content=body, headers={**api.admin, **JSON})
    assert_json_error(r, 413, "payload_too_large")
    assert "SKIPLOCK_MAX_JSON_VALUES" in r.json()["message"]
    assert await api.count() == 0


async def test_payload_size_is_checked_before_depth(
    harness_factory: Callable[..., Any], sqlite_url: str
) -> None:
    """Too large and too deep: the cheap size check answers, the walk never runs."""
    h = await harness_factory(sqlite_url, max_payload_bytes=4096)
    try:
        payload = nested(40)[:40] + ('"' + "x" * 4096 + '"') + nested(40)[40:]
        body = f'{{"type": "noop", "payload": {payload}}}'
        r = await h.client.post("/api/tasks", content=body, headers={**h.admin, **JSON})
        assert_json_error(r, 413, "payload_too_large")
    finally:
        await h.client.aclose()
        await h.engine.stop()


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
        f"/api/tasks?cursor={'1' * 49}",  # past the bound of a MICROS.ID cursor
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


@pytest.mark.parametrize(
    ("query", "window", "bucket"),
    [
        ("/api/analytics?window_s=61", 300, None),
        ("/api/analytics/types?window_s=3601", 21_600, None),
        ("/api/analytics/tenants?window_s=2592000", 2_592_000, None),
        ("/api/analytics/throughput?window_s=899&bucket_s=7", 900, 10),
        ("/api/analytics/throughput?window_s=3600&bucket_s=61", 3600, 300),
    ],
)
async def test_analytics_windows_and_buckets_snap_to_a_small_set(
    api: Harness, query: str, window: int, bucket: int | None
) -> None:
    """Any integer would defeat the cache (one computation per value); the answer names
    the window and bucket actually used."""
    r = await api.client.get(query, headers=api.admin)
    assert r.status_code == 200, r.text
    assert r.json()["window_s"] == window
    if bucket is not None:
        assert r.json()["bucket_s"] == bucket


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
    # The part after the prefix: the secret itself may contain "_".
    secrets = [k.split("_", 2)[2] for k in (tenant_key, forged, unknown, new_key, api.admin_key)]
    for secret in secrets:
        assert secret not in caplog.text
        assert not [b for b in bodies if secret in b]


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://other.skiplock.test"},
    {"Origin": "https://evil.example"},  # a browser too old for Sec-Fetch-*
    {"Origin": "null"},  # a sandboxed frame or a data: URL
]


@pytest.mark.parametrize("foreign", CROSS_SITE)
async def test_a_cookie_authenticated_change_from_another_origin_is_403(
    api: Harness, foreign: dict[str, str]
) -> None:
    task = (await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.admin)).json()
    signed_in = await api.client.post("/api/session", json={"key": api.admin_key})
    assert signed_in.status_code == 200
    for path in (f"/api/tasks/{task['id']}/cancel", "/api/demo/seed", "/api/demo/clear"):
        r = await api.client.post(path, headers=foreign)
        assert_json_error(r, 403, "forbidden")
    refused_login = await api.client.post(
        "/api/session", json={"key": api.admin_key}, headers=foreign
    )
    assert_json_error(refused_login, 403, "forbidden")
    assert (await api.client.delete("/api/session", headers=foreign)).status_code == 403
    # Nothing changed; reads are not affected, and the same requests from the
    # dashboard's own origin, or with a key instead of the cookie, go through.
    assert (await api.client.get(f"/api/tasks/{task['id']}")).json()["state"] == "queued"
    assert await api.count() == 1
    for own in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://skiplock.test"}, {}):
        r = await api.client.post(f"/api/tasks/{task['id']}/retry", headers=own)
        assert_json_error(r, 409, "conflict")  # authorised; a queued task cannot be retried
    with_key = await api.client.post(
        f"/api/tasks/{task['id']}/cancel", headers={**api.admin, **foreign}
    )
    assert with_key.status_code == 200, with_key.text
    api.client.cookies.clear()


async def test_retrying_dead_or_cancelled_tasks_is_charged_like_submitting_them(
    api: Harness,
) -> None:
    key = api.as_key(await api.tenant("metered", rate_limit="10/60"))
    tasks = [{"type": "noop", "cost": 5, "delay_s": 3600}] * 2
    made = await api.client.post("/api/tasks/batch", json={"tasks": tasks}, headers=key)
    assert made.status_code == 201  # the window's whole budget
    ids = [t["id"] for t in made.json()["items"]]
    cancelled = await api.client.post("/api/tasks/bulk/cancel", json={"ids": ids}, headers=key)
    assert cancelled.json()["changed"] == 2

    async def states() -> list[str]:
        return [(await api.client.get(f"/api/tasks/{i}", headers=key)).json()["state"] for i in ids]

    for refused in (
        await api.client.post("/api/tasks/bulk/retry", json={"ids": ids}, headers=key),
        await api.client.post(
            "/api/tasks/bulk/retry", json={"filter": {"state": "cancelled"}}, headers=key
        ),
        await api.client.post(f"/api/tasks/{ids[0]}/retry", headers=key),
        # An admin retrying a tenant's tasks spends that tenant's budget too.
        await api.client.post("/api/tasks/bulk/retry", json={"ids": ids}, headers=api.admin),
    ):
        assert_json_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
    assert await states() == ["cancelled", "cancelled"]  # nothing changed
    # With budget left a retry goes through, and spends it.
    roomy = api.as_key(await api.tenant("roomy", rate_limit="10/60"))
    one = await api.client.post("/api/tasks", json={"type": "noop", "cost": 4}, headers=roomy)
    path = f"/api/tasks/{one.json()['id']}"
    await api.client.post(f"{path}/cancel", headers=roomy)
    retried = await api.client.post(f"{path}/retry", headers=roomy)  # 8 of 10 spent
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    assert retried.headers["ratelimit-remaining"] == "2"
    await api.client.post(f"{path}/cancel", headers=roomy)
    assert_json_error(await api.client.post(f"{path}/retry", headers=roomy), 429, "rate_limited")
    # More than the window could ever admit: 422, as for a submission.
    await api.client.patch("/api/tenants/roomy", json={"rate_limit": "3/60"}, headers=api.admin)
    too_big = await api.client.post(f"{path}/retry", headers=roomy)
    assert_json_error(too_big, 422, "validation_error")
    assert (await api.client.get(path, headers=roomy)).json()["state"] == "cancelled"


async def test_a_key_holds_a_bounded_number_of_sessions_and_the_oldest_end_first(
    harness_factory: Callable[..., Any], sqlite_url: str
) -> None:
    h = await harness_factory(sqlite_url, max_sessions_per_key=3)
    try:
        cookies = []
        for _ in range(5):
            r = await h.client.post("/api/session", json={"key": h.admin_key})
            assert r.status_code == 200
            cookies.append({"Cookie": f"skiplock_session={r.cookies['skiplock_session']}"})
            h.client.cookies.clear()
        answers = [(await h.client.get("/api/whoami", headers=c)).status_code for c in cookies]
        assert answers == [401, 401, 200, 200, 200]
    finally:
        await h.client.aclose()
        await h.engine.stop()


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


# --- hostile bodies against a real process ----------------------------------------------

MIB = 1024 * 1024


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[EngineProcess]:
    """A real ``skiplock serve`` (API role, embedded) at the product's defaults."""
    p = EngineProcess(
        sqlite_url,
        env={"SKIPLOCK_ROLES": "api", "SKIPLOCK_WORKERS": "0"},
        log_path=tmp_path / "engine.log",
    ).start()
    yield p
    p.kill()


def tenant_key(p: EngineProcess, name: str, **body: Any) -> str:
    with p.client() as c:
        r = c.post("/api/tenants", json={"name": name, **body})
        assert r.status_code == 201, r.text
        return str(r.json()["api_key"])


@pytest.mark.slow
def test_hostile_bodies_cost_bounded_memory_and_never_stall_other_requests(
    served: EngineProcess,
) -> None:
    """A 16 MiB single-task body from a tenant, the same without Content-Length, a
    16 MiB batch of empty objects, and three concurrent bodies without a key: each is
    refused quickly, while a health probe keeps answering at once and the process's
    peak memory stays far below the pod limit (512 Mi)."""
    key = {"Authorization": f"Bearer {tenant_key(served, 'acme')}"}
    task_head, task_tail = b'{"type": "noop", "payload": [', b"{}]}"
    assert served.proc is not None
    before = peak_rss_mib(served.proc.pid)
    with LatencyProbe(served.url) as probe:
        declared = raw_post(
            served.port,
            "/api/tasks",
            repeated(b"{},", 16 * MIB, head=task_head, tail=task_tail),
            headers=key,
            content_length=16 * MIB,
        )
        streamed = raw_post(
            served.port,
            "/api/tasks",
            repeated(b"{},", 16 * MIB, head=task_head, tail=task_tail),
            headers=key,
        )
        batch = raw_post(
            served.port,
            "/api/tasks/batch",
            repeated(b"{},", 16 * MIB, head=b'{"tasks": [', tail=b"{}]}"),
            headers=key,
            content_length=16 * MIB,
        )
        anonymous: list[RawAnswer] = []

        def post_without_key() -> None:
            body = repeated(b"{},", 16 * MIB, head=task_head, tail=task_tail)
            anonymous.append(raw_post(served.port, "/api/tasks", body, content_length=16 * MIB))

        threads = [threading.Thread(target=post_without_key) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        probe.wait_for(5)
    grown = peak_rss_mib(served.proc.pid) - before

    for answer, status, error in (
        (declared, 413, "payload_too_large"),
        (streamed, 413, "payload_too_large"),
        (batch, 413, "payload_too_large"),
        *((a, 401, "unauthorized") for a in anonymous),
    ):
        assert answer.status == status, (answer.status, answer.body[:300])
        assert answer.json()["error"] == error
        assert answer.elapsed < 5.0, answer
        # Answered long before the client could send it all: what it sent meanwhile
        # went to socket buffers and was discarded unparsed.
        assert answer.sent < 12 * MIB, answer
    assert len(anonymous) == 3
    assert not probe.failures, probe.failures[:3]
    # Measured: 12-74 ms; before the fix, stalls of up to 60 s.
    assert probe.worst < 1.0, f"/api/health stalled {probe.worst:.3f} s"
    assert grown < 64, f"peak memory grew by {grown:.0f} MiB"
    assert "Traceback" not in served.log_text()
    with served.client() as c:
        assert c.get("/api/tasks").json()["items"] == []


@pytest.mark.slow
def test_odd_paths_and_cursors_answer_4xx_json_without_a_traceback(served: EngineProcess) -> None:
    # "²" is a digit to str.isdigit() but not to int(); a NUL cannot be in a file name;
    # a name past the file system's limit cannot be looked up.
    with served.client() as c:
        for path, status in (
            ("/api/tasks?cursor=%C2%B2", 400),
            ("/api/tasks?cursor=%D9%A3", 400),  # ARABIC-INDIC DIGIT THREE
            ("/assets/%00", 404),
            ("/assets/a%00b.js", 404),
            (f"/assets/{'a' * 5000}.js", 404),
            ("/assets/..%2F..%2Fpyproject.toml", 404),
        ):
            r = c.get(path)
            assert r.status_code == status, (path, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/json"), path
            assert r.json()["error"] in ("bad_request", "not_found"), r.text
        assert c.get("/api/health").status_code == 200
    log = served.log_text()
    assert "Traceback" not in log and "internal_error" not in log, log


@pytest.fixture
def served_with_workers(tmp_path: Path, sqlite_url: str) -> Iterator[EngineProcess]:
    """A real embedded ``skiplock serve`` with every role and two worker slots."""
    p = EngineProcess(
        sqlite_url,
        env={"SKIPLOCK_WORKERS": "2", "SKIPLOCK_POLL_INTERVAL_S": "0.1"},
        log_path=tmp_path / "engine.log",
    ).start()
    yield p
    p.kill()


@pytest.mark.slow
def test_a_tenant_sees_only_its_own_running_tasks_in_the_worker_registry(
    served_with_workers: EngineProcess,
) -> None:
    p = served_with_workers
    red = {"Authorization": f"Bearer {tenant_key(p, 'red')}"}
    blue = {"Authorization": f"Bearer {tenant_key(p, 'blue')}"}
    with httpx.Client(base_url=p.url, timeout=30) as c:
        sleep = {"type": "async_sleep", "payload": {"seconds": 30}}
        task = c.post("/api/tasks", json=sleep, headers=red).json()

        def running_anywhere(headers: dict[str, str]) -> list[dict[str, Any]]:
            instances = c.get("/api/workers", headers=headers).json()["instances"]
            return [t for i in instances for t in i["tasks"]]

        deadline = time.monotonic() + 20
        while not running_anywhere(p.headers):
            assert time.monotonic() < deadline, "the task never ran"
            time.sleep(0.05)
        seen_by_admin = running_anywhere(p.headers)
        assert [(t["id"], t["tenant"]) for t in seen_by_admin] == [(task["id"], "red")]
        assert [t["id"] for t in running_anywhere(red)] == [task["id"]]
        as_blue = c.get("/api/workers", headers=blue).json()["instances"]
        assert [t for i in as_blue for t in i["tasks"]] == []
        # The instance and its load stay visible: how busy the engine is, not with what.
        assert sum(i["busy"] for i in as_blue) == 1
        c.post(f"/api/tasks/{task['id']}/cancel", headers=red)


# --- live streams ------------------------------------------------------------------------


def spawn_api(tmp_path: Path, sqlite_url: str, **env: Any) -> EngineProcess:
    return EngineProcess(
        sqlite_url,
        env={
            "SKIPLOCK_ROLES": "api",
            "SKIPLOCK_WORKERS": "0",
            **{f"SKIPLOCK_{k}": str(v) for k, v in env.items()},
        },
        log_path=tmp_path / f"engine-{uuid.uuid4().hex[:6]}.log",
    ).start()


@pytest.fixture
def spawned(tmp_path: Path, sqlite_url: str) -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []

    def make(**env: Any) -> EngineProcess:
        started.append(spawn_api(tmp_path, sqlite_url, **env))
        return started[-1]

    yield make
    for p in started:
        p.kill()


def key_id(p: EngineProcess, key: str) -> int:
    prefix = key.split("_")[1]
    with p.client() as c:
        return int(
            next(k["id"] for k in c.get("/api/keys").json()["items"] if k["prefix"] == prefix)
        )


@pytest.mark.slow
async def test_an_open_stream_ends_when_its_key_is_revoked_or_its_session_ends(
    spawned: Callable[..., EngineProcess],
) -> None:
    p = spawned(SSE_RECHECK_S=0.5, SSE_HEARTBEAT_S=1, SESSION_TTL_S=3)
    key = tenant_key(p, "acme")
    bearer = {"Authorization": f"Bearer {key}"}

    def sign_in() -> dict[str, str]:
        r = httpx.post(f"{p.url}/api/session", json={"key": key}, timeout=10)
        assert r.status_code == 200, r.text
        return {"Cookie": f"skiplock_session={r.cookies['skiplock_session']}"}

    signed_out, expiring = sign_in(), sign_in()
    async with (
        EventStream(p.url, signed_out) as by_signed_out,
        EventStream(p.url, expiring) as by_expiring,
    ):
        async with httpx.AsyncClient(base_url=p.url, timeout=10) as c:
            assert (await c.delete("/api/session", headers=signed_out)).status_code == 204
        assert await by_signed_out.ended_within(3), "a signed-out session kept its stream"
        assert '"reason": "the session has ended; sign in again"' in by_signed_out.lines[-2]
        assert not by_expiring.closed_by_server.is_set()
        assert await by_expiring.ended_within(3 + 5), "an expired session kept its stream"
    async with EventStream(p.url, bearer) as by_key:
        async with httpx.AsyncClient(base_url=p.url, headers=p.headers, timeout=10) as c:
            assert (await c.delete(f"/api/keys/{key_id(p, key)}")).status_code == 200
        assert await by_key.ended_within(3), "a revoked key kept its stream"
        assert by_key.lines[-3:-1] == [
            "event: end",
            'data: {"reason": "this API key was revoked"}',
        ]
    async with EventStream(p.url, bearer) as again:
        assert again.status == 401


@pytest.mark.slow
async def test_one_tenant_cannot_take_every_stream_and_admins_keep_a_reserve(
    spawned: Callable[..., EngineProcess],
) -> None:
    p = spawned(SSE_MAX_CONNECTIONS=4, SSE_MAX_PER_TENANT=2, SSE_ADMIN_RESERVE=1)
    red = {"Authorization": f"Bearer {tenant_key(p, 'red')}"}
    blue = {"Authorization": f"Bearer {tenant_key(p, 'blue')}"}
    async with contextlib.AsyncExitStack() as stack:

        async def open_stream(headers: dict[str, str]) -> EventStream:
            return await stack.enter_async_context(EventStream(p.url, headers))

        assert [(await open_stream(red)).status for _ in range(2)] == [200, 200]
        third = await open_stream(red)
        assert (third.status, third.body["error"]) == (429, "rate_limited")
        assert (await open_stream(blue)).status == 200
        # Three of four slots taken; the last is the admins'.
        blue_again = await open_stream(blue)
        assert (blue_again.status, blue_again.body["error"]) == (503, "unavailable")
        assert (await open_stream(p.headers)).status == 200
        full = await open_stream(p.headers)
        assert (full.status, full.body["error"]) == (503, "unavailable")


# --- rotating SKIPLOCK_ADMIN_KEY ---------------------------------------------------------


def skiplock_cli(*args: str, db: str, **env: str) -> str:
    out = subprocess.run(
        [SKIPLOCK, *args],
        env={**os.environ, "SKIPLOCK_DATABASE_URL": db, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_a_new_admin_key_retires_the_old_one_and_a_stale_pod_cannot_revive_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    first = EngineProcess(sqlite_url, log_path=tmp_path / "first.log").start()
    old_key = first.admin_key
    with first.client() as c:
        assert c.get("/api/whoami").status_code == 200
        kept = c.post("/api/keys", json={"role": "admin", "name": "ops"}).json()["key"]
        refused = c.post("/api/keys", json={"role": "admin", "name": "bootstrap"})
        assert refused.status_code == 422, refused.text
    first.terminate()

    # The Secret now holds a new key; a new pod starts while an old one still runs.
    new = EngineProcess(
        sqlite_url, admin_key=keys.generate()[0], log_path=tmp_path / "new.log"
    ).start()
    stale = EngineProcess(sqlite_url, admin_key=old_key, log_path=tmp_path / "stale.log")
    try:
        stale.start()
        for p in (new, stale):
            with httpx.Client(base_url=p.url, timeout=10) as c:
                for key, status in ((old_key, 401), (new.admin_key, 200), (kept, 200)):
                    r = c.get("/api/whoami", headers={"Authorization": f"Bearer {key}"})
                    assert r.status_code == status, (p.port, key[:14], r.text)
        assert "was revoked" in stale.log_text() and "newer SKIPLOCK_ADMIN_KEY" in stale.log_text()
        listed = skiplock_cli("key", "list", db=sqlite_url, SKIPLOCK_ADMIN_KEY=new.admin_key)
    finally:
        stale.kill()
        new.kill()
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in listed.splitlines()]
    rows = {row[1]: " ".join(row) for row in cells if len(row) == 8}
    old_row, new_row = rows[old_key.split("_")[1]], rows[new.admin_key.split("_")[1]]
    assert "bootstrap" in old_row and "revoked 20" in old_row
    assert "bootstrap" in new_row and "active (this SKIPLOCK_ADMIN_KEY)" in new_row
    assert "never" not in new_row  # used just now: a last-use time is shown
    assert "active" in rows[kept.split("_")[1]]


# --- slow reads ----------------------------------------------------------------------------


def load_finished_tasks(database_url: str, tenant: str, n: int) -> None:
    """``n`` finished tasks (a tenth dead) and their attempts over the last day, written
    by MariaDB itself (its SEQUENCE engine): what months of a busy tenant leave behind."""
    store = create_store(database_url)
    try:
        tenant_id = store.get_tenant(name=tenant).id
        ago = "NOW(6) - INTERVAL (seq % 86400) SECOND"
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tasks (tenant_id, type, state, priority, cost, attempt, "
                    "attempt_base, max_attempts, timeout_s, created_at, run_at, started_at, "
                    f"finished_at) SELECT {tenant_id}, CONCAT('t', seq % 50), "
                    "IF(seq % 10 = 0, 'dead', 'succeeded'), 0, 1, 1, 0, 1, 10, "
                    f"{ago}, {ago}, {ago}, {ago} + INTERVAL 1 SECOND FROM seq_1_to_{n}"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO task_attempts (task_id, attempt, worker, started_at, "
                    "finished_at, outcome) SELECT id, 1, 'w', started_at, finished_at, "
                    "IF(state = 'dead', 'failed', 'succeeded') FROM tasks"
                )
            )
    finally:
        store.close()


@pytest.mark.slow
def test_slow_analytics_never_starve_another_tenants_task_reads(
    tmp_path: Path, mysql_url: str
) -> None:
    """Twenty different slow analytics questions at once from one tenant: two run, eight
    wait their turn, the rest are refused; another tenant's GET /api/tasks stays fast
    meanwhile; and with a short statement limit a slow read is stopped and answered 503
    instead of running on."""
    p = EngineProcess(
        mysql_url,
        env={"SKIPLOCK_ROLES": "api", "SKIPLOCK_WORKERS": "0"},
        log_path=tmp_path / "engine.log",
    ).start()
    limited = None
    try:
        heavy = {"Authorization": f"Bearer {tenant_key(p, 'heavy')}"}
        light = {"Authorization": f"Bearer {tenant_key(p, 'light')}"}
        load_finished_tasks(mysql_url, "heavy", 150_000)
        questions = [
            f"/api/analytics{path}?window_s={window}&bucket_s={window // 100}"
            for window in (3600, 21_600, 86_400, 604_800, 2_592_000)
            for path in ("", "/types", "/tenants", "/throughput")
        ]
        answers: list[httpx.Response] = []

        def ask(path: str) -> None:
            answers.append(httpx.get(f"{p.url}{path}", headers=heavy, timeout=120))

        with LatencyProbe(p.url, path="/api/tasks?limit=5", headers=light) as probe:
            threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=180)
            probe.wait_for(3)
        statuses = sorted(r.status_code for r in answers)
        # Two run and eight wait per caller: of twenty asked at once, some are refused.
        assert set(statuses) <= {200, 429} and statuses.count(200) >= 10, statuses
        assert statuses.count(429) >= 1, statuses
        assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)
        assert not probe.failures, probe.failures[:3]
        assert len(probe.latencies) > 20
        # Measured on the 2-core machine: 0.2-0.5 s (1.4 s under a load average of 10);
        # 3.5-4.8 s before analytics had their own pool. The bound tells the two apart.
        assert probe.worst < 2.5, f"another tenant's GET /api/tasks waited {probe.worst:.2f} s"

        limited = EngineProcess(
            mysql_url,
            env={"SKIPLOCK_ROLES": "api", "SKIPLOCK_ANALYTICS_TIMEOUT_S": "0.05"},
            log_path=tmp_path / "limited.log",
        ).start()
        started = time.monotonic()
        r = httpx.get(f"{limited.url}{questions[-1]}", headers=heavy, timeout=120)
        assert r.status_code == 503, r.text
        assert "time limit" in r.json()["message"] and r.headers["retry-after"]
        assert time.monotonic() - started < 3.0
        assert "Traceback" not in limited.log_text() + p.log_text()
    finally:
        p.kill()
        if limited is not None:
            limited.kill()


@pytest.mark.slow
def test_the_session_cookie_is_secure_over_https_from_a_trusted_proxy_or_by_setting(
    spawned: Callable[..., EngineProcess],
) -> None:
    def cookie(p: EngineProcess, **headers: str) -> str:
        r = httpx.post(
            f"{p.url}/api/session", json={"key": p.admin_key}, headers=headers, timeout=10
        )
        assert r.status_code == 200, r.text
        return r.headers["set-cookie"].lower()

    https = {"X-Forwarded-Proto": "https"}
    default = spawned()  # trusts the loopback proxy only; the test connects from it
    assert "; secure" in cookie(default, **https)
    assert "; secure" not in cookie(default)
    untrusting = spawned(TRUSTED_PROXIES="10.9.8.7")
    assert "; secure" not in cookie(untrusting, **https)
    forced = spawned(SECURE_COOKIES="true", TRUSTED_PROXIES="")
    assert "; secure" in cookie(forced)
    for c in (cookie(default, **https), cookie(forced)):
        assert "httponly" in c and "samesite=strict" in c


@pytest.mark.slow
def test_newlines_in_a_tasks_error_cannot_forge_log_lines(
    served_with_workers: EngineProcess,
) -> None:
    p = served_with_workers
    forged = "2026-01-01 00:00:00,000 ERROR   skiplock.api: admin key leaked"
    message = f"boom\n{forged}\r\n\x1b[2Kcleared"
    key = {"Authorization": f"Bearer {tenant_key(p, 'mallory')}"}
    with httpx.Client(base_url=p.url, headers=key, timeout=30) as c:
        body = {"type": "fail", "max_attempts": 1, "payload": {"message": message}}
        task = c.post("/api/tasks", json=body).json()
        deadline = time.monotonic() + 20
        while c.get(f"/api/tasks/{task['id']}").json()["state"] != "dead":
            assert time.monotonic() < deadline, "the task did not fail"
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while "task attempt failed" not in p.log_text():
        assert time.monotonic() < deadline, "the failure was not logged"
        time.sleep(0.05)
    log = p.log_text()
    lines = log.splitlines()
    assert not [ln for ln in lines if ln.startswith(forged[:23])], log
    assert "\x1b" not in log
    [failed] = [ln for ln in lines if "task attempt failed" in ln]
    assert "boom\\n2026-01-01 00:00:00,000 ERROR" in failed and "\\r\\n\\x1b[2Kcleared" in failed
    assert failed.endswith(f"[task_id={task['id']} tenant=mallory type=fail attempt=1]")


@pytest.mark.slow
def test_the_interactive_api_pages_are_off_unless_enabled_and_then_pinned(
    spawned: Callable[..., EngineProcess],
) -> None:
    default, enabled = spawned(), spawned(API_DOCS="true")
    with httpx.Client(base_url=default.url, timeout=10) as c:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            r = c.get(path)
            assert r.status_code == 404, (path, r.text[:200])
            assert r.json()["error"] == "not_found"
        assert c.get("/openapi.json").json()["info"]["title"] == "Skiplock"
    with httpx.Client(base_url=enabled.url, timeout=10) as c:
        swagger, redoc = c.get("/docs").text, c.get("/redoc").text
    assert "cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js" in swagger
    assert "cdn.jsdelivr.net/npm/redoc@2.5.4/" in redoc
    assert "/openapi.json" in swagger and "/openapi.json" in redoc


# --- slow clients --------------------------------------------------------------------------


def closed_after(sock: socket.socket, *, drip: bytes | None, give_up_s: float) -> float | None:
    """Seconds until the server closes ``sock`` while the client sends ``drip`` every
    0.2 s (or nothing); None if it is still open after ``give_up_s``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < give_up_s:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if drip is not None:
            try:
                sock.sendall(drip)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
    return None


@pytest.mark.slow
def test_connections_that_never_finish_their_headers_or_idle_are_closed(
    spawned: Callable[..., EngineProcess],
) -> None:
    p = spawned(HTTP_HEADER_TIMEOUT_S=1, HTTP_KEEPALIVE_S=1)
    request = b"GET /api/health HTTP/1.1\r\nHost: skiplock\r\n"
    with (
        socket.create_connection(("127.0.0.1", p.port)) as slowloris,
        socket.create_connection(("127.0.0.1", p.port)) as silent,
        socket.create_connection(("127.0.0.1", p.port)) as kept_alive,
    ):
        slowloris.sendall(request)
        kept_alive.sendall(request + b"\r\n")
        assert kept_alive.recv(65536).startswith(b"HTTP/1.1 200")
        # A header line every 0.2 s never completes the request, and never resets the clock.
        assert (took := closed_after(slowloris, drip=b"X-Slow: 1\r\n", give_up_s=8)) is not None
        assert took < 3, took
        assert (took := closed_after(silent, drip=None, give_up_s=8)) is not None
        assert took < 3, took
        assert (took := closed_after(kept_alive, drip=None, give_up_s=8)) is not None
        assert took < 3, took
    with socket.create_connection(("127.0.0.1", p.port)) as second:
        second.sendall(request + b"\r\n")
        assert second.recv(65536).startswith(b"HTTP/1.1 200")
        second.sendall(request)  # a second request on the connection, never finished
        assert (took := closed_after(second, drip=b"X-Slow: 1\r\n", give_up_s=8)) is not None
        assert took < 3, took
    assert httpx.get(f"{p.url}/api/health", timeout=5).status_code == 200
