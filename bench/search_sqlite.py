"""``search`` on SQLite (the embedded mode): the same rows as bench/search.py, loaded into
a temporary database file through migration 9's triggers, which keep the FTS5 table
``tasks_search`` row by row as the engine's own inserts do."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.search import COLS, _row

CHUNK = 5_000


def _stored(value: Any) -> Any:
    """A value as SQLAlchemy stores it in SQLite (datetimes as text, microseconds kept)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def load(path: Path, count: int, *, seed: int, progress: Any) -> tuple[str, list[int], float]:
    """A migrated SQLite database at ``path`` holding ``count`` tasks over 10 tenants;
    returns its URL, the tenant ids and the seconds the rows took to insert."""
    import random
    from datetime import UTC

    from skiplock.adapters.sql import create_store

    url = f"sqlite:///{path}"
    store = create_store(url)
    try:
        store.migrate()
        now = datetime.now(UTC)
        tenants = [
            store.create_tenant(f"scale-{i:04d}", weight=1, rate_limit=None, now=now).id
            for i in range(10)
        ]
    finally:
        store.close()
    rng = random.Random(seed)
    naive_now = now.replace(tzinfo=None)
    marks = ", ".join(["?"] * len(COLS.split(",")))
    bar = progress.add_task(f"loading {count:,} rows into SQLite", total=count)
    db = sqlite3.connect(path)
    t0 = time.perf_counter()
    done = 0
    while done < count:
        n = min(CHUNK, count - done)
        rows = [
            tuple(_stored(v) for v in _row(rng, done + j, tenants, naive_now)) for j in range(n)
        ]
        with db:
            db.executemany(f"INSERT INTO tasks ({COLS}) VALUES ({marks})", rows)
        done += n
        progress.update(bar, completed=done)
    seconds = time.perf_counter() - t0
    db.execute("ANALYZE")
    db.close()
    progress.remove_task(bar)
    store = create_store(url)
    try:
        store.recount()
    finally:
        store.close()
    return url, tenants, seconds
