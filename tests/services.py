"""Finds the MariaDB and Redis servers the tests use, or starts private throwaway ones.

Order: a URL from the environment (SKIPLOCK_TEST_MYSQL_URL, SKIPLOCK_TEST_REDIS_URL);
else the default local address (root@127.0.0.1:3306, 127.0.0.1:6379); else a private
server started from the installed binaries in a temp dir on a spare port (the
pytest-mysql / pytest-redis approach). When the binaries are missing too, it stops with
a message that names the Debian packages to install. It never skips.

``python -m tests.services --check`` reports what the tests will use."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import redis

DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"
DEFAULT_REDIS = "redis://127.0.0.1:6379"


class ServiceMissing(RuntimeError):
    pass


# Below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by
# default): a port handed out here cannot be taken by an outgoing connection's local port
# in the moment before the server that was given it binds it.
SPARE_PORTS = range(20000, 32768)


def spare_port(host: str = "127.0.0.1") -> int:
    """A port free now on ``host``, from below the ephemeral range."""
    for port in random.sample(SPARE_PORTS, 200):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {SPARE_PORTS.start}-{SPARE_PORTS.stop - 1}")


def _wait(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            check()  # type: ignore[operator]
            return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.1)
    raise ServiceMissing(f"{what} did not come up within {timeout_s:.0f} s: {last}")


def mysql_reachable(url: str) -> bool:
    try:
        _mysql_connect(url).close()
        return True
    except Exception:
        return False


def _mysql_connect(url: str) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return pymysql.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 3306,
        user=u.username or "root",
        password=u.password or "",
        connect_timeout=2,
    )


def redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except Exception:
        return False


@dataclass
class PrivateMariaDB:
    """A mariadbd of our own in a temp dir: tests may stop and restart it.

    ``buffer_pool_size`` goes to ``--innodb-buffer-pool-size`` (a mariadbd size such as
    ``128M`` or ``1G``), ``flush_log_at_trx_commit`` to
    ``--innodb-flush-log-at-trx-commit``."""

    port: int = field(default_factory=spare_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="skiplock-mariadb-")))
    proc: subprocess.Popen[bytes] | None = None
    buffer_pool_size: str = "128M"
    flush_log_at_trx_commit: int = 2

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}"

    @staticmethod
    def binaries() -> tuple[str, str]:
        server = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not Path(server).exists() or install is None:
            raise ServiceMissing(
                "no MariaDB server answers on 127.0.0.1:3306 and none can be started: install "
                "it with `apt-get install -y mariadb-server` (or set SKIPLOCK_TEST_MYSQL_URL)"
            )
        return server, install

    def start(self) -> PrivateMariaDB:
        server, install = self.binaries()
        data = self.root / "data"
        if not data.exists():
            subprocess.run(
                [
                    install,
                    "--no-defaults",
                    f"--datadir={data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--user=root",
                ],
                check=True,
                capture_output=True,
            )
        self.proc = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                "--user=root",
                "--skip-log-bin",
                f"--innodb-buffer-pool-size={self.buffer_pool_size}",
                f"--innodb-flush-log-at-trx-commit={self.flush_log_at_trx_commit}",
                "--max-connections=500",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "error.log", "ab"),  # noqa: SIM115
        )
        _wait(lambda: _mysql_connect(self.url).close(), 60, f"mariadbd on port {self.port}")
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRedis:
    port: int = field(default_factory=spare_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="skiplock-redis-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> PrivateRedis:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(server).exists():
            raise ServiceMissing(
                "no Redis answers on 127.0.0.1:6379 and none can be started: install it with "
                "`apt-get install -y redis-server` (or set SKIPLOCK_TEST_REDIS_URL)"
            )
        self.proc = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(
            lambda: redis.Redis(port=self.port, socket_timeout=1).ping(),
            20,
            f"redis-server on port {self.port}",
        )
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_started: dict[str, str] = {}


def mysql_server_url() -> str:
    """Base URL (no database) of the MariaDB the tests use; starts one if needed."""
    if "mysql" in _started:
        return _started["mysql"]
    url = os.environ.get("SKIPLOCK_TEST_MYSQL_URL") or DEFAULT_MYSQL
    if not mysql_reachable(url):
        if os.environ.get("SKIPLOCK_TEST_MYSQL_URL"):
            raise ServiceMissing(f"SKIPLOCK_TEST_MYSQL_URL={url} does not answer")
        private = PrivateMariaDB().start()
        atexit.register(private.cleanup)
        url = private.url
    _started["mysql"] = url
    return url


def redis_server_url() -> str:
    if "redis" in _started:
        return _started["redis"]
    url = os.environ.get("SKIPLOCK_TEST_REDIS_URL") or DEFAULT_REDIS
    if not redis_reachable(url):
        if os.environ.get("SKIPLOCK_TEST_REDIS_URL"):
            raise ServiceMissing(f"SKIPLOCK_TEST_REDIS_URL={url} does not answer")
        private = PrivateRedis().start()
        atexit.register(private.cleanup)
        url = private.url
    _started["redis"] = url
    return url


def main() -> int:
    try:
        print(f"MariaDB for tests: {mysql_server_url()}")
        print(f"Redis for tests:   {redis_server_url()}")
    except ServiceMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(main())
