"""Maintained counts of active tasks per (tenant, type, state).

Counting active rows with ``COUNT(*)`` costs a scan of every one of them: 1–3.5 s at 10^6
queued rows (bench/scale.py), far too slow for a dashboard and an operator that ask every
few seconds. So every transaction that moves a task into, out of or between active states
also adds its net change to ``task_counts``, in the same transaction: the counts are
exactly as consistent as the rows they describe, and reading them costs O(tenants × types).

Two rules keep the extra write cheap and deadlock-free on MySQL:

- it is the **last statement** of its transaction, so a counter row's lock is held only
  until the commit right after it, and a transaction holding one never waits for a task
  row;
- its rows are written in **sorted key order**, and each transaction picks one of
  ``SHARDS`` rows per key at random, so concurrent claimers and completers of one busy
  tenant rarely queue on the same row. Readers add the shards up.

Terminal states are not kept here: their figures are per time window and come from the
window indexes; the cleaner deletes terminal rows without touching any count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from skiplock.adapters.sql.dialect import dialect_of
from skiplock.adapters.sql.folding import Fold
from skiplock.adapters.sql.schema import task_counts, tasks
from skiplock.domain.states import ACTIVE_STATES, TaskState

# Rows per (tenant, type, state) on MySQL; SQLite has one writer at a time and needs one.
SHARDS = 8
ENGINE_SHARDS = range(SHARDS)
# A caller's own transaction (``skiplock.enqueue``) holds its counter row until a commit
# that may come long after: it writes rows of its own, so the engine's transactions
# (claims, completions) never wait for a caller's commit. Readers add every row up.
CALLER_SHARDS = range(SHARDS, 2 * SHARDS)
_ACTIVE = frozenset(s.value for s in ACTIVE_STATES)

Key = tuple[int, str, str]  # (tenant_id, type, state)


class Tally:
    """The net change one transaction makes to the active counts."""

    def __init__(self) -> None:
        self._delta: Counter[Key] = Counter()

    def add(self, tenant_id: int, type_: str, state: TaskState | str, n: int = 1) -> None:
        value = str(state)
        if value in _ACTIVE:
            self._delta[(int(tenant_id), str(type_), value)] += n

    def move(
        self, tenant_id: int, type_: str, source: TaskState | str, to: TaskState | str
    ) -> None:
        self.add(tenant_id, type_, source, -1)
        self.add(tenant_id, type_, to, +1)

    def changes(self) -> list[tuple[Key, int]]:
        return sorted((k, n) for k, n in self._delta.items() if n != 0)

    def apply(
        self, conn: Connection, *, shards: range = ENGINE_SHARDS, fold: Fold | None = None
    ) -> None:
        """Write the change as one statement. Only a unit of work calls this, as its
        transaction's last statement (``SqlBase.write``; ``skiplock.enqueue`` at the end
        of its part of a caller's transaction). ``shards`` are the counter rows it may
        pick from where the dialect spreads them; ``fold`` holds it for the unit's last
        packet."""
        changes = self.changes()
        if not changes:
            return
        dialect = dialect_of(conn)
        shard = dialect.count_shard(shards)
        rows = [
            {"tenant_id": t, "type": ty, "state": s, "shard": shard, "n": n}
            for (t, ty, s), n in changes
        ]
        dialect.add_counts(conn, rows, fold)


def read(conn: Connection, *, tenant_id: int | None = None) -> dict[Key, int]:
    """Active tasks now, per (tenant_id, type, state); keys with none are left out."""
    n = func.sum(task_counts.c.n).label("n")
    query = select(task_counts.c.tenant_id, task_counts.c.type, task_counts.c.state, n)
    if tenant_id is not None:
        query = query.where(task_counts.c.tenant_id == tenant_id)
    query = query.group_by(task_counts.c.tenant_id, task_counts.c.type, task_counts.c.state)
    out: dict[Key, int] = {}
    for row in conn.execute(query):
        if int(row.n):
            out[(int(row.tenant_id), str(row.type), str(row.state))] = int(row.n)
    return out


def by(counts: dict[Key, int], part: int) -> dict[tuple[object, str], int]:
    """Sum ``counts`` over (key part ``part``, state): 0 tenant, 1 type."""
    out: Counter[tuple[object, str]] = Counter()
    for key, n in counts.items():
        out[(key[part], key[2])] += n
    return dict(out)


def forget_tenants(conn: Connection, tenant_ids: Iterable[int]) -> None:
    conn.execute(delete(task_counts).where(task_counts.c.tenant_id.in_(list(tenant_ids))))


def rebuild(conn: Connection) -> int:
    """Recount from ``tasks``: for a migration, or after rows were written around the
    store (bulk loads). Exact when nothing else writes tasks meanwhile. Returns the
    number of active tasks."""
    conn.execute(delete(task_counts))
    active = sorted(_ACTIVE)
    counted = (
        select(
            tasks.c.tenant_id,
            tasks.c.type,
            tasks.c.state,
            func.count().label("n"),
        )
        .where(tasks.c.state.in_(active))
        .group_by(tasks.c.tenant_id, tasks.c.type, tasks.c.state)
    )
    found = [(int(r.tenant_id), str(r.type), str(r.state), int(r.n)) for r in conn.execute(counted)]
    rows = [{"tenant_id": t, "type": ty, "state": st, "shard": 0, "n": n} for t, ty, st, n in found]
    for start in range(0, len(rows), 1000):
        conn.execute(insert(task_counts), rows[start : start + 1000])
    return sum(n for *_, n in found)
