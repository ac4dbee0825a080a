from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiplock.domain.ratelimit import SlidingWindow, parse_rate_limit


@given(
    requests=st.lists(st.tuples(st.floats(0, 5), st.integers(1, 10)), max_size=200),
    limit=st.integers(1, 50),
    window=st.integers(1, 10),
)
def test_no_window_ever_admits_more_than_the_limit(
    requests: list[tuple[float, int]], limit: int, window: int
) -> None:
    w = SlidingWindow()
    now = 0.0
    admitted: list[tuple[float, int]] = []
    for gap, cost in requests:
        now += gap
        if w.admit(now, cost, limit=limit, window_s=window).allowed:
            admitted.append((now, cost))
    for t, _ in admitted:
        in_window = sum(c for s, c in admitted if t - window < s <= t)
        assert in_window <= limit


def test_refusal_says_when_enough_budget_frees() -> None:
    w = SlidingWindow()
    assert w.admit(0.0, 6, limit=10, window_s=60).allowed
    assert w.admit(10.0, 4, limit=10, window_s=60).allowed
    refused = w.admit(20.0, 5, limit=10, window_s=60)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(40.0)  # the first entry leaves at 60
    assert w.admit(60.0, 5, limit=10, window_s=60).allowed


def test_a_refused_request_consumes_nothing() -> None:
    w = SlidingWindow()
    assert w.admit(0.0, 8, limit=10, window_s=10).allowed
    assert not w.admit(1.0, 5, limit=10, window_s=10).allowed
    assert w.admit(1.0, 2, limit=10, window_s=10).allowed


@pytest.mark.parametrize("text", ["10", "a/b", "0/10", "10/0", "5/100000"])
def test_malformed_rate_limits_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_rate_limit(text)


def test_rate_limits_parse_as_cost_per_seconds() -> None:
    assert parse_rate_limit("100/60") == (100, 60)


def _window(entries: list[tuple[float, int]]) -> SlidingWindow:
    w = SlidingWindow()
    for at, cost in entries:
        assert w.admit(at, cost, limit=1_000, window_s=1_000).allowed
    return w


def test_retry_after_waits_for_the_oldest_entries_whose_cost_makes_room() -> None:
    # 9 of 10 used by three cost-3 entries; a cost-5 request needs 4 freed: the first
    # entry frees 3, the second makes it 6, so it fits when the second leaves.
    w = _window([(0.0, 3), (10.0, 3), (20.0, 3)])
    refused = w.admit(25.0, 5, limit=10, window_s=60)
    assert (refused.allowed, refused.used) == (False, 9)
    assert refused.retry_after_s == pytest.approx(10.0 + 60 - 25.0)
    assert refused.reset_s == pytest.approx(20.0 + 60 - 25.0)


def test_retry_after_counts_an_entry_that_frees_exactly_what_is_needed() -> None:
    # Cost 4 needs 9 + 4 - 10 = 3 freed: the first entry alone frees exactly 3.
    w = _window([(0.0, 3), (10.0, 3), (20.0, 3)])
    refused = w.admit(25.0, 4, limit=10, window_s=60)
    assert refused.retry_after_s == pytest.approx(60 - 25.0)


def test_retry_after_of_a_request_that_fits_in_under_a_second_is_that_fraction() -> None:
    w = _window([(0.0, 5)])
    refused = w.admit(9.75, 1, limit=5, window_s=10)
    assert refused.retry_after_s == pytest.approx(0.25)
    assert refused.reset_s == pytest.approx(0.25)


def test_a_request_that_exactly_fills_the_limit_is_admitted_and_reports_the_window() -> None:
    w = _window([(0.0, 4)])
    got = w.admit(2.0, 6, limit=10, window_s=30)
    assert (got.allowed, got.used, got.retry_after_s) == (True, 10, 0.0)
    assert got.reset_s == pytest.approx(30.0)  # the newest entry leaves 30 s from now


def test_an_entry_leaves_the_window_exactly_a_window_later() -> None:
    w = _window([(0.0, 5)])
    assert not w.admit(9.999, 1, limit=5, window_s=10).allowed
    after = w.admit(10.0, 5, limit=5, window_s=10)
    assert (after.allowed, after.used) == (True, 5)


def test_an_emptied_window_resets_at_once() -> None:
    w = _window([(0.0, 2)])
    w.evict(100.0, 10)
    assert (w.total, len(w.entries)) == (0, 0)
    refused = w.admit(100.0, 11, limit=10, window_s=10)
    assert (refused.allowed, refused.used, refused.reset_s) == (False, 0, 0.0)
    assert refused.retry_after_s == 10  # it never fits: a whole window


def test_a_cost_below_one_is_refused_before_it_touches_the_window() -> None:
    w = SlidingWindow()
    with pytest.raises(ValueError, match=r"^cost must be at least 1$"):
        w.admit(0.0, 0, limit=10, window_s=10)
    assert w.total == 0


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1/1", (1, 1)), ("10000000/86400", (10_000_000, 86_400)), (" 5/10\n", (5, 10))],
)
def test_rate_limits_at_their_bounds_parse(text: str, parsed: tuple[int, int]) -> None:
    assert parse_rate_limit(text) == parsed


@pytest.mark.parametrize("text", ["10000001/60", "1/86401", "-1/60", "5/-1", "0/0"])
def test_rate_limits_past_their_bounds_name_the_bounds(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"^rate limit needs 1 <= COST <= 10,000,000 and 1 <= SECONDS <= 86,400$"
    ):
        parse_rate_limit(text)


@pytest.mark.parametrize("text", ["", "5", "5/", "/5", "5/10/2", "1.5/10", "x/y"])
def test_rate_limits_that_are_not_cost_per_seconds_say_so(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not COST/SECONDS, e\.g\. 100/60"):
        parse_rate_limit(text)
