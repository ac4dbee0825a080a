"""The schedules step of a reconcile pass: list the engine's schedules (reader key), apply
the plan (admin key), and report each declared schedule's next run. See schedules.py for
the ownership rule."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skiplock_operator.access import Clients
from skiplock_operator.engine_client import EngineClient, EngineError
from skiplock_operator.runtime import EventSink
from skiplock_operator.schedules import (
    EngineSchedule,
    ScheduleSpec,
    ScheduleStatus,
    owned,
    owner_prefix,
    plan_changes,
    schedule_statuses,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleResult:
    """What the step did; ``statuses`` is None when nothing could be read."""

    statuses: Mapping[str, ScheduleStatus] | None = None
    error: str | None = None  # the first failure, fit for the Ready condition
    rejected: Mapping[str, str] = field(default_factory=dict)  # spec key -> engine's refusal


def wants_schedules(desired: Mapping[str, ScheduleSpec], status: Mapping[str, Any]) -> bool:
    """Whether this pass must look at the engine's schedules: some are declared, or the
    previous pass reported some (they may have to be removed)."""
    return bool(desired) or bool(status.get("schedules"))


async def sync_schedules(
    clients: Clients,
    *,
    namespace: str,
    taskqueue: str,
    desired: Mapping[str, ScheduleSpec],
    events: EventSink,
) -> ScheduleResult:
    reader = clients.reader
    prefix = owner_prefix(namespace, taskqueue)
    try:
        actual = owned(await reader.list_schedules(), prefix)
    except EngineError as exc:
        return ScheduleResult(error=f"schedules: {exc}")
    changes = plan_changes(desired, actual)
    rejected: dict[str, str] = {}
    error: str | None = None
    if changes and clients.admin is None:
        error = "the Secret has no 'admin-key': schedules cannot be applied"
        changes = []
    for change in changes:
        assert clients.admin is not None
        try:
            await clients.admin.apply_schedule(change)
        except EngineError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and change.key is not None:
                # The engine refuses this schedule (bad cron, unknown type or zone): say so
                # on it and go on with the others.
                rejected[change.key] = str(exc)
                continue
            error = f"schedules: {exc}"
            break
        logger.info("%s", change.describe())
        events(warning=False, reason="ScheduleUpdated", message=change.describe())
    if changes:
        try:
            actual = owned(await reader.list_schedules(), prefix)
        except EngineError as exc:
            return ScheduleResult(error=error or f"schedules: {exc}", rejected=rejected)
    if rejected and error is None:
        error = "; ".join(f"schedule {k}: {m}" for k, m in sorted(rejected.items()))
    return ScheduleResult(schedule_statuses(desired, actual, rejected), error, rejected)


async def remove_owned_schedules(admin: EngineClient, *, namespace: str, taskqueue: str) -> int:
    """Delete every schedule under the TaskQueue's prefix (the TaskQueue is gone); the
    number removed. Best effort: the caller logs a failure."""
    prefix = owner_prefix(namespace, taskqueue)
    gone: Mapping[str, EngineSchedule] = owned(await admin.list_schedules(), prefix)
    for change in plan_changes({}, gone):
        await admin.apply_schedule(change)
    return len(gone)
