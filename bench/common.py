"""Shared helpers: throwaway MariaDB databases and Redis prefixes, engine processes that
are always stopped, machine facts, statistics and result files.

Every process a scenario starts is registered in one :class:`Stack` (an ExitStack), so it
is stopped on success, on an exception and on Ctrl-C alike. All traffic goes to
127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pymysql
import redis

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
IMAGES_DIR = ROOT / "docs" / "images"
LOG_DIR = RESULTS_DIR / "logs"

MYSQL_HOST = "127.0.0.1"
MYSQL_PORT = int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("BENCH_MYSQL_USER", "root")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

# One admin key for every engine process a benchmark starts (bootstrapped by the engine).
ADMIN_KEY = "sk_benchadmin_" + secrets.token_urlsafe(36)


class BenchError(RuntimeError):
    """A benchmark could not run (a server is missing, a process did not start)."""


# --- processes ---------------------------------------------------------------------------


def skiplock_command() -> list[str]:
    """The ``skiplock`` CLI of the interpreter running the benchmarks."""
    script = Path(sys.executable).with_name("skiplock")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "skiplock.cli"]


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A child process in its own session (so its whole group can be signalled)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU seconds this process has used so far (Linux /proc)."""
        return proc_cpu_seconds(self.pid)

    def stop(self, *, grace_s: float = 20.0) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL the process group."""
        if self.popen.poll() is not None:
            return self.popen.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            return self.popen.wait(timeout=10)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # utime and stime are fields 14 and 15; after the ")" split they are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / ticks


def mysqld_pid() -> int | None:
    """The pid of the MariaDB server the benchmarks use (from its own pid file, so a
    second server on the machine, e.g. a test's private one, is never mistaken for it)."""
    with contextlib.suppress(Exception):
        conn = mysql_connect()
        with conn.cursor() as cur:
            cur.execute("SELECT @@pid_file")
            row = cur.fetchone()
        conn.close()
        if row and row[0]:
            return int(Path(str(row[0])).read_text().split()[0])
    for name in ("mariadbd", "mysqld"):
        out = subprocess.run(["pidof", name], capture_output=True, text=True, check=False)
        if out.stdout.strip():
            return int(out.stdout.split()[0])
    return None


class Stack(contextlib.ExitStack):
    """An ExitStack that also turns SIGTERM into KeyboardInterrupt while it is open, so
    every registered cleanup runs however the benchmark ends."""

    def __enter__(self) -> Stack:
        super().__enter__()
        previous = signal.getsignal(signal.SIGTERM)

        def _raise(_sig: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _raise)
        self.callback(signal.signal, signal.SIGTERM, previous)
        return self

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log_path = LOG_DIR / f"{name}.log"
        log_file = log_path.open("wb")
        self.callback(log_file.close)
        full_env = {**os.environ, **(env or {})}
        popen = subprocess.Popen(
            list(argv),
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd or ROOT,
        )
        proc = Proc(name=name, popen=popen, log_path=log_path, port=port)
        self.callback(proc.stop)
        return proc


def engine_env(
    *,
    database_url: str,
    redis_prefix: str | None,
    port: int,
    workers: int | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {
        "SKIPLOCK_DATABASE_URL": database_url,
        "SKIPLOCK_PORT": str(port),
        "SKIPLOCK_HOST": "127.0.0.1",
        "SKIPLOCK_ADMIN_KEY": ADMIN_KEY,
        "SKIPLOCK_LOG_LEVEL": "WARNING",
        "SKIPLOCK_SHUTDOWN_GRACE_S": "5",
    }
    if redis_prefix is not None:
        env["SKIPLOCK_REDIS_URL"] = REDIS_URL
        env["SKIPLOCK_REDIS_PREFIX"] = redis_prefix
    else:
        env["SKIPLOCK_REDIS_URL"] = ""
    if workers is not None:
        env["SKIPLOCK_WORKERS"] = str(workers)
    env.update(extra or {})
    return env


def start_engine(
    stack: Stack,
    name: str,
    *,
    role: str,
    database_url: str,
    redis_prefix: str | None,
    workers: int | None = None,
    extra: dict[str, str] | None = None,
    wait: bool = True,
) -> Proc:
    """``skiplock serve --role ROLE`` on a spare port; waits for /api/ready."""
    port = spare_port()
    env = engine_env(
        database_url=database_url,
        redis_prefix=redis_prefix,
        port=port,
        workers=workers,
        extra=extra,
    )
    proc = stack.start(name, [*skiplock_command(), "serve", "--role", role], env=env, port=port)
    if wait:
        wait_healthy(proc)
    return proc


def wait_healthy(proc: Proc, *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            # Ready, not just alive: serve answers health while it still waits for the
            # database and the schema.
            if httpx.get(f"{proc.url}/api/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{proc.name} not healthy within {timeout_s:.0f} s:\n{proc.tail()}")


# --- databases ---------------------------------------------------------------------------


def mysql_connect(database: str | None = None, **kwargs: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_USER,
        password=os.environ.get("BENCH_MYSQL_PASSWORD", ""),
        database=database,
        connect_timeout=5,
        **kwargs,
    )


def database_url(name: str) -> str:
    password = os.environ.get("BENCH_MYSQL_PASSWORD", "")
    auth = f"{MYSQL_USER}:{password}" if password else MYSQL_USER
    return f"mysql+pymysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"


@contextlib.contextmanager
def temp_database(prefix: str) -> Iterator[str]:
    """A fresh MariaDB database (migrated to the engine's schema), dropped afterwards."""
    name = f"bench_{prefix}_{secrets.token_hex(4)}"
    try:
        conn = mysql_connect()
    except pymysql.MySQLError as exc:
        raise BenchError(f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT} is not reachable: {exc}") from exc
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    try:
        migrate(database_url(name))
        yield name
    finally:
        conn = mysql_connect()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def migrate(url: str) -> None:
    from skiplock.adapters.sql import create_store

    store = create_store(url)
    try:
        store.migrate()
    finally:
        store.close()


def reset_tasks(database: str) -> None:
    conn = mysql_connect(database)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE TABLE task_attempts")
        cur.execute("TRUNCATE TABLE tasks")
    conn.commit()
    conn.close()


def default_tenant_id(database: str) -> int:
    conn = mysql_connect(database)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM tenants WHERE name = 'default'")
        row = cur.fetchone()
    conn.close()
    if row is None:
        raise BenchError("the default tenant is missing; did the migration run?")
    return int(row[0])


def enqueue_via_store(
    url: str,
    count: int,
    *,
    task_type: str = "noop",
    payload: Callable[[int], Any] | None = None,
    chunk: int = 1000,
    on_chunk: Callable[[int], None] | None = None,
) -> float:
    """Queue ``count`` tasks through the engine's own store (``SqlTaskStore.submit``),
    ``chunk`` per transaction. Returns the seconds it took."""
    from skiplock.adapters.sql import create_store
    from skiplock.domain.models import NewTask

    store = create_store(url)
    try:
        tenant = store.get_tenant(name="default")
        started = time.perf_counter()
        done = 0
        while done < count:
            n = min(chunk, count - done)
            now = datetime.now(UTC)
            store.submit(
                [
                    NewTask(
                        tenant_id=tenant.id,
                        type=task_type,
                        payload=payload(done + i) if payload else {},
                        priority=0,
                        cost=1,
                        max_attempts=3,
                        timeout_s=300.0,
                        run_at=now,
                    )
                    for i in range(n)
                ],
                now=now,
            )
            done += n
            if on_chunk:
                on_chunk(n)
        return time.perf_counter() - started
    finally:
        store.close()


@contextlib.contextmanager
def redis_prefix(scenario: str) -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted afterwards."""
    prefix = f"bench-{scenario}-{secrets.token_hex(3)}"
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {REDIS_URL} is not reachable: {exc}") from exc
    try:
        yield prefix
    finally:
        with contextlib.suppress(redis.RedisError):
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
        client.close()


# --- measurements ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Spread:
    """Mean and min–max of one figure over repeated runs."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else float("nan")

    @property
    def lo(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def hi(self) -> float:
        return max(self.values) if self.values else float("nan")

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        if not self.values:
            return "-"
        f = f"{{:,.{digits}f}}"
        head = f.format(self.mean) + unit
        if len(self.values) == 1:
            return f"{head} (n=1)"
        return f"{head} ({f.format(self.lo)}–{f.format(self.hi)}, n={len(self.values)})"

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "min": self.lo, "max": self.hi, "n": len(self.values)}


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to compare numbers: cores, CPU, RAM, server versions."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    with contextlib.suppress(Exception):
        conn = mysql_connect()
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@max_connections")
            row = cur.fetchone()
            assert row is not None
            info["mariadb"] = row[0]
            info["innodb_flush_log_at_trx_commit"] = int(row[1])
            info["max_connections"] = int(row[2])
        conn.close()
    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        info["redis"] = client.info("server")["redis_version"]
        client.close()
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return info


def write_result(scenario: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{scenario}-{stamp}.json"
    payload = {
        "scenario": scenario,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "machine": machine_info(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    # A quick (smoke) run never replaces the full run's "latest", which the docs quote.
    quick = "--quick" in sys.argv
    latest = RESULTS_DIR / f"{scenario}-{'quick-' if quick else ''}latest.json"
    latest.write_text(path.read_text())
    return path


def progress() -> Any:
    """A rich progress bar with a count and elapsed time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )


# --- the machine is shared: measure and wait out other load ------------------------------


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


class SystemCpu:
    """Machine-wide CPU use over a window, in percent of one core (2 cores: up to 200)."""

    def __init__(self) -> None:
        self._busy0, self._total0 = _cpu_times()
        self._t0 = time.monotonic()

    def busy_pct(self) -> float:
        busy, total = _cpu_times()
        if total <= self._total0:
            return 0.0
        cores = os.cpu_count() or 1
        return 100 * cores * (busy - self._busy0) / (total - self._total0)


def wait_quiet(*, max_s: float = 60.0, threshold_pct: float = 30.0) -> float:
    """Wait (at most ``max_s``) until the machine's CPU use over one second is below
    ``threshold_pct`` of a core, so a run does not start on top of someone else's
    build. Returns the last reading; a busy machine is reported, not hidden."""
    deadline = time.monotonic() + max_s
    reading = 0.0
    while True:
        probe = SystemCpu()
        time.sleep(1.0)
        reading = probe.busy_pct()
        if reading < threshold_pct or time.monotonic() >= deadline:
            return reading
