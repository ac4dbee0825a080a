from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.ratelimit import SlidingWindow, parse_rate_limit


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
