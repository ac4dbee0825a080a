"""``schedules``: how late do schedule fires land, and what does firing cost?

N schedules (default 10,000) all tick every ``--every`` seconds (default 60) on the same
boundary — the worst case, every tick of every schedule due at once — while three
``skiplock serve --role maintenance`` processes fire them against one MariaDB database
(and one Redis). For ``--ticks`` ticks (default 3) after a warm-up tick:

- firing lag: a task's ``created_at`` minus its tick, over every fire (p50, p99, max);
- the maintenance role's CPU: each process's user+system CPU seconds over the window, in
  percent of one core;
- exactly once: every schedule fired every tick of the window once (the (schedule, tick)
  key makes a second fire impossible; a missing fire would show here).

``--soak`` instead runs one one-second schedule for a minute on three instances, killing
one with SIGKILL at 20 s and restarting it at 30 s, and checks each tick fired once (the
bounded CI variant is tests/integration/test_schedule_processes.py).

Quick mode (``make bench-smoke``): 500 schedules every 10 s, 2 ticks."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from bench import common

INSTANCES = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--schedules", type=int, default=10_000, help="how many schedules")
    p.add_argument("--every", type=int, default=60, help="every_s of each schedule")
    p.add_argument("--ticks", type=int, default=3, help="ticks measured per run")
    p.add_argument("--runs", type=int, default=3, help="repeated runs (spread)")
    p.add_argument("--soak", action="store_true", help="the one-minute SIGKILL run instead")


def _define(url: str, n: int, every_s: int) -> datetime:
    """Insert ``n`` schedules due at the next tick boundary (one multi-row insert: the
    benchmark measures firing, not creation); returns that first tick."""
    from skiplock.adapters.sql import create_store
    from skiplock.adapters.sql.schema import schedules
    from skiplock.domain.models import AnnouncedType

    store = create_store(url)
    try:
        now = datetime.now(UTC)
        store.announce_types([AnnouncedType("noop")], now=now)
        tenant_id = store.get_tenant(name="default").id
        # At least 15 s away, so the engines are up before the first tick.
        step = timedelta(seconds=every_s)
        first = datetime.fromtimestamp((now.timestamp() // every_s + 1) * every_s, UTC)
        while first - now < timedelta(seconds=15):
            first += step
        rows = [
            {
                "name": f"s{i:06d}",
                "tenant_id": tenant_id,
                "type": "noop",
                "payload": {"i": i},
                "cron": None,
                "every_s": every_s,
                "timezone": "UTC",
                "priority": 0,
                "cost": None,
                "max_attempts": None,
                "timeout_s": None,
                "catch_up": "all",
                "enabled": 1,
                "next_fire_at": first,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        with store.engine.begin() as conn:
            for start in range(0, n, 1000):
                conn.execute(insert(schedules), rows[start : start + 1000])
        return first
    finally:
        store.close()


def _lags(database: str, since: datetime, until: datetime) -> tuple[list[float], int, int]:
    """(lag seconds of each fire of a tick in [since, until), fires, distinct schedules)."""
    conn = common.mysql_connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TIMESTAMPDIFF(MICROSECOND, f.fire_at, t.created_at) / 1e6"
                " FROM schedule_fires f JOIN tasks t ON t.id = f.task_id"
                " WHERE f.fire_at >= %s AND f.fire_at < %s",
                (since.replace(tzinfo=None), until.replace(tzinfo=None)),
            )
            lags = [float(r[0]) for r in cur.fetchall()]
            cur.execute(
                "SELECT COUNT(DISTINCT schedule_id) FROM schedule_fires"
                " WHERE fire_at >= %s AND fire_at < %s",
                (since.replace(tzinfo=None), until.replace(tzinfo=None)),
            )
            row = cur.fetchone()
            distinct = int(row[0]) if row else 0
    finally:
        conn.close()
    return lags, len(lags), distinct


def _wait_until(at: datetime) -> None:
    while (left := (at - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


def run_once(args: argparse.Namespace, run: int) -> dict[str, Any]:
    every = args.every
    with common.Stack() as stack, common.temp_database("schedules") as database:
        url = common.database_url(database)
        prefix = stack.enter_context(common.redis_prefix("schedules"))
        first = _define(url, args.schedules, every)
        procs = [
            common.start_engine(
                stack,
                f"schedules-{run}-{k}",
                role="maintenance",
                database_url=url,
                redis_prefix=prefix,
                extra={"SKIPLOCK_SCHEDULE_GRACE_S": str(every)},
            )
            for k in range(INSTANCES)
        ]
        # Warm-up: the first tick (connections, caches); the window starts at the second.
        start = first + timedelta(seconds=every)
        end = start + timedelta(seconds=every * args.ticks)
        _wait_until(start)
        mysqld = common.mysqld_pid()
        cpu0 = [p.cpu_seconds() for p in procs]
        db0 = common.proc_cpu_seconds(mysqld) if mysqld else float("nan")
        busy = common.SystemCpu()
        t0 = time.monotonic()
        _wait_until(end)
        cpu1 = [p.cpu_seconds() for p in procs]
        db1 = common.proc_cpu_seconds(mysqld) if mysqld else float("nan")
        machine_pct = busy.busy_pct()
        wall = time.monotonic() - t0
        # Fires of the window's last tick may still be landing: wait for all of them.
        deadline = time.monotonic() + every
        lags, fires, distinct = _lags(database, start, end)
        while fires < args.schedules * args.ticks and time.monotonic() < deadline:
            time.sleep(1.0)
            lags, fires, distinct = _lags(database, start, end)
        cpu_pct = [100 * (b - a) / wall for a, b in zip(cpu0, cpu1, strict=True)]
        return {
            "fires": fires,
            "expected": args.schedules * args.ticks,
            "schedules_fired": distinct,
            "lag_p50_s": common.percentile(lags, 50),
            "lag_p99_s": common.percentile(lags, 99),
            "lag_max_s": max(lags, default=float("nan")),
            "cpu_pct_per_instance": cpu_pct,
            "cpu_pct_total": sum(cpu_pct),
            # mysqld serves every database on the machine: an upper bound for this run.
            "mysqld_cpu_pct": 100 * (db1 - db0) / wall,
            "machine_busy_pct": machine_pct,
            "window_s": wall,
        }


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    """One one-second schedule for a minute on three instances, one killed and restarted."""
    import httpx

    with common.Stack() as stack, common.temp_database("schedsoak") as database:
        url = common.database_url(database)
        prefix = stack.enter_context(common.redis_prefix("schedsoak"))
        extra = {"SKIPLOCK_MAINTENANCE_INTERVAL_S": "0.2", "SKIPLOCK_SCHEDULE_LEASE_S": "2"}

        def start(k: int) -> common.Proc:
            return common.start_engine(
                stack,
                f"schedsoak-{k}-{time.monotonic_ns()}",
                role="api,maintenance",
                database_url=url,
                redis_prefix=prefix,
                extra=extra,
            )

        procs = [start(k) for k in range(INSTANCES)]
        headers = {"Authorization": f"Bearer {common.ADMIN_KEY}"}
        with httpx.Client(base_url=procs[0].url, headers=headers, timeout=30) as c:
            r = c.post(
                "/api/schedules",
                json={"name": "soak", "type": "noop", "every_s": 1, "catch_up": "all"},
            )
            if r.status_code != 201:
                raise common.BenchError(f"create failed: {r.text}")
            t0 = time.monotonic()
            time.sleep(20)
            procs[1].popen.kill()  # SIGKILL
            time.sleep(10)
            procs[1] = start(1)
            time.sleep(max(0.0, 60 - (time.monotonic() - t0)))
            created = datetime.fromisoformat(r.json()["next_run_at"].replace("Z", "+00:00"))
            last = c.get("/api/schedules/soak").json()["last_run_at"]
            last_at = datetime.fromisoformat(last.replace("Z", "+00:00"))
        conn = common.mysql_connect(database)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT fire_at, COUNT(*) FROM schedule_fires f JOIN tasks t ON t.id = f.task_id"
                " WHERE fire_at <= %s GROUP BY fire_at",
                (last_at.replace(tzinfo=None),),
            )
            per_tick = {r[0].replace(tzinfo=UTC): int(r[1]) for r in cur.fetchall()}
            cur.execute("SELECT COUNT(*) FROM tasks")
            row = cur.fetchone()
            tasks = int(row[0]) if row else 0
        conn.close()
        expected = int((last_at - created).total_seconds()) + 1
        return {
            "ticks_expected": expected,
            "ticks_fired": len(per_tick),
            "ticks_fired_twice": sum(1 for n in per_tick.values() if n > 1),
            "tasks": tasks,
        }


def main(args: argparse.Namespace) -> None:
    console = Console()
    if args.soak:
        result = run_soak(args)
        console.print(result)
        common.write_result("schedules-soak", {"settings": vars(args), "result": result})
        if result["ticks_fired"] != result["ticks_expected"] or result["ticks_fired_twice"]:
            raise common.BenchError(f"a tick fired twice or not at all: {result}")
        return
    if args.quick:
        args.schedules, args.every, args.ticks, args.runs = 500, 10, 2, 1
    quiet = common.wait_quiet()
    results = [run_once(args, k) for k in range(args.runs)]
    spreads = {
        key: common.Spread([r[key] for r in results])
        for key in (
            "lag_p50_s",
            "lag_p99_s",
            "lag_max_s",
            "cpu_pct_total",
            "mysqld_cpu_pct",
            "machine_busy_pct",
        )
    }
    table = Table(title=f"{args.schedules} schedules every {args.every} s, {INSTANCES} instances")
    table.add_column("figure")
    table.add_column("mean (min–max, n)")
    table.add_row("firing lag p50", spreads["lag_p50_s"].fmt(2, " s"))
    table.add_row("firing lag p99", spreads["lag_p99_s"].fmt(2, " s"))
    table.add_row("firing lag max", spreads["lag_max_s"].fmt(2, " s"))
    table.add_row("maintenance CPU, 3 instances", spreads["cpu_pct_total"].fmt(1, " % of a core"))
    table.add_row("mysqld CPU (all its work)", spreads["mysqld_cpu_pct"].fmt(1, " % of a core"))
    table.add_row("machine busy (all work)", spreads["machine_busy_pct"].fmt(0, " %"))
    table.add_row("fires / expected", ", ".join(f"{r['fires']}/{r['expected']}" for r in results))
    console.print(table)
    path = common.write_result(
        "schedules",
        {
            "settings": vars(args) | {"instances": INSTANCES},
            "cpu_busy_before_pct": quiet,
            "runs": results,
            "summary": {k: s.as_dict() for k, s in spreads.items()},
        },
    )
    console.print(f"results: {path}")
    missing = [r for r in results if r["fires"] != r["expected"]]
    if missing:
        raise common.BenchError(f"fires missing in {len(missing)} run(s)")
