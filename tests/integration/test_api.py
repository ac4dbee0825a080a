"""The HTTP API as clients see it: validation, auth, isolation, limits. Every rejected
request is checked to have stored nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Harness


async def test_a_task_is_created_and_returned_with_every_documented_field(api: Harness) -> None:
    r = await api.client.post(
        "/api/tasks", json={"type": "noop", "payload": {"a": 1}}, headers=api.admin
    )
    assert r.status_code == 201
    body = r.json()
    for field in (
        "id",
        "tenant",
        "type",
        "state",
        "priority",
        "cost",
        "attempt",
        "max_attempts",
        "payload",
        "result",
        "last_error",
        "created_at",
        "run_at",
        "started_at",
        "finished_at",
    ):
        assert field in body
    assert body["state"] == "queued" and body["tenant"] == "default"
    got = await api.client.get(f"/api/tasks/{body['id']}", headers=api.admin)
    assert got.json()["payload"] == {"a": 1} and got.json()["attempts"] == []


async def test_an_idempotent_repeat_answers_200_with_the_original(api: Harness) -> None:
    body = {"type": "noop", "idempotency_key": "order-42"}
    first = await api.client.post("/api/tasks", json=body, headers=api.admin)
    again = await api.client.post(
        "/api/tasks", json={**body, "payload": {"x": 1}}, headers=api.admin
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["payload"] is None
    assert await api.count() == 1


async def test_an_unknown_type_is_422_naming_the_known_types(api: Harness) -> None:
    r = await api.client.post("/api/tasks", json={"type": "nope"}, headers=api.admin)
    assert r.status_code == 422
    assert "noop" in r.json()["message"] and r.json()["fields"][0]["field"] == "type"
    assert await api.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 101),
        ("priority", -101),
        ("cost", 0),
        ("cost", 1001),
        ("max_attempts", 0),
        ("max_attempts", 101),
        ("timeout_s", 0),
        ("timeout_s", 86_401),
        ("delay_s", -1),
        ("delay_s", 31_536_001),
        ("run_at", "2026-01-01T00:00:00"),
        ("idempotency_key", "x" * 129),
        ("surprise", 1),
    ],
)
async def test_out_of_range_fields_are_422_naming_the_field(
    api: Harness, field: str, value: object
) -> None:
    r = await api.client.post("/api/tasks", json={"type": "noop", field: value}, headers=api.admin)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert field in {f["field"] for f in r.json()["fields"]}
    assert await api.count() == 0


async def test_malformed_json_is_422(api: Harness) -> None:
    r = await api.client.post(
        "/api/tasks",
        content=b'{"type": "noop",',
        headers={**api.admin, "content-type": "application/json"},
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["message"]
    assert await api.count() == 0


async def test_an_oversized_payload_is_413(api: Harness) -> None:
    big = {"blob": "x" * (256 * 1024 + 1)}
    r = await api.client.post(
        "/api/tasks", json={"type": "noop", "payload": big}, headers=api.admin
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert await api.count() == 0


async def test_a_batch_with_one_bad_task_stores_nothing(api: Harness) -> None:
    tasks = [{"type": "noop"}] * 5 + [{"type": "noop", "priority": 500}]
    r = await api.client.post("/api/tasks/batch", json={"tasks": tasks}, headers=api.admin)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "tasks.5.priority"
    too_many = await api.client.post(
        "/api/tasks/batch", json={"tasks": [{"type": "noop"}] * 1001}, headers=api.admin
    )
    assert too_many.status_code == 422
    assert await api.count() == 0
    ok = await api.client.post(
        "/api/tasks/batch", json={"tasks": [{"type": "noop"}] * 1000}, headers=api.admin
    )
    assert ok.status_code == 201 and len(ok.json()["items"]) == 1000


async def test_listing_pages_with_a_cursor_and_filters(api: Harness) -> None:
    await api.client.post(
        "/api/tasks/batch",
        json={
            "tasks": [{"type": "noop"}, {"type": "send_email"}, {"type": "noop"}, {"type": "noop"}]
        },
        headers=api.admin,
    )
    first = (await api.client.get("/api/tasks?limit=2", headers=api.admin)).json()
    rest = (
        await api.client.get(f"/api/tasks?limit=2&cursor={first['next_cursor']}", headers=api.admin)
    ).json()
    ids = [t["id"] for t in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert rest["next_cursor"] is None
    emails = (await api.client.get("/api/tasks?type=send_email", headers=api.admin)).json()
    assert [t["type"] for t in emails["items"]] == ["send_email"]
    bad = await api.client.get("/api/tasks?cursor=abc", headers=api.admin)
    assert bad.status_code == 400
    state = await api.client.get("/api/tasks?state=bogus", headers=api.admin)
    assert state.status_code == 422


async def test_keys_are_required_and_checked(api: Harness) -> None:
    assert (await api.client.get("/api/tasks")).status_code == 401
    fake = "sk_abcdefgh_" + "A" * 43
    assert (await api.client.get("/api/tasks", headers=api.as_key(fake))).status_code == 401
    assert (
        await api.client.get("/api/tasks", headers={"Authorization": "Basic x"})
    ).status_code == 401


async def test_tenant_keys_see_only_their_tenant(api: Harness) -> None:
    acme = await api.tenant("acme")
    globex = await api.tenant("globex")
    mine = (
        await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.as_key(acme))
    ).json()
    assert mine["tenant"] == "acme"
    theirs = api.as_key(globex)
    assert (await api.client.get(f"/api/tasks/{mine['id']}", headers=theirs)).status_code == 404
    assert (
        await api.client.post(f"/api/tasks/{mine['id']}/cancel", headers=theirs)
    ).status_code == 404
    assert (await api.client.get("/api/tasks", headers=theirs)).json()["items"] == []
    assert (await api.client.get("/api/tasks?tenant=acme", headers=theirs)).status_code == 404
    bulk = await api.client.post(
        "/api/tasks/bulk/cancel", json={"ids": [mine["id"]]}, headers=theirs
    )
    assert bulk.json()["changed"] == 0
    stats = (await api.client.get("/api/queue/stats", headers=theirs)).json()
    assert [t["tenant"] for t in stats["tenants"]] == ["globex"]
    for path in ("/api/tenants", "/api/keys"):
        assert (await api.client.get(path, headers=theirs)).status_code == 403
    assert (await api.client.post("/api/demo/seed", headers=theirs)).status_code == 403
    other = await api.client.post(
        "/api/tasks", json={"type": "noop", "tenant": "acme"}, headers=theirs
    )
    assert other.status_code == 403
    got = await api.client.get(f"/api/tasks/{mine['id']}", headers=api.as_key(acme))
    assert got.status_code == 200


async def test_cancel_and_retry_answer_409_when_the_state_forbids(api: Harness) -> None:
    task = (await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.admin)).json()
    retry = await api.client.post(f"/api/tasks/{task['id']}/retry", headers=api.admin)
    assert retry.status_code == 409 and "queued" in retry.json()["message"]
    cancel = await api.client.post(f"/api/tasks/{task['id']}/cancel", headers=api.admin)
    assert cancel.status_code == 200 and cancel.json()["state"] == "cancelled"
    again = await api.client.post(f"/api/tasks/{task['id']}/cancel", headers=api.admin)
    assert again.status_code == 409
    requeued = await api.client.post(f"/api/tasks/{task['id']}/retry", headers=api.admin)
    assert requeued.json()["state"] == "queued"
    assert (await api.client.get("/api/tasks/999999", headers=api.admin)).status_code == 404


async def test_a_draining_tenant_refuses_submissions_and_reports_drained(api: Harness) -> None:
    key = await api.tenant("acme")
    await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.as_key(key))
    r = await api.client.post("/api/tenants/acme/drain", headers=api.admin)
    assert r.json()["state"] == "draining" and r.json()["drained"] is False
    refused = await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.as_key(key))
    assert refused.status_code == 409 and "draining" in refused.json()["message"]
    await api.client.post(
        "/api/tasks/bulk/cancel", json={"filter": {"tenant": "acme"}}, headers=api.admin
    )
    api.engine.context.state.forget_stats()
    after = (await api.client.get("/api/tenants/acme", headers=api.admin)).json()
    assert after["drained"] is True


async def test_rate_limited_submissions_get_429_and_store_nothing(api: Harness) -> None:
    key = api.as_key(await api.tenant("acme", rate_limit="5/60"))
    ok = await api.client.post(
        "/api/tasks/batch", json={"tasks": [{"type": "noop", "cost": 2}] * 2}, headers=key
    )
    assert ok.status_code == 201 and ok.headers["RateLimit-Remaining"] == "1"
    refused = await api.client.post("/api/tasks", json={"type": "noop", "cost": 2}, headers=key)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "5"
    assert await api.count() == 2
    fits = await api.client.post("/api/tasks", json={"type": "noop", "cost": 1}, headers=key)
    assert fits.status_code == 201
    never = await api.client.post("/api/tasks", json={"type": "noop", "cost": 6}, headers=key)
    assert never.status_code == 422


async def test_tenant_admin_api_updates_weight_limit_and_state(api: Harness) -> None:
    await api.tenant("acme")
    r = await api.client.patch(
        "/api/tenants/acme", json={"weight": 3, "rate_limit": "10/1"}, headers=api.admin
    )
    assert r.json()["weight"] == 3 and r.json()["rate_limit"] == {"cost": 10, "window_s": 1}
    r = await api.client.patch(
        "/api/tenants/acme", json={"rate_limit": None, "state": "paused"}, headers=api.admin
    )
    assert r.json()["rate_limit"] is None and r.json()["state"] == "paused"
    bad = await api.client.patch(
        "/api/tenants/acme", json={"rate_limit": "ten/1"}, headers=api.admin
    )
    assert bad.status_code == 422
    dup = await api.client.post("/api/tenants", json={"name": "acme"}, headers=api.admin)
    assert dup.status_code == 409


async def test_revoked_keys_stop_working(api: Harness) -> None:
    created = await api.client.post(
        "/api/keys", json={"role": "admin", "name": "tmp"}, headers=api.admin
    )
    key = created.json()["key"]
    assert (await api.client.get("/api/tasks", headers=api.as_key(key))).status_code == 200
    await api.client.delete(f"/api/keys/{created.json()['id']}", headers=api.admin)
    assert (await api.client.get("/api/tasks", headers=api.as_key(key))).status_code == 401


async def test_a_browser_session_cookie_authenticates(api: Harness) -> None:
    r = await api.client.post("/api/session", json={"key": api.admin_key})
    assert r.json()["role"] == "admin"
    assert "httponly" in r.headers["set-cookie"].lower()
    who = await api.client.get("/api/whoami")
    assert who.status_code == 200 and who.json()["role"] == "admin"
    await api.client.delete("/api/session")
    api.client.cookies.clear()
    assert (await api.client.get("/api/whoami")).status_code == 401


async def test_the_session_cookie_is_not_the_key_and_signing_out_ends_it_everywhere(
    api: Harness,
) -> None:
    await api.client.post("/api/session", json={"key": api.admin_key})
    token = api.client.cookies.get("skiplock_session")
    assert token and api.admin_key not in token and token not in api.admin_key
    stolen = {"Cookie": f"skiplock_session={token}"}
    api.client.cookies.clear()
    assert (await api.client.get("/api/whoami", headers=stolen)).status_code == 200
    out = await api.client.delete("/api/session", headers=stolen)
    assert out.status_code == 204
    # A copy of the cookie kept by someone else no longer works after sign-out.
    replay = await api.client.get("/api/whoami", headers=stolen)
    assert replay.status_code == 401
    assert replay.json()["message"] == "the session has ended; sign in again"
    forged = {"Cookie": f"skiplock_session={api.admin_key}"}  # an old-style cookie
    assert (await api.client.get("/api/whoami", headers=forged)).status_code == 401


async def test_revoking_a_key_ends_its_sessions(api: Harness) -> None:
    created = await api.client.post(
        "/api/keys", json={"role": "admin", "name": "browser"}, headers=api.admin
    )
    await api.client.post("/api/session", json={"key": created.json()["key"]})
    assert (await api.client.get("/api/whoami")).status_code == 200
    await api.client.delete(f"/api/keys/{created.json()['id']}", headers=api.admin)
    assert (await api.client.get("/api/whoami")).status_code == 401
    api.client.cookies.clear()


async def test_health_readiness_and_metrics(api: Harness) -> None:
    assert (await api.client.get("/api/health")).json() == {"status": "ok"}
    ready = await api.client.get("/api/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.admin)
    text = (await api.client.get("/metrics")).text
    assert 'skiplock_queue_depth{state="queued",tenant="default"} 1.0' in text
    assert "skiplock_tasks_submitted_total" in text


async def test_demo_seed_and_clear(api: Harness) -> None:
    r = await api.client.post("/api/demo/seed", json={"count": 50}, headers=api.admin)
    assert r.json()["created"] == 50
    assert await api.count() == 50
    counted = await api.client.post("/api/demo/clear", json={"dry_run": True}, headers=api.admin)
    assert counted.json() == {"deleted": 50, "dry_run": True}
    assert await api.count() == 50, "a dry run deletes nothing"
    cleared = await api.client.post("/api/demo/clear", headers=api.admin)
    assert cleared.json() == {"deleted": 50, "dry_run": False}
    assert await api.count() == 0


async def test_demo_routes_are_404_unless_the_server_enables_them(
    harness_factory: Callable[..., Any], sqlite_url: str
) -> None:
    h = await harness_factory(sqlite_url, demo=False)
    try:
        for path in ("/api/demo/seed", "/api/demo/clear"):
            r = await h.client.post(path, json={}, headers=h.admin)
            assert r.status_code == 404, r.text
            assert "SKIPLOCK_DEMO" in r.json()["message"]
        assert await h.count() == 0
    finally:
        await h.client.aclose()
        await h.engine.stop()


async def test_a_tenant_weight_out_of_range_is_refused_not_clamped(api: Harness) -> None:
    await api.tenant("acme", weight=3)
    r = await api.client.patch("/api/tenants/acme", json={"weight": 5000}, headers=api.admin)
    assert r.status_code == 422, r.text
    assert "weight" in r.text
    created = await api.client.post(
        "/api/tenants", json={"name": "big", "weight": 5000}, headers=api.admin
    )
    assert created.status_code == 422, created.text
    tenant = (await api.client.get("/api/tenants/acme", headers=api.admin)).json()
    assert tenant["weight"] == 3


async def test_openapi_documents_the_task_endpoints(api: Harness) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    for path in (
        "/api/tasks",
        "/api/tasks/batch",
        "/api/tasks/{task_id}",
        "/api/tasks/{task_id}/cancel",
        "/api/tasks/{task_id}/retry",
        "/api/workers",
        "/api/queue/stats",
        "/api/tenants",
    ):
        assert path in spec["paths"]


async def test_queue_stats_report_depth_weight_and_oldest_age(api: Harness) -> None:
    await api.tenant("acme", weight=4)
    empty = (await api.client.get("/api/queue/stats", headers=api.admin)).json()
    [acme] = [t for t in empty["tenants"] if t["tenant"] == "acme"]
    assert acme["weight"] == 4 and acme["queued"] == 0 and acme["oldest_queued_age_s"] is None
    await api.client.post(
        "/api/tasks/batch",
        json={
            "tasks": [
                {"type": "noop", "tenant": "acme"},
                {"type": "noop", "tenant": "acme"},
                {"type": "noop", "tenant": "acme", "delay_s": 60},
            ]
        },
        headers=api.admin,
    )
    api.engine.context.state.forget_stats()
    full = (await api.client.get("/api/queue/stats", headers=api.admin)).json()
    [acme] = [t for t in full["tenants"] if t["tenant"] == "acme"]
    assert (acme["queued"], acme["scheduled"]) == (2, 1)
    assert acme["oldest_queued_age_s"] >= 0 and full["totals"]["queued"] == 2


async def test_lists_sort_either_way_and_page_by_their_cursor(api: Harness) -> None:
    ids = []
    for delay in (30, 10, 20):
        r = await api.client.post(
            "/api/tasks", json={"type": "noop", "delay_s": delay}, headers=api.admin
        )
        ids.append(r.json()["id"])

    async def walk(sort: str) -> list[int]:
        seen: list[int] = []
        params: dict[str, str | int] = {"sort": sort, "limit": 1}
        while True:
            page = (await api.client.get("/api/tasks", params=params, headers=api.admin)).json()
            seen += [t["id"] for t in page["items"]]
            if page["next_cursor"] is None:
                return seen
            params["cursor"] = page["next_cursor"]

    assert await walk("-created") == sorted(ids, reverse=True)
    assert await walk("created") == sorted(ids)
    assert await walk("run_at") == [ids[1], ids[2], ids[0]]
    assert await walk("-run_at") == [ids[0], ids[2], ids[1]]
    assert await walk("-finished") == []  # nothing finished yet
    bad = await api.client.get(
        "/api/tasks", params={"sort": "run_at", "cursor": "12"}, headers=api.admin
    )
    assert bad.status_code == 400 and "cursor" in bad.json()["message"]
    unknown = await api.client.get("/api/tasks", params={"sort": "payload"}, headers=api.admin)
    assert unknown.status_code == 422


async def test_count_answers_the_list_filters(api: Harness) -> None:
    for _ in range(3):
        await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.admin)
    queued = await api.client.get("/api/tasks/count?state=queued", headers=api.admin)
    assert queued.json() == {"total": 3, "exact": True}
    everything = await api.client.get("/api/tasks/count", headers=api.admin)
    assert everything.json() == {"total": 3, "exact": True}
    none = await api.client.get("/api/tasks/count?state=dead", headers=api.admin)
    assert none.json() == {"total": 0, "exact": True}
    other = await api.client.get("/api/tasks/count?tenant=nobody", headers=api.admin)
    assert other.status_code == 404


async def test_run_now_makes_a_scheduled_task_due_and_refuses_others(api: Harness) -> None:
    later = (
        await api.client.post(
            "/api/tasks", json={"type": "noop", "delay_s": 3600}, headers=api.admin
        )
    ).json()
    assert later["state"] == "scheduled"
    ran = await api.client.post(f"/api/tasks/{later['id']}/run-now", headers=api.admin)
    assert ran.status_code == 200, ran.text
    assert ran.json()["state"] == "queued"
    assert ran.json()["run_at"] < later["run_at"]
    again = await api.client.post(f"/api/tasks/{later['id']}/run-now", headers=api.admin)
    assert again.status_code == 409, again.text
    reader_key = (
        await api.client.post("/api/keys", json={"role": "reader"}, headers=api.admin)
    ).json()["key"]
    other = (
        await api.client.post(
            "/api/tasks", json={"type": "noop", "delay_s": 3600}, headers=api.admin
        )
    ).json()
    refused = await api.client.post(
        f"/api/tasks/{other['id']}/run-now", headers=api.as_key(reader_key)
    )
    assert refused.status_code == 403
    scheduled = await api.client.get(f"/api/tasks/{other['id']}", headers=api.admin)
    assert scheduled.json()["state"] == "scheduled"


async def test_delete_removes_a_scheduled_task_and_refuses_every_other_state(
    api: Harness,
) -> None:
    later = (
        await api.client.post(
            "/api/tasks", json={"type": "noop", "delay_s": 3600}, headers=api.admin
        )
    ).json()
    gone = await api.client.delete(f"/api/tasks/{later['id']}", headers=api.admin)
    assert gone.status_code == 200, gone.text
    assert (gone.json()["id"], gone.json()["state"]) == (later["id"], "scheduled")
    assert (await api.client.get(f"/api/tasks/{later['id']}", headers=api.admin)).status_code == 404
    count = await api.client.get("/api/tasks/count?state=scheduled", headers=api.admin)
    assert count.json()["total"] == 0

    due = (await api.client.post("/api/tasks", json={"type": "noop"}, headers=api.admin)).json()
    refused = await api.client.delete(f"/api/tasks/{due['id']}", headers=api.admin)
    assert refused.status_code == 409
    assert refused.json()["message"] == (
        f"only a scheduled task can be deleted; task {due['id']} is queued"
    )
    assert (await api.client.get(f"/api/tasks/{due['id']}", headers=api.admin)).status_code == 200


async def test_delete_stays_inside_the_tenant_and_is_refused_to_readers(api: Harness) -> None:
    acme = await api.tenant("acme")
    globex = await api.tenant("globex")
    mine = (
        await api.client.post(
            "/api/tasks", json={"type": "noop", "delay_s": 3600}, headers=api.as_key(acme)
        )
    ).json()
    theirs = await api.client.delete(f"/api/tasks/{mine['id']}", headers=api.as_key(globex))
    assert theirs.status_code == 404
    reader_key = (
        await api.client.post("/api/keys", json={"role": "reader"}, headers=api.admin)
    ).json()["key"]
    read_only = await api.client.delete(f"/api/tasks/{mine['id']}", headers=api.as_key(reader_key))
    assert read_only.status_code == 403
    still = await api.client.get(f"/api/tasks/{mine['id']}", headers=api.as_key(acme))
    assert still.json()["state"] == "scheduled"
    own = await api.client.delete(f"/api/tasks/{mine['id']}", headers=api.as_key(acme))
    assert own.status_code == 200
