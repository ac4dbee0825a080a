"""The worker path (claim, heartbeat, complete, release) and the maintenance scans.

Every write about a running task is fenced: it first locks the rows it is about and keeps
only those still ``running`` with the attempt (and, for heartbeats, the owner) it holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, bindparam, delete, insert, literal, select, update
from sqlalchemy.engine import Connection

from engine.adapters.sql import counts
from engine.adapters.sql.base import SqlBase
from engine.adapters.sql.queries import query
from engine.adapters.sql.schema import task_attempts, tasks, tenants
from engine.domain import states
from engine.domain.models import LEASE_EXPIRED, Claimed, Completion, Outcome, TenantState
from engine.domain.states import TaskState, Transition
from engine.ports import Lease, Moved, ReadyTenant

RUNNING = TaskState.RUNNING.value
QUEUED = TaskState.QUEUED.value
# Rows per set-based UPDATE (see update_each).
UPDATE_CHUNK = 500


def update_each(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: dict[str, str],
    values: dict[str, str],
    constant: dict[str, Any],
) -> None:
    """UPDATE one row of ``table`` per item of ``rows``: ``keys`` and ``values`` map a
    column to the item field that matches it or is written to it; ``constant`` is
    written to every row. The first key must be unique among ``rows``.

    PyMySQL runs an executemany UPDATE as one statement, so one round trip, per row; on
    MySQL that made completions the drain's bottleneck (two round trips per finished
    task). There, each chunk is one statement whose per-row columns are ``CASE <first
    key> WHEN … THEN … END``. SQLite's executemany never leaves the process, so it stays."""
    if not rows:
        return
    lead_col, lead_field = next(iter(keys.items()))
    lead_values = [r[lead_field] for r in rows]
    if conn.dialect.name != "mysql" or len(set(lead_values)) != len(lead_values):
        stmt = (
            update(table)
            .where(*(table.c[col] == bindparam(field) for col, field in keys.items()))
            .values(
                {col: bindparam(f, type_=table.c[col].type) for col, f in values.items()} | constant
            )
        )
        conn.execute(stmt, list(rows))
        return
    quote = conn.dialect.identifier_preparer.quote
    processors = {
        col: table.c[col].type.bind_processor(conn.dialect) for col in [*values, *constant, *keys]
    }

    def bound(col: str, value: Any) -> Any:
        process = processors[col]
        return process(value) if process is not None and value is not None else value

    for start in range(0, len(rows), UPDATE_CHUNK):
        chunk = rows[start : start + UPDATE_CHUNK]
        # Built as driver SQL: SQLAlchemy's construction and compilation of a statement
        # with thousands of one-off bound values cost more than the round trips saved.
        by_lead = f"CASE {quote(lead_col)}{' WHEN %s THEN %s' * len(chunk)} END"
        sets: list[str] = []
        params: list[Any] = []
        for col, field in values.items():
            sets.append(f"{quote(col)} = {by_lead}")
            for r in chunk:
                params += [r[lead_field], bound(col, r[field])]
        for col, value in constant.items():
            sets.append(f"{quote(col)} = %s")
            params.append(bound(col, value))
        where = [f"{quote(lead_col)} IN ({', '.join(['%s'] * len(chunk))})"]
        params += [r[lead_field] for r in chunk]
        for col, field in list(keys.items())[1:]:
            where.append(f"{quote(col)} = {by_lead}")
            for r in chunk:
                params += [r[lead_field], bound(col, r[field])]
        conn.exec_driver_sql(
            f"UPDATE {quote(table.name)} SET {', '.join(sets)} WHERE {' AND '.join(where)}",
            tuple(params),
        )


def ready_tenants_query() -> Select[Any]:
    """Tenants not paused with at least one queued task: one probe per tenant that stops
    at its first queued row. Not ``EXISTS``: MariaDB flattens EXISTS into a semi-join
    that materialises the tenant_id of every queued row, so the probe grew with the
    queue (31 ms at 10^5 queued rows; bench/scale.py). A correlated scalar subquery
    with LIMIT 1 cannot be flattened that way."""
    first_ready = (
        select(literal(1))
        .where(tasks.c.tenant_id == tenants.c.id, tasks.c.state == QUEUED)
        .limit(1)
        .correlate(tenants)
        .scalar_subquery()
    )
    return select(tenants.c.id, tenants.c.weight).where(
        tenants.c.state != TenantState.PAUSED.value, first_ready.is_not(None)
    )


def _moved(row: Any, names: dict[int, str], to: TaskState) -> Moved:
    tenant_id = int(row.tenant_id)
    return Moved(int(row.id), tenant_id, names[tenant_id], str(row.type), int(row.attempt), to)


def _attempt(held: dict[int, Any], task_id: int) -> int | None:
    row = held.get(task_id)
    return None if row is None else int(row.attempt)


class WorkerOps(SqlBase):
    def ready_tenants(self) -> list[ReadyTenant]:
        stmt = ready_tenants_query()

        def work(conn: Connection) -> list[ReadyTenant]:
            return [ReadyTenant(int(r.id), int(r.weight)) for r in conn.execute(stmt)]

        return self.tx(work, write=False)

    # --- claim ---------------------------------------------------------------------------
    def claim(
        self,
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
    ) -> list[Claimed]:
        grants = {t: n for t, n in grants.items() if n > 0}
        if not grants:
            return []

        def work(conn: Connection) -> list[Claimed]:
            ids = self._claim_ids(conn, grants, worker=worker, now=now, lease_until=lease_until)
            if not ids:
                return []
            rows = conn.execute(
                select(
                    tasks.c.id,
                    tasks.c.tenant_id,
                    tasks.c.type,
                    tasks.c.payload,
                    tasks.c.attempt,
                    tasks.c.attempt_base,
                    tasks.c.max_attempts,
                    tasks.c.timeout_s,
                    tasks.c.cost,
                    tasks.c.created_at,
                    tasks.c.run_at,
                )
                .where(tasks.c.id.in_(ids))
                .order_by(tasks.c.id)
            ).all()
            conn.execute(
                insert(task_attempts),
                [
                    {"task_id": r.id, "attempt": r.attempt, "worker": worker, "started_at": now}
                    for r in rows
                ],
            )
            tally = counts.Tally()
            for r in rows:
                tally.move(r.tenant_id, r.type, TaskState.QUEUED, TaskState.RUNNING)
            tally.apply(conn)
            names = self.tenant_names(conn, {int(r.tenant_id) for r in rows})
            return [
                Claimed(
                    id=int(r.id),
                    tenant_id=int(r.tenant_id),
                    tenant=names[int(r.tenant_id)],
                    type=str(r.type),
                    payload=r.payload,
                    attempt=int(r.attempt),
                    attempt_base=int(r.attempt_base),
                    max_attempts=int(r.max_attempts),
                    timeout_s=float(r.timeout_s),
                    cost=int(r.cost),
                    created_at=r.created_at,
                    run_at=r.run_at,
                    started_at=now,
                )
                for r in rows
            ]

        return self.tx(work)

    def _claim_ids(
        self,
        conn: Connection,
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
    ) -> list[int]:
        if not self.is_mysql:
            claim = query(self.dialect_file, "claim_update")
            ids: list[int] = []
            for tenant_id, n in grants.items():
                ids += [
                    int(r.id)
                    for r in conn.execute(
                        claim,
                        {
                            "tenant_id": tenant_id,
                            "n": n,
                            "queued": QUEUED,
                            "running": RUNNING,
                            "worker": worker,
                            "now": now,
                            "lease_until": lease_until,
                        },
                    )
                ]
            return ids
        select_ids = query(self.dialect_file, "claim_select")
        ids = []
        for tenant_id, n in grants.items():
            params = {"tenant_id": tenant_id, "n": n, "queued": QUEUED}
            ids += [int(r.id) for r in conn.execute(select_ids, params)]
        if ids:
            conn.execute(
                update(tasks)
                .where(tasks.c.id.in_(ids))
                .values(
                    state=states.apply(Transition.CLAIM, TaskState.QUEUED).value,
                    attempt=tasks.c.attempt + 1,
                    lease_owner=worker,
                    lease_expires_at=lease_until,
                    started_at=now,
                )
            )
        return ids

    # --- fenced writes -------------------------------------------------------------------
    def _lock_running(self, conn: Connection, ids: list[int]) -> dict[int, Any]:
        """The rows among ``ids`` still running, locked: id -> (id, tenant_id, type,
        attempt, lease_owner)."""
        stmt = query(self.dialect_file, "lock_running", expanding=("ids",))
        return {int(r.id): r for r in conn.execute(stmt, {"ids": ids, "running": RUNNING})}

    def heartbeat(self, leases: Sequence[Lease], *, worker: str, lease_until: datetime) -> set[int]:
        if not leases:
            return set()

        def work(conn: Connection) -> set[int]:
            held = self._lock_running(conn, [lease.task_id for lease in leases])
            alive = [
                lease.task_id
                for lease in leases
                if _attempt(held, lease.task_id) == lease.attempt
                and held[lease.task_id].lease_owner == worker
            ]
            if alive:
                conn.execute(
                    update(tasks).where(tasks.c.id.in_(alive)).values(lease_expires_at=lease_until)
                )
            return {lease.task_id for lease in leases} - set(alive)

        return self.tx(work)

    def complete(self, completions: Sequence[Completion]) -> list[Completion]:
        if not completions:
            return []

        def work(conn: Connection) -> list[Completion]:
            held = self._lock_running(conn, [c.task_id for c in completions])
            # One completion per task and attempt: a repeat is the same write, counted once.
            first: dict[int, Completion] = {}
            for c in completions:
                if _attempt(held, c.task_id) == c.attempt:
                    first.setdefault(c.task_id, c)
            accepted = list(first.values())
            if not accepted:
                return []
            values = [self._completion_values(c) for c in accepted]
            tally = counts.Tally()
            for v in values:
                row = held[v["b_id"]]
                tally.move(row.tenant_id, row.type, TaskState.RUNNING, v["b_state"])
            finals = [v for v in values if v["b_run_at"] is None]
            retries = [v for v in values if v["b_run_at"] is not None]
            common = {
                "state": "b_state",
                "result": "b_result",
                "last_error": "b_error",
                "finished_at": "b_finished",
            }
            cleared = {"lease_owner": None, "lease_expires_at": None}
            by_id = {"id": "b_id"}
            update_each(conn, tasks, finals, keys=by_id, values=common, constant=cleared)
            # A retry's run_at becomes its backoff due time; a finished task keeps the
            # run_at it was due at, which queue-wait analytics need.
            update_each(
                conn,
                tasks,
                retries,
                keys=by_id,
                values={**common, "run_at": "b_run_at"},
                constant=cleared,
            )
            update_each(
                conn,
                task_attempts,
                [
                    {
                        "b_id": c.task_id,
                        "b_attempt": c.attempt,
                        "b_at": c.finished_at,
                        "b_outcome": c.outcome.value,
                        "b_error": c.error,
                    }
                    for c in accepted
                ],
                keys={"task_id": "b_id", "attempt": "b_attempt"},
                values={"finished_at": "b_at", "outcome": "b_outcome", "error": "b_error"},
                constant={},
            )
            tally.apply(conn)
            return accepted

        return self.tx(work)

    @staticmethod
    def _completion_values(c: Completion) -> dict[str, Any]:
        to = states.apply(c.transition, TaskState.RUNNING)
        retrying = c.transition is Transition.FAIL_RETRY
        if retrying and c.retry_at is None:
            raise ValueError("a retry needs retry_at")
        return {
            "b_id": c.task_id,
            "b_state": to.value,
            "b_result": c.result if to is TaskState.SUCCEEDED else None,
            "b_error": c.error,
            "b_finished": None if retrying else c.finished_at,
            "b_run_at": c.retry_at if retrying else None,
        }

    def release(self, leases: Sequence[Lease], *, now: datetime) -> list[int]:
        if not leases:
            return []

        def work(conn: Connection) -> list[int]:
            held = self._lock_running(conn, [lease.task_id for lease in leases])
            ids = [x.task_id for x in leases if _attempt(held, x.task_id) == x.attempt]
            if not ids:
                return []
            # Not charged: the attempt counter (the fence) still grows, the budget base
            # moves with it.
            conn.execute(
                update(tasks)
                .where(tasks.c.id.in_(ids))
                .values(
                    state=states.apply(Transition.RELEASE, TaskState.RUNNING).value,
                    attempt_base=tasks.c.attempt_base + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    started_at=None,
                    run_at=now,
                )
            )
            for lease in leases:
                if lease.task_id in ids:
                    conn.execute(
                        update(task_attempts)
                        .where(
                            task_attempts.c.task_id == lease.task_id,
                            task_attempts.c.attempt == lease.attempt,
                        )
                        .values(finished_at=now, outcome=Outcome.RELEASED.value)
                    )
            tally = counts.Tally()
            for i in ids:
                tally.move(held[i].tenant_id, held[i].type, TaskState.RUNNING, TaskState.QUEUED)
            tally.apply(conn)
            return ids

        return self.tx(work)

    # --- maintenance ---------------------------------------------------------------------
    def promote_due(self, *, now: datetime, limit: int) -> list[Moved]:
        due = query(self.dialect_file, "due_select")

        def work(conn: Connection) -> list[Moved]:
            found: list[Moved] = []
            tally = counts.Tally()
            for source in (TaskState.SCHEDULED, TaskState.RETRYING):
                rows = conn.execute(due, {"state": source.value, "now": now, "n": limit}).all()
                if rows:
                    to = states.apply(Transition.PROMOTE, source)
                    conn.execute(
                        update(tasks)
                        .where(tasks.c.id.in_([r.id for r in rows]), tasks.c.state == source.value)
                        .values(state=to.value)
                    )
                    names = self.tenant_names(conn, {int(r.tenant_id) for r in rows})
                    for r in rows:
                        tally.move(r.tenant_id, r.type, source, to)
                        found.append(_moved(r, names, to))
            tally.apply(conn)
            return found

        return self.tx(work)

    def rescue_expired(
        self, *, now: datetime, limit: int, retry_at: datetime, owner_prefix: str | None = None
    ) -> list[Moved]:
        if owner_prefix is None:
            stmt = query(self.dialect_file, "expired_select")
            params: dict[str, Any] = {"now": now, "running": RUNNING, "n": limit}
        else:
            stmt = query(self.dialect_file, "owned_select")
            me = owner_prefix
            prefix = owner_prefix.rsplit(":", 1)[0] + ":%"
            params = {"prefix": prefix, "me": me, "running": RUNNING, "n": limit}

        def work(conn: Connection) -> list[Moved]:
            out: list[Moved] = []
            tally = counts.Tally()
            found = conn.execute(stmt, params).all()
            names = self.tenant_names(conn, {int(r.tenant_id) for r in found})
            for r in found:
                transition = states.after_rescue(
                    attempt=int(r.attempt),
                    attempt_base=int(r.attempt_base),
                    max_attempts=int(r.max_attempts),
                )
                to = states.apply(transition, TaskState.RUNNING)
                dead = to is TaskState.DEAD
                moved = conn.execute(
                    update(tasks)
                    .where(
                        tasks.c.id == r.id, tasks.c.attempt == r.attempt, tasks.c.state == RUNNING
                    )
                    .values(
                        state=to.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        last_error=LEASE_EXPIRED,
                        finished_at=now if dead else None,
                        run_at=now if dead else retry_at,
                    )
                )
                if moved.rowcount == 0:  # cannot happen while the row is locked; be exact
                    continue
                tally.move(r.tenant_id, r.type, TaskState.RUNNING, to)
                conn.execute(
                    update(task_attempts)
                    .where(task_attempts.c.task_id == r.id, task_attempts.c.attempt == r.attempt)
                    .values(
                        finished_at=now, outcome=Outcome.LEASE_LOST.value, error="lease expired"
                    )
                )
                out.append(_moved(r, names, to))
            tally.apply(conn)
            return out

        return self.tx(work)

    def prune(self, *, finished_before: datetime, limit: int) -> int:
        stmt = query(self.dialect_file, "prune_select", expanding=("terminal",))
        terminal = [s.value for s in states.TERMINAL_STATES]

        def work(conn: Connection) -> int:
            rows = conn.execute(stmt, {"cutoff": finished_before, "terminal": terminal, "n": limit})
            ids = [int(r.id) for r in rows]
            if ids:
                conn.execute(delete(task_attempts).where(task_attempts.c.task_id.in_(ids)))
                conn.execute(delete(tasks).where(tasks.c.id.in_(ids)))
            return len(ids)

        return self.tx(work)
