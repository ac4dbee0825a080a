"""Submission, inspection and hand-driven state changes (cancel, requeue)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from engine.adapters.sql import counts
from engine.adapters.sql.base import SqlBase
from engine.adapters.sql.schema import task_attempts, tasks, tenants
from engine.domain import states
from engine.domain.errors import NotFound
from engine.domain.models import (
    Attempt,
    NewTask,
    Outcome,
    Page,
    Task,
    TaskFilter,
    TenantDepth,
    TenantState,
)
from engine.domain.states import TaskState, Transition
from engine.ports import Submitted

_TASK_COLUMNS = list(tasks.c)
_CAS_RETRIES = 5


def task_from_row(row: Row[Any], tenant: str, attempts: tuple[Attempt, ...] = ()) -> Task:
    return Task(
        id=int(row.id),
        tenant_id=int(row.tenant_id),
        tenant=tenant,
        type=str(row.type),
        state=TaskState(row.state),
        priority=int(row.priority),
        cost=int(row.cost),
        attempt=int(row.attempt),
        attempt_base=int(row.attempt_base),
        max_attempts=int(row.max_attempts),
        timeout_s=float(row.timeout_s),
        payload=row.payload,
        result=row.result,
        last_error=row.last_error,
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        run_at=row.run_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        attempts=attempts,
    )


def _filtered(query: Select[Any], flt: TaskFilter) -> Select[Any]:
    if flt.tenant_id is not None:
        query = query.where(tasks.c.tenant_id == flt.tenant_id)
    if flt.states:
        query = query.where(tasks.c.state.in_([s.value for s in flt.states]))
    if flt.types:
        query = query.where(tasks.c.type.in_(flt.types))
    if flt.ids:
        query = query.where(tasks.c.id.in_(flt.ids))
    if flt.created_after is not None:
        query = query.where(tasks.c.created_at >= flt.created_after)
    if flt.created_before is not None:
        query = query.where(tasks.c.created_at < flt.created_before)
    return query


class TaskOps(SqlBase):
    def _rows_to_tasks(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Task]:
        names = self.tenant_names(conn, {int(r.tenant_id) for r in rows})
        return [task_from_row(r, names[int(r.tenant_id)]) for r in rows]

    def _insert_ids(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        if conn.dialect.insert_returning and conn.dialect.use_insertmanyvalues:
            stmt = insert(tasks).returning(tasks.c.id, sort_by_parameter_order=True)
            return [int(r.id) for r in conn.execute(stmt, rows)]
        # MySQL 8 has no INSERT ... RETURNING. One multi-row INSERT of known size is a
        # "simple insert", for which InnoDB allocates consecutive ids in every
        # innodb_autoinc_lock_mode, so the ids are lastrowid .. lastrowid + n - 1.
        result = conn.execute(insert(tasks).values(rows))
        first = int(result.lastrowid)
        return list(range(first, first + len(rows)))

    def submit(self, new: Sequence[NewTask], *, now: datetime) -> list[Submitted]:
        def work(conn: Connection) -> list[Submitted]:
            existing: dict[tuple[int, str], Task] = {}
            keyed = {(t.tenant_id, t.idempotency_key) for t in new if t.idempotency_key}
            if keyed:
                rows = conn.execute(
                    select(*_TASK_COLUMNS).where(
                        tuple_(tasks.c.tenant_id, tasks.c.idempotency_key).in_(list(keyed))
                    )
                ).all()
                for task in self._rows_to_tasks(conn, rows):
                    assert task.idempotency_key is not None
                    existing[(task.tenant_id, task.idempotency_key)] = task
            to_insert: list[NewTask] = []
            seen: set[tuple[int, str]] = set()
            for t in new:
                if t.idempotency_key:
                    key = (t.tenant_id, t.idempotency_key)
                    if key in existing or key in seen:
                        continue
                    seen.add(key)
                to_insert.append(t)
            rows_in = [self._new_row(t, now) for t in to_insert]
            ids = self._insert_ids(conn, rows_in) if rows_in else []
            tally = counts.Tally()
            for row in rows_in:
                tally.add(row["tenant_id"], row["type"], row["state"])
            names = self.tenant_names(conn, {t.tenant_id for t in new})
            created: dict[tuple[int, str], Task] = {}
            out: list[Submitted] = []
            fresh = iter(zip(ids, rows_in, strict=True))
            for t in new:
                key = (t.tenant_id, t.idempotency_key or "")
                if t.idempotency_key and key in existing:
                    out.append(Submitted(existing[key], created=False))
                    continue
                if t.idempotency_key and key in created:
                    out.append(Submitted(created[key], created=False))
                    continue
                task_id, row = next(fresh)
                task = _task_from_values(task_id, row, names[t.tenant_id])
                if t.idempotency_key:
                    created[key] = task
                out.append(Submitted(task, created=True))
            tally.apply(conn)
            return out

        try:
            return self.tx(work)
        except IntegrityError:
            # A concurrent submission inserted the same idempotency key first; the
            # retry finds its row and returns it.
            return self.tx(work)

    @staticmethod
    def _new_row(t: NewTask, now: datetime) -> dict[str, Any]:
        later = t.run_at > now
        transition = Transition.SUBMIT_LATER if later else Transition.SUBMIT_NOW
        return {
            "tenant_id": t.tenant_id,
            "type": t.type,
            "state": states.apply(transition, None).value,
            "priority": t.priority,
            "cost": t.cost,
            "attempt": 0,
            "attempt_base": 0,
            "max_attempts": t.max_attempts,
            "timeout_s": t.timeout_s,
            "payload": t.payload,
            "result": None,
            "last_error": None,
            "idempotency_key": t.idempotency_key,
            "created_at": now,
            "run_at": t.run_at if later else now,
            "started_at": None,
            "finished_at": None,
            "lease_owner": None,
            "lease_expires_at": None,
        }

    def get_task(self, task_id: int, *, tenant_id: int | None = None) -> Task:
        def work(conn: Connection) -> Task:
            query = select(*_TASK_COLUMNS).where(tasks.c.id == task_id)
            if tenant_id is not None:
                query = query.where(tasks.c.tenant_id == tenant_id)
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"task {task_id} does not exist")
            attempts = tuple(
                Attempt(
                    attempt=int(a.attempt),
                    worker=str(a.worker),
                    started_at=a.started_at,
                    finished_at=a.finished_at,
                    outcome=a.outcome,
                    error=a.error,
                )
                for a in conn.execute(
                    select(task_attempts)
                    .where(task_attempts.c.task_id == task_id)
                    .order_by(task_attempts.c.attempt)
                )
            )
            return task_from_row(row, self.tenant_name(conn, int(row.tenant_id)), attempts)

        return self.tx(work, write=False)

    def list_tasks(self, flt: TaskFilter, *, limit: int, cursor: int | None) -> Page:
        def work(conn: Connection) -> Page:
            query = _filtered(select(*_TASK_COLUMNS), flt)
            if cursor is not None:
                query = query.where(tasks.c.id < cursor)
            rows = conn.execute(query.order_by(tasks.c.id.desc()).limit(limit + 1)).all()
            items = self._rows_to_tasks(conn, rows[:limit])
            next_cursor = items[-1].id if len(rows) > limit and items else None
            return Page(items=items, next_cursor=next_cursor)

        return self.tx(work, write=False)

    def _change(
        self,
        conn: Connection,
        task_id: int,
        transition: Transition,
        *,
        tenant_id: int | None,
        now: datetime,
        tally: counts.Tally,
    ) -> bool:
        """Apply a hand-driven transition with compare-and-set on the state it read,
        adding it to ``tally`` (the caller applies that last). Returns False when a
        concurrent change won (the caller re-reads and retries)."""
        query = select(tasks.c.state, tasks.c.attempt, tasks.c.tenant_id, tasks.c.type).where(
            tasks.c.id == task_id
        )
        if tenant_id is not None:
            query = query.where(tasks.c.tenant_id == tenant_id)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        current = TaskState(row.state)
        to = states.apply(transition, current)
        values: dict[str, Any] = {"state": to.value}
        if transition is Transition.CANCEL:
            values |= {"finished_at": now, "lease_owner": None, "lease_expires_at": None}
        elif transition is Transition.REQUEUE:
            # A requeued task gets a fresh attempt budget; ``attempt`` itself keeps
            # growing so an old attempt's late write can never pass the fence.
            values |= {
                "attempt_base": tasks.c.attempt,
                "run_at": now,
                "finished_at": None,
                "started_at": None,
                "result": None,
            }
        done = conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.state == current.value)
            .values(values)
        )
        if done.rowcount == 0:
            return False
        tally.move(row.tenant_id, row.type, current, to)
        if current is TaskState.RUNNING:
            conn.execute(
                update(task_attempts)
                .where(task_attempts.c.task_id == task_id, task_attempts.c.attempt == row.attempt)
                .values(finished_at=now, outcome=Outcome.CANCELLED.value)
            )
        return True

    def _hand_change(
        self, task_id: int, transition: Transition, *, tenant_id: int | None, now: datetime
    ) -> Task:
        def work(conn: Connection) -> bool:
            tally = counts.Tally()
            changed = self._change(
                conn, task_id, transition, tenant_id=tenant_id, now=now, tally=tally
            )
            tally.apply(conn)
            return changed

        for _ in range(_CAS_RETRIES):
            changed = self.tx(work)
            if changed:
                return self.get_task(task_id, tenant_id=tenant_id)
        raise states.InvalidTransition(transition, self.get_task(task_id).state)

    def cancel(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task:
        return self._hand_change(task_id, Transition.CANCEL, tenant_id=tenant_id, now=now)

    def requeue(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task:
        return self._hand_change(task_id, Transition.REQUEUE, tenant_id=tenant_id, now=now)

    def _change_matching(
        self, flt: TaskFilter, transition: Transition, *, now: datetime, limit: int
    ) -> list[int]:
        allowed = [s.value for s in states.sources(transition) if s is not None]

        def work(conn: Connection) -> list[int]:
            query = _filtered(select(tasks.c.id), flt).where(tasks.c.state.in_(allowed))
            ids = [int(r.id) for r in conn.execute(query.order_by(tasks.c.id).limit(limit))]
            tally = counts.Tally()
            changed = [i for i in ids if self._change_or_skip(conn, i, transition, now, tally)]
            tally.apply(conn)
            return changed

        return self.tx(work)

    def _change_or_skip(
        self,
        conn: Connection,
        task_id: int,
        transition: Transition,
        now: datetime,
        tally: counts.Tally,
    ) -> bool:
        try:
            return self._change(conn, task_id, transition, tenant_id=None, now=now, tally=tally)
        except (states.InvalidTransition, NotFound):
            return False

    def cancel_matching(self, flt: TaskFilter, *, now: datetime, limit: int) -> list[int]:
        return self._change_matching(flt, Transition.CANCEL, now=now, limit=limit)

    def requeue_matching(self, flt: TaskFilter, *, now: datetime, limit: int) -> list[int]:
        return self._change_matching(flt, Transition.REQUEUE, now=now, limit=limit)

    def delete_tenant_tasks(self, tenant_ids: Sequence[int]) -> int:
        def work(conn: Connection) -> int:
            ids = select(tasks.c.id).where(tasks.c.tenant_id.in_(tenant_ids))
            if self.is_mysql:  # MySQL cannot delete from a table it selects from directly
                ids = select(ids.subquery().c.id)
            conn.execute(delete(task_attempts).where(task_attempts.c.task_id.in_(ids)))
            n = int(conn.execute(delete(tasks).where(tasks.c.tenant_id.in_(tenant_ids))).rowcount)
            counts.forget_tenants(conn, tenant_ids)
            return n

        return self.tx(work)

    def recount(self) -> int:
        """Rebuild the active-task counts from the rows (after writes that went around
        the store, such as a bulk load); returns the number of active tasks."""
        return self.tx(counts.rebuild)

    def queue_stats(self, *, now: datetime) -> list[TenantDepth]:
        active = [s.value for s in states.ACTIVE_STATES]

        def work(conn: Connection) -> list[TenantDepth]:
            depth = counts.by(counts.read(conn), 0)
            # One index dive per tenant with queued work, to its earliest run_at.
            oldest_queued = (
                select(tasks.c.run_at)
                .where(tasks.c.state == TaskState.QUEUED.value, tasks.c.tenant_id == tenants.c.id)
                .order_by(tasks.c.run_at)
                .limit(1)
                .correlate(tenants)
                .scalar_subquery()
            )
            out = []
            for t in conn.execute(
                select(tenants, oldest_queued.label("oldest")).order_by(tenants.c.name)
            ):
                tid = int(t.id)
                out.append(
                    TenantDepth(
                        tenant_id=tid,
                        tenant=str(t.name),
                        state=TenantState(t.state),
                        weight=int(t.weight),
                        counts={s: depth.get((tid, s), 0) for s in sorted(active)},
                        oldest_queued_at=t.oldest,
                    )
                )
            return out

        return self.tx(work, write=False)


def _task_from_values(task_id: int, v: dict[str, Any], tenant: str) -> Task:
    return Task(
        id=task_id,
        tenant_id=v["tenant_id"],
        tenant=tenant,
        type=v["type"],
        state=TaskState(v["state"]),
        priority=v["priority"],
        cost=v["cost"],
        attempt=0,
        attempt_base=0,
        max_attempts=v["max_attempts"],
        timeout_s=v["timeout_s"],
        payload=v["payload"],
        result=None,
        last_error=None,
        idempotency_key=v["idempotency_key"],
        created_at=v["created_at"],
        run_at=v["run_at"],
        started_at=None,
        finished_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )
