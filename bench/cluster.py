"""A local distributed cluster: N engine instances behind nginx, as the original's
"one command runs the whole distributed stack".

    python -m bench.cluster up      # 3 x skiplock serve on :8081-8083, nginx on :8080
    python -m bench.cluster status
    python -m bench.cluster down    # stops exactly what ``up`` started (recorded pids)

State lives in ``.skiplock/cluster/``: the nginx config, logs, the admin key and
``pids.json``. The instances share the local MariaDB database ``skiplock_cluster`` and the
local Redis (key prefix ``skiplock-cluster``). Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import argparse
import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import common

STATE = common.ROOT / ".skiplock" / "cluster"
PIDS = STATE / "pids.json"
KEY_FILE = STATE / "admin-key"
DATABASE = "skiplock_cluster"
REDIS_PREFIX = "skiplock-cluster"

NGINX_CONF = """\
# Written by python -m bench.cluster; regenerated on every `make cluster`.
worker_processes 1;
{user}
pid {state}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {state}/logs/nginx-access.log;
    client_body_temp_path {state}/tmp/body;
    proxy_temp_path {state}/tmp/proxy;
    fastcgi_temp_path {state}/tmp/fastcgi;
    uwsgi_temp_path {state}/tmp/uwsgi;
    scgi_temp_path {state}/tmp/scgi;
    client_max_body_size 16m;
    client_body_buffer_size 1m;

    upstream skiplock {{
        least_conn;
{servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Server-Sent Events must reach the browser as they are written.
        proxy_buffering off;
        proxy_cache off;

        location /api/sse/ {{
            proxy_pass http://skiplock;
            proxy_read_timeout 1h;
            add_header X-Accel-Buffering no;
        }}
        location / {{
            proxy_pass http://skiplock;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid: int, marker: str) -> bool:
    """Whether ``pid`` runs and is still the process we started (its command line names
    ``marker``), so a recycled pid is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return marker in cmdline


def _admin_key() -> str:
    if KEY_FILE.exists():
        return KEY_FILE.read_text().strip()
    from skiplock import keys

    key, _ = keys.generate()
    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)
    return key


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise SystemExit(
            "nginx is not installed. On Debian/Ubuntu: sudo apt-get install -y nginx "
            "(only the binary is used; the system service is not touched)."
        )
    return found


def _write_nginx_conf(port: int, backends: list[int]) -> Path:
    for sub in ("logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        # nginx's workers drop to "nobody"; they need their temp directories.
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        for sub in ("tmp", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            os.chown(STATE / sub, nobody.pw_uid, nobody.pw_gid)
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in backends
    )
    conf = STATE / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, state=STATE, servers=servers, port=port))
    return conf


def _ensure_database() -> str:
    try:
        conn = common.mysql_connect()
    except Exception as exc:
        raise SystemExit(
            f"MariaDB on 127.0.0.1:{common.MYSQL_PORT} is not reachable: {exc}"
        ) from exc
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    conn.close()
    return common.database_url(DATABASE)


def _load_pids() -> dict[str, Any]:
    try:
        return dict(json.loads(PIDS.read_text()))
    except (OSError, ValueError):
        return {}


def _stop_pid(pid: int, marker: str, *, sig: int = signal.SIGTERM, grace_s: float = 30.0) -> str:
    if not _alive(pid, marker):
        return "not running"
    os.kill(pid, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid, marker):
            return "stopped"
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return "killed after the grace period"


def down(_: argparse.Namespace | None = None) -> int:
    record = _load_pids()
    if not record:
        print("no cluster recorded in", PIDS)
        return 0
    nginx = record.get("nginx")
    if nginx:
        print(f"nginx (pid {nginx}): {_stop_pid(int(nginx), 'nginx', sig=signal.SIGQUIT)}")
    for inst in record.get("instances", []):
        # SIGTERM is the engine's graceful drain: running tasks finish or go back queued.
        state = _stop_pid(int(inst["pid"]), "skiplock")
        print(f"{inst['id']} (pid {inst['pid']}, port {inst['port']}): {state}")
    PIDS.unlink(missing_ok=True)
    return 0


def status(_: argparse.Namespace | None = None) -> int:
    record = _load_pids()
    if not record:
        print("no cluster running (nothing recorded in", PIDS, ")")
        return 1
    nginx = record.get("nginx")
    print(f"nginx  pid {nginx}: {'up' if nginx and _alive(int(nginx), 'nginx') else 'down'}")
    for inst in record.get("instances", []):
        up = _alive(int(inst["pid"]), "skiplock")
        health = "-"
        if up:
            try:
                health = str(
                    httpx.get(f"http://127.0.0.1:{inst['port']}/api/ready", timeout=2).json()
                )
            except httpx.HTTPError as exc:
                health = f"unreachable ({exc})"
        print(
            f"{inst['id']}  pid {inst['pid']}  :{inst['port']}  {'up' if up else 'down'}  {health}"
        )
    key = KEY_FILE.read_text().strip() if KEY_FILE.exists() else "?"
    print(f"URL: {record.get('url')}\nadmin key: {key}")
    return 0


def up(args: argparse.Namespace) -> int:
    if _load_pids():
        if any(_alive(int(i["pid"]), "skiplock") for i in _load_pids().get("instances", [])):
            print("a cluster is already running; `make cluster-down` first. Status:")
            return status()
        PIDS.unlink(missing_ok=True)
    nginx = _nginx()
    ports = [args.base_port + i for i in range(args.instances)]
    busy = [p for p in [*ports, args.port] if not _port_free(p)]
    if busy:
        raise SystemExit(f"port(s) {busy} on 127.0.0.1 are in use; stop what holds them first")
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "logs").mkdir(exist_ok=True)
    url = _ensure_database()
    key = _admin_key()
    record: dict[str, Any] = {"instances": [], "url": f"http://127.0.0.1:{args.port}"}
    try:
        for n, port in enumerate(ports, start=1):
            env = {
                **os.environ,
                **common.engine_env(
                    database_url=url, redis_prefix=REDIS_PREFIX, port=port, workers=args.workers
                ),
                "SKIPLOCK_ADMIN_KEY": key,
                "SKIPLOCK_INSTANCE_ID": f"cluster-{n}",
                "SKIPLOCK_LOG_LEVEL": "INFO",
                "SKIPLOCK_SHUTDOWN_GRACE_S": "25",
            }
            log = (STATE / "logs" / f"instance-{n}.log").open("ab")
            proc = subprocess.Popen(
                [*common.skiplock_command(), "serve", "--role", "all"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives this command; `down` stops it by pid
                cwd=common.ROOT,
            )
            log.close()
            record["instances"].append({"id": f"cluster-{n}", "pid": proc.pid, "port": port})
            PIDS.write_text(json.dumps(record, indent=2))
        for inst in record["instances"]:
            _wait_ready(inst)
        conf = _write_nginx_conf(args.port, ports)
        subprocess.run(
            [
                nginx,
                "-p",
                str(STATE),
                "-c",
                str(conf),
                "-e",
                str(STATE / "logs" / "nginx-error.log"),
            ],
            check=True,
        )
        pid_file = STATE / "nginx.pid"
        for _ in range(50):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            time.sleep(0.1)
        record["nginx"] = int(pid_file.read_text().strip())
        PIDS.write_text(json.dumps(record, indent=2))
        httpx.get(f"{record['url']}/api/health", timeout=5).raise_for_status()
    except BaseException as exc:
        print("start-up failed; stopping what was started", file=sys.stderr)
        PIDS.write_text(json.dumps(record, indent=2))
        down()
        if isinstance(exc, subprocess.CalledProcessError | httpx.HTTPError):
            raise SystemExit(f"{exc}; see {STATE / 'logs'}") from exc
        raise
    print(f"Skiplock cluster: {args.instances} instances × {args.workers} slots behind nginx")
    print(f"  URL:       {record['url']}   (dashboard and API)")
    for inst in record["instances"]:
        print(f"  {inst['id']}: http://127.0.0.1:{inst['port']}  pid {inst['pid']}")
    print(f"  database:  {DATABASE} on 127.0.0.1:{common.MYSQL_PORT}; Redis prefix {REDIS_PREFIX}")
    print(f"  logs:      {STATE / 'logs'}")
    print("  stop with: make cluster-down")
    print("Admin key (also in .skiplock/cluster/admin-key):")
    print(key)
    return 0


def _wait_ready(inst: dict[str, Any], timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(int(inst["pid"]), "skiplock"):
            log = STATE / "logs" / f"instance-{inst['id'].rsplit('-', 1)[1]}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise SystemExit(f"{inst['id']} exited during start-up:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if (
                httpx.get(f"http://127.0.0.1:{inst['port']}/api/ready", timeout=1).status_code
                == 200
            ):
                return
        time.sleep(0.2)
    raise SystemExit(f"{inst['id']} was not healthy within {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the instances and nginx")
    p.add_argument("--instances", type=int, default=3, help="engine instances (3)")
    p.add_argument("--workers", type=int, default=4, help="worker slots per instance (4)")
    p.add_argument("--base-port", type=int, default=8081, help="first instance port (8081)")
    p.add_argument("--port", type=int, default=8080, help="nginx port (8080)")
    p.set_defaults(func=up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=down)
    sub.add_parser("status", help="show the recorded processes").set_defaults(func=status)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
