from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiplock.domain.retry import backoff_s


@given(attempt=st.integers(1, 200), base=st.floats(0, 60), r=st.floats(0, 0.999999))
def test_backoff_stays_within_the_exponential_ceiling_and_the_cap(
    attempt: int, base: float, r: float
) -> None:
    delay = backoff_s(attempt, base_s=base, rand=lambda: r, cap_s=3600)
    assert 0 <= delay <= min(3600, base * 2 ** (attempt - 1))


def test_backoff_doubles_its_ceiling_per_attempt() -> None:
    top = [backoff_s(a, base_s=2, rand=lambda: 0.999999) for a in (1, 2, 3, 4)]
    assert [round(t) for t in top] == [2, 4, 8, 16]


def test_full_jitter_can_retry_immediately() -> None:
    assert backoff_s(5, base_s=2, rand=lambda: 0.0) == 0.0


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match=r"^attempt numbers start at 1$"):
        backoff_s(0, base_s=1, rand=lambda: 0.5)
