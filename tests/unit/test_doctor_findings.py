"""What ``skiplock doctor`` concludes from the buffer pool and the registry's heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from skiplock.cli.doctor import buffer_pool_finding, clock_finding
from skiplock.ports import InstanceInfo

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
MIB = 1024 * 1024


def instance(name: str, heartbeat_age_s: float) -> InstanceInfo:
    return InstanceInfo(
        id=name,
        host="h",
        roles=("worker",),
        started_at=NOW - timedelta(hours=1),
        last_heartbeat=NOW - timedelta(seconds=heartbeat_age_s),
        slots=8,
        busy=0,
        tasks=(),
    )


def test_a_tasks_table_larger_than_the_buffer_pool_is_wrong_with_a_size_to_set() -> None:
    found = buffer_pool_finding(128 * MIB, 800 * MIB)
    assert found.ok is False
    assert "innodb_buffer_pool_size 128 MiB, tasks table 800 MiB" in found.detail
    assert "at least 1,000 MiB" in found.fix and "mysql.bufferPoolSize" in found.fix


def test_a_table_that_fits_the_buffer_pool_is_fine() -> None:
    assert buffer_pool_finding(128 * MIB, 100 * MIB).ok is True


def test_heartbeats_within_one_interval_are_no_skew() -> None:
    found = clock_finding(
        [instance("a", 0.1), instance("b", 3.0), instance("c", -1.0)], now=NOW, interval_s=3.3
    )
    assert found.ok is True and "3 instance(s)" in found.detail


def test_a_heartbeat_from_the_future_is_a_clock_ahead() -> None:
    found = clock_finding([instance("a", 0.5), instance("b", -30)], now=NOW, interval_s=3.3)
    assert found.ok is False
    assert found.detail == "b is 30.0 s ahead of this clock"
    assert "NTP" in found.fix


def test_a_live_entry_older_than_the_interval_is_a_clock_behind() -> None:
    found = clock_finding([instance("a", 20)], now=NOW, interval_s=3.0)
    assert found.ok is False
    assert found.detail == "a is at least 17.0 s behind this clock"


def test_no_instances_means_nothing_to_compare() -> None:
    assert clock_finding([], now=NOW, interval_s=3.0).ok is None
