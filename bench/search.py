"""``search``: task search in payload and last error at 10^3 and 10^6 rows (issue 17).

Two databases are migrated with the engine's schema and bulk-loaded straight into
``tasks`` with PyMySQL multi-row INSERTs (the FULLTEXT index ix_tasks_search is dropped
for the load and built again after it, as migration 9 builds it, and timed): 10
tenants; 85 % succeeded, 10 % dead (with a last error), 5 % queued; every payload has a
unique 7-digit order number, a customer, a SKU and a three-word note, one note in five
holding "invoice"; one dead task in two failed with a ``TimeoutError``. Then, in this
process and through the engine's own store (``list_tasks`` with ``limit=50``, newest
first, and ``count_tasks`` capped at 10,000, as the API calls them), each query kind is
timed ``--samples`` times, kinds and sizes interleaved:

- ``rare``: one order number (one task), a different one each time
- ``none``: a word no task has
- ``common``: "invoice" (a fifth of the rows)
- ``everywhere``: "customer", a key of every payload (every row matches)
- ``error``: "timeouterror", from last_error (one row in 20)
- ``common+tenant+dead``: "invoice" with tenant= and state=dead
- ``rare+tenant``: one order number with its task's tenant
- ``error+dead``: "timeouterror" with state=dead, as the Dead letters page searches
- ``common+type``: "invoice" with one type (a fifth of the rows)
- ``count common`` / ``count rare``: GET /api/tasks/count's query for those

On MySQL/MariaDB a search first reads the next rows of the list, then the index only if
it must (engine/skiplock/adapters/sql/search_scan.py). The list kinds but the one in
every row are then timed in each order (``kind|order``: oldest first, by run time, by
finish time), ``--order-samples`` times. The same tables are then timed again with every
search answered by the index alone (no window), ``--index-samples`` times per case: what
the window saves. Last, SQLite (FTS5, kept by migration 9's triggers) is loaded with the
same rows in temporary files of ``--small`` and ``--sqlite-rows`` tasks (the load is
timed) and every case is timed ``--sqlite-samples`` times.

``--quick`` loads 20,000 rows instead of 10^6 and takes at most 10 samples (a smoke
test)."""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import common
from bench.scale import analyze, create_tenants, table_mib

COLS = (
    "tenant_id, type, state, priority, cost, attempt, attempt_base, max_attempts, timeout_s, "
    "payload, last_error, created_at, run_at, started_at, finished_at"
)
TYPES = ("send_email", "resize_image", "generate_report", "sync_inventory", "noop")
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sha", "dor", "bel")
HOSTS = [f"upstream-{n:02d}.internal" for n in range(50)]
ORDER_BASE = 1_000_000  # 7-digit order numbers: none is a prefix of another


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def _row(rng: random.Random, i: int, tenants: list[int], now: datetime) -> tuple[Any, ...]:
    created = now - timedelta(seconds=rng.uniform(0, 86_400))
    roll = rng.random()
    state = "succeeded" if roll < 0.85 else "dead" if roll < 0.95 else "queued"
    note = [_word(rng), _word(rng), _word(rng)]
    if rng.random() < 0.2:
        note[rng.randrange(3)] = "invoice"
    payload = (
        f'{{"customer":"{_word(rng).title()} {_word(rng).title()}",'
        f'"order":"ORD-{ORDER_BASE + i}","sku":"SKU-{rng.randrange(10_000):04d}",'
        f'"note":"{" ".join(note)}"}}'
    )
    error = None
    if state == "dead":
        error = (
            f"TimeoutError: {rng.choice(HOSTS)} did not answer after 30 s"
            if rng.random() < 0.5
            else f"ValueError: bad {_word(rng)} in field {_word(rng)}"
        )
    finished = None if state == "queued" else created + timedelta(seconds=rng.uniform(0.01, 3))
    return (
        tenants[i % len(tenants)],
        TYPES[i % len(TYPES)],
        state,
        0,
        1,
        0 if state == "queued" else (3 if state == "dead" else 1),
        0,
        3,
        300.0,
        payload,
        error,
        created,
        created,
        finished and created,
        finished,
    )


def load(database: str, tenants: list[int], count: int, *, seed: int, progress: Any) -> float:
    """Insert ``count`` rows (numbered from 0); returns rows/s, the index kept as it goes."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    conn = common.mysql_connect(database)
    bar = progress.add_task(f"loading {count:,} rows", total=count)
    t0 = time.perf_counter()
    done = 0
    marks = ", ".join(["%s"] * len(COLS.split(",")))
    with conn.cursor() as cur:
        while done < count:
            n = min(5000, count - done)
            rows = [_row(rng, done + j, tenants, now) for j in range(n)]
            cur.executemany(f"INSERT INTO tasks ({COLS}) VALUES ({marks})", rows)
            conn.commit()
            done += n
            progress.update(bar, completed=done)
    conn.close()
    progress.remove_task(bar)
    return count / (time.perf_counter() - t0)


def without_index(database: str) -> None:
    """Drop the search index before a bulk load: building it once afterwards is several
    times faster than keeping it row by row (the load rate with it is measured apart)."""
    conn = common.mysql_connect(database)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE tasks DROP INDEX ix_tasks_search")
        # Rebuild without the hidden FTS_DOC_ID column: MariaDB 10.11 keeps it after the
        # drop, and an index created again then misses every row inserted in between.
        cur.execute("ALTER TABLE tasks FORCE")
    conn.close()


def build_index(database: str) -> float:
    """Create the search index as migration 9 does; returns the seconds it took."""
    from skiplock.adapters.sql import create_store

    store = create_store(common.database_url(database))
    t0 = time.perf_counter()
    try:
        with store.engine.begin() as conn:
            store.dialect.create_search_index(conn)
    finally:
        store.close()
    return time.perf_counter() - t0


def recount(database: str) -> None:
    """Rebuild the maintained active counts, which a bulk load bypasses."""
    from skiplock.adapters.sql import create_store

    store = create_store(common.database_url(database))
    try:
        store.recount()
    finally:
        store.close()


class Searcher:
    """Runs one query kind against one database through the engine's store."""

    def __init__(self, url: str, rows: int, tenants: list[int], seed: int) -> None:
        from skiplock.adapters.sql import create_store

        self.store = create_store(url)
        self.rows = rows
        self.tenants = tenants
        self.rng = random.Random(seed)

    def run(self, case: str) -> int:
        """One query: ``case`` is a kind, listed newest first, or ``kind|order``."""
        from skiplock.domain.models import TaskFilter, TaskOrder
        from skiplock.domain.search import search_words
        from skiplock.domain.states import TaskState

        kind, _, order_text = case.partition("|")
        order = TaskOrder(order_text) if order_text else TaskOrder.CREATED_DESC

        nth = self.rng.randrange(self.rows)
        rare = str(ORDER_BASE + nth)
        owner = self.tenants[nth % len(self.tenants)]  # as _row hands out tenants
        text, extra, count = {
            "rare": (rare, {}, False),
            "none": ("zzqxnomatchword", {}, False),
            "common": ("invoice", {}, False),
            "everywhere": ("customer", {}, False),
            "error": ("timeouterror", {}, False),
            "common+tenant+dead": (
                "invoice",
                {"tenant_id": self.rng.choice(self.tenants), "states": (TaskState.DEAD,)},
                False,
            ),
            "rare+tenant": (rare, {"tenant_id": owner}, False),
            "error+dead": ("timeouterror", {"states": (TaskState.DEAD,)}, False),
            "common+type": ("invoice", {"types": (TYPES[0],)}, False),
            "count common": ("invoice", {}, True),
            "count rare": (rare, {}, True),
        }[kind]
        flt = TaskFilter(words=search_words(text), **extra)  # type: ignore[arg-type]
        if count:
            return self.store.count_tasks(flt, cap=10_000).n
        return len(self.store.list_tasks(flt, limit=50, cursor=None, order=order).items)

    def close(self) -> None:
        self.store.close()


@contextlib.contextmanager
def index_only() -> Iterator[None]:
    """Every search answered by the FULLTEXT index: no window, never "common"."""
    from skiplock.adapters.sql import search_scan

    saved = search_scan.WINDOW, search_scan.COMMON_IN_WINDOW
    search_scan.WINDOW, search_scan.COMMON_IN_WINDOW = 0, 10**9
    try:
        yield
    finally:
        search_scan.WINDOW, search_scan.COMMON_IN_WINDOW = saved


def time_all(
    searchers: list[Searcher],
    sizes: list[int],
    samples: int,
    progress: Any,
    label: str,
    cases: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """Each case (by default each kind) ``samples`` times on each table, cases and sizes
    interleaved."""
    cases = cases or KINDS
    timings: dict[tuple[int, str], list[float]] = {(s, k): [] for s in sizes for k in cases}
    found: dict[tuple[int, str], list[int]] = {(s, k): [] for s in sizes for k in cases}
    bar = progress.add_task(label, total=samples * len(cases) * len(sizes))
    for _ in range(samples):
        for kind in cases:
            for size, searcher in zip(sizes, searchers, strict=True):
                t0 = time.perf_counter()
                n = searcher.run(kind)
                timings[(size, kind)].append((time.perf_counter() - t0) * 1000)
                found[(size, kind)].append(n)
                progress.advance(bar)
    progress.remove_task(bar)
    results: dict[str, dict[str, Any]] = {}
    for (size, kind), values in timings.items():
        results.setdefault(str(size), {})[kind] = {
            "p50_ms": common.percentile(values, 50),
            "p99_ms": common.percentile(values, 99),
            "min_ms": min(values),
            "max_ms": max(values),
            "found_min": min(found[(size, kind)]),
            "found_max": max(found[(size, kind)]),
        }
    return results


def show(
    console: Console,
    results: dict[str, Any],
    sizes: list[int],
    title: str,
    cases: tuple[str, ...] = (),
) -> None:
    table = Table(title=title)
    table.add_column("query")
    for size in sizes:
        table.add_column(f"{size:,} rows", justify="right")
        table.add_column("found", justify="right")
    for kind in cases or KINDS:
        cells: list[str] = [kind]
        for size in sizes:
            r = results[str(size)][kind]
            lo, hi = r["found_min"], r["found_max"]
            found = f"{lo}" + (f"-{hi}" if hi != lo else "")
            cells += [f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}", found]
        table.add_row(*cells)
    console.print(table)


# The list kinds timed in every order (the newest-first table above has them all).
ORDER_KINDS = (
    "rare",
    "none",
    "common",
    "error",
    "common+tenant+dead",
    "rare+tenant",
    "error+dead",
    "common+type",
)
ORDERS = ("-created", "created", "-run_at", "run_at", "-finished", "finished")
ORDER_CASES = tuple(f"{kind}|{order}" for order in ORDERS for kind in ORDER_KINDS)

KINDS = (
    "rare",
    "none",
    "common",
    "everywhere",
    "error",
    "common+tenant+dead",
    "rare+tenant",
    "error+dead",
    "common+type",
    "count common",
    "count rare",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small", type=int, default=1_000, help="rows of the small table")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large table")
    parser.add_argument("--samples", type=int, default=30, help="timings per kind and size")
    parser.add_argument(
        "--index-samples", type=int, default=5, help="timings per kind with the index alone"
    )
    parser.add_argument(
        "--order-samples", type=int, default=10, help="timings per kind, order and size"
    )
    parser.add_argument(
        "--sqlite-rows", type=int, default=1_000_000, help="rows of SQLite's large table (0: none)"
    )
    parser.add_argument(
        "--sqlite-samples", type=int, default=10, help="timings per case and size on SQLite"
    )
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="wait for an idle machine")


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    rows = min(args.rows, 20_000) if args.quick else args.rows
    samples = min(args.samples, 10) if args.quick else args.samples
    quiet = min(args.quiet_wait, 3.0) if args.quick else args.quiet_wait
    sizes = [args.small, rows]
    loads: dict[str, Any] = {}
    with common.Stack() as stack, common.progress() as progress:
        searchers: list[Searcher] = []
        for i, size in enumerate(sizes):
            database = stack.enter_context(common.temp_database(f"search{i}"))
            tenants = create_tenants(database, 10)
            without_index(database)
            rate = load(database, tenants, size, seed=i, progress=progress)
            index_s = build_index(database)
            console.log(f"search index over {size:,} rows built in {index_s:.1f} s")
            recount(database)
            analyze(database)
            loads[str(size)] = {
                "rows_per_s": rate,
                "index_build_s": index_s,
                "tasks_mib": table_mib(database),
            }
            console.log(f"loaded {size:,} rows at {rate:,.0f}/s ({table_mib(database):.0f} MiB)")
            searcher = Searcher(common.database_url(database), size, tenants, seed=i)
            stack.callback(searcher.close)
            searchers.append(searcher)
        cpu = common.wait_quiet(max_s=quiet) if quiet else None
        results = time_all(searchers, sizes, samples, progress, "timing (window, then index)")
        index_samples = min(args.index_samples, 2) if args.quick else args.index_samples
        order_samples = min(args.order_samples, 3) if args.quick else args.order_samples
        by_order = time_all(searchers, sizes, order_samples, progress, "timing orders", ORDER_CASES)
        with index_only():
            by_index = time_all(searchers, sizes, index_samples, progress, "timing (index only)")
            order_by_index = time_all(
                searchers, sizes, index_samples, progress, "timing orders (index)", ORDER_CASES
            )
        show(console, results, sizes, f"search latency, ms (p50 / p99 over {samples})")
        show(console, by_index, sizes, f"index alone, ms (p50 / p99 over {index_samples})")
        show(console, by_order, sizes, f"every order, ms (over {order_samples})", ORDER_CASES)
        show(
            console,
            order_by_index,
            sizes,
            f"every order, index alone, ms (over {index_samples})",
            ORDER_CASES,
        )
        sqlite = on_sqlite(args, stack, progress, console) if args.sqlite_rows else None
        data = {
            "sizes": sizes,
            "samples": samples,
            "index_samples": index_samples,
            "order_samples": order_samples,
            "cpu_before_pct": cpu,
            "load": loads,
            "results": results,
            "index_only": by_index,
            "orders": by_order,
            "orders_index_only": order_by_index,
            "sqlite": sqlite,
        }
        path = common.write_result("search-quick" if args.quick else "search", data)
    console.print(f"results: {path}")
    return data


def on_sqlite(
    args: argparse.Namespace, stack: common.Stack, progress: Any, console: Console
) -> dict[str, Any]:
    """Every case on SQLite files of ``--small`` and ``--sqlite-rows`` tasks (FTS5)."""
    import tempfile
    from pathlib import Path

    from bench import search_sqlite

    rows = min(args.sqlite_rows, 20_000) if args.quick else args.sqlite_rows
    samples = min(args.sqlite_samples, 2) if args.quick else args.sqlite_samples
    sizes = [args.small, rows]
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-search-")))
    searchers: list[Searcher] = []
    loads: dict[str, Any] = {}
    for i, size in enumerate(sizes):
        path = tmp / f"search{i}.db"
        url, tenants, seconds = search_sqlite.load(path, size, seed=i, progress=progress)
        mib = path.stat().st_size / 2**20
        loads[str(size)] = {"load_s": seconds, "rows_per_s": size / seconds, "file_mib": mib}
        console.log(f"SQLite: {size:,} rows loaded in {seconds:.1f} s ({mib:.0f} MiB)")
        searcher = Searcher(url, size, tenants, seed=i)
        stack.callback(searcher.close)
        searchers.append(searcher)
    cases = KINDS + ORDER_CASES
    results = time_all(searchers, sizes, samples, progress, "timing SQLite", cases)
    show(console, results, sizes, f"SQLite (FTS5), ms (p50 / p99 over {samples})", cases)
    return {"sizes": sizes, "samples": samples, "load": loads, "results": results}
