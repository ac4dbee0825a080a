"""The first hour as a new user meets it: the README's own commands, run from an
application's directory, and handler modules that are wrong stopping ``serve`` with one
line."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.processes import SKIPLOCK, EngineProcess
from tests.services import spare_port

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = str(Path(SKIPLOCK).parent)
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def user_environment(**extra: str) -> dict[str, str]:
    """A shell with Skiplock's commands on PATH and no SKIPLOCK_* settings of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPLOCK_")}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def readme_first_handler() -> tuple[str, list[str]]:
    """The README's handler module and the shell lines that run it, as written there."""
    section = README.read_text().split("### Your own handlers", 1)[1].split("\n## ", 1)[0]
    blocks = BLOCK.findall(section)
    module = next(code for lang, code in blocks if lang == "python" and "myapp/tasks.py" in code)
    shell = next(code for lang, code in blocks if lang == "bash")
    lines = [line.split("  #", 1)[0].strip() for line in shell.splitlines()]
    return module, [line for line in lines if line]


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/api/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"serve was not ready within 60 s: {log.read_text()}")


def test_the_readmes_first_handler_runs_from_the_applications_directory(tmp_path: Path) -> None:
    module, lines = readme_first_handler()
    create_key, serve, submit = lines  # the README's three steps, in its order
    assert serve == "SKIPLOCK_HANDLERS=myapp.tasks skiplock serve"
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "tasks.py").write_text(module)
    port = spare_port()
    env = user_environment(SKIPLOCK_PORT=str(port))

    def shell(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    made = shell(create_key)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / ".skiplock" / "admin-key").read_text().strip() == made.stdout.split()[-1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["bash", "-c", serve],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, log)
        done = shell(submit)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    assert '"hello, Ada"' in done.stdout
    assert "Traceback" not in log.read_text()


HANDLER = (
    'from skiplock import handler\n\n@handler("greet")\ndef greet(payload):\n    return "hi"\n'
)


@pytest.mark.parametrize(
    ("module", "files", "reason"),
    [
        ("nonexistent", {}, "no module named 'nonexistent' in the working directory"),
        ("myapp.nope", {"myapp/tasks.py": HANDLER}, "no module named 'myapp.nope'"),
        ("myapp.tasks", {"myapp/tasks.py": "x = 1\n"}, "registers no handler"),
        (
            "myapp.tasks",
            {"myapp/tasks.py": "import requests_zz_missing\n"},
            "ModuleNotFoundError: No module named 'requests_zz_missing' (",
        ),
        ("myapp.tasks", {"myapp/tasks.py": "def broken(:\n"}, "SyntaxError: "),
        (
            "myapp.tasks",
            {"myapp/tasks.py": "raise RuntimeError('no config')\n"},
            "RuntimeError: no config (",
        ),
    ],
)
def test_a_handler_module_that_cannot_load_stops_serve_with_one_line_and_status_2(
    tmp_path: Path, module: str, files: dict[str, str], reason: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    port = spare_port()
    done = subprocess.run(
        [SKIPLOCK, "serve"],
        cwd=tmp_path,
        env=user_environment(SKIPLOCK_HANDLERS=module, SKIPLOCK_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"skiplock serve: handler module {module}: ")
    assert reason in lines[0]
    assert not (tmp_path / "skiplock.db").exists()  # stopped before touching the database


@pytest.mark.parametrize("how", ["--path", "SKIPLOCK_HANDLER_PATH"])
def test_handler_modules_load_from_a_directory_given_by_path(
    sqlite_url: str, tmp_path: Path, how: str
) -> None:
    app = tmp_path / "elsewhere"
    (app / "pkg").mkdir(parents=True)
    (app / "pkg" / "jobs.py").write_text(HANDLER)
    env = {"SKIPLOCK_HANDLERS": "pkg.jobs"}
    args: list[str] = []
    if how == "--path":
        args = ["--path", str(app)]
    else:
        env["SKIPLOCK_HANDLER_PATH"] = str(app)
    engine = EngineProcess(sqlite_url, env=env, args=args, log_path=tmp_path / "engine.log")
    engine.start()
    try:
        with engine.client() as c:
            task = c.post("/api/tasks", json={"type": "greet"}).json()
            deadline = time.monotonic() + 30
            while c.get(f"/api/tasks/{task['id']}").json()["state"] != "succeeded":
                assert time.monotonic() < deadline, engine.log_text()
                time.sleep(0.05)
            assert c.get(f"/api/tasks/{task['id']}").json()["result"] == "hi"
    finally:
        engine.kill()


class LateListener:
    """A TCP proxy to the test MariaDB on a port that refuses connections until
    :meth:`open` — a database that is not up yet, as on a first install."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = spare_port()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for s in [*self._sockets, *([self._server] if self._server else [])]:
            with contextlib.suppress(OSError):
                s.close()


def test_the_first_handler_on_a_mysql_that_comes_up_late(mysql_url: str, tmp_path: Path) -> None:
    url = make_url(mysql_url)
    late = LateListener((url.host or "127.0.0.1", url.port or 3306))
    database = url.set(host="127.0.0.1", port=late.port).render_as_string(hide_password=False)
    module, _ = readme_first_handler()
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "tasks.py").write_text(module)
    port = spare_port()
    env = user_environment(
        SKIPLOCK_DATABASE_URL=database,
        SKIPLOCK_HANDLERS="myapp.tasks",
        SKIPLOCK_PORT=str(port),
        SKIPLOCK_STARTUP_TIMEOUT_S="120",
    )

    def skiplock(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SKIPLOCK, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [SKIPLOCK, "serve"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        where = f"MySQL at 127.0.0.1:{late.port}"
        deadline = time.monotonic() + 30
        while f"waiting for {where}: connection refused (attempt 3, next in 2 s)" not in (
            log.read_text()
        ):
            assert time.monotonic() < deadline and server.poll() is None, log.read_text()
            time.sleep(0.1)
        ready = httpx.get(f"http://127.0.0.1:{port}/api/ready", timeout=5)
        assert ready.status_code == 503
        assert str(ready.json()["waiting_for"]).startswith("the database (connection refused")
        checked = skiplock("doctor")
        assert checked.returncode == 1
        assert f"{where}: connection refused" in checked.stdout

        late.open()
        wait_ready(f"http://127.0.0.1:{port}", server, log)
        made = skiplock("admin-key", "create", "--save")
        assert made.returncode == 0, made.stderr
        done = skiplock("task", "submit", "hello", "--payload", '{"name": "Ada"}', "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"hello, Ada"' in done.stdout
    finally:
        server.terminate()
        server.wait(timeout=60)
        late.close()
    assert "Traceback" not in log.read_text()


@pytest.mark.timeout(900)
def test_make_run_starts_the_engine_and_its_next_steps_work_as_printed(tmp_path: Path) -> None:
    """`make run`, as the README's first command: it starts the engine, prints the admin
    key and three next steps, and the submit commands it prints work as written."""
    root = README.parent
    state, port = tmp_path / "state", spare_port()
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "-s", "--no-print-directory", "run", f"PORT={port}", f"STATE={state}"],
            cwd=root,
            env=user_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # On a fresh clone `make run` builds the dashboard first (npm): minutes, not seconds.
        deadline = time.monotonic() + 600
        while "Skiplock is starting" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        wait_ready(f"http://127.0.0.1:{port}", proc, log)
        text = log.read_text()
        key = (state / "admin-key").read_text().strip()
        assert f"Admin key (also in {state}/admin-key): {key}" in text
        steps = text.split("Next:\n", 1)[1]
        assert [
            line.split(".", 1)[0].strip()
            for line in steps.splitlines()
            if line[:4].strip() in ("1.", "2.", "3.")
        ] == ["1", "2", "3"]
        assert f"Open http://127.0.0.1:{port}" in steps and "SKIPLOCK_HANDLERS=myapp.tasks" in steps
        # Step 2's commands, run as printed from the repository (the key as a shell that
        # ran `make run` with its default state directory would find it).
        lines = steps.splitlines()
        submit = next(line.strip() for line in lines if "skiplock task submit" in line)
        i = next(i for i, line in enumerate(lines) if line.strip().startswith("curl "))
        curl = lines[i].strip().rstrip("\\") + " " + lines[i + 1].strip()
        env = user_environment(SKIPLOCK_API_KEY=key)
        done = subprocess.run(
            submit,
            check=False,
            shell=True,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "succeeded" in done.stdout
        posted = subprocess.run(
            curl,
            check=False,
            shell=True,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert posted.returncode == 0 and '"type":"send_email"' in posted.stdout.replace(" ", "")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
