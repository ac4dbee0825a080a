"""The database's own ceiling: a bare PyMySQL claim/complete loop over the engine's table.

Each client process repeats, until the queue is empty: ``SELECT id … ORDER BY priority
DESC, id LIMIT n FOR UPDATE SKIP LOCKED`` (the engine's claim index), ``UPDATE`` the rows
to running, commit, ``UPDATE`` them to succeeded, commit. No Python engine, no ORM, no
event loop: what is left is the server and the wire, so it bounds what any worker built
on this table can reach on this machine."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common

CLAIM = (
    "SELECT id FROM tasks FORCE INDEX (ix_tasks_claim) "
    "WHERE tenant_id = %s AND state = 'queued' "
    "ORDER BY priority DESC, id LIMIT %s FOR UPDATE SKIP LOCKED"
)


def _client(database: str, tenant_id: int, batch: int, isolation: str, start_at: float) -> dict:
    conn = common.mysql_connect(database, autocommit=False)
    cur = conn.cursor()
    cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation}")
    conn.commit()
    worker = f"ceiling-{id(conn)}"
    claim_ms: list[float] = []
    ids_seen: list[int] = []
    while time.time() < start_at:
        time.sleep(0.001)
    started = time.time()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        cur.execute(CLAIM, (tenant_id, batch))
        ids = [int(r[0]) for r in cur.fetchall()]
        if not ids:
            conn.commit()
            break
        marks = ",".join(["%s"] * len(ids))
        now = datetime.now(UTC).replace(tzinfo=None)
        cur.execute(
            "UPDATE tasks SET state = 'running', attempt = attempt + 1, lease_owner = %s, "
            f"lease_expires_at = %s, started_at = %s WHERE id IN ({marks})",
            (worker, now + timedelta(seconds=30), now, *ids),
        )
        conn.commit()
        claim_ms.append((time.perf_counter() - t0) * 1000)
        cur.execute(
            "UPDATE tasks SET state = 'succeeded', finished_at = %s, run_at = %s, "
            f"lease_owner = NULL, lease_expires_at = NULL WHERE id IN ({marks})",
            (now, now, *ids),
        )
        conn.commit()
        ids_seen += ids
    ended = time.time()
    conn.close()
    return {"started": started, "ended": ended, "ids": ids_seen, "claim_ms": claim_ms}


def run(database: str, *, procs: int, batch: int = 100, isolation: str = "READ COMMITTED") -> dict:
    """Drain every queued task of the default tenant with ``procs`` bare clients."""
    tenant_id = common.default_tenant_id(database)
    start_at = time.time() + 0.5
    with ProcessPoolExecutor(max_workers=procs) as pool:
        futures = [
            pool.submit(_client, database, tenant_id, batch, isolation, start_at)
            for _ in range(procs)
        ]
        parts: list[dict[str, Any]] = [f.result(timeout=330) for f in futures]
    all_ids = [i for p in parts for i in p["ids"]]
    wall = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    claim_ms = [x for p in parts for x in p["claim_ms"]]
    return {
        "procs": procs,
        "batch": batch,
        "isolation": isolation,
        "rows": len(all_ids),
        "duplicates": len(all_ids) - len(set(all_ids)),
        "seconds": wall,
        "rate": len(all_ids) / wall if wall > 0 else 0.0,
        "claim_ms_p50": common.percentile(claim_ms, 50),
        "claim_ms_p99": common.percentile(claim_ms, 99),
    }
