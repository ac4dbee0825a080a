"""``fairness``: does weighted DRR share the cluster between backlogged tenants?

Skew: tenant A has 20,000 queued tasks, B and C 200 each, equal weights. Weights: two
tenants, 3:1, both with a deep backlog. All tasks are queued up front (through the
engine's store), then 1 or 3 ``skiplock serve --role worker`` processes start on the same
MariaDB database and Redis; the handler is ``async_sleep`` with a fixed duration (20 ms)
and 8 slots per instance, so the workers stay CPU-light.

Everything is computed from the database afterwards: the interval in which every tenant
still had queued work runs from the first claim to the claim of the first tenant's last
task; each tenant's share is its part of the tasks (or cost) claimed — and, beside it,
completed — in that interval. For the skew, B's and C's completion times (first claim →
their last finish) are set against the fair-share ideal: the time to finish their tasks at
their weight's share of the throughput the cluster reached in that interval."""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import common, multitenant

TOLERANCE = 0.05  # relative: 1/3 ± 5 % of 1/3; 75 % ± 3.75 points


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "skew" (stop when the small tenants are done) or "weights"
    instances: int
    tenants: tuple[tuple[str, int, int], ...]  # (name, weight, tasks)
    costs: bool = False  # random costs 1–5 instead of 1


def _cases(big: int, small: int, deep: int, quick: bool) -> tuple[Case, ...]:
    skew = (("A", 1, big), ("B", 1, small), ("C", 1, small))
    weights = (("A", 3, deep), ("B", 1, deep))
    if quick:
        return (
            Case("skew, 3 instances", "skew", 3, skew),
            Case("weights 3:1, 3 instances", "weights", 3, weights),
        )
    return (
        Case("skew, 1 instance", "skew", 1, skew),
        Case("skew, 3 instances", "skew", 3, skew),
        Case("weights 3:1, 1 instance", "weights", 1, weights),
        Case("weights 3:1, 3 instances", "weights", 3, weights),
        Case("weights 3:1, cost 1–5, 3 instances", "weights", 3, weights, costs=True),
    )


def run_case(
    database: str,
    prefix: str,
    case: Case,
    args: argparse.Namespace,
    *,
    progress: Any,
    label: str,
    seed: int,
) -> dict[str, Any]:
    from skiplock.adapters.sql import create_store

    url = common.database_url(database)
    common.reset_tasks(database)
    store = create_store(url)
    ids: dict[str, int] = {}
    try:
        for name, weight, _n in case.tenants:
            ids[name] = multitenant.ensure_tenant(store, f"fair-{name}", weight=weight)
        for name, _w, n in case.tenants:
            multitenant.enqueue(
                store,
                ids[name],
                n,
                task_type="async_sleep",
                payload={"seconds": args.handler_ms / 1000},
                cost=multitenant.random_cost(seed + ids[name]) if case.costs else None,
            )
    finally:
        store.close()
    by_id = {v: k for k, v in ids.items()}
    weights = {name: w for name, w, _ in case.tenants}
    sizes = {name: n for name, _, n in case.tenants}
    small = [name for name, _, n in case.tenants if n < max(sizes.values())]

    cpu_before = common.wait_quiet(max_s=args.quiet_wait) if args.quiet_wait else None
    load_before = multitenant.load()
    conn = common.mysql_connect(database, autocommit=True)
    cur = conn.cursor()
    watched = small if case.kind == "skew" else list(sizes)
    bar = progress.add_task(label, total=sum(sizes[n] for n in small) if small else None)
    try:
        with common.Stack() as stack:
            procs = [
                common.start_engine(
                    stack,
                    f"fair-w{i}",
                    role="worker",
                    database_url=url,
                    redis_prefix=prefix,
                    workers=args.slots,
                    wait=False,
                )
                for i in range(case.instances)
            ]
            system = common.SystemCpu()
            t0 = time.monotonic()
            finished = False
            while time.monotonic() - t0 < args.timeout:
                for p in procs:
                    if not p.alive():
                        raise common.BenchError(f"{p.name} exited:\n{p.tail()}")
                if case.kind == "skew":
                    cur.execute(
                        "SELECT COUNT(*) FROM tasks WHERE tenant_id IN %s AND state = 'succeeded'",
                        ([ids[n] for n in watched],),
                    )
                    done = int(cur.fetchone()[0])  # type: ignore[index]
                    progress.update(bar, completed=done)
                    finished = done >= sum(sizes[n] for n in watched)
                else:
                    # Stop once any tenant has nothing left to claim.
                    cur.execute(
                        "SELECT tenant_id FROM tasks WHERE tenant_id IN %s AND state = 'queued' "
                        "GROUP BY tenant_id",
                        ([ids[n] for n in watched],),
                    )
                    finished = len(cur.fetchall()) < len(watched)
                if finished:
                    break
                time.sleep(0.2)
            busy_pct = system.busy_pct()
            load_after = multitenant.load()
            if not finished:
                raise common.BenchError(f"{case.name}: not done within {args.timeout:.0f} s")
        cur.execute(
            "SELECT t.tenant_id, t.cost, t.started_at, t.finished_at, a.worker "
            "FROM tasks t JOIN task_attempts a ON a.task_id = t.id AND a.attempt = t.attempt "
            "WHERE t.started_at IS NOT NULL"
        )
        rows = cur.fetchall()
        cur.execute("SELECT COUNT(*) - COUNT(DISTINCT task_id) FROM task_attempts")
        extra_attempts = int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()
        progress.remove_task(bar)
    res = analyse(case, rows, by_id=by_id, weights=weights, sizes=sizes)
    res |= {
        "extra_attempts": extra_attempts,
        "load_before": load_before,
        "load_after": load_after,
        "cpu_before_pct": cpu_before,
        "machine_busy_pct": busy_pct,
    }
    return res


def analyse(
    case: Case,
    rows: list[tuple[Any, ...]],
    *,
    by_id: dict[int, str],
    weights: dict[str, int],
    sizes: dict[str, int],
) -> dict[str, Any]:
    claims: list[tuple[float, str, int, float | None, str]] = []
    for tenant_id, cost, started, finished, worker in rows:
        claims.append(
            (
                multitenant.ts(started),
                by_id[int(tenant_id)],
                int(cost),
                multitenant.ts(finished) if finished is not None else None,
                str(worker).rsplit(":", 1)[0] + ":" + str(worker).rsplit(":", 1)[1][:4],
            )
        )
    t0 = min(c[0] for c in claims)
    started_n = Counter(c[1] for c in claims)
    # The backlogged interval ends with the claim of the first tenant's last task.
    exhausted = {
        name: max(c[0] for c in claims if c[1] == name)
        for name in sizes
        if started_n[name] >= sizes[name]
    }
    if not exhausted:
        raise common.BenchError(f"{case.name}: no tenant ran out of work; nothing to measure")
    t_end = min(exhausted.values())
    span = t_end - t0
    total_w = sum(weights.values())
    claimed = defaultdict(int)
    claimed_n = defaultdict(int)
    completed = defaultdict(int)
    per_worker: dict[str, Counter[str]] = defaultdict(Counter)
    for start, name, cost, end, worker in claims:
        if start <= t_end:
            claimed[name] += cost
            claimed_n[name] += 1
            per_worker[worker][name] += cost
        if end is not None and end <= t_end:
            completed[name] += cost
    tot_claimed = sum(claimed.values())
    tot_completed = sum(completed.values()) or 1
    tenants: dict[str, Any] = {}
    for name, size in sizes.items():
        target = weights[name] / total_w
        share = claimed[name] / tot_claimed
        tenants[name] = {
            "weight": weights[name],
            "tasks": size,
            "target_share": target,
            "claimed_cost": claimed[name],
            "claimed_tasks": claimed_n[name],
            "share": share,
            "share_completed": completed[name] / tot_completed,
            "rel_error": abs(share - target) / target,
        }
    throughput = sum(claimed_n.values()) / span if span > 0 else float("nan")
    if case.kind == "skew":
        for name, size in sizes.items():
            if size >= max(sizes.values()):
                continue
            ends = [c[3] for c in claims if c[1] == name and c[3] is not None]
            done_s = max(ends) - t0
            ideal = size / (throughput * tenants[name]["target_share"])
            tenants[name] |= {"done_s": done_s, "ideal_s": ideal, "vs_ideal": done_s / ideal}
    # Cumulative completions per tenant, for the plot (0.05 s bins from the first claim).
    timeline: dict[str, list[tuple[float, int]]] = {}
    for name in sizes:
        ends = sorted(c[3] - t0 for c in claims if c[1] == name and c[3] is not None)
        step = max(1, len(ends) // 300)
        timeline[name] = [(ends[i], i + 1) for i in range(0, len(ends), step)]
    return {
        "case": case.name,
        "kind": case.kind,
        "instances": case.instances,
        "costs": "1-5" if case.costs else "1",
        "interval_s": span,
        "interval_end_by": min(exhausted, key=lambda n: exhausted[n]),
        "throughput": throughput,
        "tenants": tenants,
        "max_rel_error": max(t["rel_error"] for t in tenants.values()),
        "per_instance": {
            w: {n: c[n] / max(1, sum(c.values())) for n in sizes} for w, c in per_worker.items()
        },
        "timeline": timeline,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=None, help="runs per case (3; quick: 1)")
    parser.add_argument("--big", type=int, default=20_000, help="tenant A's backlog (skew)")
    parser.add_argument("--small", type=int, default=200, help="B's and C's tasks (skew)")
    parser.add_argument(
        "--deep", type=int, default=4000, help="each tenant's tasks in the weights cases"
    )
    parser.add_argument("--handler-ms", type=float, default=20.0, help="async_sleep duration")
    parser.add_argument("--slots", type=int, default=8, help="worker slots per instance")
    parser.add_argument("--timeout", type=float, default=180.0, help="max seconds per run")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for an idle machine (0: no)",
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    if args.quick:  # a smoke run must stay short on a busy machine
        args.quiet_wait = min(args.quiet_wait, 3.0)
    runs = args.runs or (1 if args.quick else 3)
    big = min(args.big, 3000) if args.quick and args.big == 20_000 else args.big
    deep = min(args.deep, 1500) if args.quick and args.deep == 4000 else args.deep
    cases = _cases(big, args.small, deep, args.quick)
    results: list[dict[str, Any]] = []
    with (
        common.temp_database("fair") as database,
        common.redis_prefix("fair") as prefix,
        common.progress() as progress,
    ):
        overall = progress.add_task("fairness runs", total=runs * len(cases))
        for run in range(runs):
            for i, case in enumerate(cases):
                res = run_case(
                    database,
                    prefix,
                    case,
                    args,
                    progress=progress,
                    label=f"{case.name} (run {run + 1})",
                    seed=run * 100 + i,
                )
                res["run"] = run
                results.append(res)
                shares = ", ".join(f"{n} {t['share']:.1%}" for n, t in res["tenants"].items())
                extra = "".join(
                    f", {n} done {t['done_s']:.2f} s (ideal {t['ideal_s']:.2f})"
                    for n, t in res["tenants"].items()
                    if "done_s" in t
                )
                console.log(
                    f"{case.name}: {shares} over {res['interval_s']:.2f} s at "
                    f"{res['throughput']:,.0f} tasks/s{extra}; load {res['load_before']['load1']}"
                )
                progress.advance(overall)
    summary = summarise(results)
    print_summary(console, summary)
    data = {
        "runs": runs,
        "handler_ms": args.handler_ms,
        "slots": args.slots,
        "big": big,
        "small": args.small,
        "deep": deep,
        "tolerance": TOLERANCE,
        "results": results,
        "summary": summary,
    }
    # A quick (smoke) run never replaces the full results the docs quote.
    path = common.write_result("fairness-quick" if args.quick else "fairness", data)
    image = plot(summary, results, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_case[r["case"]].append(r)
    for name, rs in by_case.items():
        tenants: dict[str, Any] = {}
        for t in rs[0]["tenants"]:
            entry: dict[str, Any] = {
                "target": rs[0]["tenants"][t]["target_share"],
                "share": common.Spread([r["tenants"][t]["share"] for r in rs]).as_dict(),
            }
            if "done_s" in rs[0]["tenants"][t]:
                entry["done_s"] = common.Spread([r["tenants"][t]["done_s"] for r in rs]).as_dict()
                entry["ideal_s"] = common.Spread([r["tenants"][t]["ideal_s"] for r in rs]).as_dict()
                entry["vs_ideal"] = common.Spread(
                    [r["tenants"][t]["vs_ideal"] for r in rs]
                ).as_dict()
            tenants[t] = entry
        rows.append(
            {
                "case": name,
                "kind": rs[0]["kind"],
                "instances": rs[0]["instances"],
                "tenants": tenants,
                "max_rel_error": max(r["max_rel_error"] for r in rs),
                "within_target": all(r["max_rel_error"] <= TOLERANCE for r in rs),
                "throughput": common.Spread([r["throughput"] for r in rs]).as_dict(),
                "interval_s": common.Spread([r["interval_s"] for r in rs]).as_dict(),
                "load1": [r["load_before"]["load1"] for r in rs],
                "extra_attempts": sum(r["extra_attempts"] for r in rs),
            }
        )
    return rows


def _pct(d: dict[str, Any]) -> str:
    if d["n"] == 1:
        return f"{d['mean']:.1%}"
    return f"{d['mean']:.1%} ({d['min']:.1%}–{d['max']:.1%})"


def print_summary(console: Console, summary: list[dict[str, Any]]) -> None:
    table = Table(title="fair shares while every tenant is backlogged (target: ±5 % relative)")
    table.add_column("case")
    table.add_column("shares: mean (min–max)")
    table.add_column("targets")
    table.add_column("max rel. error", justify="right")
    table.add_column("small tenants done / ideal", justify="right")
    table.add_column("tasks/s", justify="right")
    for row in summary:
        ideal = ", ".join(
            f"{n} {t['done_s']['mean']:.2f}/{t['ideal_s']['mean']:.2f} s"
            for n, t in row["tenants"].items()
            if "done_s" in t
        )
        table.add_row(
            row["case"],
            ", ".join(f"{n} {_pct(t['share'])}" for n, t in row["tenants"].items()),
            ", ".join(f"{t['target']:.1%}" for t in row["tenants"].values()),
            f"{row['max_rel_error']:.1%}" + (" ✓" if row["within_target"] else " ✗"),
            ideal or "-",
            f"{row['throughput']['mean']:,.0f}",
        )
    console.print(table)


def plot(summary: list[dict[str, Any]], results: list[dict[str, Any]], *, quick: bool) -> Any:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"A": "#3b6ea5", "B": "#e67e22", "C": "#27ae60"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), width_ratios=[1.2, 1])
    labels = []
    for y, row in enumerate(summary):
        left = 0.0
        for name, t in row["tenants"].items():
            m = t["share"]["mean"]
            ax1.barh(y, m, left=left, color=colors.get(name, "#888"), edgecolor="white")
            ax1.text(
                left + m / 2,
                y,
                f"{name} {m:.1%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white",
            )
            left += m
        # The target boundaries between tenants.
        edge = 0.0
        for t in list(row["tenants"].values())[:-1]:
            edge += t["target"]
            ax1.plot([edge, edge], [y - 0.4, y + 0.4], color="#c0392b", linestyle="--", lw=1)
        labels.append(row["case"])
    ax1.set_yticks(range(len(labels)), labels, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("share of claimed cost while all tenants are backlogged (dashes: weights)")
    ax1.set_title("Weighted DRR: measured shares (mean of runs)")
    skew = next(
        (r for r in results if r["kind"] == "skew" and r["instances"] == 3),
        next((r for r in results if r["kind"] == "skew"), None),
    )
    if skew is not None:
        for name, points in skew["timeline"].items():
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            ax2.plot(xs, ys, label=f"tenant {name}", color=colors.get(name, "#888"))
            t = skew["tenants"][name]
            if "ideal_s" in t:
                ax2.axvline(t["ideal_s"], color=colors.get(name, "#888"), linestyle=":", lw=1)
        ax2.set_ylim(0, max(skew["tenants"][n]["tasks"] for n in skew["tenants"] if n != "A") * 1.6)
        ax2.set_xlim(0, skew["interval_s"] * 2.5)
        ax2.set_xlabel("seconds since the first claim (dotted: fair-share ideal for B, C)")
        ax2.set_ylabel("tasks completed")
        ax2.set_title(f"Skew, {skew['instances']} instance(s): B and C behind A's backlog")
        ax2.legend(fontsize=8)
    return multitenant.save_figure(fig, "fairness", quick=quick)
