"""Waiting at start: one line per attempt with a doubling, capped delay, one overall bound,
and a readiness summary that names no host."""

from __future__ import annotations

import asyncio

import pytest

from skiplock.services.startup import (
    Dependency,
    NotYet,
    Startup,
    StartupConfig,
    StartupFailed,
    reason,
)


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def refusing(times: int, error: Exception | None = None) -> Dependency:
    calls = {"n": 0}

    async def check() -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error or ConnectionRefusedError(111, "Connection refused")

    return Dependency(name="the database", target="MySQL at db:3306", check=check)


def run(startup: Startup, *deps: Dependency) -> None:
    asyncio.run(startup.run(list(deps)))


def test_each_failed_attempt_says_what_it_waits_for_why_and_when_it_tries_again() -> None:
    clock, lines = FakeTime(), []
    startup = Startup(
        StartupConfig(timeout_s=60, first_delay_s=0.5, max_delay_s=4),
        say=lines.append,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    run(startup, refusing(6))
    assert lines == [
        "waiting for MySQL at db:3306: connection refused (attempt 1, next in 0.5 s)",
        "waiting for MySQL at db:3306: connection refused (attempt 2, next in 1 s)",
        "waiting for MySQL at db:3306: connection refused (attempt 3, next in 2 s)",
        "waiting for MySQL at db:3306: connection refused (attempt 4, next in 4 s)",
        "waiting for MySQL at db:3306: connection refused (attempt 5, next in 4 s)",
        "waiting for MySQL at db:3306: connection refused (attempt 6, next in 4 s)",
    ]
    assert clock.sleeps == [0.5, 1, 2, 4, 4, 4]
    assert startup.failure is None


def test_it_gives_up_at_the_bound_with_one_line_and_never_sleeps_past_it() -> None:
    clock, lines = FakeTime(), []
    startup = Startup(
        StartupConfig(timeout_s=5, first_delay_s=1, max_delay_s=8),
        say=lines.append,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    with pytest.raises(StartupFailed) as failed:
        run(startup, refusing(100))
    assert str(failed.value) == (
        "gave up waiting for MySQL at db:3306 after 5 s: connection refused"
    )
    assert "\n" not in str(failed.value)
    assert startup.failure == str(failed.value)
    assert sum(clock.sleeps) == pytest.approx(5)  # 1 + 2 + the 2 s left, not 4
    assert clock.sleeps[-1] == pytest.approx(2)


def test_the_bound_covers_every_dependency_together() -> None:
    clock = FakeTime()
    startup = Startup(
        StartupConfig(timeout_s=4, first_delay_s=1, max_delay_s=1),
        say=lambda _: None,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    redis = Dependency(name="redis", target="Redis at r:6379", check=refusing(3).check)
    with pytest.raises(StartupFailed, match="Redis at r:6379"):
        run(startup, refusing(3), redis)
    assert clock.now == pytest.approx(4)


def test_readiness_names_the_dependency_and_reason_but_no_host() -> None:
    clock = FakeTime()
    seen: list[str | None] = []
    startup = Startup(
        StartupConfig(timeout_s=60),
        say=lambda _: None,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )

    async def sleep_and_look(seconds: float) -> None:
        seen.append(startup.waiting_for)
        await clock.sleep(seconds)

    startup._sleep = sleep_and_look
    driver_error = RuntimeError(
        "(2003, \"Can't connect to MySQL server on 'db.internal' "
        '([Errno 111] Connection refused)")'
    )
    run(startup, refusing(2, driver_error))
    assert seen == [
        "the database (connection refused, attempt 1)",
        "the database (connection refused, attempt 2)",
    ]
    assert not startup.done
    startup.finished()
    assert startup.done
    assert startup.waiting_for is None


def test_an_unknown_error_shows_its_message_in_the_log_and_only_its_type_in_readiness() -> None:
    clock, lines = FakeTime(), []
    startup = Startup(
        StartupConfig(timeout_s=60), say=lines.append, sleep=clock.sleep, monotonic=clock.monotonic
    )
    run(startup, refusing(1, ValueError("server at 10.0.0.7 said something odd")))
    assert lines == [
        "waiting for MySQL at db:3306: server at 10.0.0.7 said something odd "
        "(attempt 1, next in 0.5 s)"
    ]
    assert startup.waiting_for == "the database (ValueError, attempt 1)"


@pytest.mark.parametrize(
    ("message", "short"),
    [
        (
            "(2003, \"Can't connect to MySQL server on 'db' "
            '([Errno -2] Name or service not known)")',
            "unknown host",
        ),
        ("Error 111 connecting to 127.0.0.1:6390. Connection refused.", "connection refused"),
        (
            "(1045, \"Access denied for user 'skiplock'@'10.1.2.3' (using password: YES)\")",
            "access denied",
        ),
        ("(1049, \"Unknown database 'skiplock'\")", "unknown database"),
        ("WRONGPASS invalid username-password pair or user is disabled.", "wrong password"),
        ("Timeout connecting to server", "timed out"),
    ],
)
def test_driver_errors_are_reduced_to_the_reason_a_person_acts_on(message: str, short: str) -> None:
    assert reason(RuntimeError(message)) == short


def test_a_schema_not_yet_there_is_explained_in_its_own_words() -> None:
    clock, lines = FakeTime(), []
    startup = Startup(
        StartupConfig(timeout_s=60), say=lines.append, sleep=clock.sleep, monotonic=clock.monotonic
    )
    versions = iter([0, 3, 4])

    async def check() -> None:
        found = next(versions)
        if found < 4:
            raise NotYet(f"the database is at schema version {found}")

    run(startup, Dependency(name="schema version 4", target="schema version 4", check=check))
    assert lines == [
        "waiting for schema version 4: the database is at schema version 0 "
        "(attempt 1, next in 0.5 s)",
        "waiting for schema version 4: the database is at schema version 3 "
        "(attempt 2, next in 1 s)",
    ]
