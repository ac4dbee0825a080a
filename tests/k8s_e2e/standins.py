"""Stand-ins for the chart's StatefulSets: the official mysql and redis images cannot run
here, so each is replaced by a real server configured from the StatefulSet's rendered
environment.

- MySQL: on the test MariaDB, a fresh database and user created from ``MYSQL_DATABASE``,
  ``MYSQL_USER`` and ``MYSQL_PASSWORD`` (the Secret's generated password), as the image's
  entrypoint does on first start. Going down drops the user and its connections.
- Redis: a private ``redis-server`` on a spare port, with ``--requirepass`` from
  ``REDISCLI_AUTH`` when the chart renders one.

Both become ready ``delay_s`` after the StatefulSet is created, as a database that is still
initialising would: the engine pods and the migration Job start before it and must wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import redis
from sqlalchemy.engine import make_url

from tests.k8s_e2e.network import spare_port


@dataclass
class MySQLStandIn:
    server_url: str  # root on the test MariaDB, no database
    database: str
    user: str
    password: str
    up: bool = False

    @property
    def address(self) -> tuple[str, int]:
        url = make_url(self.server_url)
        return (url.host or "127.0.0.1", url.port or 3306)

    def _root(self) -> pymysql.connections.Connection:  # type: ignore[type-arg]
        url = make_url(self.server_url)
        host, port = self.address
        return pymysql.connect(
            host=host, port=port, user=url.username or "root", password=url.password or ""
        )

    async def start(self) -> None:
        def create() -> None:
            conn = self._root()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
                    for host in ("%", "localhost"):
                        cur.execute(
                            "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                            (self.user, host, self.password),
                        )
                        cur.execute(f"GRANT ALL ON `{self.database}`.* TO %s@%s", (self.user, host))
            finally:
                conn.close()

        await asyncio.to_thread(create)
        self.up = True

    async def stop(self) -> None:
        self.up = False

        def drop() -> None:
            conn = self._root()
            try:
                with conn.cursor() as cur:
                    for host in ("%", "localhost"):
                        cur.execute("DROP USER IF EXISTS %s@%s", (self.user, host))
                    cur.execute(
                        "SELECT id FROM information_schema.processlist WHERE user = %s",
                        (self.user,),
                    )
                    for (thread,) in cur.fetchall():
                        with contextlib.suppress(pymysql.MySQLError):  # it ended meanwhile
                            cur.execute(f"KILL {int(thread)}")
            finally:
                conn.close()

        await asyncio.to_thread(drop)

    async def forget(self) -> None:
        """Drop the database (after the test; a real uninstall keeps the volume)."""

        def drop() -> None:
            conn = self._root()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
                    for host in ("%", "localhost"):
                        cur.execute("DROP USER IF EXISTS %s@%s", (self.user, host))
            finally:
                conn.close()

        await asyncio.to_thread(drop)


@dataclass
class RedisStandIn:
    password: str | None
    port: int = field(default_factory=lambda: spare_port("127.0.0.1"))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="skiplock-e2e-redis-")))
    proc: subprocess.Popen[bytes] | None = None
    up: bool = False

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    async def start(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.root)]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - a server left running, not awaited
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, password=self.password, socket_timeout=1)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.RedisError:
                await asyncio.sleep(0.05)
        client.close()
        self.up = True

    async def stop(self) -> None:
        self.up = False
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 10)
        shutil.rmtree(self.root, ignore_errors=True)
