"""``cycle``: a worker's claim cycle measured at the store, with no worker around it.

In one process, on a throwaway MariaDB database: ``SqlTaskStore.complete_and_claim`` of
S finished tasks and a claim of S more, over and over, as a worker with S slots runs it
under a no-op drain. Reported per configuration: tasks/s, wall time per cycle, the
client's and mysqld's CPU per task (mysqld's includes whatever else it served) and the
driver's round trips per cycle (packets sent: statements, folded multi-statement
packets, the commit, any rollback the pool sends on return). It isolates the store's
share of a drain from the event loop, events and handlers."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pymysql
from rich.console import Console
from rich.table import Table

from bench import common


@contextmanager
def _round_trips() -> Iterator[list[int]]:
    sent = [0]
    real = pymysql.connections.Connection._execute_command

    def command(self: Any, cmd: int, sql: Any) -> Any:
        sent[0] += 1
        return real(self, cmd, sql)

    with patch.object(pymysql.connections.Connection, "_execute_command", command):
        yield sent


def one_run(slots: int, tasks: int) -> dict[str, Any]:
    from skiplock.adapters.sql import create_store
    from skiplock.domain.models import Completion, Outcome
    from skiplock.domain.states import Transition

    lease = timedelta(seconds=30)
    with common.temp_database("cycle") as db:
        url = common.database_url(db)
        common.enqueue_via_store(url, tasks + 2 * slots)
        store = create_store(url)
        try:
            tenant = store.get_tenant(name="default").id
            now = datetime.now(UTC)
            held = store.claim({tenant: slots}, worker="w:1", now=now, lease_until=now + lease)
            walls: list[float] = []
            done = 0
            mysqld = common.mysqld_pid()
            with _round_trips() as sent:
                db0 = common.proc_cpu_seconds(mysqld) if mysqld else 0.0
                cpu0, t0 = time.process_time(), time.perf_counter()
                while done < tasks:
                    now = datetime.now(UTC)
                    finished = [
                        Completion(c.id, c.attempt, Transition.SUCCEED, Outcome.SUCCEEDED, now)
                        for c in held
                    ]
                    started = time.perf_counter()
                    accepted, held = store.complete_and_claim(
                        finished, {tenant: slots}, worker="w:1", now=now, lease_until=now + lease
                    )
                    walls.append(time.perf_counter() - started)
                    done += len(accepted)
                cpu, total = time.process_time() - cpu0, time.perf_counter() - t0
                db_cpu = (common.proc_cpu_seconds(mysqld) - db0) if mysqld else None
                trips = sent[0]
        finally:
            store.close()
    return {
        "slots": slots,
        "tasks": done,
        "rate": done / total,
        "cycle_ms_p50": statistics.median(walls) * 1e3,
        "cycle_ms_mean": statistics.mean(walls) * 1e3,
        "client_cpu_ms_per_task": cpu / done * 1e3,
        # mysqld's CPU over the run, whatever else it served meanwhile.
        "mysqld_cpu_ms_per_task": None if db_cpu is None else db_cpu / done * 1e3,
        "round_trips_per_cycle": trips / len(walls),
        "load_1m": os.getloadavg()[0],
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slots", default="8,16", help="comma-separated tasks per cycle (8,16)")
    p.add_argument("--tasks", type=int, default=None, help="tasks per run (6000; quick: 1000)")
    p.add_argument("--runs", type=int, default=None, help="runs per slot count (3; quick: 1)")


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    tasks = args.tasks or (1000 if args.quick else 6000)
    runs = args.runs or (1 if args.quick else 3)
    results = []
    for _ in range(runs):
        for slots in (int(s) for s in args.slots.split(",")):
            res = one_run(slots, tasks)
            results.append(res)
            console.log(
                f"{slots} per cycle: {res['rate']:,.0f} tasks/s, cycle p50 "
                f"{res['cycle_ms_p50']:.2f} ms, client CPU {res['client_cpu_ms_per_task']:.3f}"
                f" ms/task, mysqld {res['mysqld_cpu_ms_per_task'] or 0:.3f} ms/task, "
                f"{res['round_trips_per_cycle']:.2f} round trips, load "
                f"{res['load_1m']:.2f}"
            )
    table = Table(title=f"store cycle, {tasks} tasks per run")
    columns = ("per cycle", "tasks/s", "cycle p50 ms", "client CPU ms/task", "mysqld CPU ms/task")
    for col in (*columns, "round trips"):
        table.add_column(col)
    for slots in sorted({r["slots"] for r in results}):
        rows = [r for r in results if r["slots"] == slots]

        def spread(key: str, digits: int, rows: list[dict[str, Any]] = rows) -> str:
            values = [r[key] for r in rows if r[key] is not None]
            if not values:
                return "–"
            mean = statistics.mean(values)
            return f"{mean:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"

        table.add_row(
            str(slots),
            spread("rate", 0),
            spread("cycle_ms_p50", 2),
            spread("client_cpu_ms_per_task", 3),
            spread("mysqld_cpu_ms_per_task", 3),
            spread("round_trips_per_cycle", 1),
        )
    console.print(table)
    data = {"tasks": tasks, "runs": runs, "results": results}
    path = common.write_result("cycle", data)
    console.print(f"results: {path}")
    return data
