"""``submit``: how fast the HTTP API accepts tasks.

``skiplock serve --role api`` (distributed: MariaDB + Redis, no workers, so nothing
competes for the rows) takes ``POST /api/tasks/batch`` with 1000 no-op tasks per request
from a few concurrent httpx clients, then single ``POST /api/tasks`` requests. A task
counts when its request answered 201 (the rows are committed by then). Bounded: each case
sends at most ``--batched-tasks`` / ``--single-tasks`` and stops after ``--max-seconds``."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench import common, plots

TARGET = 5000.0


@dataclass(frozen=True)
class Case:
    name: str
    batch: int
    concurrency: int
    api_procs: int = 1


FULL_CASES = (
    Case("batch 1000, 1 client", batch=1000, concurrency=1),
    Case("batch 1000, 2 clients", batch=1000, concurrency=2),
    Case("batch 1000, 4 clients", batch=1000, concurrency=4),
    Case("batch 1000, 4 clients, 2 api procs", batch=1000, concurrency=4, api_procs=2),
    Case("single, 16 clients", batch=1, concurrency=16),
    Case("single, 32 clients, 2 api procs", batch=1, concurrency=32, api_procs=2),
)
QUICK_CASES = (
    Case("batch 1000, 2 clients", batch=1000, concurrency=2),
    Case("single, 16 clients", batch=1, concurrency=16),
)


def _body(batch: int) -> bytes:
    if batch == 1:
        return json.dumps({"type": "noop", "payload": {"n": 1}}).encode()
    return json.dumps(
        {"tasks": [{"type": "noop", "payload": {"n": i}} for i in range(batch)]}
    ).encode()


async def _drive(
    urls: list[str], case: Case, *, total: int, max_s: float, on_done: Any
) -> dict[str, Any]:
    body = _body(case.batch)
    path = "/api/tasks/batch" if case.batch > 1 else "/api/tasks"
    requests = max(1, total // case.batch)
    headers = {"Authorization": f"Bearer {common.ADMIN_KEY}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    next_request = 0
    deadline = time.perf_counter() + max_s
    limits = httpx.Limits(max_connections=case.concurrency * 2)

    async def client(index: int) -> None:
        nonlocal accepted, next_request
        base = urls[index % len(urls)]
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0) as http:
            while next_request < requests and time.perf_counter() < deadline:
                next_request += 1
                t0 = time.perf_counter()
                resp = await http.post(path, content=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if resp.status_code == 201:
                    accepted += case.batch
                    on_done(case.batch)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(case.concurrency)))
    wall = time.perf_counter() - started
    return {
        "case": case.name,
        "batch": case.batch,
        "concurrency": case.concurrency,
        "api_procs": case.api_procs,
        "accepted": accepted,
        "seconds": wall,
        "rate": accepted / wall if wall > 0 else 0.0,
        "statuses": statuses,
        "latency_ms_p50": common.percentile(latencies, 50),
        "latency_ms_p99": common.percentile(latencies, 99),
    }


def run_case(
    case: Case, *, total: int, max_s: float, progress: Any, label: str, quiet_s: float = 0.0
) -> dict[str, Any]:
    with (
        common.temp_database("submit") as database,
        common.redis_prefix("submit") as prefix,
        common.Stack() as stack,
    ):
        url = common.database_url(database)
        apis = [
            common.start_engine(
                stack, f"submit-api{i}", role="api", database_url=url, redis_prefix=prefix
            )
            for i in range(case.api_procs)
        ]
        # Warm up: the key cache, the connection pools, the first compiled statements.
        for api in apis:
            httpx.post(
                f"{api.url}/api/tasks",
                json={"type": "noop"},
                headers={"Authorization": f"Bearer {common.ADMIN_KEY}"},
                timeout=10,
            ).raise_for_status()
        before = common.wait_quiet(max_s=quiet_s) if quiet_s > 0 else None
        system = common.SystemCpu()
        bar = progress.add_task(label, total=total)
        cpu0 = [a.cpu_seconds() for a in apis]
        own0 = time.process_time()
        mysqld = common.mysqld_pid()
        db0 = common.proc_cpu_seconds(mysqld) if mysqld else 0.0
        try:
            res = asyncio.run(
                _drive(
                    [a.url for a in apis],
                    case,
                    total=total,
                    max_s=max_s,
                    on_done=lambda n: progress.advance(bar, n),
                )
            )
        finally:
            progress.remove_task(bar)
        api_cpu = sum(a.cpu_seconds() - c for a, c in zip(apis, cpu0, strict=True))
        res["api_cpu_pct"] = 100 * api_cpu / res["seconds"]
        res["api_cpu_ms_per_task"] = 1000 * api_cpu / max(1, res["accepted"])
        res["cpu_before_pct"] = before
        res["machine_busy_pct"] = system.busy_pct()
        res["client_cpu_pct"] = 100 * (time.process_time() - own0) / res["seconds"]
        res["mysqld_cpu_pct"] = (
            100 * (common.proc_cpu_seconds(mysqld) - db0) / res["seconds"] if mysqld else None
        )
        res["other_cpu_pct"] = (
            res["machine_busy_pct"]
            - res["api_cpu_pct"]
            - (res["mysqld_cpu_pct"] or 0.0)
            - res["client_cpu_pct"]
        )
        conn = common.mysql_connect(database)
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM tasks")
            stored = int(cur.fetchone()[0])  # type: ignore[index]
        conn.close()
        res["stored"] = stored - len(apis)  # minus the warm-up tasks
        return res


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=None, help="runs per case (3; quick: 1)")
    parser.add_argument(
        "--batched-tasks", type=int, default=50_000, help="tasks per batched case (at most)"
    )
    parser.add_argument(
        "--single-tasks", type=int, default=3_000, help="tasks per single-request case"
    )
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time bound per case")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each case, wait up to this many seconds for an idle machine (0: no)",
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    runs = args.runs or (1 if args.quick else 3)
    cases = QUICK_CASES if args.quick else FULL_CASES
    batched = 20_000 if args.quick else args.batched_tasks
    single = 1_000 if args.quick else args.single_tasks
    results: list[dict[str, Any]] = []
    with common.progress() as progress:
        overall = progress.add_task("submit cases", total=runs * len(cases))
        for run in range(runs):
            for case in cases:
                total = batched if case.batch > 1 else single
                res = run_case(
                    case,
                    total=total,
                    max_s=args.max_seconds,
                    progress=progress,
                    label=f"{case.name} (run {run + 1})",
                    quiet_s=0.0 if args.quick else args.quiet_wait,
                )
                res["run"] = run
                results.append(res)
                console.log(
                    f"{case.name}: {res['rate']:,.0f} tasks/s, request p50 "
                    f"{res['latency_ms_p50']:.1f} ms p99 {res['latency_ms_p99']:.1f} ms, "
                    f"statuses {res['statuses']}, stored {res['stored']:,}"
                )
                progress.advance(overall)
    summary = []
    for case in cases:
        rs = [r for r in results if r["case"] == case.name]
        rate = common.Spread([r["rate"] for r in rs])
        summary.append(
            {
                "config": case.name,
                "rate": rate.as_dict(),
                "rate_text": rate.fmt(),
                "latency_ms_p50": common.Spread([r["latency_ms_p50"] for r in rs]).mean,
                "latency_ms_p99": common.Spread([r["latency_ms_p99"] for r in rs]).mean,
                "api_cpu_pct": common.Spread([r["api_cpu_pct"] for r in rs]).mean,
                "api_cpu_ms_per_task": common.Spread(
                    [r.get("api_cpu_ms_per_task", float("nan")) for r in rs]
                ).mean,
                "mysqld_cpu_pct": common.Spread(
                    [r["mysqld_cpu_pct"] for r in rs if r["mysqld_cpu_pct"] is not None]
                ).mean,
                "non_201": sum(n for r in rs for s, n in r["statuses"].items() if s != 201),
            }
        )
    table = Table(title=f"HTTP submission (target ≥ {TARGET:,.0f} tasks/s batched)")
    for col in (
        "case",
        "tasks/s: mean (min–max, n)",
        "req p50 ms",
        "req p99 ms",
        "api CPU %",
        "mysqld CPU %",
        "non-201",
    ):
        table.add_column(col, justify="left" if col == "case" else "right")
    for row in summary:
        table.add_row(
            row["config"],
            row["rate_text"],
            f"{row['latency_ms_p50']:.1f}",
            f"{row['latency_ms_p99']:.1f}",
            f"{row['api_cpu_pct']:.0f}",
            f"{row['mysqld_cpu_pct']:.0f}",
            str(row["non_201"]),
        )
    console.print(table)
    data = {"runs": runs, "target": TARGET, "results": results, "summary": summary}
    path = common.write_result("submit", data)
    image = plots.submit(summary, target=TARGET, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data
