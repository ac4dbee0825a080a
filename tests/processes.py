"""Real ``skiplock serve`` processes for tests: started on spare ports, always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from skiplock import keys
from tests.services import spare_port

SKIPLOCK = str(Path(sys.executable).with_name("skiplock"))

# One installation, one admin key: processes started on the same database share it, as the
# pods of a deployment share its Secret. A process with another SKIPLOCK_ADMIN_KEY would
# rotate it, revoking the others' (see skiplock.wiring.bootstrap_admin_key); tests of that
# pass ``admin_key`` explicitly.
_ADMIN_KEYS: dict[str, str] = {}


@dataclass
class EngineProcess:
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=spare_port)
    admin_key: str = ""  # empty: the key every process on this database shares
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        if not self.admin_key:
            self.admin_key = _ADMIN_KEYS.setdefault(self.database_url, keys.generate()[0])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def start(self, *, timeout_s: float = 30) -> EngineProcess:
        """Launch and wait until ready."""
        return self.launch().wait_ready(timeout_s=timeout_s)

    def launch(self) -> EngineProcess:
        """Start the process without waiting for it."""
        env = {
            **os.environ,
            "SKIPLOCK_DATABASE_URL": self.database_url,
            "SKIPLOCK_PORT": str(self.port),
            "SKIPLOCK_ADMIN_KEY": self.admin_key,
            "SKIPLOCK_INSTANCE_ID": f"test-{self.port}",
            **self.env,
        }
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [SKIPLOCK, "serve", *self.args], env=env, stdout=log, stderr=log
        )
        return self

    def wait_ready(self, *, timeout_s: float = 30) -> EngineProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"skiplock serve exited with {self.proc.returncode}; log: {self.log_text()}"
                )
            try:
                # Ready, not just alive: serve answers health while it still waits for
                # the database and the schema.
                if httpx.get(f"{self.url}/api/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"skiplock serve was not ready within {timeout_s} s: {self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def terminate(self, *, timeout_s: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30)
