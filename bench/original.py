"""``original``: the workload the original (Go) system published its numbers for.

N identical instances (``skiplock serve``, all roles, 4 worker slots each) share one
MariaDB database and one Redis. One burst of tasks is submitted at once through the first
instance's ``POST /api/tasks/batch``; each task is ``async_sleep`` for a duration drawn
uniformly from 0.6–3.0 s (mean 1.8 s, the original's simulated handlers), the same seeded
draw in every run.

Reported, from the tasks' own timestamps in the database:

- steady throughput: tasks completed per second while the queue was still non-empty
  (from the first start to the last claim), counting each task by the share of its run
  inside that window; against the ideal ``slots / mean handler time`` (12 / 1.8 = 6.67/s);
- burst throughput: the burst size over first submission → last completion (includes the
  ramp-down when the queue is empty and slots fall idle, as the original's figure did);
- scaling 1 → 3 instances, and the mean queue wait (started_at − created_at) of the same
  burst on 4 slots vs 12 slots."""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench import common, plots

SLOTS_PER_INSTANCE = 4
MIN_S, MAX_S = 0.6, 3.0
ORIGINAL = {"throughput_3": 4.6, "scaling": 2.5, "wait_4": 53.7, "wait_12": 19.0}
TARGET_EFFICIENCY = 0.95
TARGET_SCALING = 2.85


def durations(count: int, *, seed: int = 1800) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.uniform(MIN_S, MAX_S), 3) for _ in range(count)]


def _ts(value: datetime) -> float:
    return value.timestamp()


def run_burst(
    instances: int, burst: int, *, timeout_s: float, progress: Any, label: str, quiet_s: float
) -> dict[str, Any]:
    """Start ``instances`` engines, submit one burst, wait for it, read the timestamps."""
    seconds = durations(burst)
    with (
        common.temp_database("orig") as database,
        common.redis_prefix("orig") as prefix,
        common.Stack() as stack,
    ):
        url = common.database_url(database)
        procs = [
            common.start_engine(
                stack,
                f"original-i{i}",
                role="all",
                database_url=url,
                redis_prefix=prefix,
                workers=SLOTS_PER_INSTANCE,
            )
            for i in range(instances)
        ]
        before = common.wait_quiet(max_s=quiet_s) if quiet_s > 0 else None
        system = common.SystemCpu()
        body = {"tasks": [{"type": "async_sleep", "payload": {"seconds": s}} for s in seconds]}
        resp = httpx.post(
            f"{procs[0].url}/api/tasks/batch",
            json=body,
            headers={"Authorization": f"Bearer {common.ADMIN_KEY}"},
            timeout=30,
        )
        if resp.status_code != 201:
            raise common.BenchError(f"batch submit answered {resp.status_code}: {resp.text}")
        bar = progress.add_task(label, total=burst)
        conn = common.mysql_connect(database, autocommit=True)
        cur = conn.cursor()
        done = 0
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for p in procs:
                    if not p.alive():
                        raise common.BenchError(f"{p.name} exited:\n{p.tail()}")
                cur.execute("SELECT COUNT(*) FROM tasks WHERE finished_at IS NOT NULL")
                done = int(cur.fetchone()[0])  # type: ignore[index]
                progress.update(bar, completed=done)
                if done >= burst:
                    break
                time.sleep(0.25)
            busy = system.busy_pct()
            cur.execute(
                "SELECT id, state, attempt, created_at, started_at, finished_at FROM tasks "
                "ORDER BY id"
            )
            rows = cur.fetchall()
        finally:
            conn.close()
            progress.remove_task(bar)
        if done < burst:
            raise common.BenchError(f"only {done}/{burst} tasks finished in {timeout_s:.0f} s")
    slots = instances * SLOTS_PER_INSTANCE
    created = [_ts(r[3]) for r in rows]
    started = [_ts(r[4]) for r in rows]
    finished = [_ts(r[5]) for r in rows]
    window_start, window_end = min(started), max(started)
    window = window_end - window_start
    # Each task counts by the share of its run that falls inside the saturated window.
    share = 0.0
    for s, f in zip(started, finished, strict=True):
        overlap = max(0.0, min(f, window_end) - max(s, window_start))
        share += overlap / (f - s) if f > s else 0.0
    mean_handler = sum(seconds) / len(seconds)
    ideal = slots / mean_handler
    steady = share / window if window > 0 else float("nan")
    waits = [s - c for s, c in zip(started, created, strict=True)]
    overheads = [(f - s) - d for s, f, d in zip(started, finished, seconds, strict=True)]
    return {
        "instances": instances,
        "slots": slots,
        "burst": burst,
        "mean_handler_s": mean_handler,
        "ideal": ideal,
        "steady_throughput": steady,
        "efficiency": steady / ideal,
        "burst_throughput": burst / (max(finished) - min(created)),
        "makespan_s": max(finished) - min(created),
        "wait_mean_s": sum(waits) / len(waits),
        "wait_max_s": max(waits),
        "run_overhead_ms_p50": 1000 * common.percentile(overheads, 50),
        "run_overhead_ms_p99": 1000 * common.percentile(overheads, 99),
        "succeeded": sum(1 for r in rows if r[1] == "succeeded"),
        "extra_attempts": sum(int(r[2]) - 1 for r in rows),
        "machine_busy_pct": busy,
        "cpu_before_pct": before,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=None, help="runs per size (2; quick: 1)")
    parser.add_argument(
        "--burst", type=int, default=None, help="tasks per burst (full: 120; quick: 36)"
    )
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per burst at most")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each burst, wait up to this many seconds for an idle machine (0: no)",
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    runs = args.runs or (1 if args.quick else 2)
    burst = args.burst or (36 if args.quick else 120)
    results: list[dict[str, Any]] = []
    with common.progress() as progress:
        overall = progress.add_task("original workload", total=runs * 2)
        for run in range(runs):
            for instances in (1, 3):
                res = run_burst(
                    instances,
                    burst,
                    timeout_s=args.timeout,
                    progress=progress,
                    label=f"{instances} instance(s) × 4 slots, run {run + 1}",
                    quiet_s=0 if args.quick else args.quiet_wait,
                )
                res["run"] = run
                results.append(res)
                console.log(
                    f"{instances} × 4 slots: steady {res['steady_throughput']:.2f}/s "
                    f"({100 * res['efficiency']:.1f} % of {res['ideal']:.2f}), burst "
                    f"{res['burst_throughput']:.2f}/s, mean wait {res['wait_mean_s']:.1f} s"
                )
                progress.advance(overall)
    scaling = []
    for instances in (1, 3):
        rs = [r for r in results if r["instances"] == instances]
        scaling.append(
            {
                "instances": instances,
                "slots": instances * SLOTS_PER_INSTANCE,
                "ideal": rs[0]["ideal"],
                "throughput": common.Spread([r["steady_throughput"] for r in rs]).as_dict(),
                "efficiency": common.Spread([r["efficiency"] for r in rs]).as_dict(),
                "burst_throughput": common.Spread([r["burst_throughput"] for r in rs]).as_dict(),
            }
        )
    one = [r["steady_throughput"] for r in results if r["instances"] == 1]
    three = [r["steady_throughput"] for r in results if r["instances"] == 3]
    ratios = common.Spread([t / o for o, t in zip(one, three, strict=True)])
    waits = [
        {
            "slots": instances * SLOTS_PER_INSTANCE,
            "burst": burst,
            "wait_s": common.Spread(
                [r["wait_mean_s"] for r in results if r["instances"] == instances]
            ).as_dict(),
        }
        for instances in (1, 3)
    ]
    table = Table(title=f"original workload: bursts of {burst} tasks, handlers 0.6–3.0 s")
    for col in (
        "instances × slots",
        "steady tasks/s",
        "% of ideal",
        "burst tasks/s",
        "mean queue wait s",
        "run overhead p50/p99 ms",
    ):
        table.add_column(col, justify="right")
    for instances in (1, 3):
        rs = [r for r in results if r["instances"] == instances]
        table.add_row(
            f"{instances} × 4",
            common.Spread([r["steady_throughput"] for r in rs]).fmt(2),
            common.Spread([100 * r["efficiency"] for r in rs]).fmt(1),
            common.Spread([r["burst_throughput"] for r in rs]).fmt(2),
            common.Spread([r["wait_mean_s"] for r in rs]).fmt(1),
            f"{common.Spread([r['run_overhead_ms_p50'] for r in rs]).mean:.1f} / "
            f"{common.Spread([r['run_overhead_ms_p99'] for r in rs]).mean:.1f}",
        )
    console.print(table)
    console.print(
        f"scaling 1 → 3 instances: {ratios.fmt(2, '×')} (target ≥ {TARGET_SCALING}×; "
        f"original {ORIGINAL['scaling']}×)"
    )
    data = {
        "runs": runs,
        "burst": burst,
        "handler_s": [MIN_S, MAX_S],
        "original": ORIGINAL,
        "results": results,
        "scaling": scaling,
        "scaling_ratio": ratios.as_dict(),
        "queue_wait": waits,
    }
    path = common.write_result("original", data)
    image = plots.original(data, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data
