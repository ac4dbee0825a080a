"""Submission, inspection and hand-driven state changes (cancel, requeue)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from skiplock.adapters.sql import counts, ordering, search_scan
from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.dialect import SqlDialect
from skiplock.adapters.sql.inserts import TASK_COLUMNS, insert_tasks, task_from_row
from skiplock.adapters.sql.schedule_ops import fired_by
from skiplock.adapters.sql.schema import task_attempts, tasks, tenants
from skiplock.adapters.sql.search_scan import without_search
from skiplock.domain import states
from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.models import (
    Attempt,
    NewTask,
    Outcome,
    Page,
    PageKey,
    Task,
    TaskFilter,
    TaskOrder,
    TenantDepth,
    TenantState,
    Total,
)
from skiplock.domain.states import TaskState, Transition
from skiplock.ports import Submitted, TaskCost

_CAS_RETRIES = 5
_DELETABLE = [s.value for s in states.DELETABLE_STATES]


def _from_counts(conn: Connection, flt: TaskFilter) -> Total | None:
    """The exact count of a filter on active states alone (with a tenant or types, but
    no ids, times or search), from the maintained counts in O(tenants x types); None
    for any other filter, which the rows must answer."""
    active = {s.value for s in states.ACTIVE_STATES}
    wanted = {s.value for s in flt.states}
    if not wanted or not wanted <= active or flt.ids or flt.words or _has_times(flt):
        return None
    types = set(flt.types)
    n = sum(
        count
        for (_tenant, type_, state), count in counts.read(conn, tenant_id=flt.tenant_id).items()
        if state in wanted and (not types or type_ in types)
    )
    return Total(n, exact=True)


def _filtered(query: Select[Any], flt: TaskFilter, dialect: SqlDialect) -> Select[Any]:
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
    if flt.words:
        query = query.where(dialect.search_match(flt.words))
    return query


def _has_times(flt: TaskFilter) -> bool:
    return flt.created_after is not None or flt.created_before is not None


class TaskOps(SqlBase):
    def _rows_to_tasks(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Task]:
        names = self.tenant_names(conn, {int(r.tenant_id) for r in rows})
        fired = fired_by(conn, {int(r.id) for r in rows})
        return [
            task_from_row(r, names[int(r.tenant_id)], schedule=fired.get(int(r.id))) for r in rows
        ]

    def submit(self, new: Sequence[NewTask], *, now: datetime) -> list[Submitted]:
        try:
            return self.write(
                lambda conn, tally: insert_tasks(
                    conn, new, now=now, tally=tally, names=self.tenant_names
                )
            )
        except IntegrityError:
            # A concurrent submission inserted the same idempotency key first; the
            # retry finds its row and returns it.
            return self.write(
                lambda conn, tally: insert_tasks(
                    conn, new, now=now, tally=tally, names=self.tenant_names
                )
            )

    def get_task(self, task_id: int, *, tenant_id: int | None = None) -> Task:
        def work(conn: Connection) -> Task:
            query = select(*TASK_COLUMNS).where(tasks.c.id == task_id)
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
                    traceback=a.traceback,
                )
                for a in conn.execute(
                    select(task_attempts)
                    .where(task_attempts.c.task_id == task_id)
                    .order_by(task_attempts.c.attempt)
                )
            )
            tenant = self.tenant_name(conn, int(row.tenant_id))
            schedule = fired_by(conn, [task_id]).get(task_id)
            return task_from_row(row, tenant, attempts, schedule=schedule)

        return self.read(work)

    def list_tasks(
        self,
        flt: TaskFilter,
        *,
        limit: int,
        cursor: int | PageKey | None,
        order: TaskOrder = TaskOrder.CREATED_DESC,
    ) -> Page:
        def work(conn: Connection) -> Page:
            rows = self._searched_window(conn, flt, order, cursor, limit + 1)
            if rows is None:
                query = _filtered(select(*TASK_COLUMNS), flt, self.dialect)
                query = ordering.ordered(query, order, cursor)
                rows = conn.execute(query.limit(limit + 1)).all()
            items = self._rows_to_tasks(conn, rows[:limit])
            if len(rows) <= limit or not items:
                return Page(items=items, next_cursor=None)
            key = ordering.key_of(rows[limit - 1], order)
            return Page(items=items, next_cursor=key.id, next_key=key)

        return self.read(work)

    def count_tasks(self, flt: TaskFilter, *, cap: int | None) -> Total:
        if cap is None:
            return self._count_all(flt)

        def work(conn: Connection) -> Total:
            maintained = _from_counts(conn, flt)
            if maintained is not None:
                return maintained
            if flt.words and self.dialect.search_window:
                known = self._count_in_window(conn, flt, cap)
                if known is not None:
                    return known
            # Anything else is counted from the rows, but never past ``cap``: the cost
            # stays bounded at any table size, and the answer says "at least".
            capped = _filtered(select(tasks.c.id), flt, self.dialect).limit(cap + 1).subquery()
            n = int(conn.execute(select(func.count()).select_from(capped)).scalar_one())
            return Total(min(n, cap), exact=n <= cap)

        return self.read(work)

    def _count_all(self, flt: TaskFilter) -> Total:
        """Every match counted, as an operator asks for when "at least" is not enough:
        from the rows (a search through its index), stopped at the slow-read limit."""

        def work(conn: Connection) -> Total:
            maintained = _from_counts(conn, flt)
            if maintained is not None:
                return maintained
            query = _filtered(select(func.count()).select_from(tasks), flt, self.dialect)
            return Total(int(conn.execute(query).scalar_one()), exact=True)

        return self.read_tx(work, timeout_s=self.read_timeout_s)

    def _searched_window(
        self,
        conn: Connection,
        flt: TaskFilter,
        order: TaskOrder,
        cursor: int | PageKey | None,
        want: int,
    ) -> Sequence[Row[Any]] | None:
        if not (flt.words and self.dialect.search_window):
            return None
        ids_only = _filtered(select(tasks.c.id), without_search(flt), self.dialect)
        indexed = TaskFilter(tenant_id=flt.tenant_id, states=flt.states)
        in_index = _filtered(select(tasks.c.id), indexed, self.dialect)
        return search_scan.window_rows(
            conn, flt, ids_only, order, cursor=cursor, want=want, in_index=in_index
        )

    def _count_in_window(self, conn: Connection, flt: TaskFilter, cap: int) -> Total | None:
        ids_only = _filtered(select(tasks.c.id), without_search(flt), self.dialect)
        return search_scan.count(conn, flt, ids_only, cap=cap)

    def _change(
        self,
        conn: Connection,
        task_id: int,
        transition: Transition,
        *,
        tenant_id: int | None,
        now: datetime,
        tally: counts.Tally,
        by: str | None = None,
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
        elif transition is Transition.PROMOTE:
            values |= {"run_at": now}  # run now: due at once, and first in its queue by age
        elif transition is Transition.REQUEUE:
            # A requeued task gets a fresh attempt budget; ``attempt`` itself keeps
            # growing so an old attempt's late write can never pass the fence.
            values |= {
                "attempt_base": tasks.c.attempt,
                "run_at": now,
                "finished_at": None,
                "started_at": None,
                "result": None,
                "requeued_at": now,
                "requeued_by": by,
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
        self,
        task_id: int,
        transition: Transition,
        *,
        tenant_id: int | None,
        now: datetime,
        by: str | None = None,
    ) -> Task:
        def work(conn: Connection, tally: counts.Tally) -> bool:
            return self._change(
                conn, task_id, transition, tenant_id=tenant_id, now=now, tally=tally, by=by
            )

        for _ in range(_CAS_RETRIES):
            changed = self.write(work)
            if changed:
                return self.get_task(task_id, tenant_id=tenant_id)
        raise states.InvalidTransition(transition, self.get_task(task_id).state)

    def cancel(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task:
        return self._hand_change(task_id, Transition.CANCEL, tenant_id=tenant_id, now=now)

    def run_now(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task:
        return self._hand_change(task_id, Transition.PROMOTE, tenant_id=tenant_id, now=now)

    def requeue(
        self, task_id: int, *, tenant_id: int | None, now: datetime, by: str | None = None
    ) -> Task:
        return self._hand_change(task_id, Transition.REQUEUE, tenant_id=tenant_id, now=now, by=by)

    def delete_scheduled(self, task_id: int, *, tenant_id: int | None) -> Task:
        task = self.get_task(task_id, tenant_id=tenant_id)

        def work(conn: Connection, tally: counts.Tally) -> bool:
            # Compare-and-set on the state, like a transition: a promoter that made it
            # due in between wins, and the read-back below names the state it is in now.
            gone = conn.execute(
                delete(tasks).where(tasks.c.id == task_id, tasks.c.state.in_(_DELETABLE))
            ).rowcount
            if gone:
                conn.execute(delete(task_attempts).where(task_attempts.c.task_id == task_id))
                tally.add(task.tenant_id, task.type, task.state, -1)
            return bool(gone)

        if task.state in states.DELETABLE_STATES and self.write(work):
            return task
        state = self.get_task(task_id, tenant_id=tenant_id).state
        raise Conflict(f"only a scheduled task can be deleted; task {task_id} is {state.value}")

    def _change_matching(
        self,
        flt: TaskFilter,
        transition: Transition,
        *,
        now: datetime,
        limit: int,
        by: str | None = None,
    ) -> list[int]:
        allowed = [s.value for s in states.sources(transition) if s is not None]

        def work(conn: Connection, tally: counts.Tally) -> list[int]:
            query = _filtered(select(tasks.c.id), flt, self.dialect).where(
                tasks.c.state.in_(allowed)
            )
            ids = [int(r.id) for r in conn.execute(query.order_by(tasks.c.id).limit(limit))]
            return [i for i in ids if self._change_or_skip(conn, i, transition, now, tally, by)]

        return self.write(work)

    def _change_or_skip(
        self,
        conn: Connection,
        task_id: int,
        transition: Transition,
        now: datetime,
        tally: counts.Tally,
        by: str | None = None,
    ) -> bool:
        try:
            return self._change(
                conn, task_id, transition, tenant_id=None, now=now, tally=tally, by=by
            )
        except (states.InvalidTransition, NotFound):
            return False

    def cancel_matching(self, flt: TaskFilter, *, now: datetime, limit: int) -> list[int]:
        return self._change_matching(flt, Transition.CANCEL, now=now, limit=limit)

    def requeue_candidates(self, flt: TaskFilter, *, limit: int) -> list[TaskCost]:
        allowed = [s.value for s in states.sources(Transition.REQUEUE) if s is not None]

        def work(conn: Connection) -> list[TaskCost]:
            query = _filtered(
                select(tasks.c.id, tasks.c.tenant_id, tasks.c.cost), flt, self.dialect
            )
            query = query.where(tasks.c.state.in_(allowed)).order_by(tasks.c.id).limit(limit)
            return [TaskCost(int(r.id), int(r.tenant_id), int(r.cost)) for r in conn.execute(query)]

        return self.read(work)

    def requeue_matching(
        self, flt: TaskFilter, *, now: datetime, limit: int, by: str | None = None
    ) -> list[int]:
        return self._change_matching(flt, Transition.REQUEUE, now=now, limit=limit, by=by)

    def delete_tenant_tasks(self, tenant_ids: Sequence[int]) -> int:
        def work(conn: Connection, tally: counts.Tally) -> int:
            ids = select(tasks.c.id).where(tasks.c.tenant_id.in_(tenant_ids))
            ids = self.dialect.deletable(ids)
            conn.execute(delete(task_attempts).where(task_attempts.c.task_id.in_(ids)))
            n = int(conn.execute(delete(tasks).where(tasks.c.tenant_id.in_(tenant_ids))).rowcount)
            counts.forget_tenants(conn, tenant_ids)
            return n

        return self.write(work)

    def count_tenant_tasks(self, tenant_ids: Sequence[int]) -> int:
        def work(conn: Connection) -> int:
            query = select(func.count()).select_from(tasks).where(tasks.c.tenant_id.in_(tenant_ids))
            return int(conn.execute(query).scalar_one())

        return self.read(work)

    def recount(self) -> int:
        """Rebuild the active-task counts from the rows (after writes that went around
        the store, such as a bulk load); returns the number of active tasks."""
        return self.write(lambda conn, _tally: counts.rebuild(conn))

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

        return self.read(work)
