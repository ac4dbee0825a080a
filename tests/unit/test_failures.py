"""A failed attempt's traceback is kept whole when it is small and cut to a bound when not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiplock.domain.failures import MAX_TRACEBACK_CHARS, bound_traceback


def test_a_traceback_that_fits_is_kept_whole() -> None:
    text = "Traceback (most recent call last):\n  File ...\nValueError: boom\n"
    assert bound_traceback(text) == text


def test_a_long_traceback_keeps_its_start_and_its_end_around_a_marker() -> None:
    text = "Traceback (most recent call last):\n" + "  frame\n" * 10_000 + "ValueError: boom"
    cut = bound_traceback(text)
    assert len(cut) <= MAX_TRACEBACK_CHARS
    assert cut.startswith("Traceback (most recent call last):\n")
    assert cut.endswith("ValueError: boom")
    marker = cut.split("[… ", 1)[1].split(" characters cut …]", 1)[0]
    # The marker says exactly how much is missing.
    assert len(cut) - len(f"\n[… {marker} characters cut …]\n") + int(marker) == len(text)


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=64, max_value=2000))
def test_the_bound_always_holds(text: str, limit: int) -> None:
    cut = bound_traceback(text, limit)
    assert len(cut) <= limit
    assert (cut == text) == (len(text) <= limit)


def test_a_limit_without_room_for_the_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="marker"):
        bound_traceback("x" * 100, 10)
