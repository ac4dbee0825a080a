"""Schedules and their fires.

A firing pass leases due schedules (``lease_schedules``: a locking read that skips rows
another instance holds, then a lease on those taken), fires their ticks in batches
(``fire_schedules``: each tick's fire row, whose primary key is (schedule, tick), and its
task commit together or not at all) and hands the schedules back with their next tick
(``release_schedules``). A lease that ran out mid-pass can let a second instance reach the
same tick; its fire row insert then fails on the key and nothing of that tick is written."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.inserts import NameLookup, insert_tasks
from skiplock.adapters.sql.schema import schedule_fires, schedules
from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.schedules import CatchUp, Schedule, ScheduleSpec, Timing
from skiplock.ports import Fire, Submitted


def _values(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "tenant_id": spec.tenant_id,
        "type": spec.type,
        "payload": spec.payload,
        "cron": spec.timing.cron,
        "every_s": spec.timing.every_s,
        "timezone": spec.timing.timezone,
        "priority": spec.priority,
        "cost": spec.cost,
        "max_attempts": spec.max_attempts,
        "timeout_s": spec.timeout_s,
        "catch_up": spec.catch_up.value,
        "enabled": 1 if spec.enabled else 0,
    }


def _schedule(row: Row[Any], tenant: str) -> Schedule:
    spec = ScheduleSpec(
        name=str(row.name),
        tenant_id=int(row.tenant_id),
        type=str(row.type),
        timing=Timing(
            cron=row.cron,
            every_s=None if row.every_s is None else int(row.every_s),
            timezone=str(row.timezone),
        ),
        payload=row.payload,
        priority=int(row.priority),
        cost=None if row.cost is None else int(row.cost),
        max_attempts=None if row.max_attempts is None else int(row.max_attempts),
        timeout_s=None if row.timeout_s is None else float(row.timeout_s),
        catch_up=CatchUp(row.catch_up),
        enabled=bool(row.enabled),
    )
    return Schedule(
        id=int(row.id),
        tenant=tenant,
        spec=spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_fire_at=row.next_fire_at,
        last_run_at=row.last_run_at,
        last_task_id=None if row.last_task_id is None else int(row.last_task_id),
    )


def fired_by(conn: Connection, task_ids: Collection[int]) -> dict[int, str]:
    """The schedule (its name when it fired) of each task in ``task_ids`` a schedule fired."""
    if not task_ids:
        return {}
    rows = conn.execute(
        select(schedule_fires.c.task_id, schedule_fires.c.schedule).where(
            schedule_fires.c.task_id.in_(sorted(task_ids))
        )
    )
    return {int(r.task_id): str(r.schedule) for r in rows}


def _fire_all(
    conn: Connection,
    fires: Sequence[Fire],
    now: datetime,
    names: NameLookup,
    tally: counts.Tally,
) -> list[Submitted]:
    """Store the tasks of ``fires`` and their fire rows; an IntegrityError (rolling the
    whole transaction back) when any tick has fired already."""
    stored = insert_tasks(
        conn, [f.task for f in fires], now=now, names=names, tally=tally, keep_past_run_at=True
    )
    conn.execute(
        insert(schedule_fires),
        [
            {
                "schedule_id": f.schedule.id,
                "fire_at": f.fire_at,
                "schedule": f.schedule.name,
                "task_id": s.task.id,
                "created_at": now,
            }
            for f, s in zip(fires, stored, strict=True)
        ],
    )
    latest: dict[int, tuple[datetime, int]] = {}
    for f, s in zip(fires, stored, strict=True):
        if f.schedule.id not in latest or latest[f.schedule.id][0] < f.fire_at:
            latest[f.schedule.id] = (f.fire_at, s.task.id)
    for schedule_id, (fire_at, task_id) in sorted(latest.items()):
        conn.execute(
            update(schedules)
            .where(
                schedules.c.id == schedule_id,
                or_(schedules.c.last_run_at.is_(None), schedules.c.last_run_at <= fire_at),
            )
            .values(last_run_at=fire_at, last_task_id=task_id)
        )
    return [
        Submitted(replace(s.task, schedule=f.schedule.name), created=True)
        for f, s in zip(fires, stored, strict=True)
    ]


class ScheduleOps(SqlBase):
    def _schedules(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Schedule]:
        names = self.tenant_names(conn, {int(r.tenant_id) for r in rows})
        return [_schedule(r, names[int(r.tenant_id)]) for r in rows]

    def _find(self, conn: Connection, name: str, tenant_id: int | None) -> Row[Any]:
        query = select(schedules).where(schedules.c.name == name)
        if tenant_id is not None:
            query = query.where(schedules.c.tenant_id == tenant_id)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"schedule {name!r} does not exist")
        return row

    def create_schedule(
        self, spec: ScheduleSpec, *, next_fire_at: datetime | None, now: datetime
    ) -> Schedule:
        def work(conn: Connection) -> Schedule:
            conn.execute(
                insert(schedules).values(
                    **_values(spec), next_fire_at=next_fire_at, created_at=now, updated_at=now
                )
            )
            return self._schedules(conn, [self._find(conn, spec.name, None)])[0]

        try:
            return self.write(lambda conn, _tally: work(conn))
        except IntegrityError as exc:
            raise Conflict(f"schedule {spec.name!r} already exists") from exc

    def get_schedule(self, name: str, *, tenant_id: int | None = None) -> Schedule:
        def work(conn: Connection) -> Schedule:
            return self._schedules(conn, [self._find(conn, name, tenant_id)])[0]

        return self.read(work)

    def list_schedules(self, *, tenant_id: int | None = None) -> list[Schedule]:
        def work(conn: Connection) -> list[Schedule]:
            query = select(schedules).order_by(schedules.c.name)
            if tenant_id is not None:
                query = query.where(schedules.c.tenant_id == tenant_id)
            return self._schedules(conn, conn.execute(query).all())

        return self.read(work)

    def update_schedule(
        self,
        schedule_id: int,
        spec: ScheduleSpec,
        *,
        next_fire_at: datetime | None,
        now: datetime,
    ) -> Schedule:
        def work(conn: Connection) -> Schedule:
            done = conn.execute(
                update(schedules)
                .where(schedules.c.id == schedule_id)
                .values(**_values(spec), next_fire_at=next_fire_at, updated_at=now)
            )
            if done.rowcount != 1:
                raise NotFound(f"schedule {spec.name!r} does not exist")
            return self._schedules(conn, [self._find(conn, spec.name, None)])[0]

        try:
            return self.write(lambda conn, _tally: work(conn))
        except IntegrityError as exc:
            raise Conflict(f"schedule {spec.name!r} already exists") from exc

    def delete_schedule(self, name: str, *, tenant_id: int | None = None) -> Schedule:
        def work(conn: Connection) -> Schedule:
            row = self._find(conn, name, tenant_id)
            conn.execute(delete(schedules).where(schedules.c.id == row.id))
            # The fires stay: they name the schedule on the tasks it fired, and the
            # cleaner prunes them with the tasks' retention.
            return self._schedules(conn, [row])[0]

        return self.write(lambda conn, _tally: work(conn))

    def lease_schedules(
        self, *, now: datetime, owner: str, lease_until: datetime, limit: int
    ) -> list[Schedule]:
        def work(conn: Connection) -> list[Schedule]:
            due = (
                select(schedules.c.id)
                .where(
                    schedules.c.enabled == 1,
                    schedules.c.next_fire_at <= now,
                    or_(schedules.c.lease_until.is_(None), schedules.c.lease_until < now),
                )
                .order_by(schedules.c.next_fire_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = [int(i) for i in conn.execute(due).scalars()]
            if not ids:
                return []
            conn.execute(
                update(schedules)
                .where(schedules.c.id.in_(ids))
                .values(lease_owner=owner, lease_until=lease_until)
            )
            rows = conn.execute(
                select(schedules).where(schedules.c.id.in_(ids)).order_by(schedules.c.next_fire_at)
            ).all()
            return self._schedules(conn, rows)

        return self.write(lambda conn, _tally: work(conn))

    def fire_schedules(self, fires: Sequence[Fire], *, now: datetime) -> list[Submitted | None]:
        if not fires:
            return []
        try:
            # Every tick new (the usual case: the lease keeps other instances away): one
            # transaction for the whole batch.
            return list(
                self.write(
                    lambda conn, tally: _fire_all(conn, fires, now, self.tenant_names, tally)
                )
            )
        except IntegrityError:
            pass
        # Some tick fired already (a lease ran out mid-pass): one transaction per tick,
        # each stopped by the key when its tick is taken.
        return [self._fire_one(fire, now) for fire in fires]

    def _fire_one(self, fire: Fire, now: datetime) -> Submitted | None:
        try:
            [one] = self.write(
                lambda conn, tally: _fire_all(conn, [fire], now, self.tenant_names, tally)
            )
        except IntegrityError:
            return None
        return one

    def release_schedules(
        self, released: Sequence[tuple[int, datetime | None]], *, owner: str
    ) -> None:
        if not released:
            return

        def work(conn: Connection) -> None:
            for schedule_id, next_fire_at in sorted(released, key=lambda r: r[0]):
                conn.execute(
                    update(schedules)
                    .where(schedules.c.id == schedule_id, schedules.c.lease_owner == owner)
                    .values(next_fire_at=next_fire_at, lease_owner=None, lease_until=None)
                )

        self.write(lambda conn, _tally: work(conn))

    def prune_fires(self, *, fired_before: datetime, limit: int) -> int:
        def work(conn: Connection) -> int:
            keys = conn.execute(
                select(schedule_fires.c.schedule_id, schedule_fires.c.fire_at)
                .where(schedule_fires.c.created_at < fired_before)
                .limit(limit)
            ).all()
            for k in keys:
                conn.execute(
                    delete(schedule_fires).where(
                        schedule_fires.c.schedule_id == k.schedule_id,
                        schedule_fires.c.fire_at == k.fire_at,
                    )
                )
            return len(keys)

        return self.write(lambda conn, _tally: work(conn))
