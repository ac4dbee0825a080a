"""``skiplock task submit|get|list`` against a running ``skiplock serve``, as a person
types them: exit statuses, one-line errors carrying the API's message, and the key
found where the commands say they look."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import SKIPLOCK, EngineProcess
from tests.services import spare_port

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    root = tmp_path_factory.mktemp("engine")
    found = EngineProcess(
        f"sqlite:///{root}/skiplock.db",
        env={"SKIPLOCK_RETRY_BASE_S": "0", "SKIPLOCK_MAINTENANCE_INTERVAL_S": "0.1"},
        log_path=root / "engine.log",
    )
    found.start()
    yield found
    found.kill()


def task(
    *args: str, engine: EngineProcess | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SKIPLOCK_")}
    if engine is not None:
        base |= {"SKIPLOCK_URL": engine.url, "SKIPLOCK_API_KEY": engine.admin_key}
    return subprocess.run(
        [SKIPLOCK, "task", *args],
        env=base | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_submit_with_wait_prints_the_finished_task_and_exits_0(engine: EngineProcess) -> None:
    done = task("submit", "async_sleep", "--payload", '{"seconds": 0.2}', "--wait", engine=engine)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert '{"slept_s": 0.2}' in done.stdout
    assert "attempt 1" in done.stdout


def test_submit_with_wait_exits_1_when_the_task_dies(engine: EngineProcess) -> None:
    done = task(
        "submit", "fail", "--payload", '{"message": "boom"}', "--wait", "--timeout", "60",
        engine=engine,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "dead" in done.stdout and "boom" in done.stdout


def test_submit_with_wait_gives_up_after_its_timeout(engine: EngineProcess) -> None:
    done = task(
        "submit", "async_sleep", "--payload", '{"seconds": 30}', "--wait", "--timeout", "0.5",
        engine=engine,
    )  # fmt: skip
    assert done.returncode == 1
    assert "not finished after 0.5 s" in one_line(done)


def test_submit_without_wait_prints_the_id_and_get_shows_it(
    engine: EngineProcess, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"to": "a@b.c", "min_s": 0, "max_s": 0, "fail_rate": 0}))
    done = task("submit", "send_email", "--payload", f"@{payload}", engine=engine)
    assert done.returncode == 0, done.stderr
    first = done.stdout.split()
    assert first[0] == "task"
    task_id = first[1]
    shown = task("get", task_id, engine=engine)
    assert shown.returncode == 0, shown.stderr
    assert f"task {task_id}" in shown.stdout and '"to": "a@b.c"' in shown.stdout


def test_list_filters_by_state_and_tenant(engine: EngineProcess) -> None:
    made = subprocess.run(
        [SKIPLOCK, "tenant", "create", "acme"],
        env={**os.environ, "SKIPLOCK_DATABASE_URL": engine.database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.returncode == 0
    ok = task("submit", "noop", "--tenant", "acme", "--wait", engine=engine)
    assert ok.returncode == 0, ok.stderr
    bad = task("submit", "fail", "--wait", engine=engine)
    assert bad.returncode == 1
    acme = task("list", "--tenant", "acme", engine=engine)
    assert acme.returncode == 0, acme.stderr
    rows = [line for line in acme.stdout.splitlines() if "noop" in line or "fail" in line]
    assert rows and all("acme" in row and "noop" in row for row in rows)
    dead = task("list", "--state", "dead", engine=engine)
    rows = [line for line in dead.stdout.splitlines() if "default" in line or "acme" in line]
    assert rows and all("dead" in row for row in rows)
    assert not any("succeeded" in row for row in rows)


def test_list_searches_payload_and_error_words(engine: EngineProcess) -> None:
    ok = task("submit", "noop", "--payload", '{"pet": "capybara"}', "--wait", engine=engine)
    assert ok.returncode == 0, ok.stderr
    found = task("list", "--search", "capybara", engine=engine)
    assert found.returncode == 0, found.stderr
    assert [line for line in found.stdout.splitlines() if "noop" in line]
    failed = task("submit", "fail", "--wait", engine=engine)
    assert failed.returncode == 1
    by_error = task("list", "--search", "runtimeerror purpose", engine=engine)
    rows = [line for line in by_error.stdout.splitlines() if "fail" in line]
    assert rows and all("dead" in row for row in rows)
    refused = task("list", "--search", "ab", engine=engine)
    assert refused.returncode != 0 and "3 or more" in refused.stderr


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["submit", "no_such_type"], 2, "error: no worker has announced task type 'no_such_type'"),
        (["submit", "noop", "--priority", "100000"], 2, "error: priority: Input should be"),
        (["submit", "noop", "--tenant", "nobody"], 1, "error: tenant 'nobody' does not exist"),
        (["get", "987654"], 1, "error: task 987654 does not exist"),
        (["submit", "noop", "--payload", "{bad"], 2, "Invalid value for --payload: not JSON"),
    ],
)
def test_errors_are_one_line_with_the_apis_message(
    engine: EngineProcess, args: list[str], status: int, message: str
) -> None:
    done = task(*args, engine=engine)
    assert done.returncode == status, done.stderr
    if args[-1] == "{bad":  # click's usage errors add a usage line and a hint
        assert message in done.stderr
        return
    assert one_line(done).startswith(message)


def test_a_wrong_key_and_an_unreachable_instance_say_what_to_do(engine: EngineProcess) -> None:
    wrong = task("list", engine=engine, SKIPLOCK_API_KEY="sk_abcdefgh_" + "x" * 40)
    assert wrong.returncode == 1
    assert "--key, SKIPLOCK_API_KEY" in one_line(wrong)
    nobody = f"http://127.0.0.1:{spare_port()}"
    away = task("list", "--url", nobody, engine=engine)
    assert away.returncode == 1
    assert one_line(away) == (
        f"error: cannot reach {nobody}: is `skiplock serve` running there? (--url, SKIPLOCK_URL)"
    )


def test_the_key_comes_from_the_admin_key_setting_or_the_saved_file(
    engine: EngineProcess, tmp_path: Path
) -> None:
    with_env = task(
        "list", cwd=tmp_path, SKIPLOCK_URL=engine.url, SKIPLOCK_ADMIN_KEY=engine.admin_key
    )
    assert with_env.returncode == 0, with_env.stderr
    without = task("list", cwd=tmp_path, SKIPLOCK_URL=engine.url)
    assert without.returncode == 1
    assert one_line(without).startswith("error: an API key is required")
    (tmp_path / ".skiplock").mkdir()
    (tmp_path / ".skiplock" / "admin-key").write_text(engine.admin_key + "\n")
    saved = task("list", cwd=tmp_path, SKIPLOCK_URL=engine.url)
    assert saved.returncode == 0, saved.stderr
    port_only = task("list", cwd=tmp_path, SKIPLOCK_PORT=str(engine.port))
    assert port_only.returncode == 0, port_only.stderr
