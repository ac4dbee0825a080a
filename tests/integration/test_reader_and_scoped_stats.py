"""The read-only ``reader`` role and tenant-scoped queue stats, through the real HTTP app on
SQLite and on MariaDB. Every refused request is checked to have changed nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from skiplock import keys
from tests.integration.conftest import Harness

SAFE = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture(params=["sqlite", "mysql"])
async def api_on(
    request: pytest.FixtureRequest, harness_factory: Callable[..., Any]
) -> AsyncIterator[Harness]:
    """An API-only engine on SQLite, then on MariaDB."""
    url = request.getfixturevalue(f"{request.param}_url")
    h: Harness = await harness_factory(url)
    yield h
    await h.client.aclose()
    await h.engine.stop()


async def reader_key(api: Harness, name: str = "monitoring") -> str:
    r = await api.client.post("/api/keys", json={"role": "reader", "name": name}, headers=api.admin)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "reader" and r.json()["tenant"] is None
    return str(r.json()["key"])


async def submit(api: Harness, tenant: str, n: int, **task: Any) -> list[dict[str, Any]]:
    batch = {"tasks": [{"type": "noop", "tenant": tenant, **task} for _ in range(n)]}
    r = await api.client.post("/api/tasks/batch", json=batch, headers=api.admin)
    assert r.status_code == 201, r.text
    return list(r.json()["items"])


async def snapshot(api: Harness) -> dict[str, Any]:
    """Everything a write could change, as an admin sees it."""
    got = {}
    for path in ("/api/tasks?limit=500", "/api/tenants", "/api/keys"):
        r = await api.client.get(path, headers=api.admin)
        assert r.status_code == 200, r.text
        got[path] = r.json()
    # A key's last use is the server's bookkeeping of the reads themselves, not a change.
    for key in got["/api/keys"]["items"]:
        key.pop("last_used_at", None)
    return got


# --- the reader role ----------------------------------------------------------------------


async def test_a_reader_key_sees_what_an_admin_sees(api_on: Harness) -> None:
    api = api_on
    await api.tenant("acme", weight=3)
    await api.tenant("globex")
    task = (await submit(api, "acme", 2))[0]
    await submit(api, "globex", 1)
    reader = api.as_key(await reader_key(api))
    who = (await api.client.get("/api/whoami", headers=reader)).json()
    assert who["role"] == "reader" and who["tenant"] is None
    for path in (
        "/api/tasks",
        "/api/tasks?tenant=globex",
        f"/api/tasks/{task['id']}",
        "/api/tenants",
        "/api/tenants/acme",
        "/api/keys",
        "/api/queue/stats",
        "/api/workers",
        "/api/analytics?window_s=3600",
        "/api/analytics/types?window_s=3600",
    ):
        as_admin = await api.client.get(path, headers=api.admin)
        as_reader = await api.client.get(path, headers=reader)
        assert (as_reader.status_code, as_reader.json()) == (200, as_admin.json()), path
    everyone = (await api.client.get("/api/tasks", headers=reader)).json()["items"]
    assert {t["tenant"] for t in everyone} == {"acme", "globex"}


async def unsafe_routes(api: Harness) -> list[tuple[str, str]]:
    """Every unsafe method the app serves under /api, read from its OpenAPI document, so
    a route added later is covered without editing this test. Signing in and out changes
    no engine data and is open to every key; a schedule preview computes from its body and
    writes nothing (its reader case is in test_schedules_api)."""
    spec = (await api.client.get("/openapi.json")).json()
    found = []
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/") or path in ("/api/session", "/api/schedules/preview"):
            continue
        found += [(m.upper(), path) for m in sorted(operations) if m.upper() not in SAFE]
    return found


async def test_a_reader_key_changes_nothing_every_unsafe_method_is_403(api_on: Harness) -> None:
    api = api_on
    await api.tenant("acme")
    task = (await submit(api, "acme", 1))[0]
    key = await reader_key(api)
    key_id = next(
        k["id"]
        for k in (await api.client.get("/api/keys", headers=api.admin)).json()["items"]
        if k["role"] == "reader"
    )
    values = {"task_id": str(task["id"]), "name": "acme", "key_id": str(key_id)}
    bodies: dict[str, Any] = {
        "/api/tasks": {"type": "noop"},
        "/api/tasks/batch": {"tasks": [{"type": "noop"}]},
        "/api/tasks/bulk/cancel": {"ids": [task["id"]]},
        "/api/tasks/bulk/retry": {"ids": [task["id"]]},
        "/api/tenants": {"name": "intruder"},
        "/api/tenants/{name}": {"state": "paused"},
        "/api/keys": {"role": "admin"},
    }
    routes = await unsafe_routes(api)
    assert ("POST", "/api/tasks") in routes and ("DELETE", "/api/keys/{key_id}") in routes
    before = await snapshot(api)
    for method, path in routes:
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        r = await api.client.request(method, url, json=bodies.get(path), headers=api.as_key(key))
        assert r.status_code == 403, (method, path, r.text)
        body = r.json()
        assert body["error"] == "forbidden", (method, path)
        assert "read-only" in body["message"] and method in body["message"]
    assert await snapshot(api) == before
    # ... and the key still works for reading: nothing revoked it.
    assert (await api.client.get("/api/tasks", headers=api.as_key(key))).status_code == 200


async def test_a_reader_key_has_no_tenant_and_is_listed_with_its_role(api_on: Harness) -> None:
    api = api_on
    await api.tenant("acme")
    before = await snapshot(api)
    bad = await api.client.post(
        "/api/keys", json={"role": "reader", "tenant": "acme"}, headers=api.admin
    )
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "tenant" and "reader" in bad.json()["message"]
    unknown = await api.client.post("/api/keys", json={"role": "owner"}, headers=api.admin)
    assert unknown.status_code == 422
    assert await snapshot(api) == before
    await reader_key(api, name="grafana")
    listed = (await api.client.get("/api/keys", headers=api.admin)).json()["items"]
    assert [(k["role"], k["name"], k["tenant"]) for k in listed if k["role"] == "reader"] == [
        ("reader", "grafana", None)
    ]


async def test_skiplock_reader_key_bootstraps_a_reader_and_survives_a_restart(
    request: pytest.FixtureRequest, harness_factory: Callable[..., Any]
) -> None:
    for store in ("sqlite", "mysql"):
        url = request.getfixturevalue(f"{store}_url")
        reader, _ = keys.generate()
        started = []
        for _ in range(2):  # the second start finds the key and leaves it be
            h: Harness = await harness_factory(url, reader_key=reader)
            started.append(h)
            who = await h.client.get("/api/whoami", headers=h.as_key(reader))
            assert who.json()["role"] == "reader", store
            refused = await h.client.post(
                "/api/tasks", json={"type": "noop"}, headers=h.as_key(reader)
            )
            assert refused.status_code == 403
        listed = (await h.client.get("/api/keys", headers=h.admin)).json()["items"]
        assert [k["name"] for k in listed if k["role"] == "reader"] == ["bootstrap-reader"]
        for h in started:
            await h.client.aclose()
            await h.engine.stop()


async def test_a_reader_key_whose_prefix_is_taken_stops_the_start(
    harness_factory: Callable[..., Any], sqlite_url: str
) -> None:
    admin, parsed = keys.generate()
    h: Harness = await harness_factory(sqlite_url, admin_key=admin)
    await h.client.aclose()
    await h.engine.stop()
    same_prefix = f"sk_{parsed.prefix}_" + "B" * 43  # the secret itself may hold "_"
    with pytest.raises(SystemExit, match="SKIPLOCK_READER_KEY"):
        await harness_factory(sqlite_url, admin_key=admin, reader_key=same_prefix)


# --- tenant-scoped stats ------------------------------------------------------------------


async def test_queue_stats_narrow_to_the_named_tenants_rows_and_totals(api_on: Harness) -> None:
    api = api_on
    for name in ("acme", "globex", "initech"):
        await api.tenant(name)
    await submit(api, "acme", 3)
    await submit(api, "globex", 2)
    await submit(api, "globex", 1, delay_s=60)
    await submit(api, "initech", 7)
    api.engine.context.state.forget_stats()

    whole = (await api.client.get("/api/queue/stats", headers=api.admin)).json()
    assert {t["tenant"] for t in whole["tenants"]} >= {"acme", "globex", "initech"}
    assert whole["totals"]["queued"] == 12

    r = await api.client.get(
        "/api/queue/stats", params=[("tenant", "globex"), ("tenant", "acme")], headers=api.admin
    )
    assert r.status_code == 200, r.text
    scoped = r.json()
    assert [t["tenant"] for t in scoped["tenants"]] == ["acme", "globex"]
    assert scoped["totals"] == {"queued": 5, "scheduled": 1, "running": 0, "retrying": 0}
    by_name = {t["tenant"]: timeless(t) for t in whole["tenants"]}
    assert [timeless(t) for t in scoped["tenants"]] == [by_name["acme"], by_name["globex"]]
    ages = [t["oldest_queued_age_s"] for t in scoped["tenants"]]
    assert scoped["oldest_queued_age_s"] == max(ages)
    reader = api.as_key(await reader_key(api))
    as_reader = await api.client.get("/api/queue/stats?tenant=initech", headers=reader)
    assert as_reader.json()["totals"]["queued"] == 7
    # The unscoped answer is what it always was.
    again = (await api.client.get("/api/queue/stats", headers=api.admin)).json()
    assert [timeless(t) for t in again["tenants"]] == [timeless(t) for t in whole["tenants"]]
    assert again["totals"] == whole["totals"]


def timeless(row: dict[str, Any]) -> dict[str, Any]:
    """A stats row without its age, which grows between two reads."""
    return {k: v for k, v in row.items() if k != "oldest_queued_age_s"}


async def test_an_unknown_or_malformed_tenant_in_stats_is_a_clear_4xx(api_on: Harness) -> None:
    api = api_on
    await api.tenant("acme")
    unknown = await api.client.get(
        "/api/queue/stats?tenant=acme&tenant=nobody&tenant=ghost", headers=api.admin
    )
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "not_found",
        "message": "unknown tenant(s): 'ghost', 'nobody'",
    }
    bad = await api.client.get("/api/queue/stats?tenant=no%20spaces", headers=api.admin)
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    too_many = "&".join(f"tenant=t{i}" for i in range(1001))
    assert (
        await api.client.get(f"/api/queue/stats?{too_many}", headers=api.admin)
    ).status_code == 422


async def test_a_tenant_key_may_scope_stats_to_itself_only(api_on: Harness) -> None:
    api = api_on
    acme = api.as_key(await api.tenant("acme"))
    await api.tenant("globex")
    await submit(api, "acme", 2)
    api.engine.context.state.forget_stats()
    own = await api.client.get("/api/queue/stats?tenant=acme", headers=acme)
    assert [t["tenant"] for t in own.json()["tenants"]] == ["acme"]
    assert own.json()["totals"]["queued"] == 2
    other = await api.client.get("/api/queue/stats?tenant=globex", headers=acme)
    assert other.status_code == 404 and "globex" in other.json()["message"]


async def test_a_tenant_created_on_another_instance_is_found_despite_the_stats_cache(
    request: pytest.FixtureRequest, harness_factory: Callable[..., Any]
) -> None:
    for store in ("sqlite", "mysql"):
        url = request.getfixturevalue(f"{store}_url")
        admin, _ = keys.generate()
        one: Harness = await harness_factory(url, admin_key=admin)
        two: Harness = await harness_factory(url, admin_key=admin)
        assert (await one.client.get("/api/queue/stats", headers=one.admin)).status_code == 200
        await two.tenant("newcomer")  # instance one still holds its cached figures
        r = await one.client.get("/api/queue/stats?tenant=newcomer", headers=one.admin)
        assert r.status_code == 200, (store, r.text)
        assert [t["tenant"] for t in r.json()["tenants"]] == ["newcomer"]
        for h in (one, two):
            await h.client.aclose()
            await h.engine.stop()
