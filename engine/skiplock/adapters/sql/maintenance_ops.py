"""The maintenance scans: promote due tasks, rescue expired leases, prune old rows. Each
takes its rows with SKIP LOCKED, so any number of instances may run them at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.schema import task_attempts, tasks
from skiplock.domain import states
from skiplock.domain.models import LEASE_EXPIRED, Outcome
from skiplock.domain.states import TaskState, Transition
from skiplock.ports import Moved

RUNNING = TaskState.RUNNING.value


def _moved(row: Any, names: dict[int, str], to: TaskState) -> Moved:
    tenant_id = int(row.tenant_id)
    return Moved(int(row.id), tenant_id, names[tenant_id], str(row.type), int(row.attempt), to)


class MaintenanceOps(SqlBase):
    def promote_due(self, *, now: datetime, limit: int) -> list[Moved]:
        due = self.dialect.query("due_select")

        def work(conn: Connection, tally: counts.Tally) -> list[Moved]:
            found: list[Moved] = []
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
            return found

        return self.write(work)

    def rescue_expired(
        self, *, now: datetime, limit: int, retry_at: datetime, owner_prefix: str | None = None
    ) -> list[Moved]:
        if owner_prefix is None:
            stmt = self.dialect.query("expired_select")
            params: dict[str, Any] = {"now": now, "running": RUNNING, "n": limit}
        else:
            stmt = self.dialect.query("owned_select")
            me = owner_prefix
            prefix = owner_prefix.rsplit(":", 1)[0] + ":%"
            params = {"prefix": prefix, "me": me, "running": RUNNING, "n": limit}

        def work(conn: Connection, tally: counts.Tally) -> list[Moved]:
            out: list[Moved] = []
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
            return out

        return self.write(work)

    def prune(self, *, finished_before: datetime, limit: int) -> int:
        stmt = self.dialect.query("prune_select", expanding=("terminal",))
        terminal = [s.value for s in states.TERMINAL_STATES]

        def work(conn: Connection, tally: counts.Tally) -> int:
            rows = conn.execute(stmt, {"cutoff": finished_before, "terminal": terminal, "n": limit})
            ids = [int(r.id) for r in rows]
            if ids:
                conn.execute(delete(task_attempts).where(task_attempts.c.task_id.in_(ids)))
                conn.execute(delete(tasks).where(tasks.c.id.in_(ids)))
            return len(ids)

        return self.write(work)
