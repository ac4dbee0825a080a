"""Announced task types in the store, on SQLite and MariaDB: what workers write is what
API instances read, every type ever announced stays, the newest defaults win."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.domain.models import AnnouncedType

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_store_with_no_announcement_knows_no_type(store: SqlTaskStore) -> None:
    assert store.task_types() == []
    assert store.task_types(["hello"]) == []
    assert store.task_types([]) == []


def test_announced_types_are_listed_by_name_with_their_defaults(store: SqlTaskStore) -> None:
    store.announce_types(
        [
            AnnouncedType("zeta"),
            AnnouncedType("alpha", max_attempts=7, timeout_s=2.5, cost=3),
        ],
        now=T0,
    )
    alpha, zeta = store.task_types()
    assert (alpha.name, alpha.max_attempts, alpha.timeout_s, alpha.cost) == ("alpha", 7, 2.5, 3)
    assert (zeta.name, zeta.max_attempts, zeta.timeout_s, zeta.cost) == ("zeta", None, None, None)
    assert alpha.first_seen == alpha.last_seen == T0
    assert alpha.first_seen.tzinfo is not None
    assert [t.name for t in store.task_types(["zeta", "missing"])] == ["zeta"]


def test_announcing_again_moves_last_seen_and_takes_the_newest_defaults(
    store: SqlTaskStore,
) -> None:
    store.announce_types([AnnouncedType("hello", cost=2)], now=T0)
    later = T0 + timedelta(minutes=5)
    store.announce_types([AnnouncedType("hello", cost=5, max_attempts=9)], now=later)
    [hello] = store.task_types()
    assert hello.first_seen == T0 and hello.last_seen == later
    assert (hello.cost, hello.max_attempts) == (5, 9)


def test_a_type_no_worker_announces_any_more_is_still_known(store: SqlTaskStore) -> None:
    store.announce_types([AnnouncedType("old"), AnnouncedType("kept")], now=T0)
    store.announce_types([AnnouncedType("kept")], now=T0 + timedelta(hours=1))
    old, kept = sorted(store.task_types(), key=lambda t: t.name != "old")
    assert old.name == "old" and old.last_seen == T0
    assert kept.last_seen == T0 + timedelta(hours=1)


def test_workers_announcing_overlapping_types_at_once_all_succeed(
    store: SqlTaskStore, store_url: str
) -> None:
    """Eight workers announcing overlapping sets in a loop: rows are written in name
    order, so MariaDB never deadlocks them into an error, and every type ends up known."""
    names = [f"type-{n:02d}" for n in range(20)]
    errors: list[BaseException] = []
    stores = [create_store(store_url) for _ in range(8)]

    def announce(k: int) -> None:
        mine = [AnnouncedType(n) for n in names[k : k + 13]][:: 1 if k % 2 else -1]
        try:
            for step in range(10):
                stores[k].announce_types(mine, now=T0 + timedelta(seconds=step))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=announce, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    assert [t.name for t in store.task_types()] == names
