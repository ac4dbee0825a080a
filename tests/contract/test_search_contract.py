"""Task search in payload and last error means the same on every store adapter (SQLite
FTS5, MariaDB FULLTEXT): each word starts a word, any case, no stopwords, and it
combines with the other filters, the order, the cursor and the capped count."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from skiplock.adapters.sql import SqlTaskStore, search_scan
from skiplock.adapters.sql.migrations import LATEST_VERSION
from skiplock.adapters.sql.ordering import served
from skiplock.domain.models import Completion, Outcome, PageKey, TaskFilter, TaskOrder
from skiplock.domain.search import search_words
from skiplock.domain.states import TaskState, Transition
from tests.contract.store_kit import T0, claim, new


@pytest.fixture(autouse=True, params=["window", "index"])
def search_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """MySQL answers from the newest rows or from the FULLTEXT index (search_scan.py);
    every test runs both ways. No window sends every search to the index."""
    if request.param == "index":
        monkeypatch.setattr(search_scan, "WINDOW", 0)
        monkeypatch.setattr(search_scan, "COMMON_IN_WINDOW", 10**9)
    return str(request.param)


@pytest.fixture
def tenants(store: SqlTaskStore) -> tuple[int, int]:
    a = store.create_tenant("acme", weight=1, rate_limit=None, now=T0).id
    b = store.create_tenant("globex", weight=1, rate_limit=None, now=T0).id
    return a, b


def submit(store: SqlTaskStore, tenant: int, payload: object, type_: str = "noop") -> int:
    [done] = store.submit([new(tenant, payload=payload, type=type_)], now=T0)
    return done.task.id


def fail(store: SqlTaskStore, tenant: int, error: str) -> int:
    """A task of its own that died with ``error`` as its last error."""
    # The highest priority, so the claim takes this task before any queued one.
    [done] = store.submit([new(tenant, payload={"kind": "doomed"}, priority=100)], now=T0)
    task_id = done.task.id
    c = claim(store, tenant, "w:1")
    assert c.id == task_id
    store.complete([Completion(c.id, 1, Transition.FAIL_DEAD, Outcome.FAILED, T0, error=error)])
    return task_id


def found(store: SqlTaskStore, text: str, **flt: object) -> list[int]:
    page = store.list_tasks(
        TaskFilter(words=search_words(text), **flt),  # type: ignore[arg-type]
        limit=100,
        cursor=None,
        order=TaskOrder.CREATED_ASC,
    )
    return [t.id for t in page.items]


def test_a_word_finds_tasks_by_payload_and_by_last_error(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, _ = tenants
    by_payload = submit(store, a, {"customer": "Zanzibar Shipping", "order_id": "A-99812"})
    by_error = fail(store, a, "ValueError: zanzibar port closed")
    submit(store, a, {"customer": "Someone Else"})
    assert found(store, "zanzibar") == [by_payload, by_error]
    assert found(store, "99812") == [by_payload]
    assert found(store, "valueerror") == [by_error]
    assert found(store, "nothing_like_this") == []


def test_every_word_must_match_as_the_start_of_a_word(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, _ = tenants
    both = submit(store, a, {"note": "Invoice overdue", "order_id": 7})
    one = submit(store, a, {"note": "invoice paid"})
    # Prefixes of words match; the middle of a word does not.
    assert found(store, "INVOICE") == [both, one]
    assert found(store, "invoice overdue") == [both]
    assert found(store, "inv") == [both, one]
    assert found(store, "voice") == []
    # '_' joins a word (order_id is one word; "order" is its prefix, "id" is not a word).
    assert found(store, "order") == [both]
    assert found(store, "order_id") == [both]
    assert found(store, "ids") == []


def test_case_and_accents_fold_the_same_way_on_every_path(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, _ = tenants
    task = submit(store, a, {"place": "Café Crème", "city": "Zürich"})
    submit(store, a, {"place": "cafeteria"})
    assert found(store, "café crème") == [task]
    assert found(store, "CAFE creme") == [task]
    assert found(store, "zurich") == [task]
    assert found(store, "ZÜRICH") == [task]


def test_a_window_that_cannot_fill_the_page_falls_back_to_the_index(
    store: SqlTaskStore, tenants: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = tenants
    old = submit(store, a, {"code": "rarebird"})
    for n in range(6):
        submit(store, a, {"code": f"common{n}"})
    monkeypatch.setattr(search_scan, "WINDOW", 3)
    assert found(store, "rarebird") == [old]
    assert found(store, "common") == found(store, "common")[:6]
    assert len(found(store, "common")) == 6
    assert store.count_tasks(TaskFilter(words=search_words("rarebird")), cap=100).n == 1
    # A word common in the window is counted there, as "at least" (MySQL; SQLite counts
    # every match, exactly).
    monkeypatch.setattr(search_scan, "COMMON_IN_WINDOW", 2)
    total = store.count_tasks(TaskFilter(words=search_words("common")), cap=100)
    assert (total.n, total.exact) in {(3, False), (6, True)}


def test_common_english_words_are_not_stopwords(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, _ = tenants
    task = submit(store, a, {"subject": "the way it was"})
    assert found(store, "the") == [task]
    assert found(store, "was") == [task]


def test_search_combines_with_tenant_state_type_and_time(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, b = tenants
    mine = submit(store, a, {"ref": "quokka"}, type_="mail")
    theirs = submit(store, b, {"ref": "quokka"}, type_="mail")
    other_type = submit(store, a, {"ref": "quokka"}, type_="sms")
    dead = fail(store, a, "quokka escaped")
    assert found(store, "quokka", tenant_id=a) == [mine, other_type, dead]
    assert found(store, "quokka", tenant_id=b) == [theirs]
    assert found(store, "quokka", types=("mail",)) == [mine, theirs]
    assert found(store, "quokka", states=(TaskState.DEAD,)) == [dead]
    assert found(store, "quokka", tenant_id=a, states=(TaskState.QUEUED,)) == [mine, other_type]
    assert found(store, "quokka", created_after=T0 + timedelta(seconds=1)) == []


def test_search_pages_by_cursor_and_counts(store: SqlTaskStore, tenants: tuple[int, int]) -> None:
    a, _ = tenants
    ids = [submit(store, a, {"batch": "wombat", "n": n}) for n in range(7)]
    submit(store, a, {"batch": "other"})
    flt = TaskFilter(tenant_id=a, words=search_words("wombat"))
    seen: list[int] = []
    cursor: int | None = None
    while True:
        page = store.list_tasks(flt, limit=3, cursor=cursor, order=TaskOrder.CREATED_DESC)
        seen += [t.id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids[::-1]
    total = store.count_tasks(flt, cap=100)
    assert (total.n, total.exact) == (7, True)
    # Active states are usually counted from the maintained counts; a search is not.
    queued = TaskFilter(tenant_id=a, states=(TaskState.QUEUED,), words=search_words("wombat"))
    assert store.count_tasks(queued, cap=100).n == 7
    assert store.count_tasks(TaskFilter(words=search_words("wombat")), cap=5).exact is False


def test_a_changed_last_error_and_deleted_tasks_leave_the_index(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, _ = tenants
    task = submit(store, a, {"k": "v"})
    c = claim(store, a, "w:1")
    retry_at = T0 + timedelta(seconds=1)
    store.complete(
        [
            Completion(
                c.id,
                1,
                Transition.FAIL_RETRY,
                Outcome.FAILED,
                T0,
                error="first_failure",
                retry_at=retry_at,
            )
        ]
    )
    assert found(store, "first_failure") == [task]
    store.promote_due(now=retry_at, limit=10)
    c2 = claim(store, a, "w:1", now=retry_at)
    store.complete(
        [Completion(c2.id, 2, Transition.FAIL_DEAD, Outcome.FAILED, retry_at, error="second_one")]
    )
    assert found(store, "first_failure") == []
    assert found(store, "second_one") == [task]
    store.delete_tenant_tasks([a])
    assert found(store, "second_one") == []


def test_upgrading_to_the_search_migration_indexes_the_tasks_already_there(
    store: SqlTaskStore, tenants: tuple[int, int]
) -> None:
    a, _ = tenants
    task = submit(store, a, {"k": "platypus"})
    # Back to schema version 8, without the search index, then upgrade.
    with store.engine.begin() as conn:
        if store.dialect.name == "sqlite":
            for trigger in ("insert", "delete", "update"):
                conn.execute(text(f"DROP TRIGGER tasks_search_{trigger}"))
            conn.execute(text("DROP TABLE tasks_search"))
        else:
            conn.execute(text("ALTER TABLE tasks DROP INDEX ix_tasks_search"))
            # A rebuild drops InnoDB's hidden FTS_DOC_ID too, as in a table that never
            # had the index (MariaDB 10.11 would not index the old rows again otherwise).
            conn.execute(text("ALTER TABLE tasks FORCE"))
        conn.execute(text("DELETE FROM skiplock_schema WHERE version >= 9"))
    assert store.migrate() == LATEST_VERSION
    assert found(store, "platypus") == [task]
    later = submit(store, a, {"k": "platypus again"})
    assert found(store, "platypus") == [task, later]


def pages(
    store: SqlTaskStore, flt: TaskFilter, order: TaskOrder, limit: int, *, keys: bool = False
) -> list[int]:
    """Every page of a list, each continued as the API continues it (an id in creation
    order, the page's key in the time orders), or by the page's key in every order."""
    seen: list[int] = []
    cursor: int | PageKey | None = None
    for _ in range(100):
        page = store.list_tasks(flt, limit=limit, cursor=cursor, order=order)
        seen += [t.id for t in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_key if keys or order.by_time else page.next_cursor
    raise AssertionError(f"the pages do not end: {seen[:20]}")


def test_every_order_pages_a_search_as_it_pages_the_plain_list(
    store: SqlTaskStore,
    tenants: tuple[int, int],
    search_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = tenants
    later = T0 + timedelta(hours=1)
    matching: set[int] = set()
    # Run times and finish times with ties (id breaks them), a word in two tasks of three,
    # another tenant's tasks in between.
    for n in range(18):
        payload = {"fruit": "kiwi" if n % 3 else "plum", "n": n}
        # Submitted when due, so that each keeps its run time.
        run_at = T0 + timedelta(minutes=(n * 7) % 6)
        tenant = b if n % 5 == 4 else a
        type_ = "mail" if n % 4 == 1 else "noop"
        [done] = store.submit([new(tenant, payload=payload, run_at=run_at, type=type_)], now=run_at)
        if n % 3:
            matching.add(done.task.id)
    for n in range(8):
        c = claim(store, a, "w:1", now=later)
        finished = later + timedelta(seconds=n % 2)
        if n == 7:
            error = "Timeout: kiwi supplier"
            matching.add(c.id)
            store.complete(
                [Completion(c.id, 1, Transition.FAIL_DEAD, Outcome.FAILED, finished, error=error)]
            )
        else:
            store.complete([Completion(c.id, 1, Transition.SUCCEED, Outcome.SUCCEEDED, finished)])
    # Which pages the window answered (a spy around the real function): with a window
    # of a few rows, some pages come from it and the rest from the index.
    answered: list[bool] = []
    window_rows = search_scan.window_rows

    def spy(*args: Any, **kwargs: Any) -> Any:
        rows = window_rows(*args, **kwargs)
        answered.append(rows is not None)
        return rows

    monkeypatch.setattr(search_scan, "window_rows", spy)
    # The window holds all rows, a few, or none (the index alone, as search_path "index"
    # runs every test). Run time has an index only within one state (ordering.served).
    windows = [5_000, 6, 2] if search_path == "window" else [0]
    # Batches of exactly a page's rows, so that batches end inside runs of tied times.
    monkeypatch.setattr(search_scan, "SPARE", 0)
    queued = (TaskState.QUEUED,)
    ended = (TaskState.SUCCEEDED, TaskState.DEAD)
    filters = (
        TaskFilter(),
        TaskFilter(tenant_id=a),
        TaskFilter(states=queued),
        # Two states: ix_tasks_finished then hands out tied finish times by state first.
        TaskFilter(tenant_id=a, states=ended),
        # A type: no time-order index holds it; finish time tests it on the rows.
        TaskFilter(types=("noop",)),
    )
    fell_back: set[TaskOrder] = set()
    for order in TaskOrder:
        for flt in filters:
            plain = pages(store, flt, order, limit=100)
            expected = [i for i in plain if i in matching]
            if order.by_time and order.descending and not (flt.states or flt.types):
                assert len(expected) >= 4, order
            searched = dataclasses.replace(flt, words=search_words("kiwi"))
            for window in windows:
                monkeypatch.setattr(search_scan, "WINDOW", window)
                answered.clear()
                for limit in (1, 2, 3):
                    got = pages(store, searched, order, limit)
                    assert got == expected, (order, flt, window, limit)
                assert pages(store, searched, order, 2, keys=True) == expected
                windowed = store.dialect.search_window and window and served(order, flt)
                if not windowed:
                    assert not any(answered), (order, flt, window)
                elif window == 5_000:  # every row fits: the window answers every page
                    assert all(answered), (order, flt, window)
                elif not flt.types:
                    # (A window of finish times counts rows of any type: at 2 or 6
                    # rows it may hold too few of one type for any page.)
                    assert any(answered), (order, flt, window)
                if windowed and not all(answered):
                    fell_back.add(order)
    if store.dialect.search_window and search_path == "window":
        # Every order also had pages the window could not fill (ties at run time may
        # widen a window past 2 rows, so some filters never need the index).
        assert fell_back == set(TaskOrder)
