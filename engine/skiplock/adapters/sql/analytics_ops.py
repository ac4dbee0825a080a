"""Analytics from the database, not process memory: active tasks from the maintained
counts (``task_counts``), everything else from the tasks and attempts tables over a time
window, through covering indexes on the window's columns, with percentiles computed from a
bounded sample of the most recent finished tasks. Every statement runs under the
store's read time limit (``read_tx``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.engine import Connection

from skiplock.adapters.sql import counts as active_counts
from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.schema import task_attempts, tasks, tenants
from skiplock.domain import states
from skiplock.domain.models import AnalyticsSummary, BreakdownRow, ThroughputPoint
from skiplock.domain.states import TaskState
from skiplock.domain.stats import percentiles

SAMPLE = 5000
FAILED_OUTCOMES = ("failed", "timed_out", "lease_lost")


class AnalyticsOps(SqlBase):
    def _bucket(self, column: Any, bucket_s: int) -> ColumnElement[Any]:
        return self.dialect.time_bucket(column, bucket_s)

    def _scoped(self, query: Any, tenant_id: int | None, table: Any = tasks) -> Any:
        return query if tenant_id is None else query.where(table.c.tenant_id == tenant_id)

    def _sample(self, conn: Connection, since: datetime, tenant_id: int | None) -> list[Any]:
        query = select(
            tasks.c.type, tasks.c.tenant_id, tasks.c.run_at, tasks.c.started_at, tasks.c.finished_at
        ).where(tasks.c.finished_at >= since, tasks.c.started_at.is_not(None))
        query = self._scoped(query, tenant_id).order_by(tasks.c.finished_at.desc()).limit(SAMPLE)
        return list(conn.execute(query).all())

    def analytics_summary(self, *, since: datetime, tenant_id: int | None) -> AnalyticsSummary:
        active = [s.value for s in states.ACTIVE_STATES]

        def work(conn: Connection) -> AnalyticsSummary:
            counts = {s.value: 0 for s in TaskState}
            for (_, _, state), n in active_counts.read(conn, tenant_id=tenant_id).items():
                counts[state] += n
            q = select(tasks.c.state, func.count().label("n")).where(tasks.c.finished_at >= since)
            for row in conn.execute(self._scoped(q, tenant_id).group_by(tasks.c.state)):
                if row.state not in active:
                    counts[str(row.state)] = int(row.n)
            q = select(func.count()).where(tasks.c.created_at >= since)
            submitted = int(conn.execute(self._scoped(q, tenant_id)).scalar() or 0)
            failing = (
                select(tasks.c.type, func.count().label("n"))
                .select_from(task_attempts.join(tasks, tasks.c.id == task_attempts.c.task_id))
                .where(
                    task_attempts.c.finished_at >= since,
                    task_attempts.c.outcome.in_(FAILED_OUTCOMES),
                )
            )
            by_type = [
                (str(r.type), int(r.n))
                for r in conn.execute(
                    self._scoped(failing, tenant_id)
                    .group_by(tasks.c.type)
                    .order_by(func.count().desc())
                    .limit(5)
                )
            ]
            sample = self._sample(conn, since, tenant_id)
            waits = [(r.started_at - r.run_at).total_seconds() * 1000 for r in sample]
            runs = [(r.finished_at - r.started_at).total_seconds() * 1000 for r in sample]
            return AnalyticsSummary(
                counts=counts,
                submitted=submitted,
                succeeded=counts.get(TaskState.SUCCEEDED.value, 0),
                failed=self._failed(conn, since, tenant_id),
                dead=counts.get(TaskState.DEAD.value, 0),
                queue_wait_ms=percentiles([max(0.0, w) for w in waits]),
                run_time_ms=percentiles([max(0.0, r) for r in runs]),
                top_failing_types=by_type,
                sample_size=len(sample),
            )

        return self.read_tx(work, timeout_s=self.read_timeout_s)

    def _failed(self, conn: Connection, since: datetime, tenant_id: int | None) -> int:
        q = select(func.count()).where(
            task_attempts.c.finished_at >= since, task_attempts.c.outcome.in_(FAILED_OUTCOMES)
        )
        if tenant_id is not None:  # only a tenant's count needs the join to tasks
            q = q.select_from(
                task_attempts.join(tasks, tasks.c.id == task_attempts.c.task_id)
            ).where(tasks.c.tenant_id == tenant_id)
        return int(conn.execute(q).scalar() or 0)

    def throughput(
        self, *, since: datetime, until: datetime, bucket_s: int, tenant_id: int | None
    ) -> list[ThroughputPoint]:
        def work(conn: Connection) -> list[ThroughputPoint]:
            points: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            b = self._bucket(tasks.c.created_at, bucket_s).label("b")
            q = select(b, func.count().label("n")).where(tasks.c.created_at >= since)
            for r in conn.execute(self._scoped(q, tenant_id).group_by(literal_column("b"))):
                points[int(r.b)]["submitted"] += int(r.n)
            b = self._bucket(tasks.c.finished_at, bucket_s).label("b")
            q = select(b, tasks.c.state, func.count().label("n")).where(
                tasks.c.finished_at >= since,
                tasks.c.state.in_([TaskState.SUCCEEDED.value, TaskState.DEAD.value]),
            )
            for r in conn.execute(
                self._scoped(q, tenant_id).group_by(literal_column("b"), tasks.c.state)
            ):
                points[int(r.b)][str(r.state)] += int(r.n)
            b = self._bucket(task_attempts.c.finished_at, bucket_s).label("b")
            q = select(b, func.count().label("n")).where(
                task_attempts.c.finished_at >= since,
                task_attempts.c.outcome.in_(FAILED_OUTCOMES),
            )
            if tenant_id is not None:
                q = q.select_from(
                    task_attempts.join(tasks, tasks.c.id == task_attempts.c.task_id)
                ).where(tasks.c.tenant_id == tenant_id)
            for r in conn.execute(q.group_by(literal_column("b"))):
                points[int(r.b)]["failed"] += int(r.n)
            first = int(since.timestamp()) // bucket_s
            last = int(until.timestamp()) // bucket_s
            last = max([last, *points.keys()])
            return [
                ThroughputPoint(
                    t=datetime.fromtimestamp(k * bucket_s, UTC),
                    submitted=points[k]["submitted"] if k in points else 0,
                    succeeded=points[k]["succeeded"] if k in points else 0,
                    failed=points[k]["failed"] if k in points else 0,
                    dead=points[k]["dead"] if k in points else 0,
                )
                for k in range(first, last + 1)
            ]

        return self.read_tx(work, timeout_s=self.read_timeout_s)

    def breakdown(self, *, since: datetime, by: str, tenant_id: int | None) -> list[BreakdownRow]:
        """Tasks active now or created in the window, by ``type`` or ``tenant``: the
        active ones from the maintained counts, the finished ones from the window."""
        active = [s.value for s in states.ACTIVE_STATES]
        key_col = tasks.c.type if by == "type" else tasks.c.tenant_id

        def work(conn: Connection) -> list[BreakdownRow]:
            counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            failed: dict[str, int] = {}
            names = {
                int(r.id): str(r.name) for r in conn.execute(select(tenants.c.id, tenants.c.name))
            }

            def key(value: Any) -> str:
                return str(value) if by == "type" else names.get(int(value), f"#{value}")

            q = select(key_col.label("k"), tasks.c.state, func.count().label("n")).where(
                tasks.c.created_at >= since, tasks.c.state.not_in(active)
            )
            for r in conn.execute(self._scoped(q, tenant_id).group_by(key_col, tasks.c.state)):
                counts[key(r.k)][str(r.state)] += int(r.n)
            now = active_counts.read(conn, tenant_id=tenant_id)
            for (k, state), n in active_counts.by(now, 1 if by == "type" else 0).items():
                counts[key(k)][state] += n
            failing = (
                select(key_col.label("k"), func.count().label("n"))
                .select_from(task_attempts.join(tasks, tasks.c.id == task_attempts.c.task_id))
                .where(
                    task_attempts.c.finished_at >= since,
                    task_attempts.c.outcome.in_(FAILED_OUTCOMES),
                )
            )
            for r in conn.execute(self._scoped(failing, tenant_id).group_by(key_col)):
                failed[key(r.k)] = int(r.n)
            runs: dict[str, list[float]] = defaultdict(list)
            for r in self._sample(conn, since, tenant_id):
                k = key(r.type if by == "type" else r.tenant_id)
                runs[k].append((r.finished_at - r.started_at).total_seconds() * 1000)
            out = []
            for k in sorted(counts.keys() | runs.keys() | failed.keys()):
                p = percentiles(runs.get(k, []))
                out.append(
                    BreakdownRow(
                        key=k,
                        counts=dict(counts.get(k, {})),
                        failed_attempts=failed.get(k, 0),
                        p50_run_ms=p.p50,
                        p95_run_ms=p.p95,
                    )
                )
            return out

        return self.read_tx(work, timeout_s=self.read_timeout_s)
