"""``drain``: how fast worker processes empty a queue of no-op tasks on MariaDB.

N no-op tasks are queued first (through the engine's store, while no worker runs); then
``skiplock serve --role worker`` starts and the drain is timed from the first to the last
``finished_at`` in the database. Beside it, in the same run and on the same table shape,
the bare PyMySQL ceiling (:mod:`bench.ceiling`)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import ceiling, common, plots, profiling

TARGET = 2500.0


@dataclass(frozen=True)
class Config:
    name: str
    procs: int = 1
    slots: int = 200
    claim_batch: int = 100
    complete_batch: int = 200

    def env(self) -> dict[str, str]:
        return {
            "SKIPLOCK_CLAIM_BATCH": str(self.claim_batch),
            "SKIPLOCK_COMPLETE_BATCH": str(self.complete_batch),
        }


FULL_CONFIGS = (
    Config("1 proc, 50 slots", slots=50),
    Config("1 proc, 200 slots (defaults)", slots=200),
    Config("1 proc, 200 slots, complete 1000", slots=200, complete_batch=1000),
    Config(
        "1 proc, 500 slots, claim 500, complete 1000",
        slots=500,
        claim_batch=500,
        complete_batch=1000,
    ),
    Config("2 procs, 200 slots", procs=2, slots=200),
    Config(
        "2 procs, 500 slots, claim 500, complete 1000",
        procs=2,
        slots=500,
        claim_batch=500,
        complete_batch=1000,
    ),
)
QUICK_CONFIGS = (
    Config("1 proc, 200 slots (defaults)", slots=200),
    Config("2 procs, 200 slots", procs=2, slots=200),
)


def parse_config(text: str) -> Config:
    try:
        procs, slots, claim, complete = (int(x) for x in text.split(":"))
    except ValueError as exc:
        raise common.BenchError(
            f"bad config {text!r}; expected P:S:C:K, e.g. 1:200:100:200"
        ) from exc
    name = (
        f"{procs} proc{'s' if procs > 1 else ''}, {slots} slots, claim {claim}, complete {complete}"
    )
    return Config(name, procs=procs, slots=slots, claim_batch=claim, complete_batch=complete)


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    raise common.BenchError(f"expected a datetime from the database, got {value!r}")


def engine_drain(
    database: str,
    prefix: str,
    config: Config,
    *,
    tasks: int,
    timeout_s: float,
    progress: Any,
    label: str,
    profile: Path | None = None,
    quiet_s: float = 0.0,
) -> dict[str, Any]:
    """One timed drain of ``tasks`` queued no-ops by ``config``'s worker processes."""
    url = common.database_url(database)
    common.reset_tasks(database)
    enqueue_s = common.enqueue_via_store(url, tasks)
    idle_before = common.wait_quiet(max_s=quiet_s) if quiet_s > 0 else None
    bar = progress.add_task(label, total=tasks)
    mysqld = common.mysqld_pid()
    samples: list[tuple[float, int]] = []
    cpu_window: dict[str, float] = {}
    conn = common.mysql_connect(database, autocommit=True)
    cur = conn.cursor()
    try:
        with common.Stack() as stack:
            workers = [
                common.start_engine(
                    stack,
                    f"drain-w{i}",
                    role="worker",
                    database_url=url,
                    redis_prefix=prefix,
                    workers=config.slots,
                    extra=config.env(),
                    wait=False,
                )
                for i in range(config.procs)
            ]
            t0 = time.monotonic()
            system = common.SystemCpu()
            spy = None
            if profile is not None:
                common.wait_healthy(workers[0])
                spy = profiling.attach(workers[0].pid, profile, duration_s=int(timeout_s))
                if spy is None:
                    raise common.BenchError("py-spy is not installed (pip install py-spy)")
                stack.callback(_stop_spy, spy)
            done = 0
            while time.monotonic() - t0 < timeout_s:
                for w in workers:
                    if not w.alive():
                        raise common.BenchError(f"{w.name} exited:\n{w.tail()}")
                cur.execute("SELECT COUNT(*) FROM tasks WHERE state = 'succeeded'")
                row = cur.fetchone()
                done = int(row[0]) if row else 0
                now = time.monotonic()
                samples.append((now - t0, done))
                progress.update(bar, completed=done)
                cpu = sum(w.cpu_seconds() for w in workers)
                db_cpu = common.proc_cpu_seconds(mysqld) if mysqld else 0.0
                if done > 0 and "t_first" not in cpu_window:
                    cpu_window |= {
                        "t_first": now,
                        "cpu_first": cpu,
                        "db_first": db_cpu,
                        "done_first": done,
                    }
                    system = common.SystemCpu()
                if done >= tasks:
                    cpu_window |= {"t_last": now, "cpu_last": cpu, "db_last": db_cpu}
                    cpu_window["system"] = system.busy_pct()
                    if spy is not None:
                        _stop_spy(spy)
                    break
                time.sleep(0.2)
            if done < tasks:
                raise common.BenchError(
                    f"drain incomplete after {timeout_s:.0f} s: {done}/{tasks} succeeded"
                )
        cur.execute(
            "SELECT MIN(started_at), MIN(finished_at), MAX(finished_at), COUNT(*), "
            "SUM(attempt > 1) FROM tasks WHERE state = 'succeeded'"
        )
        first_start, first_end, last_end, count, retried = cur.fetchone()  # type: ignore[misc]
        cur.execute("SELECT COUNT(*) - COUNT(DISTINCT task_id) FROM task_attempts")
        extra_attempts = int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()
        progress.remove_task(bar)
    span = _ts(last_end) - _ts(first_end)
    window = cpu_window.get("t_last", 0) - cpu_window.get("t_first", 0)
    worker_cpu = (
        100 * (cpu_window["cpu_last"] - cpu_window["cpu_first"]) / window if window else None
    )
    db_cpu_pct = 100 * (cpu_window["db_last"] - cpu_window["db_first"]) / window if window else None
    return {
        "config": config.name,
        "procs": config.procs,
        "slots": config.slots,
        "claim_batch": config.claim_batch,
        "complete_batch": config.complete_batch,
        "tasks": int(count),
        "enqueue_rate": tasks / enqueue_s,
        "span_s": span,
        "rate": int(count) / span if span > 0 else 0.0,
        "start_to_last_s": _ts(last_end) - _ts(first_start),
        "retried": int(retried or 0),
        "extra_attempts": extra_attempts,
        "worker_cpu_pct": worker_cpu,
        # CPU per task is what contention on a shared machine changes least.
        "worker_cpu_ms_per_task": _per_task(cpu_window, "cpu", tasks),
        "mysqld_cpu_ms_per_task": _per_task(cpu_window, "db", tasks),
        "mysqld_cpu_pct": db_cpu_pct,
        # Everything else on the machine during the drain (the bench's own polling, and
        # whatever else runs: the machine is shared). In percent of one core.
        "other_cpu_pct": (
            cpu_window.get("system", 0.0) - (worker_cpu or 0.0) - (db_cpu_pct or 0.0)
            if window
            else None
        ),
        "cpu_before_pct": idle_before,
        "timeline": samples,
    }


def _per_task(window: dict[str, float], key: str, tasks: int) -> float | None:
    counted = tasks - window.get("done_first", tasks)
    if counted <= 0 or f"{key}_last" not in window:
        return None
    return 1000 * (window[f"{key}_last"] - window[f"{key}_first"]) / counted


def _stop_spy(spy: subprocess.Popen[bytes]) -> None:
    # py-spy writes its output when interrupted, as on Ctrl-C.
    if spy.poll() is None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def profile_main(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """One drain of ``--profile-tasks`` with py-spy on the (first) worker process."""
    config = Config(
        "profiled",
        slots=args.slots,
        claim_batch=args.claim_batch,
        complete_batch=args.complete_batch,
    )
    out = common.RESULTS_DIR / "drain-profile.raw"
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        common.temp_database("drainprof") as database,
        common.redis_prefix("drainprof") as prefix,
        common.progress() as progress,
    ):
        res = engine_drain(
            database,
            prefix,
            config,
            tasks=args.profile_tasks,
            timeout_s=args.timeout,
            progress=progress,
            label="profiled drain",
            profile=out,
        )
    summary = profiling.summarise(out)
    table = Table(title=f"py-spy: worker process, {summary['samples']} samples")
    table.add_column("inclusive %", justify="right")
    table.add_column("function (inclusive)")
    table.add_column("self %", justify="right")
    table.add_column("function (self)")
    for inc, own in zip(summary["inclusive"], summary["self"], strict=False):
        table.add_row(str(inc["pct"]), inc["function"], str(own["pct"]), own["function"])
    console.print(table)
    console.print(f"drain rate while profiled: {res['rate']:,.0f} tasks/s (py-spy slows it)")
    res.pop("timeline")
    data = {"profile": summary, "drain": res, "raw": str(out)}
    common.write_result("drain-profile", data)
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks queued per drain")
    parser.add_argument("--runs", type=int, default=None, help="runs per config (3; quick: 1)")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds one drain may take at most"
    )
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the bare PyMySQL ceiling runs"
    )
    parser.add_argument(
        "--configs",
        default=None,
        metavar="P:S:C:K,...",
        help="instead of the built-in configs: worker processes:slots:claim batch:complete "
        "batch, comma-separated (e.g. 1:200:100:200,1:500:500:1000)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for the machine to be idle (0: no)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: one drain with py-spy attached to the worker; prints the hot spots",
    )
    parser.add_argument("--profile-tasks", type=int, default=30_000, help="tasks for --profile")
    parser.add_argument("--slots", type=int, default=200, help="slots for --profile")
    parser.add_argument("--claim-batch", type=int, default=100, help="for --profile")
    parser.add_argument("--complete-batch", type=int, default=200, help="for --profile")


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    if args.profile:
        return profile_main(args, console)
    runs = args.runs or (1 if args.quick else 3)
    configs = QUICK_CONFIGS if args.quick else FULL_CONFIGS
    if args.configs:
        configs = tuple(parse_config(text) for text in args.configs.split(","))
    tasks = min(args.tasks, 5000) if args.quick and args.tasks == 10_000 else args.tasks
    quiet = 0.0 if args.quick else args.quiet_wait  # a smoke test does not wait for quiet
    results: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    ceiling_cases = [] if args.no_ceiling else [(1, "READ COMMITTED"), (2, "READ COMMITTED")]
    if not args.quick and not args.no_ceiling:
        ceiling_cases += [(1, "REPEATABLE READ"), (2, "REPEATABLE READ")]
    with (
        common.temp_database("drain") as database,
        common.redis_prefix("drain") as prefix,
        common.progress() as progress,
    ):
        total = runs * (len(configs) + len(ceiling_cases))
        overall = progress.add_task("drain runs", total=total)
        for run in range(runs):
            for procs, isolation in ceiling_cases:
                common.reset_tasks(database)
                common.enqueue_via_store(common.database_url(database), tasks)
                before = common.wait_quiet(max_s=quiet) if quiet else None
                res = ceiling.run(database, procs=procs, isolation=isolation)
                res["run"] = run
                res["cpu_before_pct"] = before
                ceilings.append(res)
                console.log(
                    f"ceiling {procs} proc(s) {isolation}: {res['rate']:,.0f} rows/s "
                    f"(dups {res['duplicates']})"
                )
                progress.advance(overall)
            for config in configs:
                res = engine_drain(
                    database,
                    prefix,
                    config,
                    tasks=tasks,
                    timeout_s=args.timeout,
                    progress=progress,
                    label=f"{config.name} (run {run + 1})",
                    quiet_s=quiet,
                )
                res["run"] = run
                results.append(res)
                console.log(
                    f"{config.name}: {res['rate']:,.0f} tasks/s over {res['span_s']:.2f} s "
                    f"(worker CPU {res['worker_cpu_pct'] or 0:.0f} %, "
                    f"mysqld {res['mysqld_cpu_pct'] or 0:.0f} %, "
                    f"everything else {res['other_cpu_pct'] or 0:.0f} %)"
                )
                progress.advance(overall)
    summary = summarise(results, ceilings)
    print_summary(console, summary, tasks)
    data = {
        "tasks": tasks,
        "runs": runs,
        "target": TARGET,
        "engine": results,
        "ceiling": ceilings,
        "summary": summary,
    }
    path = common.write_result("drain", data)
    image = plots.drain(summary, results, target=TARGET, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data


def summarise(results: list[dict[str, Any]], ceilings: list[dict[str, Any]]) -> list[dict]:
    rows: list[dict[str, Any]] = []
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_name.setdefault(r["config"], []).append(r)
    for name, rs in by_name.items():
        rate = common.Spread([r["rate"] for r in rs])
        rows.append(
            {
                "kind": "engine",
                "config": name,
                "rate": rate.as_dict(),
                "rate_text": rate.fmt(),
                "worker_cpu_pct": common.Spread(
                    [r["worker_cpu_pct"] for r in rs if r["worker_cpu_pct"] is not None]
                ).mean,
                "mysqld_cpu_pct": common.Spread(
                    [r["mysqld_cpu_pct"] for r in rs if r["mysqld_cpu_pct"] is not None]
                ).mean,
                "worker_cpu_ms_per_task": common.Spread(
                    [r["worker_cpu_ms_per_task"] for r in rs if r["worker_cpu_ms_per_task"]]
                ).mean,
                "mysqld_cpu_ms_per_task": common.Spread(
                    [r["mysqld_cpu_ms_per_task"] for r in rs if r["mysqld_cpu_ms_per_task"]]
                ).mean,
                "other_cpu_pct": common.Spread(
                    [r["other_cpu_pct"] for r in rs if r["other_cpu_pct"] is not None]
                ).mean,
                "retried": sum(r["retried"] for r in rs),
                "extra_attempts": sum(r["extra_attempts"] for r in rs),
            }
        )
    by_case: dict[str, list[dict[str, Any]]] = {}
    for c in ceilings:
        by_case.setdefault(f"bare PyMySQL, {c['procs']} proc(s), {c['isolation']}", []).append(c)
    for name, cs in by_case.items():
        rate = common.Spread([c["rate"] for c in cs])
        rows.append(
            {
                "kind": "ceiling",
                "config": name,
                "rate": rate.as_dict(),
                "rate_text": rate.fmt(),
                "claim_ms_p50": common.Spread([c["claim_ms_p50"] for c in cs]).mean,
                "claim_ms_p99": common.Spread([c["claim_ms_p99"] for c in cs]).mean,
                "duplicates": sum(c["duplicates"] for c in cs),
            }
        )
    return rows


def print_summary(console: Console, summary: list[dict[str, Any]], tasks: int) -> None:
    table = Table(title=f"drain of {tasks:,} queued no-op tasks (target ≥ {TARGET:,.0f}/s)")
    table.add_column("what")
    table.add_column("config")
    table.add_column("tasks/s: mean (min–max, n)", justify="right")
    table.add_column("worker CPU % / ms per task", justify="right")
    table.add_column("mysqld CPU % / ms per task", justify="right")
    table.add_column("other load %", justify="right")

    def cell(row: dict[str, Any], who: str) -> str:
        if row["kind"] != "engine":
            return "-"
        return f"{row[f'{who}_cpu_pct']:.0f} / {row[f'{who}_cpu_ms_per_task']:.3f}"

    for row in summary:
        table.add_row(
            row["kind"],
            row["config"],
            row["rate_text"],
            cell(row, "worker"),
            cell(row, "mysqld"),
            f"{row['other_cpu_pct']:.0f}" if row["kind"] == "engine" else "-",
        )
    console.print(table)
