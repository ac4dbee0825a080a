"""``ratelimit``: is "at most L cost units in any W-second window" exact under load?

A tenant made with ``skiplock tenant create NAME --rate-limit L/W`` gets 8 concurrent
clients that ``POST /api/tasks`` with a random cost of 1–5, each paced well above the
limit (or flat out with ``--rps 0``), for 60 s (quick: 10 s). Modes: distributed (two
``skiplock serve --role api`` processes on one MariaDB database and one Redis, the clients
spread over both, so the Lua limiter must be atomic across instances) and embedded (one
``skiplock serve`` on SQLite with the in-process limiter).

From the stored tasks' server-side ``created_at``: the largest cost admitted in any
sliding window of W seconds (overshoot = that minus L; target 0) and the utilisation of
the allowed budget (the mean fullness of the window, sampled every 50 ms after the first
window; target ≥ 95 %). In distributed mode the limiter's own log in Redis (entries timed
by the Redis clock) is snapshotted during the run and checked the same way, since
``created_at`` is stamped a moment after admission and can shift an entry across a window
edge."""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.table import Table

from bench import common, multitenant

UTIL_TARGET = 0.95


@dataclass(frozen=True)
class Mode:
    name: str
    distributed: bool
    api_procs: int = 1


MODES = (
    Mode("distributed (Redis Lua), 2 api instances", distributed=True, api_procs=2),
    Mode("embedded (in-process limiter, SQLite)", distributed=False),
)


def create_tenant(url: str, name: str, rate_limit: str) -> str:
    """``skiplock tenant create NAME --rate-limit L/W``; returns the key (last line)."""
    env = common.engine_env(database_url=url, redis_prefix=None, port=0)
    out = subprocess.run(
        [*common.skiplock_command(), "tenant", "create", name, "--rate-limit", rate_limit],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=common.ROOT,
    )
    if out.returncode != 0:
        raise common.BenchError(f"tenant create failed: {out.stderr or out.stdout}")
    return out.stdout.strip().splitlines()[-1].strip()


async def drive(
    urls: list[str],
    key: str,
    *,
    clients: int,
    duration_s: float,
    rps: float,
    seed: int,
    on_tick: Any,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    statuses: dict[int, int] = {}
    admitted_cost = 0
    offered_cost = 0
    deadline = time.monotonic() + duration_s
    requests_cap = int(duration_s * 5000)  # a hard bound on the loop, whatever the pace
    sent = 0

    async def client(index: int) -> None:
        nonlocal admitted_cost, offered_cost, sent
        rng = random.Random(seed * 100 + index)
        interval = 1.0 / rps if rps > 0 else 0.0
        next_at = time.monotonic() + rng.uniform(0, interval)
        async with httpx.AsyncClient(base_url=urls[index % len(urls)], timeout=30.0) as http:
            while time.monotonic() < deadline and sent < requests_cap:
                if interval:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += interval
                cost = rng.randint(1, 5)
                sent += 1
                offered_cost += cost
                try:
                    resp = await http.post(
                        "/api/tasks", json={"type": "noop", "cost": cost}, headers=headers
                    )
                except httpx.HTTPError:
                    statuses[-1] = statuses.get(-1, 0) + 1
                    continue
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if resp.status_code == 201:
                    admitted_cost += cost

    async def ticker() -> None:
        start = time.monotonic()
        while time.monotonic() < deadline:
            on_tick(min(duration_s, time.monotonic() - start))
            await asyncio.sleep(0.25)

    t0 = time.monotonic()
    await asyncio.gather(ticker(), *(client(i) for i in range(clients)))
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "requests": sent,
        "request_rate": sent / (time.monotonic() - t0),
        "offered_cost": offered_cost,
        "admitted_cost_client": admitted_cost,
    }


class RedisLogRecorder:
    """Snapshots the limiter's sorted set every 0.5 s (entries live W seconds), so the
    union is every admission with its Redis-clock time."""

    def __init__(self, prefix: str, tenant_id: int) -> None:
        self.key = f"{{{prefix}:rl:tenant:{tenant_id}}}:log"
        self.client = redis.Redis.from_url(common.REDIS_URL, socket_timeout=5)
        self.entries: dict[bytes, float] = {}

    def snapshot(self) -> None:
        for member, score in self.client.zrange(self.key, 0, -1, withscores=True):
            self.entries[member] = score

    def events(self) -> list[tuple[float, int]]:
        return [(score / 1e6, int(m.rsplit(b":", 1)[1])) for m, score in self.entries.items()]

    def close(self) -> None:
        self.client.close()


def stored_events(url: str, tenant_id: int) -> list[tuple[float, int]]:
    from sqlalchemy import select

    from skiplock.adapters.sql import create_store
    from skiplock.adapters.sql.schema import tasks

    store = create_store(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(tasks.c.created_at, tasks.c.cost).where(tasks.c.tenant_id == tenant_id)
            ).all()
    finally:
        store.close()
    return [(multitenant.ts(r.created_at), int(r.cost)) for r in rows]


def tenant_id_of(url: str, name: str) -> int:
    from skiplock.adapters.sql import create_store

    store = create_store(url)
    try:
        return int(store.get_tenant(name=name).id)
    finally:
        store.close()


def window_curve(
    events: list[tuple[float, int]], *, window_s: float, until: float, step: float = 0.25
) -> list[tuple[float, int]]:
    """(seconds since the first event, cost in the trailing window) every ``step``."""
    ordered = sorted(events)
    if not ordered:
        return []
    first = ordered[0][0]
    out = []
    t = first
    while t <= until:
        total = sum(c for ts_, c in ordered if t - window_s < ts_ <= t)
        out.append((round(t - first, 3), total))
        t += step
    return out


def admission_lag(
    admitted: list[tuple[float, int]], stored: list[tuple[float, int]]
) -> dict[str, Any]:
    """created_at minus the Redis admission time, pairing the k-th admission with the k-th
    stored task in time order (approximate under concurrency, exact in distribution when
    the counts match). Both clocks are this machine's."""
    a = sorted(t for t, _ in admitted)
    b = sorted(t for t, _ in stored)
    if len(a) != len(b) or not a:
        return {"matched": False, "admitted": len(a), "stored": len(b)}
    lags = [(y - x) * 1000 for x, y in zip(a, b, strict=True)]
    return {
        "matched": True,
        "p50": common.percentile(lags, 50),
        "p99": common.percentile(lags, 99),
        "max": max(lags),
        "min": min(lags),
    }


def _steady(
    ordered: list[tuple[float, int]], first: float, limit: int, window_s: float, until: float
) -> float:
    k = int((until - first - window_s) // window_s)
    if k < 1:
        return float("nan")
    lo, hi = first + window_s, first + window_s + k * window_s
    return sum(c for t, c in ordered if lo <= t < hi) / (k * limit)


def window_stats(
    events: list[tuple[float, int]], *, limit: int, window_s: float, until: float
) -> dict[str, Any]:
    """Overshoot over any window, and mean window fullness after the first window."""
    if not events:
        return {"max_in_window": 0, "overshoot": 0, "utilisation": 0.0, "admitted_cost": 0}
    ordered = sorted(events)
    peak, _ = multitenant.max_in_window(ordered, window_s)
    # Lag-tolerant check: the same over windows 50 ms shorter than W.
    peak_short, _ = multitenant.max_in_window(ordered, window_s - 0.05)
    first = ordered[0][0]
    fullness: list[float] = []
    lo = hi = 0
    total = 0
    t = first + window_s
    while t <= until:
        while hi < len(ordered) and ordered[hi][0] <= t:
            total += ordered[hi][1]
            hi += 1
        while lo < hi and ordered[lo][0] <= t - window_s:
            total -= ordered[lo][1]
            lo += 1
        fullness.append(total / limit)
        t += 0.05
    admitted = sum(c for _, c in ordered)
    return {
        "admitted_cost": admitted,
        "admitted_tasks": len(ordered),
        "max_in_window": peak,
        "overshoot": max(0, peak - limit),
        "max_in_window_minus_50ms": peak_short,
        "utilisation": sum(fullness) / len(fullness) if fullness else float("nan"),
        "min_fullness": min(fullness) if fullness else float("nan"),
        # Cost admitted over the whole windows after the first one, against k × L.
        "budget_utilisation": _steady(ordered, first, limit, window_s, until),
    }


def run_mode(mode: Mode, args: argparse.Namespace, *, progress: Any, run: int) -> dict[str, Any]:
    limit, window = (int(x) for x in args.rate_limit.split("/"))
    duration = args.duration or (10.0 if args.quick else 60.0)
    tenant_name = f"rl{run}"
    tmp = Path(tempfile.mkdtemp(prefix="skiplock-bench-rl-"))
    try:
        with common.Stack() as stack:
            if mode.distributed:
                database = stack.enter_context(common.temp_database("rl"))
                prefix = stack.enter_context(common.redis_prefix("rl"))
                url = common.database_url(database)
            else:
                prefix = None
                url = f"sqlite:///{tmp / 'skiplock.db'}"
                common.migrate(url)
            key = create_tenant(url, tenant_name, args.rate_limit)
            tenant_id = tenant_id_of(url, tenant_name)
            procs = [
                common.start_engine(
                    stack,
                    f"rl-api{i}",
                    role="api" if mode.distributed else "all",
                    database_url=url,
                    redis_prefix=prefix,
                    wait=False,
                )
                for i in range(mode.api_procs)
            ]
            for p in procs:
                common.wait_healthy(p)
            recorder = RedisLogRecorder(prefix, tenant_id) if prefix else None
            if recorder:
                stack.callback(recorder.close)
            cpu_before = common.wait_quiet(max_s=args.quiet_wait) if args.quiet_wait else None
            load_before = multitenant.load()
            bar = progress.add_task(f"{mode.name} (run {run + 1})", total=duration)
            system = common.SystemCpu()

            async def with_recorder() -> dict[str, Any]:
                task = asyncio.create_task(
                    drive(
                        [p.url for p in procs],
                        key,
                        clients=args.clients,
                        duration_s=duration,
                        rps=args.rps,
                        seed=run,
                        on_tick=lambda s: progress.update(bar, completed=s),
                    )
                )
                while not task.done():
                    if recorder:
                        await asyncio.to_thread(recorder.snapshot)
                    await asyncio.sleep(0.5)
                return await task

            t_start = time.time()
            client = asyncio.run(with_recorder())
            t_end = time.time()
            if recorder:
                recorder.snapshot()
            busy = system.busy_pct()
            load_after = multitenant.load()
            progress.remove_task(bar)
            events = stored_events(url, tenant_id)
            db = window_stats(events, limit=limit, window_s=window, until=t_end)
            res: dict[str, Any] = {
                "mode": mode.name,
                "run": run,
                "limit": limit,
                "window_s": window,
                "duration_s": t_end - t_start,
                "clients": args.clients,
                "rps_per_client": args.rps,
                "client": client,
                "stored": db,
                "load_before": load_before,
                "load_after": load_after,
                "cpu_before_pct": cpu_before,
                "machine_busy_pct": busy,
            }
            if recorder:
                res["redis_log"] = window_stats(
                    recorder.events(), limit=limit, window_s=window, until=t_end
                )
                res["admission_lag_ms"] = admission_lag(recorder.events(), events)
            res["curve"] = window_curve(events, window_s=window, until=t_end)
            return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=None, help="runs per mode (2; quick: 1)")
    parser.add_argument(
        "--rate-limit",
        default=None,
        help="COST/SECONDS for the tenant (200/10; quick: 40/2, the same rate, so that a "
        "10 s run spans several windows)",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--rps", type=float, default=25.0, help="requests/s per client (0: as fast as possible)"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds (60; quick: 10)")
    parser.add_argument(
        "--mode", choices=["all", "distributed", "embedded"], default="all", help="which modes"
    )
    parser.add_argument("--quiet-wait", type=float, default=20.0, help="idle wait before runs")


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.rate_limit is None:
        args.rate_limit = "40/2" if args.quick else "200/10"
    if not re.fullmatch(r"\d+/\d+", args.rate_limit):
        raise common.BenchError("--rate-limit is COST/SECONDS, e.g. 200/10")
    console = Console()
    if args.quick:  # a smoke run must stay short on a busy machine
        args.quiet_wait = min(args.quiet_wait, 3.0)
    runs = args.runs or (1 if args.quick else 2)
    modes = [
        m for m in MODES if args.mode == "all" or (args.mode == "distributed") == m.distributed
    ]
    results: list[dict[str, Any]] = []
    with common.progress() as progress:
        for run in range(runs):
            for mode in modes:
                res = run_mode(mode, args, progress=progress, run=run)
                results.append(res)
                s = res["stored"]
                red = res.get("redis_log")
                console.log(
                    f"{mode.name}: max in any {res['window_s']} s window {s['max_in_window']} "
                    f"(limit {res['limit']}; Redis log: {red['max_in_window'] if red else '-'}), "
                    f"utilisation {s['utilisation']:.1%}, {res['client']['requests']} requests, "
                    f"statuses {res['client']['statuses']}, load {res['load_before']['load1']}"
                )
    summary = summarise(results)
    print_summary(console, summary)
    data = {"runs": runs, "results": results, "summary": summary}
    # A quick (smoke) run never replaces the full results the docs quote.
    path = common.write_result("ratelimit-quick" if args.quick else "ratelimit", data)
    image = plot(results, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for mode in dict.fromkeys(r["mode"] for r in results):
        rs = [r for r in results if r["mode"] == mode]
        reds = [r["redis_log"] for r in rs if "redis_log" in r]
        rows.append(
            {
                "mode": mode,
                "limit": f"{rs[0]['limit']}/{rs[0]['window_s']}s",
                "max_in_window": max(r["stored"]["max_in_window"] for r in rs),
                "overshoot": max(r["stored"]["overshoot"] for r in rs),
                "overshoot_redis_log": max((x["overshoot"] for x in reds), default=None),
                # The stored times over windows 50 ms shorter than W: what remains of the
                # DB overshoot once the admission -> created_at lag is allowed for.
                "overshoot_w_minus_50ms": max(
                    max(0, r["stored"]["max_in_window_minus_50ms"] - r["limit"]) for r in rs
                ),
                "admission_lag_ms_max": max(
                    (
                        r["admission_lag_ms"].get("max", float("nan"))
                        for r in rs
                        if "admission_lag_ms" in r
                    ),
                    default=None,
                ),
                "utilisation": common.Spread([r["stored"]["utilisation"] for r in rs]).as_dict(),
                "budget_utilisation": common.Spread(
                    [r["stored"]["budget_utilisation"] for r in rs]
                ).as_dict(),
                "request_rate": common.Spread([r["client"]["request_rate"] for r in rs]).as_dict(),
                "admitted_cost_client_vs_stored": [
                    (r["client"]["admitted_cost_client"], r["stored"]["admitted_cost"]) for r in rs
                ],
                "load1": [r["load_before"]["load1"] for r in rs],
            }
        )
    return rows


def print_summary(console: Console, summary: list[dict[str, Any]]) -> None:
    table = Table(title="rate-limit accuracy (overshoot target 0, utilisation target ≥ 95 %)")
    for col in (
        "mode",
        "limit",
        "max in any window",
        "overshoot: DB / DB, W-50ms / Redis log",
        "utilisation: mean (min–max)",
        "requests/s",
        "load1",
    ):
        table.add_column(col)
    for row in summary:
        u = row["utilisation"]
        table.add_row(
            row["mode"],
            row["limit"],
            str(row["max_in_window"]),
            f"{row['overshoot']} / {row['overshoot_w_minus_50ms']} / "
            f"{row['overshoot_redis_log'] if row['overshoot_redis_log'] is not None else '-'}",
            f"{u['mean']:.1%} ({u['min']:.1%}–{u['max']:.1%})",
            f"{row['request_rate']['mean']:,.0f}",
            ", ".join(str(x) for x in row["load1"]),
        )
    console.print(table)


def plot(results: list[dict[str, Any]], *, quick: bool) -> Any:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.2))
    for r in results:
        if r["run"] != 0:
            continue
        xs = [p[0] for p in r.get("curve", [])]
        ys = [p[1] for p in r.get("curve", [])]
        ax.plot(xs, ys, label=r["mode"], lw=1.2)
    limit = results[0]["limit"]
    ax.axhline(limit, color="#c0392b", linestyle="--", label=f"limit L = {limit}")
    ax.set_xlabel("seconds since the first admitted task")
    ax.set_ylabel(f"cost admitted in the trailing {results[0]['window_s']} s (stored created_at)")
    ax.set_title("Sliding-window admission under 8 clients offering ~30× the limit")
    ax.legend(fontsize=8, loc="lower right")
    return multitenant.save_figure(fig, "ratelimit", quick=quick)
