"""The one INSERT of new tasks, with the active-count tally it owes. The store runs it
in a transaction of its own; ``skiplock.enqueue`` runs it inside the caller's open
transaction, so both write exactly the same rows and counts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.engine import Connection, Row

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.dialect import dialect_of
from skiplock.adapters.sql.queries import driver_sql, naive_utc
from skiplock.adapters.sql.schema import JSONText, tasks, tenants
from skiplock.domain import states
from skiplock.domain.models import Attempt, NewTask, Task
from skiplock.domain.states import TaskState, Transition
from skiplock.ports import Submitted

TASK_COLUMNS = list(tasks.c)
_PARAM_NAMES = re.compile(r"%\((\w+)\)s")

# Tenant names by id, as the caller finds them (the store keeps a cache).
NameLookup = Callable[[Connection, set[int]], dict[int, str]]


def task_from_row(
    row: Row[Any], tenant: str, attempts: tuple[Attempt, ...] = (), *, schedule: str | None = None
) -> Task:
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
        requeued_at=row.requeued_at,
        requeued_by=row.requeued_by,
        schedule=schedule,
    )


def tenant_names(conn: Connection, ids: set[int]) -> dict[int, str]:
    """Tenant names by id, read from the database (no cache)."""
    if not ids:
        return {}
    rows = conn.execute(select(tenants.c.id, tenants.c.name).where(tenants.c.id.in_(ids)))
    found = {int(r.id): str(r.name) for r in rows}
    return {i: found.get(i, f"#{i}") for i in ids}


def insert_tasks(
    conn: Connection,
    new: Sequence[NewTask],
    *,
    now: datetime,
    names: NameLookup = tenant_names,
    tally: counts.Tally,
    locking_read: bool = False,
    keep_past_run_at: bool = False,
) -> list[Submitted]:
    """Store ``new`` in ``conn``'s transaction and add them to ``tally``, which the unit
    of work applies last.

    A task whose ``(tenant, idempotency_key)`` exists already, or repeats earlier in
    ``new``, is not inserted: its entry is the existing task with ``created=False``.
    ``locking_read`` reads existing keys with a shared lock, which sees rows committed
    after the transaction's snapshot (MySQL REPEATABLE READ): for a second try after a
    duplicate-key error in a caller's long transaction."""
    existing: dict[tuple[int, str], Task] = {}
    keyed = {(t.tenant_id, t.idempotency_key) for t in new if t.idempotency_key}
    if keyed:
        query = select(*TASK_COLUMNS).where(
            tuple_(tasks.c.tenant_id, tasks.c.idempotency_key).in_(list(keyed))
        )
        rows = conn.execute(query.with_for_update(read=True) if locking_read else query).all()
        found = names(conn, {int(r.tenant_id) for r in rows})
        for r in rows:
            task = task_from_row(r, found[int(r.tenant_id)])
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
    rows_in = [_new_row(t, now, keep_past_run_at) for t in to_insert]
    ids = _insert_ids(conn, rows_in) if rows_in else []
    for row in rows_in:
        tally.add(row["tenant_id"], row["type"], row["state"])
    tenant_of = names(conn, {t.tenant_id for t in new})
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
        task = _task_from_values(task_id, row, tenant_of[t.tenant_id])
        if t.idempotency_key:
            created[key] = task
        out.append(Submitted(task, created=True))
    return out


def _insert_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    # MySQL/MariaDB: one multi-row INSERT of known size is a "simple insert", for which
    # InnoDB allocates consecutive ids, so the ids are lastrowid .. lastrowid + n - 1.
    # (MariaDB's INSERT ... RETURNING is not used: it cost SQLAlchemy's sentinel-ordered
    # batching on top of the same INSERT.)
    raw = conn.connection.dbapi_connection if dialect_of(conn).consecutive_insert_ids else None
    if raw is not None and type(raw).__module__.startswith("pymysql"):
        # Sent as it is: the values are escaped already, so a % in them is data.
        sql = _values_sql(rows, raw.escape, conn.dialect)
        # (Connection.execution_options changes the connection in place, and it may be
        # the caller's: put the option back.)
        before = conn.get_execution_options().get("no_parameters", False)
        try:
            result = conn.execution_options(no_parameters=True).exec_driver_sql(sql)
        finally:
            conn.execution_options(no_parameters=before)
        first = int(result.lastrowid)
        return list(range(first, first + len(rows)))
    if conn.dialect.insert_returning and conn.dialect.use_insertmanyvalues:
        stmt = insert(tasks).returning(tasks.c.id, sort_by_parameter_order=True)
        return [int(r.id) for r in conn.execute(stmt, rows)]
    # Not PyMySQL (a caller's own driver): SQLAlchemy builds the same INSERT.
    first = int(conn.execute(insert(tasks).values(rows)).lastrowid)
    return list(range(first, first + len(rows)))


def _values_sql(rows: list[dict[str, Any]], escape: Callable[[Any], str], dialect: Any) -> str:
    """The multi-row INSERT as one driver statement, built here rather than by
    SQLAlchemy (whose construction of 19 bound values per row was most of a 1,000-task
    submission's CPU) or by the driver's executemany (which may split a long statement,
    and then the ids would not be consecutive). Values repeated across rows — tenant,
    type, state, the timestamps — are escaped once."""
    head, _, row = driver_sql("mysql.sql", "task_insert").partition("VALUES")
    fields = _PARAM_NAMES.findall(row)
    memo: dict[tuple[str, Any], str] = {}

    def escaped(field: str, value: Any) -> str:
        if field == "payload":
            value = JSONText().process_bind_param(value, dialect)
        elif isinstance(value, datetime):
            value = naive_utc(value)
        key = (field, value)
        found = memo.get(key)
        if found is None:
            found = memo[key] = escape(value)
        return found

    parts = [row % {f: escaped(f, r[f]) for f in fields} for r in rows]
    return f"{head}VALUES {', '.join(parts)}"


def _new_row(t: NewTask, now: datetime, keep_past_run_at: bool = False) -> dict[str, Any]:
    """``keep_past_run_at``: a due task keeps its own ``run_at`` rather than ``now`` (a
    schedule's tick, which the task's JSON reports as when it was meant to run)."""
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
        "run_at": t.run_at if later or keep_past_run_at else now,
        "started_at": None,
        "finished_at": None,
        "lease_owner": None,
        "lease_expires_at": None,
    }


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
