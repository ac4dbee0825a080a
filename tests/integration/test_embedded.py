"""The embedded mode end to end through the API: real worker, maintenance and SQLite."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.integration.conftest import Harness, live_server, wait_until


async def _task(h: Harness, task_id: int) -> dict[str, Any]:
    r = await h.client.get(f"/api/tasks/{task_id}", headers=h.admin)
    assert r.status_code == 200
    return dict(r.json())


async def _reaches(h: Harness, task_id: int, state: str, timeout_s: float = 10.0) -> dict[str, Any]:
    async def check() -> bool:
        return (await _task(h, task_id))["state"] == state

    await wait_until(check, timeout_s=timeout_s, what=f"task {task_id} to become {state}")
    return await _task(h, task_id)


async def test_a_submitted_task_runs_and_records_its_result(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks",
        json={"type": "async_sleep", "payload": {"seconds": 0.01}},
        headers=embedded.admin,
    )
    done = await _reaches(embedded, r.json()["id"], "succeeded")
    assert done["result"] == {"slept_s": 0.01}
    assert [a["outcome"] for a in done["attempts"]] == ["succeeded"]
    assert done["attempts"][0]["worker"] == embedded.engine.worker_id


async def test_sync_handlers_run_in_threads_and_can_fail(embedded: Harness) -> None:
    ok = await embedded.client.post(
        "/api/tasks", json={"type": "sleep", "payload": {"seconds": 0.01}}, headers=embedded.admin
    )
    bad = await embedded.client.post(
        "/api/tasks",
        json={"type": "fail", "payload": {"message": "disk full"}, "max_attempts": 1},
        headers=embedded.admin,
    )
    assert (await _reaches(embedded, ok.json()["id"], "succeeded"))["result"] == {"slept_s": 0.01}
    dead = await _reaches(embedded, bad.json()["id"], "dead")
    assert dead["last_error"] == "RuntimeError: disk full"


async def test_failures_retry_then_dead_letter_then_requeue(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks", json={"type": "fail", "max_attempts": 3}, headers=embedded.admin
    )
    dead = await _reaches(embedded, r.json()["id"], "dead")
    assert [a["attempt"] for a in dead["attempts"]] == [1, 2, 3]
    assert all(a["outcome"] == "failed" for a in dead["attempts"])
    dlq = (await embedded.client.get("/api/tasks?state=dead", headers=embedded.admin)).json()
    assert [t["id"] for t in dlq["items"]] == [dead["id"]]
    requeued = await embedded.client.post(f"/api/tasks/{dead['id']}/retry", headers=embedded.admin)
    assert requeued.json()["attempts_used"] == 0
    again = await _reaches(embedded, dead["id"], "dead")
    assert len(again["attempts"]) == 6  # a fresh budget of three more attempts


async def test_each_failed_attempt_keeps_its_traceback(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks",
        json={"type": "fail", "payload": {"message": "disk full"}, "max_attempts": 2},
        headers=embedded.admin,
    )
    dead = await _reaches(embedded, r.json()["id"], "dead")
    assert len(dead["attempts"]) == 2
    for attempt in dead["attempts"]:
        trace = attempt["traceback"]
        assert trace.startswith("Traceback (most recent call last):")
        assert "in _fail" in trace  # the handler's own frame
        assert trace.rstrip().endswith("RuntimeError: disk full")


async def test_a_huge_traceback_is_stored_cut_to_its_bound(embedded: Harness) -> None:
    message = "x" * 100_000
    r = await embedded.client.post(
        "/api/tasks",
        json={"type": "fail", "payload": {"message": message}, "max_attempts": 1},
        headers=embedded.admin,
    )
    dead = await _reaches(embedded, r.json()["id"], "dead")
    trace = dead["attempts"][0]["traceback"]
    assert len(trace) <= 16 * 1024
    assert "characters cut" in trace
    assert trace.startswith("Traceback (most recent call last):")


async def test_a_manual_requeue_is_marked_with_who_did_it(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks", json={"type": "fail", "max_attempts": 1}, headers=embedded.admin
    )
    dead = await _reaches(embedded, r.json()["id"], "dead")
    assert dead["requeued_at"] is None and dead["requeued_by"] is None
    requeued = (
        await embedded.client.post(f"/api/tasks/{dead['id']}/retry", headers=embedded.admin)
    ).json()
    assert requeued["requeued_at"] is not None
    me = (await embedded.client.get("/api/whoami", headers=embedded.admin)).json()
    assert requeued["requeued_by"] == f"admin key 'bootstrap' ({me['key_prefix']})"
    assert requeued["attempt_base"] == 1  # the attempt before the requeue
    again = await _reaches(embedded, dead["id"], "dead")
    assert again["attempts_used"] == 1 and again["attempt"] == 2
    assert again["requeued_by"] == requeued["requeued_by"]
    # The bulk form records it too.
    bulk = await embedded.client.post(
        "/api/tasks/bulk/retry", json={"ids": [dead["id"]]}, headers=embedded.admin
    )
    assert bulk.json()["changed"] == 1
    assert (await _task(embedded, dead["id"]))["attempt_base"] == 2


async def test_a_timed_out_attempt_fails_and_frees_its_slot(embedded: Harness) -> None:
    slow = await embedded.client.post(
        "/api/tasks",
        json={
            "type": "async_sleep",
            "payload": {"seconds": 30},
            "timeout_s": 0.2,
            "max_attempts": 1,
        },
        headers=embedded.admin,
    )
    dead = await _reaches(embedded, slow.json()["id"], "dead")
    assert dead["attempts"][0]["outcome"] == "timed_out"
    assert "timed out" in dead["last_error"]
    assert embedded.engine.worker is not None and embedded.engine.worker.executor.busy == 0


async def test_delayed_tasks_wait_for_their_time(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks", json={"type": "noop", "delay_s": 0.5}, headers=embedded.admin
    )
    assert r.json()["state"] == "scheduled"
    done = await _reaches(embedded, r.json()["id"], "succeeded")
    assert done["started_at"] >= done["run_at"]


async def test_cancelling_a_queued_task_means_it_never_runs(embedded: Harness) -> None:
    key = await embedded.tenant("acme")
    await embedded.client.post("/api/tenants/acme/pause", headers=embedded.admin)
    r = await embedded.client.post(
        "/api/tasks", json={"type": "noop"}, headers=embedded.as_key(key)
    )
    cancelled = await embedded.client.post(
        f"/api/tasks/{r.json()['id']}/cancel", headers=embedded.as_key(key)
    )
    assert cancelled.json()["state"] == "cancelled"
    await embedded.client.post("/api/tenants/acme/resume", headers=embedded.admin)
    await asyncio.sleep(0.3)  # give a wrongly-claimed task the chance to run
    assert (await _task(embedded, r.json()["id"]))["attempts"] == []


async def test_a_paused_tenant_is_not_claimed_until_resumed(embedded: Harness) -> None:
    key = await embedded.tenant("acme")
    await embedded.client.post("/api/tenants/acme/pause", headers=embedded.admin)
    r = await embedded.client.post(
        "/api/tasks", json={"type": "noop"}, headers=embedded.as_key(key)
    )
    other = await embedded.client.post("/api/tasks", json={"type": "noop"}, headers=embedded.admin)
    await _reaches(embedded, other.json()["id"], "succeeded")  # the worker is claiming
    assert (await _task(embedded, r.json()["id"]))["state"] == "queued"
    await embedded.client.post("/api/tenants/acme/resume", headers=embedded.admin)
    done = await _reaches(embedded, r.json()["id"], "succeeded")
    assert done["attempts_used"] == 1  # the pause cost no attempt


async def test_the_worker_registry_lists_this_instance(embedded: Harness) -> None:
    r = (await embedded.client.get("/api/workers", headers=embedded.admin)).json()
    [me] = r["instances"]
    assert me["id"] == embedded.engine.worker_id and me["slots"] == 4


async def test_sse_streams_a_tasks_state_changes_in_order(embedded: Harness) -> None:
    seen: list[dict[str, Any]] = []
    opened = asyncio.Event()

    async def listen() -> None:
        async with (
            live_server(embedded) as client,
            client.stream("GET", "/api/sse/events?kind=task", headers=embedded.admin) as resp,
        ):
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers["x-accel-buffering"] == "no"
            async for line in resp.aiter_lines():
                if line.startswith(": connected"):
                    opened.set()
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1]["state"] == "succeeded":
                        return

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 5)
    r = await embedded.client.post("/api/tasks", json={"type": "noop"}, headers=embedded.admin)
    await asyncio.wait_for(listener, 10)
    mine = [e["state"] for e in seen if e["id"] == r.json()["id"]]
    assert mine == ["queued", "running", "succeeded"]


async def test_analytics_endpoints_report_the_work_done(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks/batch",
        json={"tasks": [{"type": "noop"}, {"type": "noop"}, {"type": "fail", "max_attempts": 1}]},
        headers=embedded.admin,
    )
    for t in r.json()["items"]:
        await _reaches(embedded, t["id"], "dead" if t["type"] == "fail" else "succeeded")
    s = (await embedded.client.get("/api/analytics?window_s=600", headers=embedded.admin)).json()
    assert (s["submitted"], s["succeeded"], s["dead"], s["failed"]) == (3, 2, 1, 1)
    assert s["top_failing_types"] == [{"type": "fail", "failed": 1}]
    assert s["failure_rate"] == round(1 / 3, 4)
    assert s["run_time_ms"]["p50"] is not None
    tp = (
        await embedded.client.get(
            "/api/analytics/throughput?window_s=600&bucket_s=60", headers=embedded.admin
        )
    ).json()
    assert sum(p["succeeded"] for p in tp["points"]) == 2
    assert sum(p["submitted"] for p in tp["points"]) == 3
    types = (await embedded.client.get("/api/analytics/types", headers=embedded.admin)).json()
    assert {i["type"]: i["total"] for i in types["items"]} == {"noop": 2, "fail": 1}
    key = await embedded.tenant("quiet")
    mine = (await embedded.client.get("/api/analytics", headers=embedded.as_key(key))).json()
    assert mine["submitted"] == 0
    bad = await embedded.client.get(
        "/api/analytics/throughput?window_s=86400&bucket_s=1", headers=embedded.admin
    )
    assert bad.status_code == 422


async def test_the_promoters_event_names_tenant_type_and_attempt(embedded: Harness) -> None:
    r = await embedded.client.post(
        "/api/tasks", json={"type": "noop", "delay_s": 0.3}, headers=embedded.admin
    )
    task_id = r.json()["id"]
    promoted: list[dict[str, Any]] = []

    async def published() -> bool:
        read = await embedded.engine.shared.stream.read(after="0-0", count=10_000, block_s=0)
        promoted[:] = [
            dict(e.data)
            for e in read.events
            if e.data.get("id") == task_id and e.data.get("state") == "queued"
        ]
        return bool(promoted)

    await wait_until(published, what="the promoter's event")
    assert len(promoted) == 1, promoted
    assert promoted[0]["tenant"] == "default"
    assert promoted[0]["type"] == "noop"
    assert promoted[0]["attempt"] == 0
