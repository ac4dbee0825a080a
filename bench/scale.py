"""``scale``: does a claim cost the same with 10^3 and 10^6 queued rows, 10 and 1,000
tenants (DESIGN §3.1: target within 1.5×)?

For each tenant count a dedicated database is migrated with the engine's schema
(``common.temp_database``), then queued rows are bulk-loaded straight into ``tasks`` with
PyMySQL ``executemany`` (multi-row INSERTs, created_at spread over the last 24 h). At 10^3
rows and again after topping up to 10^6 the benchmark times, in this process, the engine's
own store calls: ``store.ready_tenants()`` and ``store.claim({tenant: 10}, ...)`` for a
random tenant; after each claim the claimed rows are put back exactly as they were
(outside the timed part), so every claim sees the same table. Last, with 10^6 queued rows
plus ``--finished`` terminal rows (succeeded and dead, with attempt rows for the dead ones,
spread over the last 2 h), it times the analytics queries: analytics_summary, throughput,
breakdown (by type and by tenant) and queue_stats, for the last hour (``--skip-analytics``
leaves that part out).

By default everything runs on the shared MariaDB (``BENCH_MYSQL_*``). With
``--private-mariadb`` the run starts a throwaway mariadbd of its own
(``tests.services.PrivateMariaDB``, ``--buffer-pool`` as its
``innodb_buffer_pool_size``), points every connection at it and kills and deletes it at
the end, on an error and on Ctrl-C too. Such a run also warms the buffer pool before the
timing (``--warm-up table``, the default there): one full scan of every index of
``tasks``, the clustered one included, in every timed database, so a pool that can hold
the table holds it, as a server that has been serving the queue for a while would. The
JSON result records the server, its buffer pool size and the pool's state after the
warm-up."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import common, multitenant

TARGET_RATIO = 1.5
TASK_COLS = (
    "tenant_id, type, state, priority, cost, attempt, attempt_base, max_attempts, timeout_s, "
    "payload, created_at, run_at, started_at, finished_at"
)
TYPES = ("send_email", "resize_image", "generate_report", "sync_inventory", "noop")


def create_tenants(database: str, count: int) -> list[int]:
    conn = common.mysql_connect(database)
    now = datetime.now(UTC).replace(tzinfo=None)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO tenants (name, weight, state, created_at) VALUES (%s, 1, 'active', %s)",
            [(f"scale-{i:04d}", now) for i in range(count)],
        )
        cur.execute("SELECT id FROM tenants WHERE name LIKE 'scale-%%' ORDER BY id")
        ids = [int(r[0]) for r in cur.fetchall()]
    conn.commit()
    conn.close()
    return ids


def load_queued(
    database: str,
    tenants: list[int],
    count: int,
    *,
    seed: int,
    progress: Any,
    label: str,
    hot: bool = False,
) -> float:
    """Insert ``count`` queued rows, round-robin over ``tenants``; returns rows/s. With
    ``hot``, all ``count`` go to ``tenants[0]`` and every other tenant gets one more row
    (one tenant holds the backlog, the rest have a task each)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    conn = common.mysql_connect(database)
    t0 = time.perf_counter()
    chunk = 5000
    done = 0
    offset = rng.randrange(len(tenants))
    backlog = count

    def owner(j: int) -> int:
        if not hot:
            return tenants[(offset + j) % len(tenants)]
        return tenants[0] if j < backlog else tenants[1 + j - backlog]

    if hot:
        count += len(tenants) - 1
    bar = progress.add_task(label, total=count)
    with conn.cursor() as cur:
        while done < count:
            n = min(chunk, count - done)
            rows = []
            for i in range(n):
                created = now - timedelta(seconds=rng.uniform(0, 86_400))
                rows.append(
                    (
                        owner(done + i),
                        TYPES[(done + i) % len(TYPES)],
                        "queued",
                        rng.choice((0, 0, 0, 5)),
                        rng.randint(1, 5),
                        0,
                        0,
                        3,
                        300.0,
                        f'{{"n":{done + i}}}',
                        created,
                        created,
                        None,
                        None,
                    )
                )
            cur.executemany(
                f"INSERT INTO tasks ({TASK_COLS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            conn.commit()
            done += n
            progress.update(bar, completed=done)
    conn.close()
    progress.remove_task(bar)
    return count / (time.perf_counter() - t0)


def load_finished(
    database: str, tenants: list[int], count: int, *, seed: int, progress: Any
) -> float:
    """Terminal rows over the last 2 h: 90 % succeeded, 10 % dead with a failed attempt."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    conn = common.mysql_connect(database)
    bar = progress.add_task("finished rows", total=count)
    t0 = time.perf_counter()
    done = 0
    with conn.cursor() as cur:
        while done < count:
            n = min(2000, count - done)  # one INSERT statement, so lastrowid is its first id
            rows = []
            for i in range(n):
                created = now - timedelta(seconds=rng.uniform(0, 7200))
                started = created + timedelta(seconds=rng.uniform(0, 5))
                finished = started + timedelta(seconds=rng.uniform(0.01, 3))
                dead = rng.random() < 0.1
                rows.append(
                    (
                        rng.choice(tenants),
                        TYPES[(done + i) % len(TYPES)],
                        "dead" if dead else "succeeded",
                        0,
                        rng.randint(1, 5),
                        3 if dead else 1,
                        0,
                        3,
                        300.0,
                        "{}",
                        created,
                        created,
                        started,
                        finished,
                    )
                )
            cur.executemany(
                f"INSERT INTO tasks ({TASK_COLS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            first_id = int(cur.lastrowid)
            attempts = [
                (first_id + i, 3, "bench:scale", r[12], r[13], "failed", "simulated")
                for i, r in enumerate(rows)
                if r[2] == "dead"
            ]
            if attempts:
                cur.executemany(
                    "INSERT INTO task_attempts (task_id, attempt, worker, started_at, "
                    "finished_at, outcome, error) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    attempts,
                )
            conn.commit()
            done += n
            progress.update(bar, completed=done)
    conn.close()
    progress.remove_task(bar)
    return count / (time.perf_counter() - t0)


def analyze(database: str) -> None:
    conn = common.mysql_connect(database, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("ANALYZE TABLE tasks, task_attempts, tenants")
        cur.fetchall()
    conn.close()


def explain_claim(database: str, tenant_id: int) -> dict[str, Any]:
    import pymysql

    from skiplock.adapters.sql.queries import load

    sql = load("mysql.sql")["claim_select"].replace("FOR UPDATE SKIP LOCKED", "")
    sql = sql.replace(":tenant_id", str(tenant_id)).replace(":queued", "'queued'")
    sql = sql.replace(":n", "10").strip().rstrip(";")
    conn = common.mysql_connect(database, cursorclass=pymysql.cursors.DictCursor)
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + sql)
        plan = cur.fetchall()
    conn.close()
    return {k: plan[0].get(k) for k in ("key", "rows", "Extra", "type")} if plan else {}


class Timer:
    """Times ``store.ready_tenants()`` and ``store.claim({tenant: 10})`` on one database;
    each claim's rows are put back as they were, outside the timed part."""

    def __init__(
        self, database: str, tenants: list[int], *, seed: int, hot: int | None = None
    ) -> None:
        from skiplock.adapters.sql import create_store

        self.hot = hot  # claim this tenant every time, instead of a random one
        self.database = database
        self.tenants = tenants
        self.store = create_store(common.database_url(database))
        self.reset = common.mysql_connect(database, autocommit=True)
        self.rng = random.Random(seed)
        self.ready_ms: list[float] = []
        self.claim_ms: list[float] = []
        self.claimed_rows: list[int] = []
        self.ready_found: list[int] = []
        # InnoDB pages read from disk during each claim (a global counter, so other
        # clients of the server add a little noise): shows whether a slower claim reads
        # more rows or misses the buffer pool.
        self.disk_reads: list[int] = []
        self.exists_ms: list[float] = []
        for _ in range(3):  # warm the connection pool and the buffer pool
            self.store.ready_tenants()

    def _pool_reads(self) -> int:
        with self.reset.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")
            row = cur.fetchone()
        return int(row[1]) if row else 0

    def time_exists_probe(self) -> None:
        """The ready-tenant probe as it was before the fix: EXISTS, which MariaDB turns
        into a semi-join over every queued row."""
        from sqlalchemy import exists, select

        from skiplock.adapters.sql.schema import tasks, tenants

        stmt = select(tenants.c.id, tenants.c.weight).where(
            tenants.c.state != "paused",
            exists().where(tasks.c.tenant_id == tenants.c.id, tasks.c.state == "queued"),
        )
        t0 = time.perf_counter()
        with self.store.engine.connect() as conn:
            conn.execute(stmt).all()
            conn.rollback()
        self.exists_ms.append((time.perf_counter() - t0) * 1000)

    def one_round(self) -> None:
        t0 = time.perf_counter()
        found = self.store.ready_tenants()
        self.ready_ms.append((time.perf_counter() - t0) * 1000)
        self.ready_found.append(len(found))
        tenant = self.hot if self.hot is not None else self.rng.choice(self.tenants)
        now = datetime.now(UTC)
        reads = self._pool_reads()
        t0 = time.perf_counter()
        got = self.store.claim(
            {tenant: 10},
            worker="bench-scale:0000",
            now=now,
            lease_until=now + timedelta(seconds=30),
        )
        self.claim_ms.append((time.perf_counter() - t0) * 1000)
        self.disk_reads.append(self._pool_reads() - reads)
        self.claimed_rows.append(len(got))
        ids = [t.id for t in got]
        if ids:
            with self.reset.cursor() as cur:
                cur.execute(
                    "UPDATE tasks SET state = 'queued', attempt = 0, lease_owner = NULL, "
                    "lease_expires_at = NULL, started_at = NULL WHERE id IN %s",
                    (ids,),
                )
                cur.execute("DELETE FROM task_attempts WHERE task_id IN %s", (ids,))

    def result(self) -> dict[str, Any]:
        return {
            "ready_tenants_ms": _dist(self.ready_ms),
            "ready_tenants_found": max(self.ready_found),
            "claim_ms": _dist(self.claim_ms),
            "claimed_rows_mean": sum(self.claimed_rows) / len(self.claimed_rows),
            "disk_reads_per_claim": sum(self.disk_reads) / len(self.disk_reads),
            "disk_reads_max": max(self.disk_reads),
            "claims_without_disk_reads": sum(1 for r in self.disk_reads if r == 0),
            **({"exists_probe_ms": _dist(self.exists_ms)} if self.exists_ms else {}),
            "explain": explain_claim(self.database, self.tenants[0]),
        }

    def close(self) -> None:
        self.store.close()
        self.reset.close()


def time_interleaved(
    timers: list[Timer], *, iterations: int, progress: Any, label: str, exists_every: int = 0
) -> list[dict[str, Any]]:
    """Round-robin over the databases, so a burst of load elsewhere on the (shared)
    machine hits every configuration alike."""
    bar = progress.add_task(label, total=iterations)
    try:
        for i in range(iterations):
            for t in timers:
                t.one_round()
                if exists_every and i % exists_every == 0:
                    t.time_exists_probe()
            progress.advance(bar)
    finally:
        progress.remove_task(bar)
    return [t.result() for t in timers]


def _dist(values: list[float]) -> dict[str, float]:
    return {
        "p50": common.percentile(values, 50),
        "p95": common.percentile(values, 95),
        "max": max(values),
        "n": len(values),
    }


def time_analytics(
    database: str, tenants: list[int], *, repeats: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The analytics calls' timings, and the recount that first makes the maintained
    active counts match the bulk-loaded rows (the loader writes ``tasks`` directly, and
    the claim timer's put-backs move rows without counting)."""
    from skiplock.adapters.sql import create_store

    store = create_store(common.database_url(database), timeout_s=120)
    t0 = time.perf_counter()
    active = store.recount()
    recount = {"ms": (time.perf_counter() - t0) * 1000, "active_tasks": active}
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    calls = {
        "analytics_summary (all tenants, 1 h)": lambda: store.analytics_summary(
            since=since, tenant_id=None
        ),
        "analytics_summary (one tenant, 1 h)": lambda: store.analytics_summary(
            since=since, tenant_id=tenants[0]
        ),
        "throughput (1 h, 60 s buckets)": lambda: store.throughput(
            since=since, until=now, bucket_s=60, tenant_id=None
        ),
        "breakdown by type (1 h)": lambda: store.breakdown(since=since, by="type", tenant_id=None),
        "breakdown by tenant (1 h)": lambda: store.breakdown(
            since=since, by="tenant", tenant_id=None
        ),
        "queue_stats": lambda: store.queue_stats(now=now),
    }
    out: dict[str, Any] = {}
    try:
        for name, call in calls.items():
            call()  # warm
            ms = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                call()
                ms.append((time.perf_counter() - t0) * 1000)
            out[name] = _dist(ms)
        depth = sum(sum(d.counts.values()) for d in store.queue_stats(now=now))
        if depth != active:
            raise RuntimeError(f"queue_stats counts {depth} active tasks, the rows {active}")
    finally:
        store.close()
    return out, recount


def server_settings() -> dict[str, Any]:
    """What the reader needs to know about the server the run used."""
    conn = common.mysql_connect()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit, "
            "@@innodb_change_buffering"
        )
        row = cur.fetchone()
    conn.close()
    assert row is not None
    return {
        "host": common.MYSQL_HOST,
        "port": common.MYSQL_PORT,
        "version": row[0],
        "innodb_buffer_pool_size": int(row[1]),
        "innodb_buffer_pool_mib": int(row[1]) // (1024 * 1024),
        "innodb_flush_log_at_trx_commit": int(row[2]),
        "innodb_change_buffering": row[3],
    }


@contextlib.contextmanager
def mariadb_server(args: argparse.Namespace, console: Console) -> Iterator[dict[str, Any]]:
    """The server the run uses: the shared one, or (``--private-mariadb``) a throwaway
    mariadbd that every ``common.mysql_connect`` / ``common.database_url`` points at while
    the context is open. The private one is killed (its data is thrown away, so there is
    nothing to flush) and its temp dir deleted however the run ends."""
    if not args.private_mariadb:
        yield {"server": "shared", **server_settings()}
        return
    from tests.services import PrivateMariaDB

    db = PrivateMariaDB(buffer_pool_size=args.buffer_pool)
    saved = (common.MYSQL_PORT, common.MYSQL_USER, os.environ.get("BENCH_MYSQL_PASSWORD"))

    def restore() -> None:
        common.MYSQL_PORT, common.MYSQL_USER, password = saved
        if password is not None:
            os.environ["BENCH_MYSQL_PASSWORD"] = password

    with common.Stack() as stack:
        stack.callback(db.cleanup)  # runs last: removes the temp dir
        stack.callback(db.stop, kill=True)
        stack.callback(restore)
        console.log(f"starting a private mariadbd (buffer pool {args.buffer_pool}) in {db.root}")
        db.start()
        common.MYSQL_PORT, common.MYSQL_USER = db.port, "root"
        os.environ.pop("BENCH_MYSQL_PASSWORD", None)
        info = {"server": "private", "requested_buffer_pool": args.buffer_pool}
        yield info | server_settings()


def pool_status() -> dict[str, int]:
    """The buffer pool's page counts (16 KiB pages) and its disk-read counter."""
    conn = common.mysql_connect()
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_%'")
        status = {str(k): v for k, v in cur.fetchall()}
    conn.close()
    keys = ("pages_total", "pages_data", "pages_free", "pages_dirty", "reads")
    return {
        k: int(status[f"Innodb_buffer_pool_{k}"])
        for k in keys
        if f"Innodb_buffer_pool_{k}" in status
    }


def table_mib(database: str) -> float:
    """Approximate size of ``tasks`` (data + indexes, from the InnoDB statistics)."""
    conn = common.mysql_connect(database)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT data_length + index_length FROM information_schema.TABLES "
            "WHERE table_schema = %s AND table_name = 'tasks'",
            (database,),
        )
        row = cur.fetchone()
    conn.close()
    return round(int(row[0]) / 1024 / 1024, 1) if row else 0.0


@contextlib.contextmanager
def old_blocks_time(value: int | None) -> Iterator[int]:
    """Set ``innodb_old_blocks_time`` (global) while the context is open (None: leave it)."""
    conn = common.mysql_connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@innodb_old_blocks_time")
            row = cur.fetchone()
            before = int(row[0]) if row else 0
            if value is not None:
                cur.execute(f"SET GLOBAL innodb_old_blocks_time = {int(value)}")
        yield before
    finally:
        if value is not None:
            with conn.cursor() as cur:
                cur.execute(f"SET GLOBAL innodb_old_blocks_time = {before}")
        conn.close()


def warm_table(database: str) -> dict[str, Any]:
    """Read every page of ``tasks`` once: a full scan of each of its indexes
    (``COUNT(*) FORCE INDEX``, the clustered PRIMARY included)."""
    conn = common.mysql_connect(database, autocommit=True)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT index_name FROM information_schema.STATISTICS "
            "WHERE table_schema = %s AND table_name = 'tasks'",
            (database,),
        )
        indexes = sorted(str(r[0]) for r in cur.fetchall())
        for index in indexes:
            cur.execute(f"SELECT COUNT(*) FROM tasks FORCE INDEX (`{index}`)")
            cur.fetchall()
    conn.close()
    return {"indexes": indexes, "seconds": round(time.perf_counter() - t0, 1)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small", type=int, default=1000, help="queued rows, small case")
    parser.add_argument(
        "--large", type=int, default=1_000_000, help="queued rows, large case (quick: 30,000)"
    )
    parser.add_argument(
        "--tenants", default="10,1000", help="comma-separated tenant counts (one database each)"
    )
    parser.add_argument(
        "--finished",
        type=int,
        default=500_000,
        help="terminal rows added before the analytics timings (quick: 10,000)",
    )
    parser.add_argument("--iterations", type=int, default=300, help="timed calls (quick: 60)")
    parser.add_argument("--repeats", type=int, default=5, help="timed analytics calls each")
    parser.add_argument(
        "--exists-every",
        type=int,
        default=10,
        help="also time the pre-fix EXISTS ready-tenant probe every N rounds (0: never)",
    )
    parser.add_argument("--quiet-wait", type=float, default=20.0, help="idle wait before timing")
    parser.add_argument(
        "--layout",
        choices=("even", "hot"),
        default="even",
        help="even: queued rows round-robin over the tenants; hot: one tenant holds them "
        "all, every other tenant has one, and every timed claim is the hot tenant's",
    )
    parser.add_argument(
        "--skip-analytics",
        action="store_true",
        help="time the claim and ready_tenants only: no finished rows, no analytics timings",
    )
    parser.add_argument(
        "--private-mariadb",
        action="store_true",
        help="run on a throwaway mariadbd of its own (tests.services.PrivateMariaDB) instead "
        "of the shared server; it is killed and deleted at the end",
    )
    parser.add_argument(
        "--buffer-pool",
        default="1G",
        metavar="SIZE",
        help="innodb_buffer_pool_size of the --private-mariadb server (default: %(default)s)",
    )
    parser.add_argument(
        "--warm-up",
        choices=("none", "table"),
        default=None,
        help="before the timing, 'table' reads every index of tasks once in every timed "
        "database (default: table with --private-mariadb, none on the shared server)",
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    if args.quick:  # a smoke run must stay short on a busy machine
        args.quiet_wait = min(args.quiet_wait, 3.0)
    large = min(args.large, 30_000) if args.quick and args.large == 1_000_000 else args.large
    finished = (
        min(args.finished, 10_000) if args.quick and args.finished == 500_000 else (args.finished)
    )
    iterations = min(args.iterations, 60) if args.quick else args.iterations
    tenant_counts = [int(x) for x in args.tenants.split(",")]
    warm_up = args.warm_up or ("table" if args.private_mariadb else "none")
    with mariadb_server(args, console) as server:
        console.log(
            f"server: {server['server']} MariaDB {server['version']} on port {server['port']}, "
            f"buffer pool {server['innodb_buffer_pool_mib']} MiB"
        )
        return run(
            args,
            console,
            server=server,
            large=large,
            finished=finished,
            iterations=iterations,
            tenant_counts=tenant_counts,
            warm_up=warm_up,
        )


def run(
    args: argparse.Namespace,
    console: Console,
    *,
    server: dict[str, Any],
    large: int,
    finished: int,
    iterations: int,
    tenant_counts: list[int],
    warm_up: str,
) -> dict[str, Any]:
    configs = [(t, rows) for t in tenant_counts for rows in (args.small, large)]
    results: list[dict[str, Any]] = []
    analytics: dict[str, Any] = {}
    loads: list[dict[str, Any]] = []
    warm: dict[str, Any] = {"mode": warm_up}
    with common.Stack() as stack, common.progress() as progress:
        dbs: dict[tuple[int, int], tuple[str, list[int]]] = {}
        for i, (n_tenants, rows) in enumerate(configs):
            database = stack.enter_context(common.temp_database(f"scale{n_tenants}"))
            tenants = create_tenants(database, n_tenants)
            rate = load_queued(
                database,
                tenants,
                rows,
                seed=i,
                progress=progress,
                label=f"loading {rows:,} queued rows, {n_tenants} tenants",
                hot=args.layout == "hot",
            )
            loads.append({"tenants": n_tenants, "rows": rows, "rows_per_s": rate})
            console.log(f"loaded {rows:,} queued rows for {n_tenants} tenants at {rate:,.0f}/s")
            analyze(database)
            dbs[(n_tenants, rows)] = (database, tenants)
        sizes = {f"{t} tenants, {r} rows": table_mib(db) for (t, r), (db, _) in dbs.items()}
        warm["tasks_mib"] = sizes
        warm["pool_before"] = pool_status()
        if warm_up == "table":
            # InnoDB's LRU keeps pages a scan touches in its "old" 3/8 unless they are
            # used again innodb_old_blocks_time ms later (scan resistance), so a scan alone
            # would warm at most 3/8 of the pool. On our own server the warm-up sets it to
            # 0 (every re-read page is made young, as pages a busy queue keeps using are)
            # and puts it back before the timing; the shared server is left alone.
            with old_blocks_time(0 if server["server"] == "private" else None) as before:
                warm["scans"] = {
                    f"{t} tenants, {r} rows": warm_table(db) for (t, r), (db, _) in dbs.items()
                }
            warm["innodb_old_blocks_time"] = {"during": 0, "before_and_after": before}
            console.log(f"warm-up: read every index of tasks once; sizes in MiB: {sizes}")
        warm["pool_after"] = pool_status()
        cpu = common.wait_quiet(max_s=args.quiet_wait) if args.quiet_wait else None
        load_before = multitenant.load()
        timers = [
            Timer(db, ten, seed=i, hot=ten[0] if args.layout == "hot" else None)
            for i, (db, ten) in enumerate(dbs.values())
        ]
        try:
            timed = time_interleaved(
                timers,
                iterations=iterations,
                progress=progress,
                label="timing (interleaved)",
                exists_every=args.exists_every,
            )
        finally:
            for t in timers:
                t.close()
        load_after = multitenant.load()
        for (n_tenants, rows), res in zip(dbs, timed, strict=True):
            res |= {
                "tenants": n_tenants,
                "queued_rows": rows,
                "load": load_before,
                "load_after": load_after,
                "cpu_before_pct": cpu,
            }
            results.append(res)
            console.log(
                f"{rows:,} queued, {n_tenants} tenants: claim p50 "
                f"{res['claim_ms']['p50']:.2f} ms p95 {res['claim_ms']['p95']:.2f} ms; "
                f"ready_tenants p50 {res['ready_tenants_ms']['p50']:.2f} ms "
                f"p95 {res['ready_tenants_ms']['p95']:.2f} ms"
            )
        warm["pool_after_timing"] = pool_status()
        if not args.skip_analytics:
            analytics = analytics_part(
                args,
                console,
                progress,
                dbs,
                results,
                loads,
                n_tenants=tenant_counts[-1],
                large=large,
                finished=finished,
                iterations=iterations,
            )
        ratios = ratios_of(results, args.small, large)
        print_summary(console, results, ratios, analytics)
        data = {
            "small": args.small,
            "large": large,
            "iterations": iterations,
            "target_ratio": TARGET_RATIO,
            "server": server,
            "warm_up": warm,
            "analytics_skipped": args.skip_analytics,
            "layout": args.layout,
            "results": results,
            "ratios": ratios,
            "analytics": analytics,
            "bulk_load": loads,
        }
        # Written while the server is up, so the machine facts describe the server used.
        # A quick (smoke) run never replaces the full results the docs quote, nor does a
        # private-server run replace the shared server's scale-latest.json.
        name = "scale-private" if args.private_mariadb else "scale"
        name += "-hot" if args.layout == "hot" else ""
        path = common.write_result(f"{name}-quick" if args.quick else name, data)
    image = plot(
        results, analytics, quick=args.quick, private=args.private_mariadb or args.layout == "hot"
    )
    console.print(f"results: {path}\nplot: {image}")
    return data


def analytics_part(
    args: argparse.Namespace,
    console: Console,
    progress: Any,
    dbs: dict[tuple[int, int], tuple[str, list[int]]],
    results: list[dict[str, Any]],
    loads: list[dict[str, Any]],
    *,
    n_tenants: int,
    large: int,
    finished: int,
    iterations: int,
) -> dict[str, Any]:
    """Analytics (and the claim once more) at the largest size, with terminal rows."""
    database, tenants = dbs[(n_tenants, large)]
    rate = load_finished(database, tenants, finished, seed=99, progress=progress)
    loads.append({"tenants": n_tenants, "finished_rows": finished, "rows_per_s": rate})
    analyze(database)
    if args.quiet_wait:
        common.wait_quiet(max_s=args.quiet_wait)
    calls, recount = time_analytics(database, tenants, repeats=args.repeats)
    analytics: dict[str, Any] = {
        "queued_rows": large,
        "finished_rows": finished,
        "tenants": n_tenants,
        "load": multitenant.load(),
        "recount": recount,
        "calls": calls,
    }
    console.log(f"recount of {recount['active_tasks']:,} active tasks: {recount['ms']:.0f} ms")
    for name, d in analytics["calls"].items():
        console.log(f"{name}: p50 {d['p50']:.0f} ms, max {d['max']:.0f} ms")
    small_db, small_tenants = dbs[(n_tenants, args.small)]
    hot = args.layout == "hot"
    timers = [
        Timer(small_db, small_tenants, seed=7, hot=small_tenants[0] if hot else None),
        Timer(database, tenants, seed=8, hot=tenants[0] if hot else None),
    ]
    try:
        again = time_interleaved(
            timers, iterations=iterations, progress=progress, label="timing with finished rows"
        )
    finally:
        for t in timers:
            t.close()
    res = again[1] | {
        "tenants": n_tenants,
        "queued_rows": large,
        "finished_rows": finished,
        "load": multitenant.load(),
        "small_same_round": again[0],
    }
    results.append(res)
    return analytics


def ratios_of(results: list[dict[str, Any]], small: int, large: int) -> list[dict[str, Any]]:
    """Large vs small rows at the same tenant count, and 1000 vs 10 tenants at equal rows."""
    plain = {(r["tenants"], r["queued_rows"]): r for r in results if "finished_rows" not in r}
    out = []
    counts = sorted({t for t, _ in plain})
    for metric in ("claim_ms", "ready_tenants_ms"):
        for t in counts:
            if (t, small) in plain and (t, large) in plain:
                a, b = plain[(t, small)][metric], plain[(t, large)][metric]
                out.append(
                    {
                        "metric": metric,
                        "what": f"{large:,} vs {small:,} rows, {t} tenants",
                        "p50": b["p50"] / a["p50"],
                        "p95": b["p95"] / a["p95"],
                    }
                )
        if len(counts) >= 2:
            lo, hi = counts[0], counts[-1]
            for rows in (small, large):
                if (lo, rows) in plain and (hi, rows) in plain:
                    a, b = plain[(lo, rows)][metric], plain[(hi, rows)][metric]
                    out.append(
                        {
                            "metric": metric,
                            "what": f"{hi} vs {lo} tenants, {rows:,} rows",
                            "p50": b["p50"] / a["p50"],
                            "p95": b["p95"] / a["p95"],
                        }
                    )
    for r in out:
        r["within_target"] = r["p50"] <= TARGET_RATIO
    return out


def print_summary(
    console: Console,
    results: list[dict[str, Any]],
    ratios: list[dict[str, Any]],
    analytics: dict[str, Any],
) -> None:
    table = Table(title="claim and ready_tenants cost (ms, this process → MariaDB)")
    for col in (
        "queued rows",
        "tenants",
        "claim p50 / p95",
        "rows/claim",
        "ready_tenants p50 / p95",
        "old EXISTS probe p50",
        "disk reads / claim",
        "load1",
    ):
        table.add_column(col)
    for r in results:
        rows = f"{r['queued_rows']:,}" + (
            f" + {r['finished_rows']:,} finished" if "finished_rows" in r else ""
        )
        table.add_row(
            rows,
            str(r["tenants"]),
            f"{r['claim_ms']['p50']:.2f} / {r['claim_ms']['p95']:.2f}",
            f"{r['claimed_rows_mean']:.1f}",
            f"{r['ready_tenants_ms']['p50']:.2f} / {r['ready_tenants_ms']['p95']:.2f}",
            f"{r['exists_probe_ms']['p50']:.2f}" if "exists_probe_ms" in r else "-",
            f"{r.get('disk_reads_per_claim', 0):.1f}",
            str(r["load"]["load1"]),
        )
    console.print(table)
    t2 = Table(title=f"ratios (target ≤ {TARGET_RATIO}×)")
    for col in ("metric", "comparison", "p50 ratio", "p95 ratio"):
        t2.add_column(col)
    for r in ratios:
        t2.add_row(
            r["metric"],
            r["what"],
            f"{r['p50']:.2f}×" + (" ✓" if r["within_target"] else " ✗"),
            f"{r['p95']:.2f}×",
        )
    console.print(t2)
    if analytics:
        t3 = Table(
            title=f"analytics at {analytics['queued_rows']:,} queued + "
            f"{analytics['finished_rows']:,} finished rows, "
            f"{analytics['tenants']} tenants"
        )
        for col in ("call", "p50 ms", "max ms"):
            t3.add_column(col)
        for name, d in analytics["calls"].items():
            t3.add_row(name, f"{d['p50']:.0f}", f"{d['max']:.0f}")
        console.print(t3)


def plot(
    results: list[dict[str, Any]], analytics: dict[str, Any], *, quick: bool, private: bool
) -> Any:
    """docs/images/bench-scale.png for a full shared-server run with analytics; a quick,
    private-server or --skip-analytics run writes its figure under bench/results/."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), width_ratios=[1, 1.1])
    labels, p50, p95, r50, r95 = [], [], [], [], []
    for r in results:
        extra = "\n+finished" if "finished_rows" in r else ""
        labels.append(f"{r['queued_rows']:,} rows\n{r['tenants']} tenants{extra}")
        p50.append(r["claim_ms"]["p50"])
        p95.append(r["claim_ms"]["p95"])
        r50.append(r["ready_tenants_ms"]["p50"])
        r95.append(r["ready_tenants_ms"]["p95"])
    x = range(len(labels))
    w = 0.2
    ax1.bar([i - 1.5 * w for i in x], p50, w, label="claim p50", color="#3b6ea5")
    ax1.bar([i - 0.5 * w for i in x], p95, w, label="claim p95", color="#9cc0e6")
    ax1.bar([i + 0.5 * w for i in x], r50, w, label="ready_tenants p50", color="#e67e22")
    ax1.bar([i + 1.5 * w for i in x], r95, w, label="ready_tenants p95", color="#f5c28f")
    ax1.set_xticks(list(x), labels, fontsize=7)
    ax1.set_ylabel("ms per call")
    ax1.set_title("Claim of 10 and ready-tenant probe vs table size")
    ax1.legend(fontsize=7)
    if analytics:
        names = list(analytics["calls"])
        vals = [analytics["calls"][n]["p50"] for n in names]
        ax2.barh(range(len(names)), vals, color="#3b6ea5")
        ax2.set_yticks(range(len(names)), names, fontsize=8)
        ax2.invert_yaxis()
        for i, v in enumerate(vals):
            ax2.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
        ax2.set_xlabel("ms (p50)")
        ax2.set_title(
            f"Analytics at {analytics['queued_rows']:,} queued + "
            f"{analytics['finished_rows']:,} finished rows"
        )
    if quick or (analytics and not private):
        return multitenant.save_figure(fig, "scale", quick=quick)
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = common.RESULTS_DIR / f"bench-scale{'-private' if private else ''}-claims.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
