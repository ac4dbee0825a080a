"""`skiplock schedule`, run as users run it: the commands write through the same
service as the HTTP API, so what they create the API reads, with the same checks."""

from __future__ import annotations

import json

from skiplock.adapters.sql import create_store
from tests.integration.test_cli import run


def test_a_schedule_made_on_the_command_line_is_the_one_the_store_holds(
    sqlite_url: str,
) -> None:
    assert run("migrate", db=sqlite_url).returncode == 0
    made = run(
        "schedule", "create", "nightly", "--type", "noop", "--cron", "30 2 * * *",
        "--timezone", "Europe/Berlin", "--payload", json.dumps({"kind": "report"}),
        db=sqlite_url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "created schedule nightly (tenant default); next run 20" in made.stdout
    store = create_store(sqlite_url)
    try:
        got = store.get_schedule("nightly")
        assert got.spec.timing.cron == "30 2 * * *"
        assert got.spec.timing.timezone == "Europe/Berlin"
        assert got.spec.payload == {"kind": "report"} and got.spec.enabled

        listed = run("schedule", "list", db=sqlite_url)
        assert listed.returncode == 0 and "nightly" in listed.stdout
        assert "Europe/Berlin" in listed.stdout

        assert run("schedule", "pause", "nightly", db=sqlite_url).returncode == 0
        assert not store.get_schedule("nightly").spec.enabled
        resumed = run("schedule", "resume", "nightly", db=sqlite_url)
        assert resumed.returncode == 0 and "next run 20" in resumed.stdout
        assert store.get_schedule("nightly").spec.enabled

        fired = run("schedule", "trigger", "nightly", db=sqlite_url)
        assert fired.returncode == 0, fired.stderr
        task_id = int(fired.stdout.split()[-1])
        assert store.get_task(task_id).schedule == "nightly"

        assert run("schedule", "delete", "nightly", db=sqlite_url).returncode == 0
        assert store.list_schedules() == []
    finally:
        store.close()


def test_bad_input_on_the_command_line_names_the_field_and_writes_nothing(
    sqlite_url: str,
) -> None:
    assert run("migrate", db=sqlite_url).returncode == 0
    cases = [
        (["--type", "noop", "--cron", "61 * * * *"], "cron"),
        (["--type", "noop", "--every", "0"], "every_s"),
        (["--type", "noop", "--every", "5", "--timezone", "Mars/Olympus"], "timezone"),
        (["--type", "no-such-type", "--every", "5"], "no worker has announced"),
        (["--type", "noop"], "exactly one of --cron and --every"),
        (["--type", "noop", "--every", "5", "--tenant", "nobody"], "tenant"),
    ]
    for args, named in cases:
        out = run("schedule", "create", "s1", *args, db=sqlite_url)
        assert out.returncode != 0, (args, out.stdout)
        assert named in out.stderr, (args, out.stderr)
    store = create_store(sqlite_url)
    try:
        assert store.list_schedules() == []
    finally:
        store.close()
    missing = run("schedule", "pause", "ghost", db=sqlite_url)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
