"""``chaos``: nothing lost, nothing run twice at once, while instances and servers die.

A private MariaDB and a private Redis (``tests.services``: throwaway servers in a temp dir
on spare ports, so restarting them disturbs nobody) back three ``skiplock serve``
instances with stable instance ids. 10,000 tasks (quick: 1,500) of the ``chaos_record``
handler (``bench/chaos_handlers.py``: sleeps 50–150 ms and appends a start and an end line
per execution, with task id, attempt and pid, to a per-process file) are queued up front.
While they run: every few seconds a random instance gets ``kill -9`` and is restarted a
second later; MariaDB is restarted once and Redis once. Then the run is left to finish.

Reported: tasks lost (not finished when the run ends, or finished without an execution;
target 0), tasks that ran on two workers at once (two executions of one task overlapping
in time; an execution cut by ``kill -9`` ends at the kill; target 0), tasks re-run after a
crash, executions that completed twice (at-least-once), and recovery times: kill → the
interrupted tasks running again, server restart → claims resuming."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pymysql
from rich.console import Console
from rich.table import Table

from bench import common, multitenant

DB_NAME = "chaos"


def _connect(port: int) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host="127.0.0.1",
        port=port,
        user="root",
        database=DB_NAME,
        connect_timeout=2,
        autocommit=True,
    )


def enqueue(url: str, count: int, *, seed: int, max_attempts: int) -> None:
    from datetime import UTC, datetime

    from skiplock.adapters.sql import create_store
    from skiplock.domain.models import NewTask

    rng = random.Random(seed)
    store = create_store(url)
    try:
        tenant = store.get_tenant(name="default")
        done = 0
        while done < count:
            n = min(1000, count - done)
            now = datetime.now(UTC)
            store.submit(
                [
                    NewTask(
                        tenant_id=tenant.id,
                        type="chaos_record",
                        payload={"ms": rng.randint(50, 150)},
                        priority=0,
                        cost=1,
                        max_attempts=max_attempts,
                        timeout_s=60.0,
                        run_at=now,
                    )
                    for _ in range(n)
                ],
                now=now,
            )
            done += n
    finally:
        store.close()


class Cluster:
    """Three instances with stable ids; kill -9 and restart one by index."""

    def __init__(
        self,
        stack: common.Stack,
        *,
        url: str,
        redis_url: str,
        prefix: str,
        args: Any,
        records: Path,
    ) -> None:
        self.stack = stack
        self.url = url
        self.redis_url = redis_url
        self.prefix = prefix
        self.args = args
        self.records = records
        self.procs: list[common.Proc | None] = [None] * args.instances
        self.generation = [0] * args.instances
        self.killed: list[dict[str, Any]] = []  # {"t", "pid", "instance"}

    def start(self, i: int) -> None:
        self.generation[i] += 1
        self.procs[i] = common.start_engine(
            self.stack,
            f"chaos-{i}-g{self.generation[i]}",
            role="all",
            database_url=self.url,
            redis_prefix=self.prefix,
            workers=self.args.slots,
            wait=False,
            extra={
                "SKIPLOCK_REDIS_URL": self.redis_url,
                "SKIPLOCK_INSTANCE_ID": f"chaos-{i}",
                "SKIPLOCK_HANDLERS": "bench.chaos_handlers",
                # The handler module lives in this repository, not in the installed package.
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(common.ROOT), os.environ.get("PYTHONPATH", "")) if p
                ),
                "SKIPLOCK_CHAOS_DIR": str(self.records),
                "SKIPLOCK_LEASE_S": str(self.args.lease_s),
                "SKIPLOCK_RETRY_BASE_S": "0.5",
                "SKIPLOCK_REGISTRY_TTL_S": "5",
            },
        )

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is None or not proc.alive():
            return
        os.killpg(proc.pid, signal.SIGKILL)
        self.killed.append({"t": time.time(), "pid": proc.pid, "instance": i})
        proc.popen.wait(timeout=10)
        self.procs[i] = None

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None]


def run(args: argparse.Namespace, console: Console, progress: Any) -> dict[str, Any]:
    from tests.services import PrivateMariaDB, PrivateRedis

    tasks = args.tasks
    records = Path(tempfile.mkdtemp(prefix="skiplock-bench-chaos-"))
    rng = random.Random(args.seed)
    events: list[dict[str, Any]] = []
    timeline: list[tuple[float, int]] = []
    db = PrivateMariaDB()
    rds = PrivateRedis()
    try:
        with common.Stack() as stack:
            stack.callback(db.cleanup)
            stack.callback(rds.cleanup)
            db.start()
            rds.start()
            admin = pymysql.connect(host="127.0.0.1", port=db.port, user="root")
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE {DB_NAME}")
            admin.close()
            url = f"{db.url}/{DB_NAME}"
            common.migrate(url)
            enqueue(url, tasks, seed=args.seed, max_attempts=args.max_attempts)
            cluster = Cluster(
                stack, url=url, redis_url=rds.url, prefix="chaos", args=args, records=records
            )
            load_before = multitenant.load()
            for i in range(args.instances):
                cluster.start(i)
            for p in cluster.procs:
                assert p is not None
                common.wait_healthy(p, timeout_s=120)
            # The schedule counts from the moment every instance serves.
            t0 = time.time()
            chaos_s = args.chaos_seconds
            plan: list[tuple[float, str]] = []
            t = args.kill_every
            while t < chaos_s:
                plan.append((t, "kill"))
                t += args.kill_every
            plan.append((chaos_s * 0.35, "mariadb"))
            plan.append((chaos_s * 0.7, "redis"))
            plan.sort()
            pending_restart: list[tuple[float, int]] = []
            bar = progress.add_task("chaos run", total=tasks)
            conn: pymysql.Connection[Any] | None = None
            done = 0
            deadline = t0 + chaos_s + args.settle_seconds
            while time.time() < deadline:
                now = time.time() - t0
                while plan and plan[0][0] <= now:
                    _, what = plan.pop(0)
                    if what == "kill":
                        alive = [i for i, p in enumerate(cluster.procs) if p is not None]
                        if alive:
                            victim = rng.choice(alive)
                            cluster.kill(victim)
                            pending_restart.append((time.time() + args.restart_after, victim))
                            events.append(
                                {"t": time.time() - t0, "what": f"kill -9 instance {victim}"}
                            )
                    elif what == "mariadb":
                        down = time.time()
                        db.stop()
                        time.sleep(args.mariadb_down_s)
                        db.start()
                        events.append(
                            {
                                "t": down - t0,
                                "what": "MariaDB restart",
                                "down_s": time.time() - down,
                                "up_at": time.time() - t0,
                            }
                        )
                        conn = None
                    elif what == "redis":
                        down = time.time()
                        rds.stop()
                        time.sleep(args.redis_down_s)
                        rds.start()
                        events.append(
                            {
                                "t": down - t0,
                                "what": "Redis restart",
                                "down_s": time.time() - down,
                                "up_at": time.time() - t0,
                            }
                        )
                for due, i in list(pending_restart):
                    if time.time() >= due:
                        cluster.start(i)
                        pending_restart.remove((due, i))
                for i, p in enumerate(cluster.procs):
                    if p is not None and not p.alive():
                        raise common.BenchError(f"instance {i} died on its own:\n{p.tail(30)}")
                try:
                    if conn is None:
                        conn = _connect(db.port)
                    with conn.cursor() as cur:
                        cur.execute(
                            "SELECT COUNT(*) FROM tasks WHERE state IN ('succeeded', 'dead')"
                        )
                        done = int(cur.fetchone()[0])  # type: ignore[index]
                except pymysql.MySQLError:
                    conn = None
                timeline.append((time.time() - t0, done))
                progress.update(bar, completed=done)
                if done >= tasks and not plan and not pending_restart:
                    break
                time.sleep(0.25)
            progress.remove_task(bar)
            finished_at = time.time() - t0
            load_after = multitenant.load()
            for p in cluster.procs:
                if p is not None:
                    p.stop()
            stopped_at = time.time()
            if conn is None:
                conn = _connect(db.port)
            with conn.cursor() as cur:
                cur.execute("SELECT id, state, attempt FROM tasks")
                db_tasks = {int(r[0]): (str(r[1]), int(r[2])) for r in cur.fetchall()}
                cur.execute("SELECT outcome, COUNT(*) FROM task_attempts GROUP BY outcome")
                outcomes = {str(r[0]): int(r[1]) for r in cur.fetchall()}
            conn.close()
            analysis = analyse(
                records, db_tasks, cluster.killed, events, t0=t0, stopped_at=stopped_at
            )
        return {
            "tasks": tasks,
            "instances": args.instances,
            "slots": args.slots,
            "lease_s": args.lease_s,
            "max_attempts": args.max_attempts,
            "kill_every_s": args.kill_every,
            "chaos_s": chaos_s,
            "kills": len(cluster.killed),
            "events": events,
            "all_done_at_s": finished_at,
            "attempt_outcomes": outcomes,
            "load_before": load_before,
            "load_after": load_after,
            "timeline": timeline,
            **analysis,
        }
    finally:
        shutil.rmtree(records, ignore_errors=True)


def analyse(
    records: Path,
    db_tasks: dict[int, tuple[str, int]],
    killed: list[dict[str, Any]],
    events: list[dict[str, Any]],
    *,
    t0: float,
    stopped_at: float,
) -> dict[str, Any]:
    execs: dict[tuple[int, int, int], dict[str, float]] = {}
    for path in records.glob("exec-*.jsonl"):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:  # a line torn by kill -9 (not seen in practice)
                continue
            execs.setdefault((r["task"], r["attempt"], r["pid"]), {})[r["ev"]] = r["t"]
    kill_time = {k["pid"]: k["t"] for k in killed}
    by_task: dict[int, list[dict[str, Any]]] = defaultdict(list)
    unfinished_alive = 0
    for (task, attempt, pid), ev in execs.items():
        start = ev.get("start")
        if start is None:
            continue
        end = ev.get("end")
        cut = end is None and pid in kill_time
        if end is None:
            if pid in kill_time:
                end = kill_time[pid]
            else:
                unfinished_alive += 1
                end = stopped_at
        by_task[task].append(
            {
                "attempt": attempt,
                "pid": pid,
                "start": start,
                "end": end,
                "cut": cut,
                "completed": "end" in ev,
            }
        )
    overlaps = []
    rerun_after_crash = 0
    completed_twice = 0
    completed_twice_killed = 0
    recovery: list[float] = []
    for task, runs in by_task.items():
        runs.sort(key=lambda r: r["start"])
        for i, a in enumerate(runs):
            for b in runs[i + 1 :]:
                if b["start"] < a["end"]:
                    overlaps.append({"task": task, "a": a, "b": b})
        if len(runs) > 1 and any(r["cut"] for r in runs[:-1]):
            rerun_after_crash += 1
        if sum(r["completed"] for r in runs) > 1:
            completed_twice += 1
            # At-least-once: the handler finished, but its process died before the
            # result was committed, so the task ran again.
            first = next(r for r in runs if r["completed"])
            if first["pid"] in kill_time:
                completed_twice_killed += 1
        for i, r in enumerate(runs[:-1]):
            if r["cut"]:
                recovery.append(runs[i + 1]["start"] - kill_time[r["pid"]])
    not_finished = [t for t, (state, _) in db_tasks.items() if state not in ("succeeded", "dead")]
    no_execution = [
        t for t, (state, _) in db_tasks.items() if state == "succeeded" and t not in by_task
    ]
    succeeded_without_end = [
        t
        for t, (state, _) in db_tasks.items()
        if state == "succeeded" and not any(r["completed"] for r in by_task.get(t, []))
    ]
    starts = sorted(r["start"] for runs in by_task.values() for r in runs)
    ends = sorted(r["end"] for runs in by_task.values() for r in runs if r["completed"])
    stalls = {}
    for e in events:
        if e["what"].endswith("restart"):
            down = t0 + e["t"]
            up = t0 + e["up_at"]
            # The longest stretch with no execution starting anywhere in the cluster,
            # from 1 s before the outage to 5 s after it, and the first start after it.
            window = [down - 1.0, *(s for s in starts if down - 1.0 < s < up + 5.0), up + 5.0]
            after = [s for s in starts if s >= up]
            stalls[e["what"]] = {
                "down_s": e["down_s"],
                "longest_start_gap_s": max(b - a for a, b in itertools.pairwise(window)),
                "starts_during_outage": sum(1 for s in starts if down <= s < up),
                "first_start_after_up_s": (after[0] - up) if after else None,
            }
    per_second: dict[int, int] = defaultdict(int)
    for e in ends:
        per_second[int(e - t0)] += 1
    # Execution starts per 0.25 s and per process, to see who stalled around an outage.
    starts_by_pid: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for runs in by_task.values():
        for r in runs:
            starts_by_pid[r["pid"]][int((r["start"] - t0) * 4)] += 1
    return {
        "executions": sum(len(r) for r in by_task.values()),
        "lost": len(not_finished) + len(no_execution),
        "lost_task_ids": (not_finished + no_execution)[:20],
        "succeeded_without_recorded_end": len(succeeded_without_end),
        "dead": sum(1 for s, _ in db_tasks.values() if s == "dead"),
        "overlapping": len({o["task"] for o in overlaps}),
        "overlap_examples": overlaps[:5],
        "rerun_after_crash": rerun_after_crash,
        "completed_twice": completed_twice,
        "completed_twice_first_run_on_a_killed_process": completed_twice_killed,
        "executions_cut_by_kill": sum(r["cut"] for runs in by_task.values() for r in runs),
        "unfinished_on_live_process": unfinished_alive,
        "recovery_s": {
            "n": len(recovery),
            "p50": statistics.median(recovery) if recovery else None,
            "max": max(recovery) if recovery else None,
        },
        "stalls": stalls,
        "completions_per_s": sorted(per_second.items()),
        "starts_per_quarter_s_by_pid": {
            str(pid): sorted(bins.items()) for pid, bins in starts_by_pid.items()
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=None, help="tasks (10,000; quick: 1,500)")
    parser.add_argument("--instances", type=int, default=3, help="engine instances")
    parser.add_argument("--slots", type=int, default=8, help="worker slots per instance")
    parser.add_argument("--kill-every", type=float, default=None, help="seconds (5; quick: 4)")
    parser.add_argument("--restart-after", type=float, default=1.0, help="seconds")
    parser.add_argument(
        "--chaos-seconds", type=float, default=None, help="disruption phase (40; quick: 14)"
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=120.0, help="max wait for the rest afterwards"
    )
    parser.add_argument("--lease-s", type=float, default=10.0, help="SKIPLOCK_LEASE_S")
    parser.add_argument("--max-attempts", type=int, default=10, help="per task")
    parser.add_argument("--redis-down-s", type=float, default=2.0, help="Redis outage length")
    parser.add_argument(
        "--mariadb-down-s",
        type=float,
        default=5.0,
        help="seconds MariaDB stays stopped before it is started again",
    )
    parser.add_argument("--seed", type=int, default=1)


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    args.tasks = args.tasks or (1500 if args.quick else 10_000)
    args.kill_every = args.kill_every or (4.0 if args.quick else 5.0)
    args.chaos_seconds = args.chaos_seconds or (14.0 if args.quick else 40.0)
    with common.progress() as progress:
        res = run(args, console, progress)
    print_summary(console, res)
    # A quick (smoke) run never replaces the full results the docs quote.
    path = common.write_result("chaos-quick" if args.quick else "chaos", res)
    image = plot(res, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return res


def print_summary(console: Console, r: dict[str, Any]) -> None:
    table = Table(
        title=f"chaos: {r['tasks']:,} tasks, {r['instances']} instances, "
        f"{r['kills']} × kill -9, MariaDB and Redis restarted once"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target")
    rec = r["recovery_s"]
    rows = [
        ("tasks lost", str(r["lost"]), "0"),
        ("tasks run on two workers at once", str(r["overlapping"]), "0"),
        ("tasks re-run after a crash", str(r["rerun_after_crash"]), "-"),
        ("executions cut by kill -9", str(r["executions_cut_by_kill"]), "-"),
        (
            "tasks completed twice (at-least-once) / of which first run on a killed process",
            f"{r['completed_twice']} / {r['completed_twice_first_run_on_a_killed_process']}",
            "-",
        ),
        ("dead-lettered", str(r["dead"]), "0"),
        ("executions in all", f"{r['executions']:,}", "-"),
        (
            "kill -9 → interrupted task running again, p50 / max s",
            f"{rec['p50'] or 0:.2f} / {rec['max'] or 0:.2f}" if rec["n"] else "-",
            "-",
        ),
    ]
    for name, s in r["stalls"].items():
        rows.append(
            (
                f"{name}: down s / longest gap between task starts s / starts while down",
                f"{s['down_s']:.1f} / {s['longest_start_gap_s']:.2f} / {s['starts_during_outage']}",
                "-",
            )
        )
    rows.append(("all tasks finished at, s", f"{r['all_done_at_s']:.1f}", "-"))
    rows.append(
        ("load before / after", f"{r['load_before']['load1']} / {r['load_after']['load1']}", "-")
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


def plot(r: dict[str, Any], *, quick: bool) -> Any:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.2))
    xs = [s for s, _ in r["completions_per_s"]]
    ys = [n for _, n in r["completions_per_s"]]
    ax.bar(xs, ys, width=1.0, color="#3b6ea5", label="executions completed per second")
    for e in r["events"]:
        color = "#c0392b" if "kill" in e["what"] else "#8e44ad"
        ax.axvline(e["t"], color=color, linestyle="--" if "kill" in e["what"] else "-", lw=1)
        if "restart" in e["what"]:
            ax.axvspan(e["t"], e["up_at"], color=color, alpha=0.15)
            ax.text(e["t"], max(ys or [1]) * 0.95, " " + e["what"], fontsize=8, color=color)
    ax.set_xlabel("seconds since all instances were serving (red dashes: kill -9 of one instance)")
    ax.set_ylabel("completions / s")
    ax.set_title(
        f"Chaos run: {r['tasks']:,} tasks, lost {r['lost']}, overlapping {r['overlapping']}, "
        f"re-run after a crash {r['rerun_after_crash']}"
    )
    ax.legend(fontsize=8, loc="lower right")
    return multitenant.save_figure(fig, "chaos", quick=quick)
