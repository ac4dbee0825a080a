"""Fire times of schedules: cron in a time zone across daylight-saving changes, fixed
intervals, and what catch-up does with ticks missed during downtime."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skiplock.domain.errors import ValidationError
from skiplock.domain.schedules import (
    CATCH_UP_BOUND,
    CatchUp,
    Timing,
    due_ticks,
    next_ticks,
)

BERLIN = ZoneInfo("Europe/Berlin")
# 2026 in Europe/Berlin: clocks go 02:00 -> 03:00 on 29 March, 03:00 -> 02:00 on 25 October.
SPRING = datetime(2026, 3, 27, tzinfo=UTC)
AUTUMN = datetime(2026, 10, 23, tzinfo=UTC)


def _local(ticks: list[datetime]) -> list[str]:
    return [t.astimezone(BERLIN).strftime("%m-%d %H:%M%z") for t in ticks]


def test_a_daily_cron_fires_after_the_gap_on_the_spring_forward_day() -> None:
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    assert _local(next_ticks(daily, SPRING, 4)) == [
        "03-27 02:30+0100",
        "03-28 02:30+0100",
        "03-29 03:00+0200",  # 02:30 does not exist that day: the first minute after the gap
        "03-30 02:30+0200",
    ]


def test_a_daily_cron_fires_once_on_the_fall_back_day() -> None:
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = next_ticks(daily, AUTUMN, 4)
    assert _local(ticks) == [
        "10-23 02:30+0200",
        "10-24 02:30+0200",
        "10-25 02:30+0200",  # the first of the two 02:30s only
        "10-26 02:30+0100",
    ]
    # Asking from between the two 02:30s does not give the second one.
    between = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 02:45 CEST
    assert _local(next_ticks(daily, between, 1)) == ["10-26 02:30+0100"]


def test_an_hourly_cron_fires_once_per_real_hour_across_both_changes() -> None:
    hourly = Timing(cron="0 * * * *", timezone="Europe/Berlin")
    for start in (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC)):
        ticks = next_ticks(hourly, start, 8)
        gaps = {b - a for a, b in itertools.pairwise(ticks)}
        assert gaps == {timedelta(hours=1)}
        assert len(set(ticks)) == 8
    autumn = next_ticks(hourly, datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 3)
    assert _local(autumn) == ["10-25 02:00+0200", "10-25 02:00+0100", "10-25 03:00+0100"]


def test_a_six_field_cron_has_seconds_first() -> None:
    t = Timing(cron="*/20 * * * * *")
    start = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)
    assert [x.second for x in next_ticks(t, start, 4)] == [20, 40, 0, 20]


def test_an_interval_ticks_on_multiples_of_itself_from_the_epoch() -> None:
    t = Timing(every_s=90)
    ticks = next_ticks(t, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), 3)
    assert all(int(x.timestamp()) % 90 == 0 for x in ticks)
    assert ticks[1] - ticks[0] == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 0 30 2 *"}, "cron"),
        ({"every_s": 0}, "every_s"),
        ({"every_s": -1}, "every_s"),
        ({}, "cron"),
        ({"cron": "* * * * *", "every_s": 5}, "every_s"),
        ({"every_s": 5, "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_bad_timing_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Timing(**kwargs)  # type: ignore[arg-type]
    assert field in [f.field for f in raised.value.fields]


NOW = datetime(2026, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
MINUTELY = Timing(every_s=60)


def test_on_time_ticks_fire_under_every_policy() -> None:
    first = NOW - timedelta(seconds=0.25)  # the tick at 12:00:00
    for policy in CatchUp:
        due = due_ticks(MINUTELY, first, NOW, policy, grace_s=10)
        assert due.fire == [first] and due.skipped == 0
        assert due.next_at == first + timedelta(minutes=1)


def test_after_an_outage_none_skips_one_fires_the_latest_all_fires_each() -> None:
    first = datetime(2026, 6, 1, 11, 50, tzinfo=UTC)  # ten ticks late, one on time
    none = due_ticks(MINUTELY, first, NOW, CatchUp.NONE, grace_s=10)
    assert none.fire == [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)] and none.skipped == 10
    late_only = NOW + timedelta(seconds=30)  # the 12:00 tick is now late too
    assert due_ticks(MINUTELY, first, late_only, CatchUp.NONE, grace_s=10).fire == []
    one = due_ticks(MINUTELY, first, late_only, CatchUp.ONE, grace_s=10)
    assert one.fire == [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)] and one.skipped == 10
    every = due_ticks(MINUTELY, first, late_only, CatchUp.ALL, grace_s=10)
    assert len(every.fire) == 11 and every.skipped == 0
    assert every.fire == sorted(every.fire) and every.fire[0] == first


def test_catch_up_all_fires_at_most_the_bound() -> None:
    first = datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    due = due_ticks(MINUTELY, first, NOW, CatchUp.ALL, grace_s=0)
    assert len(due.fire) == CATCH_UP_BOUND
    assert due.fire[-1] == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert due.skipped == 24 * 60 + 1 - CATCH_UP_BOUND


def test_a_year_of_one_second_ticks_is_not_walked_one_by_one() -> None:
    every_second = Timing(cron="* * * * * *")
    due = due_ticks(every_second, NOW - timedelta(days=365), NOW, CatchUp.ALL, grace_s=0)
    assert len(due.fire) == CATCH_UP_BOUND
    assert due.fire[-1] == NOW.replace(microsecond=0)
    assert due.next_at == NOW.replace(microsecond=0) + timedelta(seconds=1)


@settings(max_examples=60, deadline=None)
@given(
    every=st.integers(min_value=1, max_value=7200),
    behind_s=st.integers(min_value=0, max_value=20_000),
    policy=st.sampled_from(list(CatchUp)),
    grace=st.integers(min_value=0, max_value=120),
)
def test_due_ticks_never_fire_a_tick_twice_nor_one_outside_the_range(
    every: int, behind_s: int, policy: CatchUp, grace: int
) -> None:
    t = Timing(every_s=every)
    [first] = next_ticks(t, NOW - timedelta(seconds=behind_s + every), 1)
    due = due_ticks(t, first, NOW, policy, grace_s=grace)
    assert len(set(due.fire)) == len(due.fire) and due.fire == sorted(due.fire)
    assert all(first <= x <= NOW for x in due.fire)
    assert due.next_at is not None and due.next_at > NOW
    assert len(due.fire) <= CATCH_UP_BOUND + 1
    # Everything in range was either fired or counted as skipped.
    in_range = len(
        [x for x in next_ticks(t, first - timedelta(microseconds=1), 30_000) if x <= NOW]
    )
    assert len(due.fire) + due.skipped == in_range
    # The next pass starts where this one stopped: no tick is reconsidered.
    assert due_ticks(t, due.next_at, NOW, policy, grace_s=grace).fire == []


@settings(max_examples=40, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
    ),
    cron=st.sampled_from(["30 2 * * *", "0 * * * *", "*/15 * * * *", "0 3 * * 0", "15 1 1 * *"]),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]),
)
def test_cron_ticks_strictly_increase_from_any_start(start: datetime, cron: str, zone: str) -> None:
    ticks = next_ticks(Timing(cron=cron, timezone=zone), start, 30)
    assert len(ticks) == 30 and ticks[0] > start
    assert all(a < b for a, b in itertools.pairwise(ticks))
