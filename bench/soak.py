"""``soak``: does memory stay flat under a steady load for a long time?

Three identical instances (``skiplock serve``, all roles) share one throwaway MariaDB
database and one Redis prefix. A client thread submits short simulated tasks at a steady
rate (default 100 tasks/s, in batches of 10 through ``POST /api/tasks/batch``, round robin
over the instances): ``send_email`` with ``{"min_s": 0.01, "max_s": 0.05, "fail_rate":
0.02}``, so about 2 % of attempts fail and retry. Finished tasks are pruned after
``--retention`` seconds (default 300), so the data the engines and MariaDB hold is bounded
and any lasting growth is the processes', not the table's.

Every ``--sample`` seconds (10) it records each engine process's RSS (``VmRSS`` from
``/proc/<pid>/status``; one process per instance, its threads included), MariaDB's RSS,
Redis's ``used_memory`` (server-wide) and the length of this run's event stream, the queue
depth (``GET /api/queue/stats``), the completion rate (the ``skiplock_tasks_completed``
counters of all instances), the p95 queue wait (``GET /api/analytics?window_s=60``) and the
machine's load average.

At the end, for every process: RSS at the start (the first sample after the warm-up, 2
minutes; 10 s in quick mode), at the end, its maximum, and the least-squares slope in
MiB/hour over the samples after the warm-up. A process is *flat* if the slope is below
``--slope-limit`` (5 MiB/h) and end − start is below 10 % of start.

``--memdebug objects`` loads this module into the engines as a handler module; every
minute it appends to ``bench/results/logs/soak-memdebug-<instance>.jsonl`` the RSS,
pymalloc's allocated blocks, glibc's heap figures (in use / free but kept) and the object
types that grew since the warm-up. That costs a fraction of a second a minute.
``--memdebug tracemalloc`` also runs ``tracemalloc`` and, every five minutes, writes the
allocation sites that grew most since the warm-up to ``soak-tracemalloc-<instance>.txt``;
it slows the engines several times over, so run it at a lower rate (``--instances 1
--rate 15``), to find a leak, not to measure one. Either way the results go to
``soak-memdebug-*.json`` and ``bench/results/bench-soak-memdebug.png``, never over the
measured ones."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import common

TASK = {"type": "send_email", "payload": {"min_s": 0.01, "max_s": 0.05, "fail_rate": 0.02}}
FLAT_SLOPE_MIB_H = 5.0
FLAT_GROWTH = 0.10
MIN_JUDGED_S = 600.0
MEMDEBUG_ENV = "BENCH_SOAK_MEMDEBUG"
MIB = 1024 * 1024


# --- process memory ----------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile (bytes) and Threads of one process; {} if it is gone."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
        elif key == "Threads":
            out[key] = int(value)
    return out


def _descendants(pid: int) -> list[int]:
    """Child processes (recursively) of ``pid``; an engine normally has none."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    out.append(int(child))
                    out.extend(_descendants(int(child)))
    return out


def process_memory(pid: int) -> dict[str, int]:
    """RSS of a process and any children it has (threads are part of the process)."""
    total: Counter[str] = Counter()
    for p in (pid, *_descendants(pid)):
        total.update(_status(p))
    return dict(total)


# --- the load ----------------------------------------------------------------------------


class Submitter(threading.Thread):
    """Submits ``rate`` tasks per second in batches of ``batch`` on a fixed schedule,
    round robin over ``urls``, until ``stop`` is set. A late tick is sent at once; if it
    falls more than 5 s behind the schedule it resets (the shortfall is counted)."""

    def __init__(self, urls: list[str], *, rate: float, batch: int) -> None:
        super().__init__(name="soak-submitter", daemon=True)
        self.urls = urls
        self.batch = batch
        self.interval = batch / rate
        self.stop = threading.Event()
        self.accepted = 0
        self.refused = 0
        self.behind_resets = 0
        self.statuses: Counter[str] = Counter()
        self.latencies_ms: list[float] = []
        self.error: str | None = None
        self._lock = threading.Lock()

    def take_latencies(self) -> list[float]:
        with self._lock:
            out, self.latencies_ms = self.latencies_ms, []
        return out

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the main loop, which then stops everything
            self.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        body = {"tasks": [TASK] * self.batch}
        headers = {"Authorization": f"Bearer {common.ADMIN_KEY}"}
        with httpx.Client(headers=headers, timeout=10.0) as client:
            next_at = time.monotonic()
            i = 0
            while not self.stop.is_set():
                url = self.urls[i % len(self.urls)]
                i += 1
                sent = time.perf_counter()
                try:
                    resp = client.post(f"{url}/api/tasks/batch", json=body)
                    status = str(resp.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed_ms = 1000 * (time.perf_counter() - sent)
                with self._lock:
                    self.statuses[status] += 1
                    self.latencies_ms.append(elapsed_ms)
                if status == "201":
                    self.accepted += self.batch
                else:
                    self.refused += self.batch
                next_at += self.interval
                now = time.monotonic()
                if now - next_at > 5.0:
                    self.behind_resets += 1
                    next_at = now
                self.stop.wait(max(0.0, next_at - now))


# --- sampling ----------------------------------------------------------------------------

_COMPLETED = re.compile(r"^skiplock_tasks_completed_total\{([^}]*)\}\s+([0-9.eE+-]+)$", re.M)


def _completed(client: httpx.Client, url: str) -> Counter[str]:
    """This instance's finished attempts by outcome, from its /metrics."""
    out: Counter[str] = Counter()
    text = client.get(f"{url}/metrics").text
    for labels, value in _COMPLETED.findall(text):
        m = re.search(r'outcome="([^"]*)"', labels)
        if m:
            out[m.group(1)] += int(float(value))
    return out


class Sampler:
    def __init__(self, procs: list[common.Proc], prefix: str) -> None:
        self.procs = procs
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {common.ADMIN_KEY}"}, timeout=10.0
        )
        self.redis = redis.Redis.from_url(common.REDIS_URL, socket_timeout=5)
        self.stream = f"{prefix}:events"
        self.mysqld = common.mysqld_pid()
        self.cpu = [p.cpu_seconds() for p in procs]
        self.system = common.SystemCpu()
        self.last_completed: Counter[str] | None = None
        self.last_t: float | None = None
        self.n = 0

    def close(self) -> None:
        self.http.close()
        self.redis.close()

    def _get(self, path: str) -> dict[str, Any] | None:
        url = self.procs[self.n % len(self.procs)].url
        with contextlib.suppress(httpx.HTTPError, ValueError):
            resp = self.http.get(f"{url}{path}")
            if resp.status_code == 200:
                return resp.json()  # type: ignore[no-any-return]
        return None

    def sample(self, t: float, submitter: Submitter) -> dict[str, Any]:
        self.n += 1
        row: dict[str, Any] = {"t": round(t, 2), "engines": []}
        for i, p in enumerate(self.procs):
            mem = process_memory(p.pid)
            cpu = p.cpu_seconds()
            row["engines"].append(
                {
                    "name": p.name,
                    "rss_mib": mem.get("VmRSS", 0) / MIB,
                    "anon_mib": mem.get("RssAnon", 0) / MIB,
                    "file_mib": mem.get("RssFile", 0) / MIB,
                    "threads": mem.get("Threads", 0),
                    "cpu_s": round(cpu, 2),
                }
            )
            self.cpu[i] = cpu
        if self.mysqld:
            mem = process_memory(self.mysqld)
            row["mariadb_rss_mib"] = mem.get("VmRSS", 0) / MIB
        with contextlib.suppress(redis.RedisError):
            info = self.redis.info("memory")
            row["redis_used_mib"] = int(info["used_memory"]) / MIB
            row["redis_rss_mib"] = int(info["used_memory_rss"]) / MIB
            row["stream_len"] = int(self.redis.xlen(self.stream))
            row["stream_mib"] = (self.redis.memory_usage(self.stream) or 0) / MIB
        stats = self._get("/api/queue/stats")
        if stats is not None:
            totals = stats["totals"]
            row["depth"] = totals["queued"]
            row["active"] = sum(totals.values())
            row["oldest_queued_age_s"] = stats["oldest_queued_age_s"]
        analytics = self._get("/api/analytics?window_s=60")
        if analytics is not None:
            row["wait_p95_ms"] = analytics["queue_wait_ms"]["p95"]
            row["run_p95_ms"] = analytics["run_time_ms"]["p95"]
            row["dead_60s"] = analytics["dead"]
        completed: Counter[str] = Counter()
        with contextlib.suppress(httpx.HTTPError):
            for p in self.procs:
                completed.update(_completed(self.http, p.url))
        row["completed"] = dict(completed)
        if self.last_completed is not None and self.last_t is not None and t > self.last_t:
            dt = t - self.last_t
            done = ("succeeded", "dead")
            row["completion_rate"] = sum(completed[k] - self.last_completed[k] for k in done) / dt
            row["failed_rate"] = (completed["failed"] - self.last_completed["failed"]) / dt
        self.last_completed, self.last_t = completed, t
        row["submitted"] = submitter.accepted
        row["refused"] = submitter.refused
        lat = submitter.take_latencies()
        row["submit_p95_ms"] = round(common.percentile(lat, 95), 1) if lat else None
        row["loadavg"] = [round(x, 2) for x in os.getloadavg()]
        row["machine_busy_pct"] = round(self.system.busy_pct(), 1)
        self.system = common.SystemCpu()
        return row


# --- analysis ----------------------------------------------------------------------------


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per hour."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return float("nan")
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return 3600 * sxy / sxx


def summarize(
    series: list[tuple[float, float]], *, warmup_s: float, slope_limit: float
) -> dict[str, Any]:
    after = [(t, v) for t, v in series if t >= warmup_s] or series
    if not after:
        return {}
    start, end = after[0][1], after[-1][1]
    half = after[len(after) // 2 :]
    slope = slope_per_hour(after)
    growth = (end - start) / start if start else float("nan")
    return {
        "start_mib": round(start, 2),
        "end_mib": round(end, 2),
        "max_mib": round(max(v for _, v in after), 2),
        "max_overall_mib": round(max(v for _, v in series), 2),
        "first_mib": round(series[0][1], 2),
        "slope_mib_per_h": round(slope, 2),
        "late_half_slope_mib_per_h": round(slope_per_hour(half), 2),
        "growth_pct": round(100 * growth, 2),
        "samples": len(after),
        "flat": bool(slope < slope_limit and growth < FLAT_GROWTH),
    }


def analyse(
    samples: list[dict[str, Any]], *, warmup_s: float, slope_limit: float
) -> dict[str, dict[str, Any]]:
    """Per-process start/end/max/slope over the samples taken under load."""
    out: dict[str, dict[str, Any]] = {}
    names = [e["name"] for e in samples[0]["engines"]] if samples else []
    for i, name in enumerate(names):
        series = [(s["t"], s["engines"][i]["rss_mib"]) for s in samples]
        out[name] = summarize(series, warmup_s=warmup_s, slope_limit=slope_limit)
        anon = [(s["t"], s["engines"][i]["anon_mib"]) for s in samples]
        out[name]["anon"] = summarize(anon, warmup_s=warmup_s, slope_limit=slope_limit)
    for key, label in (
        ("mariadb_rss_mib", "mariadb RSS*"),
        ("redis_used_mib", "redis used_memory*"),
        ("stream_mib", "redis: run's events"),
    ):
        series = [(s["t"], s[key]) for s in samples if s.get(key) is not None]
        if series:
            out[label] = summarize(series, warmup_s=warmup_s, slope_limit=slope_limit)
    return out


# --- memory debug hook (runs inside the engines, only with --memdebug) --------------------


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@functools.cache
def _mallinfo2() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    return fn


def _malloc_stats() -> dict[str, float]:
    """glibc's view of the C heap (MiB): in use, free but kept, and mmapped blocks."""
    fn = _mallinfo2()
    if fn is None:
        return {}
    m = fn()
    return {
        "malloc_in_use_mib": m.uordblks / MIB,
        "malloc_free_kept_mib": m.fordblks / MIB,
        "malloc_mmapped_mib": m.hblkhd / MIB,
    }


def _memdebug_hook(spec: str) -> None:
    """``spec`` is ``DIR:BASELINE_S:EVERY_S:NFRAMES``. Every EVERY_S, append to
    ``DIR/soak-memdebug-<instance>.jsonl`` one line: RSS, pymalloc's allocated blocks,
    glibc's heap figures, the live object count and the object types that grew most since
    the baseline (taken after BASELINE_S). With NFRAMES > 0 it also runs ``tracemalloc``
    (NFRAMES frames per trace; slow) and, every fifth time, writes the allocation sites that
    grew most to ``DIR/soak-tracemalloc-<instance>.txt``."""
    import gc
    import json
    import linecache
    import sys
    import tracemalloc

    out_dir, baseline_s, every_s, nframes = spec.rsplit(":", 3)
    frames = int(nframes)
    if frames > 0:
        tracemalloc.start(frames)
    name = os.environ.get("SKIPLOCK_INSTANCE_ID", str(os.getpid()))
    jsonl = Path(out_dir) / f"soak-memdebug-{name}.jsonl"
    trace_txt = Path(out_dir) / f"soak-tracemalloc-{name}.txt"

    def type_counts() -> Counter[str]:
        return Counter(type(o).__qualname__ for o in gc.get_objects())

    def run() -> None:
        started = time.monotonic()
        base_types: Counter[str] | None = None
        base_snap: Any = None
        # The hook's own allocations (linecache fills with source lines when tracebacks
        # are formatted) are not the engine's.
        filters = [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, linecache.__file__),
            tracemalloc.Filter(False, __file__),
        ]
        tick = 0
        while True:
            time.sleep(float(every_s))
            tick += 1
            t = time.monotonic() - started
            counts = type_counts()
            if base_types is None and t >= float(baseline_s):
                base_types = counts
                if frames > 0:
                    base_snap = tracemalloc.take_snapshot().filter_traces(filters)
            grew = (counts - base_types).most_common(15) if base_types is not None else []
            row = {
                "t": round(t, 1),
                "rss_mib": _status(os.getpid()).get("VmRSS", 0) / MIB,
                "pymalloc_blocks": sys.getallocatedblocks(),
                "gc_objects": sum(counts.values()),
                "threads": threading.active_count(),
                **_malloc_stats(),
                "types_grown": grew,
            }
            with jsonl.open("a") as f:
                f.write(json.dumps(row) + "\n")
            if base_snap is None or tick % 5:  # a snapshot is slow: every fifth tick
                continue
            snap = tracemalloc.take_snapshot().filter_traces(filters)
            current, peak = tracemalloc.get_traced_memory()
            lines = [
                f"=== t={t:.0f} s; traced {current / MIB:.1f} MiB (peak {peak / MIB:.1f})",
                "--- by line",
                *(str(s) for s in snap.compare_to(base_snap, "lineno")[:25]),
                "--- largest growth by traceback",
            ]
            for stat in snap.compare_to(base_snap, "traceback")[:5]:
                lines.append(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
                lines.extend("    " + ln for ln in stat.traceback.format())
            with trace_txt.open("a") as f:
                f.write("\n".join(lines) + "\n\n")

    threading.Thread(target=run, name="soak-memdebug", daemon=True).start()


if os.environ.get(MEMDEBUG_ENV) and os.environ.get("SKIPLOCK_DATABASE_URL"):
    _memdebug_hook(os.environ[MEMDEBUG_ENV])

    # serve refuses a handler module that registers no handler; this one is loaded for
    # its hook alone, so it registers a no-op type of its own.
    from skiplock import handler

    @handler("bench.soak.memdebug")
    def _memdebug_noop(payload: object) -> None:
        """Never submitted."""


# --- the scenario ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds of load (1800; quick: 60)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="tasks submitted per second")
    parser.add_argument("--batch", type=int, default=10, help="tasks per submission request")
    parser.add_argument("--instances", type=int, default=3, help="engine instances")
    parser.add_argument("--workers", type=int, default=8, help="worker slots per instance")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds excluded from the slope (120; quick: 10)",
    )
    parser.add_argument(
        "--retention", type=float, default=300.0, help="SKIPLOCK_RETENTION_S of the engines"
    )
    parser.add_argument(
        "--slope-limit", type=float, default=FLAT_SLOPE_MIB_H, help="MiB/hour still 'flat'"
    )
    parser.add_argument(
        "--memdebug",
        choices=("objects", "tracemalloc"),
        default=None,
        help="inside the engines, log heap and object counts every minute (objects: cheap) "
        "or also trace allocation sites (tracemalloc: slow); to find what grows",
    )


def _line(row: dict[str, Any]) -> str:
    rss = " ".join(f"{e['rss_mib']:.1f}" for e in row["engines"])
    rate = row.get("completion_rate")
    return (
        f"t={row['t']:7.0f}s rss[{rss}] MiB  mariadb {row.get('mariadb_rss_mib', 0):.0f}  "
        f"redis {row.get('redis_used_mib', 0):.1f}  depth {row.get('depth', '?')}  "
        f"done/s {'-' if rate is None else f'{rate:.1f}'}  wait p95 "
        f"{row.get('wait_p95_ms')} ms  load {row['loadavg'][0]}"
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    duration = args.duration or (60.0 if args.quick else 1800.0)
    warmup = args.warmup if args.warmup is not None else (10.0 if args.quick else 120.0)
    if not 0 <= warmup < duration:
        raise common.BenchError("--warmup must be shorter than --duration")
    if args.rate <= 0 or args.batch < 1 or args.instances < 1 or args.sample <= 0:
        raise common.BenchError("--rate, --batch, --instances and --sample must be positive")
    samples: list[dict[str, Any]] = []
    extra = {"SKIPLOCK_RETENTION_S": str(args.retention)}
    if args.memdebug:
        frames = 8 if args.memdebug == "tracemalloc" else 0
        extra |= {
            MEMDEBUG_ENV: f"{common.LOG_DIR}:{warmup}:60:{frames}",
            "SKIPLOCK_HANDLERS": "bench.soak",
            "PYTHONPATH": str(common.ROOT),
        }
        common.LOG_DIR.mkdir(parents=True, exist_ok=True)
        for old in [
            *common.LOG_DIR.glob("soak-memdebug-*.jsonl"),
            *common.LOG_DIR.glob("soak-tracemalloc-*.txt"),
        ]:
            old.unlink()
    console.log(
        f"soak: {args.instances} instances × {args.workers} slots, {args.rate:g} tasks/s for "
        f"{duration:.0f} s (warm-up {warmup:.0f} s), sample every {args.sample:g} s"
    )
    with (
        common.temp_database("soak") as database,
        common.redis_prefix("soak") as prefix,
        common.Stack() as stack,
    ):
        url = common.database_url(database)
        procs = [
            common.start_engine(
                stack,
                f"soak-i{i}",
                role="all",
                database_url=url,
                redis_prefix=prefix,
                workers=args.workers,
                extra={**extra, "SKIPLOCK_INSTANCE_ID": f"soak-i{i}"},
            )
            for i in range(args.instances)
        ]
        submitter = Submitter([p.url for p in procs], rate=args.rate, batch=args.batch)
        sampler = Sampler(procs, prefix)
        stack.callback(sampler.close)
        stack.callback(submitter.stop.set)
        t0 = time.monotonic()
        samples.append(sampler.sample(0.0, submitter))
        submitter.start()
        next_sample = args.sample
        while time.monotonic() - t0 < duration:
            time.sleep(max(0.0, min(next_sample, duration) - (time.monotonic() - t0)))
            for p in procs:
                if not p.alive():
                    raise common.BenchError(f"{p.name} exited:\n{p.tail()}")
            if submitter.error:
                raise common.BenchError(f"submitter failed: {submitter.error}")
            t = time.monotonic() - t0
            if t >= next_sample - 0.01:
                row = sampler.sample(t, submitter)
                samples.append(row)
                console.log(_line(row))
                next_sample += args.sample
        submitter.stop.set()
        submitter.join(timeout=15)
        # Let the backlog drain (bounded) so the final depth says whether the load kept up.
        drain_deadline = time.monotonic() + 60
        depth = samples[-1].get("active", 0)
        while depth and time.monotonic() < drain_deadline:
            time.sleep(1)
            stats = sampler._get("/api/queue/stats")
            depth = sum(stats["totals"].values()) if stats else depth
        drained_in = 60 - max(0.0, drain_deadline - time.monotonic())
        final_memory = {p.name: process_memory(p.pid).get("VmRSS", 0) / MIB for p in procs}
    load = [s["loadavg"][0] for s in samples[1:]]
    busy = [s["machine_busy_pct"] for s in samples[1:]]
    wait95 = [s["wait_p95_ms"] for s in samples[1:] if s.get("wait_p95_ms") is not None]
    rates = [s["completion_rate"] for s in samples if s.get("completion_rate") is not None]
    depths = [s["depth"] for s in samples if s.get("depth") is not None]
    memory = analyse(samples, warmup_s=warmup, slope_limit=args.slope_limit)
    engines_flat = all(memory[p]["flat"] for p in memory if p.startswith("soak-i"))
    # A slope from a few minutes of samples extrapolated to an hour means nothing.
    if duration - warmup < MIN_JUDGED_S:
        verdict = f"not judged (under {MIN_JUDGED_S / 60:.0f} min after the warm-up)"
    else:
        verdict = "flat" if engines_flat else "growing"
    elapsed = samples[-1]["t"] if samples else duration
    data: dict[str, Any] = {
        "duration_s": duration,
        "warmup_s": warmup,
        "sample_s": args.sample,
        "rate": args.rate,
        "batch": args.batch,
        "instances": args.instances,
        "workers": args.workers,
        "retention_s": args.retention,
        "task": TASK,
        "slope_limit_mib_per_h": args.slope_limit,
        "flat_growth_pct": 100 * FLAT_GROWTH,
        "memdebug": args.memdebug,
        "verdict": verdict,
        "memory": memory,
        "submitted": submitter.accepted,
        "refused": submitter.refused,
        "submit_statuses": dict(submitter.statuses),
        "behind_resets": submitter.behind_resets,
        "achieved_rate": submitter.accepted / elapsed if elapsed else float("nan"),
        "completion_rate_mean": sum(rates) / len(rates) if rates else None,
        "completed_final": samples[-1].get("completed") if samples else None,
        "depth_max": max(depths) if depths else None,
        "depth_mean": sum(depths) / len(depths) if depths else None,
        "wait_p95_ms_median": round(common.percentile(wait95, 50), 1) if wait95 else None,
        "wait_p95_ms_max": max(wait95) if wait95 else None,
        "drain_after_s": round(drained_in, 1),
        "depth_after_drain": depth,
        "rss_after_drain_mib": final_memory,
        "loadavg_1m": {
            "mean": sum(load) / len(load) if load else None,
            "min": min(load) if load else None,
            "max": max(load) if load else None,
        },
        "machine_busy_pct_mean": sum(busy) / len(busy) if busy else None,
        "samples": samples,
    }
    # A smoke run or a run with the debug hook must not replace the measured results.
    name = "soak-memdebug" if args.memdebug else "soak-quick" if args.quick else "soak"
    path = common.write_result(name, data)
    table = Table(title=f"soak: RSS after a {warmup:.0f} s warm-up, {elapsed / 60:.1f} min of load")
    for col in ("process", "start MiB", "end MiB", "max MiB", "slope MiB/h", "end-start", "flat"):
        table.add_column(col, justify="right")
    for name, m in memory.items():
        table.add_row(
            name,
            f"{m['start_mib']:.1f}",
            f"{m['end_mib']:.1f}",
            f"{m['max_mib']:.1f}",
            f"{m['slope_mib_per_h']:+.1f}",
            f"{m['growth_pct']:+.1f} %",
            "yes" if m["flat"] else "NO",
        )
    console.print(table)
    console.print("* shared servers: other clients' work shows in these figures too")
    console.print(
        f"submitted {submitter.accepted:,} ({data['achieved_rate']:.1f}/s, refused "
        f"{submitter.refused}); completions {data['completion_rate_mean'] or 0:.1f}/s; depth "
        f"max {data['depth_max']}; p95 wait median {data['wait_p95_ms_median']} ms; load "
        f"{data['loadavg_1m']['mean'] or 0:.2f}\nverdict (engines): {data['verdict']}"
    )
    image = plot(data, path=plot_path(quick=args.quick, memdebug=args.memdebug))
    console.print(f"results: {path}\nplot: {image}")
    return data


# --- the plot ----------------------------------------------------------------------------


def plot(data: dict[str, Any], *, path: Path) -> Path:
    """Four panels over time: engine RSS, MariaDB and Redis memory, queue depth with the
    completion rate, p95 queue wait with the machine's load average."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    samples = data["samples"]

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(s["t"] / 60, s[key]) for s in samples if s.get(key) is not None]
        return [x for x, _ in pts], [y for _, y in pts]

    fig, (ax1, ax2, ax3, ax4) = plt.subplots(
        4, 1, figsize=(11, 12), sharex=True, height_ratios=[1.4, 1, 1, 1]
    )
    minutes = [s["t"] / 60 for s in samples]
    rss_all: list[float] = []
    for i, m in enumerate(samples[0]["engines"]):
        name = m["name"]
        s = data["memory"][name]
        ys = [x["engines"][i]["rss_mib"] for x in samples]
        rss_all += ys
        late = s["late_half_slope_mib_per_h"]
        ax1.plot(
            minutes,
            ys,
            label=f"{name}: {s['start_mib']:.1f} → {s['end_mib']:.1f} MiB after warm-up, "
            f"slope {s['slope_mib_per_h']:+.1f} MiB/h (last half {late:+.1f})",
        )
    lo, hi = min(rss_all), max(rss_all)
    ax1.set_ylim(max(0.0, lo - 5), hi + 5)
    ax1.set_ylabel("engine RSS (MiB) — axis not from 0")
    ax1.set_title(
        f"soak: {data['instances']} instances, {data['rate']:g} tasks/s of 10–50 ms tasks, "
        f"{data['duration_s'] / 60:.0f} min — engines: {data['verdict']}"
    )
    ax1.legend(fontsize=8, loc="lower right")
    ax2.plot(*series("mariadb_rss_mib"), color="#8e44ad", label="MariaDB RSS (shared server)")
    ax2.set_ylabel("MariaDB RSS (MiB)")
    ax2.set_ylim(bottom=0)
    ax2b = ax2.twinx()
    ax2b.plot(*series("redis_used_mib"), color="#c0392b", label="Redis used_memory (shared)")
    ax2b.plot(
        *series("stream_mib"),
        color="#c0392b",
        linestyle=":",
        label="of which this run's event stream (capped at 100,000 entries)",
    )
    ax2b.set_ylabel("Redis (MiB)")
    ax2b.set_ylim(bottom=0)
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax2b.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    ax3.plot(*series("active"), label="queued + running + retrying", color="#e67e22")
    ax3.plot(*series("depth"), label="queued (depth)", color="#3b6ea5", linewidth=0.8)
    ax3.set_ylabel("tasks (snapshot at each sample)")
    ax3.set_ylim(bottom=0)
    ax3b = ax3.twinx()
    ax3b.plot(*series("completion_rate"), color="#27ae60", alpha=0.7, label="completions/s")
    ax3b.set_ylabel("completions per second")
    ax3b.set_ylim(0, max(data["rate"] * 1.6, 1))
    h1, l1 = ax3.get_legend_handles_labels()
    h2, l2 = ax3b.get_legend_handles_labels()
    ax3.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left", ncol=3)
    ax4.plot(*series("wait_p95_ms"), color="#3b6ea5", label="p95 queue wait, last 60 s")
    ax4.set_ylabel("p95 queue wait (ms)")
    ax4.set_ylim(bottom=0)
    ax4b = ax4.twinx()
    load = [(s["t"] / 60, s["loadavg"][0]) for s in samples]
    ax4b.plot(
        [x for x, _ in load],
        [y for _, y in load],
        color="#7f8c8d",
        linestyle="--",
        label="machine load average, 1 min (2 cores)",
    )
    ax4b.set_ylabel("load average")
    ax4b.set_ylim(bottom=0)
    h1, l1 = ax4.get_legend_handles_labels()
    h2, l2 = ax4b.get_legend_handles_labels()
    ax4.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left", ncol=2)
    ax4.set_xlabel("minutes since the load started (shaded: warm-up, not in the slope)")
    warm = data["warmup_s"] / 60
    for ax in (ax1, ax2, ax3, ax4):
        ax.axvspan(0, warm, color="#dddddd", alpha=0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_path(*, quick: bool, memdebug: str | None) -> Path:
    """Only a default full run replaces the figure the docs show."""
    if memdebug:
        return common.RESULTS_DIR / "bench-soak-memdebug.png"
    if quick:
        return common.RESULTS_DIR / "bench-soak-quick.png"
    return common.IMAGES_DIR / "bench-soak.png"
