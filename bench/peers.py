"""``peers``: Celery, RQ and Dramatiq on the same no-op drain as Skiplock, same machine,
same run.

N no-op tasks are enqueued first with the tool's own client while no worker runs; then the
workers start and the drain is timed from the first to the last completion. Each peer
task appends its completion time to a per-process file (no network, one write), read
afterwards. The peers use Redis logical database 11 (``--redis-db``), emptied before and
after; they are installed into ``bench/.venv-peers`` (created on first use, git-ignored),
never into the engine's virtualenv. Skiplock is drained by :func:`bench.drain.engine_drain`
on MariaDB in the same run."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from bench import common, drain, plots

VENV = common.ROOT / "bench" / ".venv-peers"
APPS = common.ROOT / "bench" / "peers_app"
PACKAGES = ["celery[redis]", "rq", "dramatiq[redis]"]


@dataclass(frozen=True)
class Peer:
    name: str
    tool: str
    setup: str
    argv: tuple[str, ...]
    copies: int = 1
    env: tuple[tuple[str, str], ...] = ()


def _bin(name: str) -> str:
    return str(VENV / "bin" / name)


PEERS = (
    Peer(
        "celery-prefork2",
        "celery",
        "prefork -c 2, acks early (default), prefetch x4",
        (
            _bin("celery"),
            "-A",
            "celery_app",
            "worker",
            "-P",
            "prefork",
            "-c",
            "2",
            "-Q",
            "bench",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ),
    ),
    Peer(
        "celery-threads4",
        "celery",
        "-P threads -c 4, acks early",
        (
            _bin("celery"),
            "-A",
            "celery_app",
            "worker",
            "-P",
            "threads",
            "-c",
            "4",
            "-Q",
            "bench",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ),
    ),
    Peer(
        "dramatiq-p2t8",
        "dramatiq",
        "dramatiq CLI defaults on 2 cores: 2 processes x 8 threads",
        (_bin("dramatiq"), "dramatiq_app", "-p", "2", "-t", "8", "-Q", "bench"),
    ),
    Peer(
        "rq-simple2",
        "rq",
        "2 x SimpleWorker (no fork per job), --burst",
        (
            _bin("rq"),
            "worker",
            "--burst",
            "-w",
            "rq.worker.SimpleWorker",
            "-u",
            "{redis}",
            "bench",
        ),
        copies=2,
    ),
)
QUICK_PEERS = ("celery-prefork2", "dramatiq-p2t8", "rq-simple2")
# (config, what it is): the peers' concurrency and the product default first, every
# other setting at its default; then tuned configurations.
SKIPLOCK_CONFIGS: tuple[tuple[drain.Config, str], ...] = (
    (drain.Config("skiplock-p1s16", slots=16), "1 process x 16 slots, defaults otherwise"),
    (drain.Config("skiplock-p2s8", procs=2, slots=8), "2 processes x 8 slots (the default)"),
    (drain.Config("skiplock-p1s8", slots=8), "1 process x 8 slots: all defaults"),
    (drain.Config("skiplock-p1s200", slots=200), "tuned: 1 process x 200 slots"),
    (drain.Config("skiplock-p2s200", procs=2, slots=200), "tuned: 2 processes x 200 slots"),
    (
        drain.Config("skiplock-p1s500-c500", slots=500, claim_batch=500, complete_batch=1000),
        "tuned: 1 process x 500 slots, claim batch 500, completion batch 1000",
    ),
)


def ensure_venv(console: Console) -> None:
    """Create bench/.venv-peers with the peer tools (only on first use)."""
    if (VENV / "bin" / "celery").exists() and (VENV / "bin" / "dramatiq").exists():
        return
    console.log(f"creating {VENV} with {', '.join(PACKAGES)} (first run only)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([_bin("pip"), "install", "-q", *PACKAGES], check=True, timeout=600)


def _versions() -> dict[str, str]:
    out = subprocess.run(
        [
            _bin("python"),
            "-c",
            "import importlib.metadata as m;"
            "names = ('celery', 'kombu', 'rq', 'dramatiq', 'redis');"
            "print(';'.join(f'{p}={m.version(p)}' for p in names))",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return dict(item.split("=", 1) for item in out.split(";") if "=" in item)


@contextlib.contextmanager
def _redis_db(db: int) -> Any:
    base = common.REDIS_URL.rsplit("/", 1)[0]
    url = f"{base}/{db}"
    client = redis.Redis.from_url(url, socket_timeout=5)
    if client.dbsize() and not client.exists("bench-peers-marker"):
        raise common.BenchError(
            f"Redis database {db} holds keys that are not the benchmark's; pick another "
            "with --redis-db"
        )
    client.flushdb()
    client.set("bench-peers-marker", "1")
    try:
        yield url, client
    finally:
        client.flushdb()
        client.close()


def _completions(out: Path) -> list[float]:
    stamps: list[float] = []
    for f in out.glob("*.log"):
        stamps += [float(x) for x in f.read_text().split()]
    return stamps


def run_peer(
    peer: Peer,
    *,
    tasks: int,
    redis_url: str,
    client: Any,
    timeout_s: float,
    progress: Any,
    quiet_s: float,
) -> dict[str, Any]:
    client.flushdb()
    client.set("bench-peers-marker", "1")
    out = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    env = {
        "PEERS_REDIS_URL": redis_url,
        "PEERS_OUT": str(out),
        "PYTHONPATH": str(APPS),
        **dict(peer.env),
    }
    try:
        enq = subprocess.run(
            [_bin("python"), str(APPS / "enqueue.py"), peer.tool, str(tasks)],
            env={**os.environ, **env},
            cwd=APPS,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if enq.returncode != 0:
            raise common.BenchError(f"{peer.name}: enqueue failed:\n{enq.stderr[-2000:]}")
        enqueue_s = float(enq.stdout.strip().splitlines()[-1])
        before = common.wait_quiet(max_s=quiet_s) if quiet_s > 0 else None
        bar = progress.add_task(peer.name, total=tasks)
        with common.Stack() as stack:
            procs = [
                stack.start(
                    f"peer-{peer.name}-{i}",
                    [a.replace("{redis}", redis_url) for a in peer.argv],
                    env=env,
                    cwd=APPS,
                )
                for i in range(peer.copies)
            ]
            system = common.SystemCpu()
            deadline = time.monotonic() + timeout_s
            done = 0
            while time.monotonic() < deadline:
                done = sum(
                    (f.stat().st_size and f.read_bytes().count(b"\n")) for f in out.glob("*.log")
                )
                progress.update(bar, completed=done)
                if done >= tasks:
                    break
                if peer.tool != "rq" and not all(p.alive() for p in procs):
                    raise common.BenchError(f"{peer.name} exited:\n{procs[0].tail()}")
                time.sleep(0.25)
            busy = system.busy_pct()
        progress.remove_task(bar)
        stamps = _completions(out)
        span = max(stamps) - min(stamps) if len(stamps) > 1 else float("nan")
        return {
            "config": peer.name,
            "tool": peer.tool,
            "setup": peer.setup,
            "tasks": tasks,
            "completed": len(stamps),
            "complete": len(stamps) >= tasks,
            "extra_executions": max(0, len(stamps) - tasks),
            "enqueue_rate": tasks / enqueue_s,
            "span_s": span,
            "rate": len(stamps) / span if span > 0 else 0.0,
            "machine_busy_pct": busy,
            "cpu_before_pct": before,
            "load_1m": os.getloadavg()[0],
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per drain (quick: 3000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per config (2; quick: 1)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per drain at most")
    parser.add_argument("--redis-db", type=int, default=11, help="Redis logical db for the peers")
    parser.add_argument(
        "--only", default=None, help="comma-separated config names (see the table for names)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each drain, wait up to this many seconds for an idle machine (0: no)",
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    ensure_venv(console)
    tasks = 3000 if args.quick and args.tasks == 10_000 else args.tasks
    runs = args.runs or (1 if args.quick else 2)
    peers = [p for p in PEERS if not args.quick or p.name in QUICK_PEERS]
    skiplock = SKIPLOCK_CONFIGS[:1] if args.quick else SKIPLOCK_CONFIGS
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        peers = [p for p in peers if p.name in wanted]
        skiplock = tuple(c for c in skiplock if c[0].name in wanted)
    quiet = 0.0 if args.quick else args.quiet_wait
    results: list[dict[str, Any]] = []
    with _redis_db(args.redis_db) as (redis_url, client), common.progress() as progress:
        for run in range(runs):
            for peer in peers:
                res = run_peer(
                    peer,
                    tasks=tasks,
                    redis_url=redis_url,
                    client=client,
                    timeout_s=args.timeout,
                    progress=progress,
                    quiet_s=quiet,
                )
                res["run"] = run
                results.append(res)
                console.log(
                    f"{peer.name}: drain {res['rate']:,.0f}/s, "
                    f"enqueue {res['enqueue_rate']:,.0f}/s, {res['completed']}/{tasks} done"
                )
            if skiplock:
                with (
                    common.temp_database("peers") as database,
                    common.redis_prefix("peers") as prefix,
                ):
                    for config, setup in skiplock:
                        res = drain.engine_drain(
                            database,
                            prefix,
                            config,
                            tasks=tasks,
                            timeout_s=args.timeout,
                            progress=progress,
                            label=config.name,
                            quiet_s=quiet,
                        )
                        res.pop("timeline")
                        res |= {
                            "tool": "skiplock",
                            "setup": setup,
                            "complete": True,
                            "completed": res["tasks"],
                            "run": run,
                            "extra_executions": res["extra_attempts"],
                            "load_1m": os.getloadavg()[0],
                        }
                        results.append(res)
                        console.log(f"{config.name}: drain {res['rate']:,.0f}/s")
    summary = []
    for name in dict.fromkeys(r["config"] for r in results):
        rs = [r for r in results if r["config"] == name]
        rate = common.Spread([r["rate"] for r in rs])
        summary.append(
            {
                "config": name,
                "tool": rs[0]["tool"],
                "setup": rs[0]["setup"],
                "rate": rate.as_dict(),
                "rate_text": rate.fmt(),
                "enqueue_text": common.Spread([r["enqueue_rate"] for r in rs]).fmt(),
                "complete": all(r["complete"] for r in rs),
                # The machine is shared: the 1-minute load average as each drain ended.
                "load_1m": [round(r["load_1m"], 2) for r in rs],
                "extra_executions": sum(r["extra_executions"] for r in rs),
            }
        )
    summary.sort(key=lambda r: -r["rate"]["mean"])
    table = Table(title=f"no-op drain of {tasks:,} tasks enqueued up front")
    for col in (
        "config",
        "setup",
        "drain tasks/s",
        "enqueue tasks/s",
        "complete",
        "extra runs",
        "load 1m",
    ):
        table.add_column(col)
    for row in summary:
        table.add_row(
            row["config"],
            row["setup"],
            row["rate_text"],
            row["enqueue_text"],
            "yes" if row["complete"] else "NO",
            str(row["extra_executions"]),
            " / ".join(f"{x:.2f}" for x in row["load_1m"]),
        )
    console.print(table)
    data = {
        "tasks": tasks,
        "runs": runs,
        "versions": _versions(),
        "results": results,
        "summary": summary,
    }
    path = common.write_result("peers", data)
    image = plots.peers(summary, quick=args.quick)
    console.print(f"results: {path}\nplot: {image}")
    return data
