"""spec.schedules, pure: parsing, the plan that makes the engine match (only the
TaskQueue's own schedules), the status, and the engine's answers parsed from its own
response models."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from skiplock.api.schedule_schemas import ScheduleListOut, ScheduleOut
from skiplock.domain.schedules import NAME_PATTERN, CatchUp
from skiplock_operator.conditions import Observed, build_conditions
from skiplock_operator.scaling import SpecError
from skiplock_operator.schedules import (
    EngineSchedule,
    ScheduleSpecError,
    owned,
    owner_prefix,
    plan_changes,
    schedule_statuses,
    schedules_from_spec,
)
from skiplock_operator.spec import parse_spec
from skiplock_operator.status import build_status_patch

T0 = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)
SPEC = {
    "workerRef": {"name": "w"},
    "engine": {"url": "http://api:8080", "adminKeySecretRef": {"name": "s"}},
}


def parse(raw: dict[str, Any]) -> Any:
    return schedules_from_spec(raw, namespace="jobs", taskqueue="skiplock")


def engine_out(name: str, **fields: Any) -> dict[str, Any]:
    """A schedule as the engine answers it: its own response model, dumped to JSON."""
    base: dict[str, Any] = {
        "name": name,
        "tenant": "default",
        "type": "noop",
        "payload": None,
        "cron": None,
        "every_s": 60,
        "timezone": "UTC",
        "priority": 0,
        "cost": None,
        "max_attempts": None,
        "timeout_s": None,
        "catch_up": CatchUp.ONE,
        "enabled": True,
        "next_run_at": T0 + datetime.timedelta(minutes=1),
        "last_run_at": None,
        "last_task_id": None,
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(fields)
    return ScheduleOut(**base).model_dump(mode="json")


def engine_has(*items: dict[str, Any]) -> dict[str, EngineSchedule]:
    body = ScheduleListOut.model_validate({"items": list(items)}).model_dump(mode="json")
    return {s.name: s for s in map(EngineSchedule.from_json, body["items"])}


def test_a_declared_schedule_is_named_under_its_taskqueues_prefix_in_engine_terms() -> None:
    parsed = parse(
        {
            "nightly": {
                "type": "report",
                "cron": "0 3 * * *",
                "timezone": "Europe/Berlin",
                "tenant": "acme",
                "payload": {"k": 1},
                "maxAttempts": 3,
                "timeoutSeconds": 30,
                "catchUp": "None",
            }
        }
    )
    nightly = parsed["nightly"]
    assert nightly.name == "k8s:jobs:skiplock:nightly"
    assert nightly.create_body() == {
        "name": "k8s:jobs:skiplock:nightly",
        "tenant": "acme",
        "type": "report",
        "payload": {"k": 1},
        "cron": "0 3 * * *",
        "every_s": None,
        "timezone": "Europe/Berlin",
        "priority": 0,
        "cost": None,
        "max_attempts": 3,
        "timeout_s": 30.0,
        "catch_up": "none",
        "enabled": True,
    }
    import re

    assert re.match(NAME_PATTERN, nightly.name)  # a name the engine accepts


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"cron": "* * * * *"}, r"spec.schedules.a.type is required"),
        ({"type": "noop"}, "exactly one of cron and everySeconds"),
        ({"type": "noop", "cron": "* * * * *", "everySeconds": 5}, "exactly one"),
        ({"type": "noop", "everySeconds": 0}, r"spec.schedules.a.everySeconds"),
        ({"type": "noop", "everySeconds": "5"}, r"spec.schedules.a.everySeconds"),
        ({"type": "noop", "everySeconds": 5, "catchUp": "Some"}, r"spec.schedules.a.catchUp"),
        ({"type": "noop", "everySeconds": 5, "priority": 1.5}, r"spec.schedules.a.priority"),
        ({"type": "noop", "everySeconds": 5, "enabled": "yes"}, r"spec.schedules.a.enabled"),
    ],
)
def test_a_malformed_schedule_is_refused_naming_the_field(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScheduleSpecError, match=message):
        parse({"a": entry})


def test_an_invalid_schedule_makes_the_spec_invalid_with_a_condition_message() -> None:
    with pytest.raises(SpecError, match=r"spec.schedules.bad: give exactly one"):
        parse_spec({**SPEC, "schedules": {"bad": {"type": "noop"}}}, namespace="n", name="q")
    with pytest.raises(SpecError, match="longer than 64"):
        parse_spec({**SPEC, "schedules": {"x" * 60: {"type": "noop", "everySeconds": 1}}})
    with pytest.raises(SpecError, match="the name must be"):
        parse_spec({**SPEC, "schedules": {"a:b": {"type": "noop", "everySeconds": 1}}})
    parsed = parse_spec(
        {**SPEC, "schedules": {"ok": {"type": "noop", "everySeconds": 1}}}, namespace="n", name="q"
    )
    assert parsed.schedules["ok"].name == "k8s:n:q:ok"


def test_only_schedules_under_the_taskqueues_prefix_count_as_its_own() -> None:
    actual = engine_has(
        engine_out("k8s:jobs:skiplock:a"),
        engine_out("k8s:jobs:skiplock-2:a"),  # another TaskQueue's
        engine_out("k8s:other:skiplock:a"),  # same name, another namespace
        engine_out("manual"),  # made in the dashboard
    )
    assert set(owned(actual, owner_prefix("jobs", "skiplock"))) == {"k8s:jobs:skiplock:a"}


def test_the_plan_creates_updates_and_deletes_only_owned_schedules() -> None:
    desired = parse(
        {
            "same": {"type": "noop", "everySeconds": 60},
            "changed": {"type": "noop", "cron": "*/5 * * * *", "priority": 5},
            "new": {"type": "noop", "everySeconds": 10},
            "moved": {"type": "noop", "everySeconds": 60, "tenant": "acme"},
        }
    )
    prefix = owner_prefix("jobs", "skiplock")
    actual = owned(
        engine_has(
            engine_out(prefix + "same"),
            engine_out(prefix + "changed", every_s=300),
            engine_out(prefix + "moved"),
            engine_out(prefix + "removed"),
            engine_out("manual"),
        ),
        prefix,
    )
    plan = [(c.action, c.name, c.body) for c in plan_changes(desired, actual)]
    assert plan[:2] == [("delete", prefix + "moved", None), ("delete", prefix + "removed", None)]
    assert ("update", prefix + "changed", {"cron": "*/5 * * * *", "timezone": "UTC"}) not in plan
    update = next(body for action, name, body in plan if name == prefix + "changed")
    # The timing goes whole (cron clears every_s in the engine), with the changed options.
    assert update == {"cron": "*/5 * * * *", "timezone": "UTC", "priority": 5}
    creates = {name for action, name, _ in plan if action == "create"}
    assert creates == {prefix + "new", prefix + "moved"}
    assert all(name != "manual" for _, name, _ in plan)
    assert all(name != prefix + "same" for _, name, _ in plan)


def test_a_schedule_paused_elsewhere_is_resumed_as_written() -> None:
    desired = parse({"a": {"type": "noop", "everySeconds": 60}})
    actual = engine_has(engine_out(desired["a"].name, enabled=False, next_run_at=None))
    (change,) = plan_changes(desired, actual)
    assert (change.action, change.body) == ("update", {"enabled": True})


def test_nothing_is_planned_when_the_engine_matches() -> None:
    desired = parse(
        {"a": {"type": "noop", "cron": "0 3 * * *", "timeoutSeconds": 2, "payload": {"x": [1]}}}
    )
    actual = engine_has(
        engine_out(
            desired["a"].name, cron="0 3 * * *", every_s=None, timeout_s=2.0, payload={"x": [1]}
        )
    )
    assert plan_changes(desired, actual) == []


def test_status_reports_each_schedules_next_and_last_run_and_the_engines_refusal() -> None:
    desired = parse(
        {
            "a": {"type": "noop", "everySeconds": 60},
            "bad": {"type": "noop", "cron": "61 * * * *"},
        }
    )
    actual = engine_has(
        engine_out(desired["a"].name, last_run_at=T0, last_task_id=42),
    )
    statuses = schedule_statuses(desired, actual, {"bad": "422 cron: bad minute"})
    a = statuses["a"].to_json()
    assert a["name"] == "k8s:jobs:skiplock:a"
    assert a["nextRunAt"] is not None
    assert a["nextRunAt"].startswith("2026-12-03T12:01:00")
    assert a["lastRunAt"].startswith("2026-12-03T12:00:00")
    assert (a["lastTaskId"], a["enabled"], a["error"]) == (42, True, None)
    bad = statuses["bad"].to_json()
    assert (bad["nextRunAt"], bad["error"]) == (None, "422 cron: bad minute")

    patch = build_status_patch(
        previous={"schedules": {"gone": {"name": "x"}}},
        generation=1,
        stats=None,
        current_replicas=None,
        decision=None,
        ownership=None,
        tenants={},
        conditions=[],
        last_active_at=None,
        last_scale_at=None,
        schedules=statuses,
    )
    assert patch["schedules"]["gone"] is None  # removed from the spec: removed from status
    assert set(patch["schedules"]) == {"gone", "a", "bad"}
    unread = build_status_patch(
        previous={"schedules": {"a": {}}},
        generation=1,
        stats=None,
        current_replicas=None,
        decision=None,
        ownership=None,
        tenants={},
        conditions=[],
        last_active_at=None,
        last_scale_at=None,
        schedules=None,
    )
    assert "schedules" not in unread  # not read this pass: left as it was


def test_a_refused_schedule_makes_ready_false_naming_it() -> None:
    conds = build_conditions(
        Observed(schedule_error="schedule bad: 422 cron: bad minute"), generation=1, now=T0
    )
    ready = next(c for c in conds if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ScheduleSyncFailed")
    assert "schedule bad" in ready["message"]
