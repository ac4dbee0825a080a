"""Search (``q``) on GET /api/tasks, /api/tasks/count and the bulk filter, through the
API against SQLite and MariaDB: one filter definition for list and count, bad searches
refused as 422 JSON, and a tenant key that never finds another tenant's tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.integration.conftest import Harness


@pytest.fixture(params=["sqlite", "mysql"])
async def h(
    request: pytest.FixtureRequest, harness_factory: Callable[..., Any]
) -> AsyncIterator[Harness]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url")
    harness = await harness_factory(url)
    yield harness
    await harness.client.aclose()
    await harness.engine.stop()


async def submit(h: Harness, headers: dict[str, str], payload: object) -> int:
    done = await h.client.post(
        "/api/tasks", json={"type": "noop", "payload": payload}, headers=headers
    )
    assert done.status_code == 201, done.text
    return int(done.json()["id"])


async def ids(h: Harness, headers: dict[str, str], query: str) -> list[int]:
    got = await h.client.get(f"/api/tasks?{query}", headers=headers)
    assert got.status_code == 200, got.text
    return [t["id"] for t in got.json()["items"]]


async def count(h: Harness, headers: dict[str, str], query: str) -> int:
    got = await h.client.get(f"/api/tasks/count?{query}", headers=headers)
    assert got.status_code == 200, got.text
    return int(got.json()["total"])


async def test_list_and_count_find_the_same_tasks_by_payload_words(h: Harness) -> None:
    first = await submit(h, h.admin, {"customer": "Marmot Freight", "invoice": "INV-4471"})
    second = await submit(h, h.admin, {"customer": "marmot logistics"})
    await submit(h, h.admin, {"customer": "someone else"})
    assert await ids(h, h.admin, "q=marmot") == [second, first]
    assert await count(h, h.admin, "q=marmot") == 2
    assert await ids(h, h.admin, "q=Marmot%20freight") == [first]
    assert await count(h, h.admin, "q=Marmot%20freight") == 1
    assert await ids(h, h.admin, "q=4471&state=queued") == [first]
    assert await count(h, h.admin, "q=4471&state=queued") == 1
    assert await count(h, h.admin, "q=4471&state=dead") == 0
    assert await ids(h, h.admin, "q=nosuchword") == []
    # Paging keeps the search: one per page, then the cursor.
    page = (await h.client.get("/api/tasks?q=marmot&limit=1", headers=h.admin)).json()
    assert [t["id"] for t in page["items"]] == [second]
    rest = await ids(h, h.admin, f"q=marmot&limit=1&cursor={page['next_cursor']}")
    assert rest == [first]


async def test_a_tenant_key_never_finds_another_tenants_tasks(h: Harness) -> None:
    acme, globex = await h.tenant("acme"), await h.tenant("globex")
    mine = await submit(h, h.as_key(acme), {"secret": "aardvark"})
    theirs = await submit(h, h.as_key(globex), {"secret": "aardvark"})
    assert await ids(h, h.as_key(acme), "q=aardvark") == [mine]
    assert await count(h, h.as_key(acme), "q=aardvark") == 1
    assert await ids(h, h.as_key(globex), "q=aardvark") == [theirs]
    assert await ids(h, h.admin, "q=aardvark") == [theirs, mine]
    assert await ids(h, h.admin, "q=aardvark&tenant=acme") == [mine]
    refused = await h.client.get("/api/tasks?q=aardvark&tenant=globex", headers=h.as_key(acme))
    assert refused.status_code == 404
    dry = await h.client.post(
        "/api/tasks/bulk/cancel",
        json={"filter": {"q": "aardvark"}, "dry_run": True},
        headers=h.as_key(acme),
    )
    assert dry.json()["ids"] == [mine]


async def test_bulk_cancel_with_a_search_changes_only_the_tasks_found(h: Harness) -> None:
    hit = await submit(h, h.admin, {"batch": "pangolin"})
    miss = await submit(h, h.admin, {"batch": "other"})
    done = await h.client.post(
        "/api/tasks/bulk/cancel", json={"filter": {"q": "pangolin"}}, headers=h.admin
    )
    assert done.json()["ids"] == [hit]
    states = {
        i: (await h.client.get(f"/api/tasks/{i}", headers=h.admin)).json()["state"]
        for i in (hit, miss)
    }
    assert states == {hit: "cancelled", miss: "queued"}


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("", "at least one word"),
        ("   ", "at least one word"),
        ("a b c", "at least one word"),
        ("-- !! ..", "at least one word"),
        ("x" * 201, "200"),
        (" ".join(f"word{n}" for n in range(9)), "at most 8 words"),
        ("y" * 85, "at most 84"),
    ],
)
async def test_a_search_that_cannot_run_is_a_422_with_a_reason(
    h: Harness, q: str, says: str
) -> None:
    for path in ("/api/tasks", "/api/tasks/count"):
        got = await h.client.get(path, params={"q": q}, headers=h.admin)
        assert got.status_code == 422, got.text
        assert says in got.text
    bulk = await h.client.post("/api/tasks/bulk/cancel", json={"filter": {"q": q}}, headers=h.admin)
    assert bulk.status_code == 422, bulk.text


async def test_search_operators_are_words_not_syntax(h: Harness) -> None:
    task = await submit(h, h.admin, {"note": "quoted value here"})
    # Boolean-mode and FTS5 operators in the input are separators, never syntax.
    for q in ('"quoted', "+quoted -value", "quoted*", "quoted) OR (x", "NEAR(quoted value)"):
        got = await h.client.get("/api/tasks", params={"q": q}, headers=h.admin)
        assert got.status_code == 200, (q, got.text)
    assert await ids(h, h.admin, "q=%2Bquoted%20-value") == [task]


async def test_the_schema_documents_q_on_the_list_and_the_count(h: Harness) -> None:
    spec = (await h.client.get("/openapi.json")).json()
    for path in ("/api/tasks", "/api/tasks/count"):
        params = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert {"q", "state", "type", "tenant", "id", "created_after"} <= params


async def test_count_all_counts_past_where_the_capped_count_stops(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capped count answers "at least"; ``exact=true`` counts every match, with the
    same filters and search, on either store."""
    from skiplock.api import routes_tasks

    monkeypatch.setattr(routes_tasks, "COUNT_CAP", 5)
    for n in range(12):
        await submit(h, h.admin, {"customer": "marmot" if n % 2 else "badger", "n": n})
    capped = (await h.client.get("/api/tasks/count", headers=h.admin)).json()
    assert capped == {"total": 5, "exact": False}
    every = (await h.client.get("/api/tasks/count?exact=true", headers=h.admin)).json()
    assert every == {"total": 12, "exact": True}
    searched = await h.client.get("/api/tasks/count?exact=true&q=marmot", headers=h.admin)
    assert searched.json() == {"total": 6, "exact": True}
    listed = await ids(h, h.admin, "q=marmot&limit=50")
    assert len(listed) == 6
    # A tenant key counts only its own tenant's tasks.
    acme = h.as_key(await h.tenant("acme"))
    await submit(h, acme, {"customer": "marmot"})
    mine = await h.client.get("/api/tasks/count?exact=true&q=marmot", headers=acme)
    assert mine.json() == {"total": 1, "exact": True}
    refused = await h.client.get("/api/tasks/count?exact=maybe", headers=h.admin)
    assert refused.status_code == 422 and "exact" in refused.text
