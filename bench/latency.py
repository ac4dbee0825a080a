"""``latency``: how long a task waits between submission and the start of its handler on an
idle system.

Sequential ``POST /api/tasks`` of no-op tasks, one at a time with a pause between them so
every submission finds the workers idle (parked on their wake-up signal, not polling).
Latency is the task's ``started_at`` (stamped by the worker at claim) minus its
``created_at`` (stamped by the API at insert), both from the database; the client-side
figure adds the HTTP request up to the insert. Modes:

- ``distributed``: one ``skiplock serve`` (all roles) on MariaDB + Redis; the wake-up goes
  through Redis pub/sub, as it would between instances;
- ``distributed-split``: an api process and a separate worker process, so the wake-up
  must cross processes through Redis;
- ``embedded``: one ``skiplock serve`` on SQLite with in-process wake-ups."""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import common, plots

TARGET_P50_MS = 10.0
TARGET_P99_MS = 50.0
MODES = ("distributed", "distributed-split", "embedded")


def _measure(
    api: common.Proc, *, samples: int, gap_s: float, progress: Any, label: str
) -> list[tuple[int, float, float]]:
    """Submit ``samples`` tasks one by one; returns (id, client send time, response time)."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    headers = {"Authorization": f"Bearer {common.ADMIN_KEY}", "Content-Type": "application/json"}
    body = json.dumps({"type": "noop"})
    out: list[tuple[int, float, float]] = []
    bar = progress.add_task(label, total=samples)
    try:
        for _ in range(3):  # warm-up: connections, key cache, compiled statements
            conn.request("POST", "/api/tasks", body=body, headers=headers)
            conn.getresponse().read()
        time.sleep(gap_s * 4)
        deadline = time.monotonic() + samples * (gap_s + 1.0) + 30
        for _ in range(samples):
            if time.monotonic() > deadline:
                break
            sent = time.time()
            conn.request("POST", "/api/tasks", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            answered = time.time()
            if resp.status != 201:
                raise common.BenchError(f"submit answered {resp.status}: {data[:200]!r}")
            out.append((int(json.loads(data)["id"]), sent, answered))
            progress.advance(bar)
            time.sleep(gap_s)
    finally:
        conn.close()
        progress.remove_task(bar)
    return out


def _wait_started(fetch: Any, ids: list[int], timeout_s: float = 30.0) -> dict[int, tuple]:
    deadline = time.monotonic() + timeout_s
    rows: dict[int, tuple] = {}
    while time.monotonic() < deadline:
        rows = fetch(ids)
        if len(rows) == len(ids) and all(r[1] is not None for r in rows.values()):
            return rows
        time.sleep(0.2)
    missing = [i for i in ids if i not in rows or rows[i][1] is None]
    raise common.BenchError(f"{len(missing)} tasks never started, e.g. {missing[:5]}")


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    # SQLite hands back text: "2026-11-28 08:00:00.123456" (UTC, naive).
    return datetime.fromisoformat(str(value) + "+00:00").timestamp()


def run_mode(mode: str, *, samples: int, gap_s: float, progress: Any) -> dict[str, Any]:
    with common.Stack() as stack:
        if mode == "embedded":
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-lat-")))
            url = f"sqlite:///{tmp}/skiplock.db"
            api = common.start_engine(
                stack, "latency-embedded", role="all", database_url=url, redis_prefix=None
            )

            def fetch(ids: list[int]) -> dict[int, tuple]:
                import sqlite3

                db = sqlite3.connect(f"{tmp}/skiplock.db")
                try:
                    marks = ",".join("?" * len(ids))
                    cur = db.execute(
                        f"SELECT id, started_at, created_at FROM tasks WHERE id IN ({marks})", ids
                    )
                    return {int(r[0]): (r[0], r[1], r[2]) for r in cur.fetchall()}
                finally:
                    db.close()

            return _collect(mode, api, fetch, samples=samples, gap_s=gap_s, progress=progress)
        database = stack.enter_context(common.temp_database("lat"))
        prefix = stack.enter_context(common.redis_prefix("lat"))
        url = common.database_url(database)
        if mode == "distributed":
            api = common.start_engine(
                stack, "latency-all", role="all", database_url=url, redis_prefix=prefix
            )
        else:
            api = common.start_engine(
                stack, "latency-api", role="api", database_url=url, redis_prefix=prefix
            )
            common.start_engine(
                stack, "latency-worker", role="worker", database_url=url, redis_prefix=prefix
            )
            time.sleep(1.0)  # the worker subscribes to wake-ups once it has started

        def fetch_mysql(ids: list[int]) -> dict[int, tuple]:
            conn = common.mysql_connect(database)
            try:
                with conn.cursor() as cur:
                    marks = ",".join(["%s"] * len(ids))
                    cur.execute(
                        f"SELECT id, started_at, created_at FROM tasks WHERE id IN ({marks})",
                        ids,
                    )
                    return {int(r[0]): r for r in cur.fetchall()}
            finally:
                conn.close()

        return _collect(mode, api, fetch_mysql, samples=samples, gap_s=gap_s, progress=progress)


def _collect(
    mode: str, api: common.Proc, fetch: Any, *, samples: int, gap_s: float, progress: Any
) -> dict[str, Any]:
    system = common.SystemCpu()
    sent = _measure(api, samples=samples, gap_s=gap_s, progress=progress, label=mode)
    busy = system.busy_pct()
    rows = _wait_started(fetch, [i for i, _, _ in sent])
    server_ms, client_ms, request_ms = [], [], []
    for task_id, t_sent, t_answered in sent:
        _, started, created = rows[task_id]
        server_ms.append(1000 * (_ts(started) - _ts(created)))
        client_ms.append(1000 * (_ts(started) - t_sent))
        request_ms.append(1000 * (t_answered - t_sent))
    return {
        "mode": mode,
        "samples": len(server_ms),
        "samples_ms": server_ms,
        "p50_ms": common.percentile(server_ms, 50),
        "p95_ms": common.percentile(server_ms, 95),
        "p99_ms": common.percentile(server_ms, 99),
        "max_ms": max(server_ms),
        "client_p50_ms": common.percentile(client_ms, 50),
        "client_p99_ms": common.percentile(client_ms, 99),
        "request_p50_ms": common.percentile(request_ms, 50),
        # The whole machine during the sampling, in % of one core; the system under test
        # itself is nearly idle, so this is mostly other load.
        "machine_busy_pct": busy,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples", type=int, default=None, help="submissions per mode (300; quick: 60)"
    )
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between submissions")
    parser.add_argument("--runs", type=int, default=None, help="runs per mode (2; quick: 1)")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, from {', '.join(MODES)}"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each mode, wait up to this many seconds for an idle machine (0: no)",
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    samples = args.samples or (60 if args.quick else 300)
    runs = args.runs or (1 if args.quick else 2)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            raise common.BenchError(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    results: list[dict[str, Any]] = []
    with common.progress() as progress:
        for run in range(runs):
            for mode in modes:
                before = (
                    common.wait_quiet(max_s=args.quiet_wait)
                    if args.quiet_wait and not args.quick
                    else None
                )
                res = run_mode(mode, samples=samples, gap_s=args.gap, progress=progress)
                res["run"] = run
                res["cpu_before_pct"] = before
                results.append(res)
                console.log(
                    f"{mode}: p50 {res['p50_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms, "
                    f"p99 {res['p99_ms']:.1f} ms (client-side p50 {res['client_p50_ms']:.1f})"
                )
    summary = []
    for mode in modes:
        rs = [r for r in results if r["mode"] == mode]
        summary.append(
            {
                "mode": mode,
                "samples_ms": [x for r in rs for x in r["samples_ms"]],
                **{
                    key: common.Spread([r[key] for r in rs]).as_dict()
                    for key in ("p50_ms", "p95_ms", "p99_ms", "client_p50_ms", "request_p50_ms")
                },
            }
        )
    table = Table(
        title=f"submit → start on an idle system, {samples} sequential submissions per run "
        f"(targets p50 ≤ {TARGET_P50_MS:.0f} ms, p99 ≤ {TARGET_P99_MS:.0f} ms)"
    )
    for col in ("mode", "p50 ms", "p95 ms", "p99 ms", "client-side p50 ms"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for mode in modes:
        rs = [r for r in results if r["mode"] == mode]
        table.add_row(
            mode,
            common.Spread([r["p50_ms"] for r in rs]).fmt(1),
            common.Spread([r["p95_ms"] for r in rs]).fmt(1),
            common.Spread([r["p99_ms"] for r in rs]).fmt(1),
            common.Spread([r["client_p50_ms"] for r in rs]).fmt(1),
        )
    console.print(table)
    data = {
        "samples": samples,
        "gap_s": args.gap,
        "runs": runs,
        "targets_ms": {"p50": TARGET_P50_MS, "p99": TARGET_P99_MS},
        "results": results,
        "modes": summary,
    }
    path = common.write_result("latency", data)
    image = plots.latency(data, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data
