"""Handler options are checked like a submission's and fill in what a submission leaves
out; Retry's delay is bounded; importing skiplock stays light."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from skiplock.handlers import HandlerDefaults, HandlerRegistry, Retry, handler, registry
from skiplock.services.submissions import SubmitRules, TaskIn, cost_of, new_task
from skiplock.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RULES = SubmitRules.of(Settings(default_max_attempts=3, default_timeout_s=300.0))


def registry_with_defaults() -> dict[str, HandlerDefaults]:
    """Known types as the catalog hands them to submissions: name -> handler defaults."""
    reg = HandlerRegistry()
    handler_fn = lambda payload: None  # noqa: E731 -- a stand-in handler
    reg.register("plain", handler_fn)
    reg.register("tuned", handler_fn, HandlerDefaults(max_attempts=7, timeout_s=12.5, cost=4))
    return {name: h.defaults for name in reg.names() if (h := reg.get(name))}


def test_a_submission_that_leaves_options_out_takes_the_handlers_defaults() -> None:
    task = new_task(
        TaskIn(type="tuned"), tenant_id=1, now=NOW, types=registry_with_defaults(), rules=RULES
    )
    assert (task.max_attempts, task.timeout_s, task.cost) == (7, 12.5, 4)


def test_a_submissions_own_options_win_over_the_handlers() -> None:
    item = TaskIn(type="tuned", max_attempts=2, timeout_s=1, cost=1)
    task = new_task(item, tenant_id=1, now=NOW, types=registry_with_defaults(), rules=RULES)
    assert (task.max_attempts, task.timeout_s, task.cost) == (2, 1.0, 1)


def test_without_handler_defaults_the_engines_apply() -> None:
    item = TaskIn(type="plain", delay_s=5)
    task = new_task(item, tenant_id=1, now=NOW, types=registry_with_defaults(), rules=RULES)
    assert (task.max_attempts, task.timeout_s, task.cost) == (3, 300.0, 1)
    assert task.run_at == NOW + timedelta(seconds=5)


def test_the_rate_limiter_is_charged_the_handlers_cost() -> None:
    reg = registry_with_defaults()
    assert cost_of(TaskIn(type="tuned"), reg) == 4
    assert cost_of(TaskIn(type="tuned", cost=1), reg) == 1
    assert cost_of(TaskIn(type="plain"), reg) == 1


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"max_attempts": 101}, {"timeout_s": 0.01}, {"cost": 1001}],
)
def test_handler_options_out_of_bounds_are_refused_at_decoration(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        handler("never_registered", **options)  # type: ignore[arg-type]
    assert "never_registered" not in registry


def test_handler_options_must_be_numbers_of_the_right_kind() -> None:
    with pytest.raises(TypeError):
        handler("never_registered", max_attempts=2.5)  # type: ignore[arg-type]


def test_retry_delay_is_bounded() -> None:
    assert Retry(delay_s=0).delay_s == 0
    assert Retry("later").delay_s is None and str(Retry("later")) == "later"
    with pytest.raises(ValueError, match="delay_s"):
        Retry(delay_s=-1)


def test_importing_skiplock_loads_no_server_or_client_library() -> None:
    code = (
        "import sys, skiplock\n"
        "heavy = [m for m in ('httpx', 'sqlalchemy', 'fastapi', 'pydantic', 'uvicorn', 'redis')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from skiplock import Client, Task, RateLimited\n"
        "server = [m for m in ('sqlalchemy', 'fastapi', 'pydantic', 'uvicorn', 'redis')"
        " if m in sys.modules]\n"
        "assert not server, server\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
