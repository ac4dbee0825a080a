"""Every way in that changes tasks goes through the task service, so every committed
state change reaches the live stream — and a batch spanning tenants is admitted by their
rate limits all together or not at all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from skiplock.domain.models import Event
from tests.integration.conftest import Harness

# Every route that changes tasks; a new one must be added here (and so be tested below).
TASK_CHANGING_ROUTES = {
    ("POST", "/api/tasks"),
    ("POST", "/api/tasks/batch"),
    ("POST", "/api/tasks/{task_id}/run-now"),
    ("DELETE", "/api/tasks/{task_id}"),
    ("POST", "/api/tasks/{task_id}/cancel"),
    ("POST", "/api/tasks/{task_id}/retry"),
    ("POST", "/api/tasks/bulk/cancel"),
    ("POST", "/api/tasks/bulk/retry"),
    ("POST", "/api/demo/seed"),
    ("POST", "/api/schedules/{name}/trigger"),
}


class Events:
    """Reads the engine's event stream from where it stood when made."""

    def __init__(self, h: Harness) -> None:
        self._stream = h.engine.context.stream
        self._after: str | None = None
        self.seen: list[Event] = []

    async def start(self) -> Events:
        self._after = await self._stream.last_id() or "0-0"
        return self

    async def until(self, want: dict[int, str], *, timeout_s: float = 10.0) -> None:
        """Read until the newest event of each task id in ``want`` has that state."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.last(i) == state for i, state in want.items()):
                return
            got = await self._stream.read(after=self._after, count=1000, block_s=0.2)
            assert not got.reset
            for event in got.events:
                self.seen.append(event)
                self._after = event.id
        missing = {i: (s, self.last(i)) for i, s in want.items() if self.last(i) != s}
        raise AssertionError(f"no event for (wanted, last seen): {missing}")

    def last(self, task_id: int) -> str | None:
        """The task's state in its newest event; "deleted" once its row is gone."""
        states = [
            "deleted" if e.data.get("deleted") else e.data["state"]
            for e in self.seen
            if e.kind == "task" and e.data["id"] == task_id
        ]
        return str(states[-1]) if states else None


async def post(h: Harness, path: str, body: Any = None, status: int = 200) -> Any:
    r = await h.client.post(path, json=body, headers=h.admin)
    assert r.status_code == status, r.text
    return r.json()


def task_routes(h: Harness) -> set[tuple[str, str]]:
    """The routes the app's OpenAPI document lists that change tasks."""
    schema = h.client._transport.app  # type: ignore[attr-defined]
    while not hasattr(schema, "openapi"):  # inside the request guard's wrapper
        schema = schema.app
    found = set()
    for path, methods in schema.openapi()["paths"].items():
        if path.startswith(("/api/tasks", "/api/demo/seed")) or path.endswith("/trigger"):
            found |= {(m.upper(), path) for m in methods if m not in ("get", "head")}
    return found


async def test_every_task_changing_route_publishes_each_change_it_commits(api: Harness) -> None:
    h = api
    assert task_routes(h) == TASK_CHANGING_ROUTES
    events = await Events(h).start()
    work = {"type": "noop", "payload": {}}

    one = (await post(h, "/api/tasks", work, 201))["id"]
    batch = [
        t["id"] for t in (await post(h, "/api/tasks/batch", {"tasks": [work] * 3}, 201))["items"]
    ]
    await events.until({one: "queued", **dict.fromkeys(batch, "queued")})

    await post(h, f"/api/tasks/{one}/cancel")
    await events.until({one: "cancelled"})
    await post(h, f"/api/tasks/{one}/retry")
    await events.until({one: "queued"})

    by_ids = await post(h, "/api/tasks/bulk/cancel", {"ids": batch[:2]})
    assert sorted(by_ids["ids"]) == sorted(batch[:2])
    await events.until(dict.fromkeys(batch[:2], "cancelled"))
    by_filter = await post(h, "/api/tasks/bulk/cancel", {"filter": {"state": ["queued"]}})
    assert set(by_filter["ids"]) == {one, batch[2]}
    await events.until({one: "cancelled", batch[2]: "cancelled"})
    retried = await post(h, "/api/tasks/bulk/retry", {"filter": {"state": ["cancelled"]}})
    assert set(retried["ids"]) == {one, *batch}
    await events.until({one: "queued", **dict.fromkeys(batch, "queued")})

    later = (await post(h, "/api/tasks", {**work, "delay_s": 3600}, 201))["id"]
    await events.until({later: "scheduled"})
    ran = await post(h, f"/api/tasks/{later}/run-now")
    assert ran["state"] == "queued"
    await events.until({later: "queued"})
    doomed = (await post(h, "/api/tasks", {**work, "delay_s": 3600}, 201))["id"]
    await events.until({doomed: "scheduled"})
    deleted = await h.client.delete(f"/api/tasks/{doomed}", headers=h.admin)
    assert deleted.status_code == 200, deleted.text
    await events.until({doomed: "deleted"})
    await post(h, "/api/schedules", {"name": "tick", "type": "noop", "every_s": 3600}, 201)
    fired = (await post(h, "/api/schedules/tick/trigger", None, 201))["id"]
    await events.until({fired: "queued"})

    seeded = await post(h, "/api/demo/seed", {"count": 20})
    assert seeded["created"] == 20
    page = (
        await h.client.get(
            "/api/tasks", params={"tenant": "demo-acme", "limit": 500}, headers=h.admin
        )
    ).json()["items"]
    assert page, "the seed put tasks in demo-acme"
    await events.until({t["id"]: t["state"] for t in page})

    # Each event names the task's tenant and type as stored.
    stored = {t["id"]: t for t in page}
    for event in events.seen:
        if event.data["id"] in stored:
            assert event.data["tenant"] == "demo-acme"
            assert event.data["type"] == stored[event.data["id"]]["type"]


async def test_a_batch_over_one_tenants_limit_spends_nothing_of_the_others(api: Harness) -> None:
    h = api
    await h.tenant("roomy", rate_limit="10/60")
    await h.tenant("tight", rate_limit="5/60")
    await post(
        h, "/api/tasks/batch", {"tasks": [{"type": "noop", "tenant": "tight", "cost": 4}]}, 201
    )

    mixed = {
        "tasks": [
            {"type": "noop", "tenant": "roomy", "cost": 6},
            {"type": "noop", "tenant": "tight", "cost": 2},
        ]
    }
    r = await h.client.post("/api/tasks/batch", json=mixed, headers=h.admin)
    assert r.status_code == 429, r.text
    assert "'tight'" in r.json()["message"]
    # The refusing tenant's standing, not the last one asked.
    assert r.headers["RateLimit-Policy"] == "5;w=60"
    assert r.headers["RateLimit-Remaining"] == "1"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert await h.count(tenant="roomy") == 0  # nothing stored ...
    # ... and nothing of roomy's budget spent: all 10 units are still there.
    full = {"tasks": [{"type": "noop", "tenant": "roomy", "cost": 10}]}
    ok = await h.client.post("/api/tasks/batch", json=full, headers=h.admin)
    assert ok.status_code == 201, ok.text
    assert ok.headers["RateLimit-Remaining"] == "0"


async def test_bulk_retry_is_charged_to_each_tenant_at_once(api: Harness) -> None:
    h = api
    await h.tenant("one", rate_limit="4/60")
    await h.tenant("two", rate_limit="3/60")
    ids = []
    for tenant in ("one", "two"):
        tasks = [{"type": "noop", "tenant": tenant}] * 2
        made = await post(h, "/api/tasks/batch", {"tasks": tasks}, 201)
        ids += [t["id"] for t in made["items"]]
    await post(h, "/api/tasks/bulk/cancel", {"ids": ids})
    # one has 2 units left, two has 1: retrying both of each fits one but not two ...
    r = await h.client.post("/api/tasks/bulk/retry", json={"ids": ids}, headers=h.admin)
    assert r.status_code == 429, r.text
    assert "'two'" in r.json()["message"]
    states = await asyncio.gather(*(h.client.get(f"/api/tasks/{i}", headers=h.admin) for i in ids))
    assert {s.json()["state"] for s in states} == {"cancelled"}
    # ... and the refusal spent nothing of one's: both of its tasks still fit.
    ok = await post(h, "/api/tasks/bulk/retry", {"ids": ids[:2]})
    assert sorted(ok["ids"]) == ids[:2]


async def test_a_dry_run_says_what_a_bulk_action_would_change_and_changes_nothing(
    api: Harness,
) -> None:
    h = api
    made = await post(h, "/api/tasks/batch", {"tasks": [{"type": "noop"}] * 4}, 201)
    ids = [t["id"] for t in made["items"]]
    await post(h, "/api/tasks/bulk/cancel", {"ids": ids[:1]})  # one is cancelled already
    events = await Events(h).start()

    would = await post(h, "/api/tasks/bulk/cancel", {"filter": {}, "dry_run": True})
    assert (would["changed"], would["ids"], would["dry_run"]) == (3, ids[1:], True)
    # A state filter narrows to the states the action starts from.
    none = await post(
        h, "/api/tasks/bulk/cancel", {"filter": {"state": ["cancelled"]}, "dry_run": True}
    )
    assert none["changed"] == 0
    retry = await post(h, "/api/tasks/bulk/retry", {"filter": {}, "dry_run": True})
    assert (retry["changed"], retry["ids"]) == (1, ids[:1])
    assert await h.count(state="queued") == 3 and await h.count(state="cancelled") == 1

    done = await post(h, "/api/tasks/bulk/cancel", {"filter": {}})
    assert (done["changed"], sorted(done["ids"]), done["dry_run"]) == (3, ids[1:], False)
    await events.until(dict.fromkeys(ids[1:], "cancelled"))
    # The dry runs published nothing: the first events seen are the real cancels'.
    assert all(e.data["state"] == "cancelled" for e in events.seen if e.kind == "task")


async def test_a_schedule_trigger_is_charged_to_its_tenants_rate_limit(api: Harness) -> None:
    h = api
    await h.tenant("metered", rate_limit="2/60")
    body = {"name": "often", "type": "noop", "every_s": 60, "tenant": "metered", "cost": 2}
    await post(h, "/api/schedules", body, 201)
    await post(h, "/api/schedules/often/trigger", None, 201)
    r = await h.client.post("/api/schedules/often/trigger", headers=h.admin)
    assert r.status_code == 429, r.text
    assert await h.count(tenant="metered") == 1
