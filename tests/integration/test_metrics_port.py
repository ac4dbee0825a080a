"""``SKIPLOCK_METRICS_PORT`` moves ``/metrics`` to a port of its own, away from the API port
an Ingress publishes; unset, ``/metrics`` stays on the API port (every role, DESIGN §4)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import SKIPLOCK, EngineProcess
from tests.services import spare_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def engine_log(tmp_path: Path) -> Path:
    return tmp_path / "engine.log"


@pytest.fixture
def started() -> Iterator[list[EngineProcess]]:
    engines: list[EngineProcess] = []
    yield engines
    for engine in engines:
        engine.kill()


@pytest.mark.parametrize("role", ["api", "worker"])
def test_with_a_metrics_port_metrics_are_served_there_and_only_there(
    sqlite_url: str, engine_log: Path, started: list[EngineProcess], role: str
) -> None:
    metrics_port = spare_port()
    engine = EngineProcess(
        sqlite_url,
        env={"SKIPLOCK_METRICS_PORT": str(metrics_port)},
        args=["--role", role],
        log_path=engine_log,
    )
    started.append(engine.start())
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    assert scraped.status_code == 200
    assert "skiplock_worker_slots" in scraped.text
    assert scraped.headers["content-type"].startswith("text/plain")
    on_api_port = httpx.get(f"{engine.url}/metrics", timeout=5)
    assert on_api_port.status_code == 404
    assert "skiplock_" not in on_api_port.text
    # The metrics port serves nothing else.
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/api/health", timeout=5).status_code == 404
    assert httpx.get(f"{engine.url}/api/health", timeout=5).status_code == 200
    # SIGTERM stops both servers and the process exits cleanly.
    assert engine.terminate(timeout_s=30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)


def test_without_a_metrics_port_metrics_stay_on_the_api_port(
    sqlite_url: str, engine_log: Path, started: list[EngineProcess]
) -> None:
    engine = EngineProcess(sqlite_url, args=["--role", "worker"], log_path=engine_log)
    started.append(engine.start())
    scraped = httpx.get(f"{engine.url}/metrics", timeout=5)
    assert scraped.status_code == 200
    assert "skiplock_worker_slots" in scraped.text


def test_the_metrics_port_must_differ_from_the_api_port(sqlite_url: str) -> None:
    port = spare_port()
    done = subprocess.run(
        [SKIPLOCK, "serve"],
        env={
            "SKIPLOCK_DATABASE_URL": sqlite_url,
            "SKIPLOCK_PORT": str(port),
            "SKIPLOCK_METRICS_PORT": str(port),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "SKIPLOCK_METRICS_PORT must differ from SKIPLOCK_PORT" in done.stderr
    assert "Traceback" not in done.stderr
