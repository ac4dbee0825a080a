"""The schedules HTTP API, in process on SQLite: create, read, change, pause, resume,
trigger, delete and preview; bad input refused with a 422 naming the field and nothing
written; tenants confined to their own schedules; readers read only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.integration.conftest import Harness


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _create(api: Harness, headers: dict[str, str] | None = None, **body: Any) -> Any:
    base = {"name": "nightly", "type": "noop", "cron": "30 2 * * *"}
    return await api.client.post("/api/schedules", json=base | body, headers=headers or api.admin)


async def test_a_created_schedule_answers_with_its_next_run(api: Harness) -> None:
    r = await _create(api, timezone="Europe/Berlin", payload={"report": "daily"})
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["name"] == "nightly" and got["tenant"] == "default"
    assert got["cron"] == "30 2 * * *" and got["every_s"] is None
    assert got["catch_up"] == "one" and got["enabled"] is True
    next_run = _at(got["next_run_at"])
    assert next_run > datetime.now(next_run.tzinfo)
    # 02:30 in Berlin is 00:30 or 01:30 UTC, depending on the season.
    assert (next_run.hour, next_run.minute) in ((0, 30), (1, 30))
    assert got["last_run_at"] is None and got["last_task_id"] is None

    listed = (await api.client.get("/api/schedules", headers=api.admin)).json()["items"]
    assert [s["name"] for s in listed] == ["nightly"]
    assert listed[0]["next_run_at"] == got["next_run_at"]
    one = await api.client.get("/api/schedules/nightly", headers=api.admin)
    assert one.status_code == 200 and one.json()["payload"] == {"report": "daily"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "not a cron"}, "cron"),
        ({"cron": None, "every_s": 0}, "every_s"),
        ({"cron": None, "every_s": -5}, "every_s"),
        ({"cron": None}, "cron"),
        ({"every_s": 60}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"type": "no-such-type"}, "type"),
        ({"name": "bad name!"}, "name"),
        ({"catch_up": "some"}, "catch_up"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    api: Harness, body: dict[str, Any], field: str
) -> None:
    r = await _create(api, **body)
    assert r.status_code == 422, r.text
    named = [f["field"].split(".")[-1] for f in r.json()["fields"]]
    assert field in named, r.json()
    assert (await api.client.get("/api/schedules", headers=api.admin)).json()["items"] == []


async def test_a_taken_name_is_a_conflict(api: Harness) -> None:
    assert (await _create(api)).status_code == 201
    assert (await _create(api, cron="0 * * * *")).status_code == 409


async def test_pause_hides_the_next_run_and_resume_brings_it_back(api: Harness) -> None:
    await _create(api, cron=None, every_s=3600)
    paused = await api.client.post("/api/schedules/nightly/pause", headers=api.admin)
    assert paused.status_code == 200
    assert paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    resumed = await api.client.post("/api/schedules/nightly/resume", headers=api.admin)
    assert resumed.json()["enabled"] is True
    assert _at(resumed.json()["next_run_at"]).timestamp() % 3600 == 0


async def test_patch_replaces_the_given_fields_and_a_new_timing_moves_the_next_run(
    api: Harness,
) -> None:
    await _create(api)
    r = await api.client.patch(
        "/api/schedules/nightly",
        json={"every_s": 60, "priority": 5, "catch_up": "all"},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["cron"], got["every_s"], got["priority"], got["catch_up"]) == (
        None,
        60,
        5,
        "all",
    )
    assert _at(got["next_run_at"]).second == 0
    bad = await api.client.patch(
        "/api/schedules/nightly", json={"timezone": "Nowhere/Land"}, headers=api.admin
    )
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "timezone"
    kept = (await api.client.get("/api/schedules/nightly", headers=api.admin)).json()
    assert kept["timezone"] == "UTC" and kept["every_s"] == 60


async def test_trigger_fires_one_task_now_that_names_its_schedule(api: Harness) -> None:
    await _create(api, payload={"n": 1}, priority=7)
    r = await api.client.post("/api/schedules/nightly/trigger", headers=api.admin)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["schedule"] == "nightly" and task["type"] == "noop"
    assert task["payload"] == {"n": 1} and task["priority"] == 7
    read = (await api.client.get(f"/api/tasks/{task['id']}", headers=api.admin)).json()
    assert read["schedule"] == "nightly"
    listed = (await api.client.get("/api/tasks", headers=api.admin)).json()["items"]
    assert [t["schedule"] for t in listed] == ["nightly"]
    got = (await api.client.get("/api/schedules/nightly", headers=api.admin)).json()
    assert got["last_task_id"] == task["id"]


async def test_delete_removes_the_schedule_and_keeps_its_tasks(api: Harness) -> None:
    await _create(api)
    fired = (await api.client.post("/api/schedules/nightly/trigger", headers=api.admin)).json()
    r = await api.client.delete("/api/schedules/nightly", headers=api.admin)
    assert r.status_code == 200 and r.json()["name"] == "nightly"
    assert (await api.client.get("/api/schedules/nightly", headers=api.admin)).status_code == 404
    task = (await api.client.get(f"/api/tasks/{fired['id']}", headers=api.admin)).json()
    assert task["schedule"] == "nightly"


async def test_a_tenant_key_manages_only_its_own_schedules(api: Harness) -> None:
    acme = api.as_key(await api.tenant("acme"))
    umbrella = api.as_key(await api.tenant("umbrella"))
    mine = await _create(api, headers=acme, name="acme-report")
    assert mine.status_code == 201 and mine.json()["tenant"] == "acme"
    other = await _create(api, headers=acme, name="sneaky", tenant="umbrella")
    assert other.status_code == 403
    for method, path in [
        ("GET", "/api/schedules/acme-report"),
        ("PATCH", "/api/schedules/acme-report"),
        ("DELETE", "/api/schedules/acme-report"),
        ("POST", "/api/schedules/acme-report/pause"),
        ("POST", "/api/schedules/acme-report/trigger"),
    ]:
        body = {"priority": 1} if method == "PATCH" else None
        r = await api.client.request(method, path, json=body, headers=umbrella)
        assert r.status_code == 404, (method, path, r.text)
    assert (await api.client.get("/api/schedules", headers=umbrella)).json()["items"] == []
    seen = (await api.client.get("/api/schedules", headers=api.admin)).json()["items"]
    assert [s["name"] for s in seen] == ["acme-report"]


async def test_a_reader_key_reads_schedules_and_changes_none(api: Harness) -> None:
    await _create(api)
    r = await api.client.post(
        "/api/keys", json={"role": "reader", "name": "watch"}, headers=api.admin
    )
    reader = api.as_key(r.json()["key"])
    assert (await api.client.get("/api/schedules", headers=reader)).status_code == 200
    assert (await api.client.get("/api/schedules/nightly", headers=reader)).status_code == 200
    assert (await _create(api, headers=reader, name="x")).status_code == 403
    r = await api.client.post("/api/schedules/nightly/trigger", headers=reader)
    assert r.status_code == 403
    assert (await api.client.delete("/api/schedules/nightly", headers=reader)).status_code == 403
    # A preview is a POST that changes nothing: a reader may ask for one.
    r = await api.client.post(
        "/api/schedules/preview", json={"every_s": 60, "count": 2}, headers=reader
    )
    assert r.status_code == 200 and len(r.json()["next"]) == 2
    assert (await api.client.post("/api/schedules/preview", json={})).status_code == 401


async def test_preview_lists_the_next_fire_times_in_utc(api: Harness) -> None:
    r = await api.client.post(
        "/api/schedules/preview",
        json={"cron": "0 9 * * 1-5", "timezone": "America/New_York"},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    ticks = [_at(t) for t in r.json()["next"]]
    assert len(ticks) == 5 and ticks == sorted(ticks)
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in ticks)
    assert all(t.hour in (13, 14) and t.weekday() < 5 for t in ticks)
    every = await api.client.post(
        "/api/schedules/preview", json={"every_s": 60, "count": 3}, headers=api.admin
    )
    [a, b, c] = [_at(t) for t in every.json()["next"]]
    assert (b - a).total_seconds() == 60 and (c - b).total_seconds() == 60
    for bad, field in [
        ({"cron": "* * *"}, "cron"),
        ({"every_s": 0}, "every_s"),
        ({}, "cron"),
        ({"every_s": 5, "timezone": "X/Y"}, "timezone"),
    ]:
        r = await api.client.post("/api/schedules/preview", json=bad, headers=api.admin)
        assert r.status_code == 422, (bad, r.text)
        assert field in [f["field"] for f in r.json()["fields"]], r.json()


async def test_openapi_describes_the_schedule_routes(api: Harness) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/schedules",
        "/api/schedules/{name}",
        "/api/schedules/{name}/trigger",
        "/api/schedules/preview",
    ):
        assert path in paths
    out = paths["/api/schedules"]["post"]["responses"]["201"]["content"]["application/json"]
    assert out["schema"]["$ref"].endswith("/ScheduleOut")
    assert "next_run_at" in spec["components"]["schemas"]["ScheduleOut"]["properties"]
