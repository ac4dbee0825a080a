"""The worker path (claim, heartbeat, complete, release) and the maintenance scans.

Every write about a running task is fenced: it first locks the rows it is about and keeps
only those still ``running`` with the attempt (and, for heartbeats, the owner) it holds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, update
from sqlalchemy.engine import Connection

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.folding import Fold
from skiplock.adapters.sql.schema import (
    task_attempts,
    task_counts,
    tasks,
    tenants,
)
from skiplock.adapters.sql.updates import update_each
from skiplock.domain import states
from skiplock.domain.models import Claimed, Completion, Outcome, TenantState
from skiplock.domain.states import TaskState, Transition
from skiplock.ports import Lease, ReadyTenant

RUNNING = TaskState.RUNNING.value
QUEUED = TaskState.QUEUED.value
# The queued count reported when the maintained counts have none (see _backlog).
UNKNOWN_BACKLOG = 1_000_000


def ready_tenants_query() -> Select[Any]:
    """Tenants not paused with at least one queued task, with their queued count.

    Whether a tenant has queued work is one probe per tenant that stops at its first
    queued row. Not ``EXISTS``: MariaDB flattens EXISTS into a semi-join that
    materialises the tenant_id of every queued row, so the probe grew with the queue
    (31 ms at 10^5 queued rows; bench/scale.py). A correlated scalar subquery with LIMIT
    1 cannot be flattened that way. How many it has comes from the maintained counts (a
    primary-key range of ``task_counts``: O(types × shards), not O(queued rows))."""
    first_ready = (
        select(literal(1))
        .where(tasks.c.tenant_id == tenants.c.id, tasks.c.state == QUEUED)
        .limit(1)
        .correlate(tenants)
        .scalar_subquery()
    )
    queued = (
        select(func.coalesce(func.sum(task_counts.c.n), 0))
        .where(task_counts.c.tenant_id == tenants.c.id, task_counts.c.state == QUEUED)
        .correlate(tenants)
        .scalar_subquery()
    )
    return select(tenants.c.id, tenants.c.weight, queued.label("queued")).where(
        tenants.c.state != TenantState.PAUSED.value, first_ready.is_not(None)
    )


def _backlog(counted: int) -> int:
    """A tenant the probe found queued work for but the counts do not (rows written
    around the store, before ``skiplock recount``) has a backlog of unknown depth: report
    it as deep, so it is never held to one task per claim."""
    return counted if counted > 0 else UNKNOWN_BACKLOG


def _by_id(rows: Iterable[Any]) -> dict[int, Any]:
    return {int(r.id): r for r in rows}


def _attempt(held: dict[int, Any], task_id: int) -> int | None:
    row = held.get(task_id)
    return None if row is None else int(row.attempt)


class WorkerOps(SqlBase):
    def ready_tenants(self) -> list[ReadyTenant]:
        stmt = ready_tenants_query()

        def work(conn: Connection) -> list[ReadyTenant]:
            return [
                ReadyTenant(int(r.id), int(r.weight), _backlog(int(r.queued)))
                for r in conn.execute(stmt)
            ]

        return self.read(work)

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

        def work(conn: Connection, tally: counts.Tally, fold: Fold | None) -> list[Claimed]:
            return self._claim_in(
                conn,
                grants,
                worker=worker,
                now=now,
                lease_until=lease_until,
                tally=tally,
                fold=fold,
            )

        return self.write_folded(work)

    def _claim_in(
        self,
        conn: Connection,
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        tally: counts.Tally,
        fold: Fold | None = None,
    ) -> list[Claimed]:
        """The claim inside a unit of work, its count changes added to ``tally``."""
        rows = self.dialect.claim_rows(
            conn, grants, worker=worker, now=now, lease_until=lease_until, fold=fold
        )
        return self._record_claim(conn, rows, worker=worker, now=now, tally=tally, fold=fold)

    def _record_claim(
        self,
        conn: Connection,
        rows: list[Any],
        *,
        worker: str,
        now: datetime,
        tally: counts.Tally,
        fold: Fold | None,
    ) -> list[Claimed]:
        """The attempts and count changes of the rows a claim took, and what the worker
        gets of them."""
        if not rows:
            return []
        attempts = [
            {"task_id": r.id, "attempt": r.attempt + 1, "worker": worker, "started_at": now}
            for r in rows
        ]
        self.dialect.insert_attempts(conn, attempts, fold)
        for r in rows:
            tally.move(r.tenant_id, r.type, TaskState.QUEUED, TaskState.RUNNING)
        names = self.tenant_names(conn, {int(r.tenant_id) for r in rows})
        return [
            Claimed(
                id=int(r.id),
                tenant_id=int(r.tenant_id),
                tenant=names[int(r.tenant_id)],
                type=str(r.type),
                payload=r.payload,
                attempt=int(r.attempt) + 1,
                attempt_base=int(r.attempt_base),
                max_attempts=int(r.max_attempts),
                timeout_s=float(r.timeout_s),
                cost=int(r.cost),
                created_at=r.created_at,
                run_at=r.run_at,
                started_at=now,
            )
            for r in sorted(rows, key=lambda r: int(r.id))
        ]

    # --- fenced writes -------------------------------------------------------------------
    def _lock_running(
        self, conn: Connection, ids: list[int], fold: Fold | None = None
    ) -> dict[int, Any]:
        """The rows among ``ids`` still running, locked: id -> (id, tenant_id, type,
        attempt, lease_owner)."""
        return _by_id(self.dialect.lock_running(conn, ids, RUNNING, fold))

    def heartbeat(self, leases: Sequence[Lease], *, worker: str, lease_until: datetime) -> set[int]:
        if not leases:
            return set()

        def work(conn: Connection, tally: counts.Tally) -> set[int]:
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

        return self.write(work)

    def complete(self, completions: Sequence[Completion]) -> list[Completion]:
        if not completions:
            return []

        def work(conn: Connection, tally: counts.Tally, fold: Fold | None) -> list[Completion]:
            return self._complete_in(conn, completions, tally, fold)

        return self.write_folded(work)

    def complete_and_claim(
        self,
        completions: Sequence[Completion],
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
    ) -> tuple[list[Completion], list[Claimed]]:
        """Write finished attempts and claim for the slots they freed, in one transaction
        (one commit and one count write instead of two): the completions first, fenced as
        in ``complete``, then the claim as in ``claim``."""
        grants = {t: n for t, n in grants.items() if n > 0}
        if not completions and not grants:
            return [], []

        def work(
            conn: Connection, tally: counts.Tally, fold: Fold | None
        ) -> tuple[list[Completion], list[Claimed]]:
            # Every lock first: on MySQL the running rows' lock and the claim's SELECTs
            # share one round trip, and every write, the count change and the commit the
            # next (folding.py).
            held, rows = self.dialect.lock_and_claim(
                conn,
                [c.task_id for c in completions],
                grants,
                worker=worker,
                now=now,
                lease_until=lease_until,
                fold=fold,
            )
            accepted = self._write_completions(conn, completions, _by_id(held), tally, fold)
            claimed = self._record_claim(conn, rows, worker=worker, now=now, tally=tally, fold=fold)
            return accepted, claimed

        return self.write_folded(work)

    def _complete_in(
        self,
        conn: Connection,
        completions: Sequence[Completion],
        tally: counts.Tally,
        fold: Fold | None = None,
    ) -> list[Completion]:
        held = self._lock_running(conn, [c.task_id for c in completions], fold)
        return self._write_completions(conn, completions, held, tally, fold)

    def _write_completions(
        self,
        conn: Connection,
        completions: Sequence[Completion],
        held: dict[int, Any],
        tally: counts.Tally,
        fold: Fold | None,
    ) -> list[Completion]:
        """The completions whose attempt ``held`` (the running rows, locked) still
        shows, written; the others are fenced out."""
        # One completion per task and attempt: a repeat is the same write, counted once.
        first: dict[int, Completion] = {}
        for c in completions:
            if _attempt(held, c.task_id) == c.attempt:
                first.setdefault(c.task_id, c)
        accepted = list(first.values())
        if not accepted:
            return []
        values = [self._completion_values(c) for c in accepted]
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
        update_each(conn, tasks, finals, keys=by_id, values=common, constant=cleared, fold=fold)
        # A retry's run_at becomes its backoff due time; a finished task keeps the
        # run_at it was due at, which queue-wait analytics need.
        update_each(
            conn,
            tasks,
            retries,
            keys=by_id,
            values={**common, "run_at": "b_run_at"},
            constant=cleared,
            fold=fold,
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
                    "b_traceback": c.traceback,
                }
                for c in accepted
            ],
            keys={"task_id": "b_id", "attempt": "b_attempt"},
            values={
                "finished_at": "b_at",
                "outcome": "b_outcome",
                "error": "b_error",
                "traceback": "b_traceback",
            },
            constant={},
            fold=fold,
        )
        return accepted

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
        """Hand running tasks back to the queue without charging the attempt: the
        attempt counter (the fence) still grows, the budget base moves with it. Batched
        like completions: one UPDATE of the tasks and one of their attempts, whatever
        the number of leases."""
        if not leases:
            return []

        def work(conn: Connection, tally: counts.Tally) -> list[int]:
            held = self._lock_running(conn, [lease.task_id for lease in leases])
            # One release per task and attempt, as for completions.
            fenced = {x.task_id: x for x in leases if _attempt(held, x.task_id) == x.attempt}
            if not fenced:
                return []
            ids = sorted(fenced)
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
            update_each(
                conn,
                task_attempts,
                [{"b_id": i, "b_attempt": fenced[i].attempt} for i in ids],
                keys={"task_id": "b_id", "attempt": "b_attempt"},
                values={},
                constant={"finished_at": now, "outcome": Outcome.RELEASED.value},
            )
            for i in ids:
                tally.move(held[i].tenant_id, held[i].type, TaskState.RUNNING, TaskState.QUEUED)
            return ids

        return self.write(work)
