"""Schedules in the store, on SQLite and MariaDB: definitions scoped by tenant, leases
that keep one instance at a time on a schedule, and a tick that stores one task however
many instances try to fire it."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select, text

from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.adapters.sql.migrations import LATEST_VERSION
from skiplock.adapters.sql.schema import tasks
from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.models import NewTask
from skiplock.domain.schedules import Schedule, ScheduleSpec, Timing
from skiplock.domain.states import TaskState
from skiplock.ports import Fire, Submitted

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def _spec(store: SqlTaskStore, name: str = "report", tenant: str = "default") -> ScheduleSpec:
    tenant_id = store.get_tenant(name=tenant).id
    return ScheduleSpec(
        name=name,
        tenant_id=tenant_id,
        type="noop",
        timing=Timing(every_s=60),
        payload={"k": [1, 2]},
        priority=3,
    )


def _task(s: Schedule, tick: datetime) -> NewTask:
    return NewTask(
        tenant_id=s.spec.tenant_id,
        type=s.spec.type,
        payload=s.spec.payload,
        priority=s.spec.priority,
        cost=1,
        max_attempts=3,
        timeout_s=10.0,
        run_at=tick,
    )


def _fire(store: SqlTaskStore, s: Schedule, tick: datetime, now: datetime) -> Submitted | None:
    [got] = store.fire_schedules([Fire(s, tick, _task(s, tick))], now=now)
    return got


def _count_tasks(store: SqlTaskStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tasks)).scalar_one())


def test_a_schedule_reads_back_as_it_was_defined(store: SqlTaskStore) -> None:
    made = store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    got = store.get_schedule("report")
    assert got == made
    assert got.spec == _spec(store) and got.tenant == "default"
    assert got.next_fire_at == T0 and got.created_at == T0 and got.last_run_at is None
    assert [s.name for s in store.list_schedules()] == ["report"]


def test_names_are_unique_and_other_tenants_schedules_are_not_found(store: SqlTaskStore) -> None:
    store.create_tenant("acme", weight=1, rate_limit=None, now=T0)
    acme = store.get_tenant(name="acme").id
    store.create_schedule(_spec(store, tenant="acme"), next_fire_at=T0, now=T0)
    with pytest.raises(Conflict):
        store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    default = store.get_tenant(name="default").id
    with pytest.raises(NotFound):
        store.get_schedule("report", tenant_id=default)
    with pytest.raises(NotFound):
        store.delete_schedule("report", tenant_id=default)
    assert store.list_schedules(tenant_id=default) == []
    assert [s.name for s in store.list_schedules(tenant_id=acme)] == ["report"]
    store.delete_schedule("report", tenant_id=acme)
    assert store.list_schedules() == []


def test_an_update_replaces_the_definition_and_the_next_tick(store: SqlTaskStore) -> None:
    made = store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    spec = replace(made.spec, timing=Timing(cron="0 3 * * *", timezone="Europe/Berlin"))
    later = T0 + timedelta(hours=1)
    spec = replace(spec, enabled=False, cost=4)
    got = store.update_schedule(made.id, spec, next_fire_at=later, now=later)
    assert got.spec == spec and got.next_fire_at == later and got.updated_at == later
    assert got.next_run_at is None  # paused


def test_only_due_enabled_unleased_schedules_are_leased(store: SqlTaskStore) -> None:
    due = store.create_schedule(_spec(store, "due"), next_fire_at=T0, now=T0)
    store.create_schedule(_spec(store, "later"), next_fire_at=T0 + timedelta(hours=1), now=T0)
    paused = replace(_spec(store, "paused"), enabled=False)
    store.create_schedule(paused, next_fire_at=T0, now=T0)
    lease = T0 + timedelta(seconds=30)
    got = store.lease_schedules(now=T0, owner="a", lease_until=lease, limit=10)
    assert [s.name for s in got] == ["due"]
    # Held: another instance gets nothing until the lease runs out.
    assert store.lease_schedules(now=T0, owner="b", lease_until=lease, limit=10) == []
    after = lease + timedelta(seconds=1)
    assert [
        s.name for s in store.lease_schedules(now=after, owner="b", lease_until=after, limit=10)
    ] == ["due"]
    # Only the current holder's release counts.
    store.release_schedules([(due.id, T0 + timedelta(minutes=5))], owner="a")
    assert store.get_schedule("due").next_fire_at == T0
    store.release_schedules([(due.id, T0 + timedelta(minutes=5))], owner="b")
    assert store.get_schedule("due").next_fire_at == T0 + timedelta(minutes=5)
    assert store.lease_schedules(now=after, owner="c", lease_until=after, limit=10) == []


def test_a_fire_stores_the_task_at_the_ticks_time_with_the_schedules_name(
    store: SqlTaskStore,
) -> None:
    s = store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    now = T0 + timedelta(seconds=2)
    fired = _fire(store, s, T0, now)
    assert fired is not None and fired.created
    task = store.get_task(fired.task.id)
    assert task.schedule == "report" and task.run_at == T0 and task.created_at == now
    assert task.state is TaskState.QUEUED and task.payload == {"k": [1, 2]}
    assert fired.task.run_at == T0 and fired.task.schedule == "report"
    got = store.get_schedule("report")
    assert (got.last_run_at, got.last_task_id) == (T0, task.id)
    # The same tick again: nothing stored.
    assert _fire(store, s, T0, now) is None
    assert _count_tasks(store) == 1
    # Deleting the schedule keeps its tasks' name.
    store.delete_schedule("report")
    assert store.get_task(task.id).schedule == "report"


def test_instances_firing_the_same_tick_at_once_store_one_task(
    store: SqlTaskStore, store_url: str
) -> None:
    s = store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    stores = [create_store(store_url) for _ in range(6)]
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def fire(k: int) -> None:
        try:
            start.wait()
            for step in range(5):
                tick = T0 + timedelta(minutes=step)
                results.append(_fire(stores[k], s, tick, tick))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fire, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for other in stores:
        other.close()
    assert errors == []
    assert len([r for r in results if r is not None]) == 5
    assert _count_tasks(store) == 5


def test_a_batch_with_a_tick_fired_already_stores_the_others(store: SqlTaskStore) -> None:
    s = store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    ticks = [T0 + timedelta(minutes=m) for m in range(4)]
    assert _fire(store, s, ticks[1], ticks[1]) is not None
    got = store.fire_schedules([Fire(s, t, _task(s, t)) for t in ticks], now=ticks[3])
    assert [g is not None for g in got] == [True, False, True, True]
    assert _count_tasks(store) == 4
    assert store.get_schedule("report").last_run_at == ticks[3]
    runs = sorted(store.get_task(g.task.id).run_at for g in got if g is not None)
    assert runs == [ticks[0], ticks[2], ticks[3]]


def test_old_fires_are_pruned_in_batches(store: SqlTaskStore) -> None:
    s = store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    for step in range(5):
        tick = T0 + timedelta(minutes=step)
        _fire(store, s, tick, tick)
    assert store.prune_fires(fired_before=T0 + timedelta(minutes=3), limit=2) == 2
    assert store.prune_fires(fired_before=T0 + timedelta(minutes=3), limit=2) == 1
    assert store.prune_fires(fired_before=T0 + timedelta(minutes=3), limit=2) == 0


def test_a_database_from_before_schedules_upgrades(store: SqlTaskStore) -> None:
    """Undo migration 8 by hand (as a v7 database looks), then migrate again."""
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE schedule_fires"))
        conn.execute(text("DROP TABLE schedules"))
        conn.execute(text("DELETE FROM skiplock_schema WHERE version >= 8"))
    assert store.migrate() == LATEST_VERSION
    with store.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    assert {"schedules", "schedule_fires"} <= names
    store.create_schedule(_spec(store), next_fire_at=T0, now=T0)
    assert [s.name for s in store.list_schedules()] == ["report"]
