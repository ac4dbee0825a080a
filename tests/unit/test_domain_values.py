"""The domain's small value rules: option bounds, analytics percentiles, and what each
error carries to the API's error body and the client."""

from __future__ import annotations

import pytest

from skiplock.domain import limits
from skiplock.domain.errors import (
    FieldError,
    RateLimited,
    SkiplockError,
    TimedOut,
    Unavailable,
    ValidationError,
)
from skiplock.domain.stats import percentile, percentiles


@pytest.mark.parametrize(
    ("bounds", "inside", "outside"),
    [
        (limits.PRIORITY, (-100, 0, 100), (-101, 101)),
        (limits.COST, (1, 1000), (0, 1001)),
        (limits.MAX_ATTEMPTS, (1, 100), (0, 101)),
        (limits.TIMEOUT_S, (0.1, 86_400), (0.09, 86_400.5)),
        (limits.DELAY_S, (0, 31_536_000), (-1, 31_536_001)),
    ],
)
def test_bounds_hold_both_ends_and_nothing_past_them(
    bounds: limits.Bounds, inside: tuple[float, ...], outside: tuple[float, ...]
) -> None:
    assert all(bounds.holds(v) for v in inside)
    assert not any(bounds.holds(v) for v in outside)


def test_bounds_read_as_a_range() -> None:
    assert str(limits.PRIORITY) == "-100..100"
    assert str(limits.TIMEOUT_S) == "0.1..86400"


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 201)]
    got = percentiles(list(reversed(values)))  # any order in, sorted inside
    assert (got.p50, got.p95, got.p99) == (100.0, 190.0, 198.0)
    assert percentile(values, 0) == 1.0  # the lowest rank is the first value
    assert percentile(values[:10], 10) == 1.0
    assert percentile(values, 100) == 200.0
    assert percentile([], 50) is None
    assert percentiles([]) == percentiles(())


def test_an_error_carries_its_message_and_status() -> None:
    err = SkiplockError("it broke", status=418)
    assert (str(err), err.message, err.status) == ("it broke", "it broke", 418)
    assert SkiplockError("local").status is None


def test_unavailable_asks_to_come_back_in_five_seconds_unless_told_otherwise() -> None:
    assert Unavailable("db down").retry_after_s == 5
    assert TimedOut("slow", retry_after_s=2).retry_after_s == 2
    assert RateLimited("over", retry_after_s=1.5).retry_after_s == 1.5


def test_a_validation_error_names_its_fields() -> None:
    one = ValidationError("must be positive", field="priority")
    assert one.field == "priority"
    assert one.fields == (FieldError("priority", "must be positive"),)
    many = ValidationError(
        "2 problems", fields=[FieldError("tasks.0.type", "missing"), FieldError("cost", "big")]
    )
    assert many.field == "tasks.0.type"
    assert [f.field for f in many.fields] == ["tasks.0.type", "cost"]
    both = ValidationError("x", field="cost", fields=[FieldError("tasks.1.cost", "big")])
    assert (both.field, both.fields) == ("cost", (FieldError("tasks.1.cost", "big"),))
    anon = ValidationError("bad body")
    assert (anon.field, anon.fields) == (None, ())
