"""Schedules a TaskQueue declares: what ``spec.schedules`` asks for, what the engine has,
and the requests that close the gap. Pure.

Ownership is carried by the name. A schedule the TaskQueue ``ns/queue`` declares as
``nightly`` is called ``k8s:ns:queue:nightly`` in the engine. Kubernetes names cannot
contain ``:``, so that prefix belongs to one TaskQueue alone: the operator creates,
changes and deletes only schedules under its own prefix, and never touches one made by
other means (the dashboard, ``skiplock schedule create``, another TaskQueue). Unlike
tenants, schedules carry no key, so the operator creates them as well as removing them:
the TaskQueue is their single source of truth, and a change made elsewhere to an owned
schedule (a pause from the dashboard) is undone on the next pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The engine's schedule names: NAME_PATTERN in skiplock.domain.schedules.
ENGINE_NAME_MAX = 64
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CATCH_UP = ("none", "one", "all")
DEFAULT_TENANT = "default"
# The engine's spelling -> the CRD's (camelCase, Kubernetes convention).
_FIELDS = {
    "type": "type",
    "payload": "payload",
    "cron": "cron",
    "every_s": "everySeconds",
    "timezone": "timezone",
    "priority": "priority",
    "cost": "cost",
    "max_attempts": "maxAttempts",
    "timeout_s": "timeoutSeconds",
    "catch_up": "catchUp",
    "enabled": "enabled",
}


class ScheduleSpecError(ValueError):
    """A schedule entry in the TaskQueue cannot be applied."""


def owner_prefix(namespace: str, taskqueue: str) -> str:
    """The name prefix that marks a schedule as this TaskQueue's."""
    return f"k8s:{namespace}:{taskqueue}:"


@dataclass(frozen=True)
class ScheduleSpec:
    """One ``spec.schedules`` entry, in the engine's terms."""

    key: str  # the name in spec.schedules
    name: str  # the engine's name: owner prefix + key
    tenant: str
    fields: Mapping[str, Any] = field(default_factory=dict)  # ScheduleIn's, minus name/tenant

    def create_body(self) -> dict[str, Any]:
        return {"name": self.name, "tenant": self.tenant, **self.fields}


@dataclass(frozen=True)
class EngineSchedule:
    """One item of ``GET /api/schedules`` (the engine's ScheduleOut)."""

    name: str
    tenant: str
    fields: Mapping[str, Any]
    next_run_at: str | None
    last_run_at: str | None
    last_task_id: int | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EngineSchedule:
        last_task = raw.get("last_task_id")
        return cls(
            name=str(raw["name"]),
            tenant=str(raw["tenant"]),
            fields={k: raw.get(k) for k in _FIELDS},
            next_run_at=_opt_str(raw.get("next_run_at")),
            last_run_at=_opt_str(raw.get("last_run_at")),
            last_task_id=None if last_task is None else int(last_task),
        )


def schedules_from_spec(
    raw: Mapping[str, Any] | None, *, namespace: str, taskqueue: str
) -> dict[str, ScheduleSpec]:
    """Parse ``spec.schedules`` (key -> {type, cron | everySeconds, ...}). The shape is
    checked here; the engine checks the rest (cron syntax, time zone, task type) and its
    422 is reported on the schedule."""
    prefix = owner_prefix(namespace, taskqueue)
    result: dict[str, ScheduleSpec] = {}
    for key, maybe_entry in (raw or {}).items():
        where = f"spec.schedules.{key}"
        if not _KEY.match(key):
            raise ScheduleSpecError(f"{where}: the name must be letters, digits, '_', '.', '-'")
        if len(prefix) + len(key) > ENGINE_NAME_MAX:
            raise ScheduleSpecError(
                f"{where}: the engine name {prefix + key!r} is longer than {ENGINE_NAME_MAX}"
                " characters; shorten the schedule's name"
            )
        if not isinstance(maybe_entry, Mapping):
            raise ScheduleSpecError(f"{where}: must be an object")
        result[key] = ScheduleSpec(
            key=key,
            name=prefix + key,
            tenant=str(maybe_entry.get("tenant") or DEFAULT_TENANT),
            fields=_fields(where, maybe_entry),
        )
    return result


def _fields(where: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    type_ = entry.get("type")
    if not isinstance(type_, str) or not type_:
        raise ScheduleSpecError(f"{where}.type is required")
    cron, every = entry.get("cron"), entry.get("everySeconds")
    if (cron is None) == (every is None):
        raise ScheduleSpecError(f"{where}: give exactly one of cron and everySeconds")
    if cron is not None and (not isinstance(cron, str) or not cron.strip()):
        raise ScheduleSpecError(f"{where}.cron must be a cron expression")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ScheduleSpecError(f"{where}.everySeconds must be a whole number of seconds >= 1")
    catch_up = str(entry.get("catchUp", "one")).lower()
    if catch_up not in _CATCH_UP:
        raise ScheduleSpecError(f"{where}.catchUp must be one of None, One, All")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ScheduleSpecError(f"{where}.enabled must be true or false")
    return {
        "type": type_,
        "payload": entry.get("payload"),
        "cron": cron,
        "every_s": every,
        "timezone": str(entry.get("timezone") or "UTC"),
        "priority": _number(where, entry, "priority", int, 0),
        "cost": _number(where, entry, "cost", int, None),
        "max_attempts": _number(where, entry, "maxAttempts", int, None),
        "timeout_s": _number(where, entry, "timeoutSeconds", float, None),
        "catch_up": catch_up,
        "enabled": enabled,
    }


def _number(
    where: str, entry: Mapping[str, Any], name: str, kind: type[int] | type[float], default: Any
) -> Any:
    value = entry.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleSpecError(f"{where}.{name} must be a number")
    if kind is int and value != int(value):
        raise ScheduleSpecError(f"{where}.{name} must be a whole number")
    return kind(value)


# --- planning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleChange:
    """One request: ``create`` (POST body), ``update`` (PATCH body) or ``delete``."""

    action: str  # create | update | delete
    name: str
    key: str | None = None  # the spec.schedules key (None: an owned schedule no longer listed)
    body: Mapping[str, Any] | None = None

    def describe(self) -> str:
        if self.body is None or self.action == "create":
            return f"{self.action} schedule {self.name}"
        return f"update schedule {self.name} ({', '.join(sorted(self.body))})"


def owned(actual: Mapping[str, EngineSchedule], prefix: str) -> dict[str, EngineSchedule]:
    """The engine's schedules that carry this TaskQueue's prefix."""
    return {n: s for n, s in actual.items() if n.startswith(prefix)}


def plan_changes(
    desired: Mapping[str, ScheduleSpec], actual: Mapping[str, EngineSchedule]
) -> list[ScheduleChange]:
    """The requests that make ``actual`` (the owned schedules only) match ``desired``:
    deletions first (a tenant change is a delete then a create: the engine cannot move a
    schedule), then creations and updates, each by name."""
    wanted = {s.name: s for s in desired.values()}
    changes = [
        ScheduleChange("delete", name)
        for name in sorted(actual)
        if name not in wanted or actual[name].tenant != wanted[name].tenant
    ]
    for name, want in sorted(wanted.items()):
        have = actual.get(name)
        if have is None or have.tenant != want.tenant:
            changes.append(ScheduleChange("create", name, want.key, want.create_body()))
            continue
        patch = {k: v for k, v in want.fields.items() if not _same(have.fields.get(k), v)}
        if patch:
            # The engine clears every_s when given cron (and the other way round); send
            # the timing whole so a switch from one to the other lands as written.
            if {"cron", "every_s", "timezone"} & patch.keys():
                timing = ("cron", "every_s") if want.fields["cron"] is None else ("every_s", "cron")
                patch.pop(timing[0], None)
                patch[timing[1]] = want.fields[timing[1]]
                patch["timezone"] = want.fields["timezone"]
            changes.append(ScheduleChange("update", name, want.key, patch))
    return changes


def _same(have: Any, want: Any) -> bool:
    """Equal as JSON: 2 and 2.0 are the same timeout, True and 1 are not the same value."""
    if isinstance(have, bool) or isinstance(want, bool):
        return type(have) is type(want) and have == want
    return bool(have == want)


# --- status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleStatus:
    name: str
    enabled: bool
    next_run_at: str | None
    last_run_at: str | None
    last_task_id: int | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "enabled": self.enabled,
            "nextRunAt": self.next_run_at,
            "lastRunAt": self.last_run_at,
            "lastTaskId": self.last_task_id,
            "error": self.error,
        }


def schedule_statuses(
    desired: Mapping[str, ScheduleSpec],
    actual: Mapping[str, EngineSchedule],
    errors: Mapping[str, str],
) -> dict[str, ScheduleStatus]:
    """``status.schedules``, by spec key: the engine's next and last run after this
    pass's changes, and the engine's refusal for a schedule it would not take."""
    result: dict[str, ScheduleStatus] = {}
    for key, want in sorted(desired.items()):
        have = actual.get(want.name)
        result[key] = ScheduleStatus(
            name=want.name,
            enabled=bool(have.fields.get("enabled")) if have else False,
            next_run_at=have.next_run_at if have else None,
            last_run_at=have.last_run_at if have else None,
            last_task_id=have.last_task_id if have else None,
            error=errors.get(key),
        )
    return result


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
