"""The TaskQueue ``status`` as a JSON merge patch: pure."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from skiplock_operator.conditions import rfc3339
from skiplock_operator.ownership import Ownership
from skiplock_operator.scaling import Decision, Sample, ScalerMemory, essential
from skiplock_operator.schedules import ScheduleStatus
from skiplock_operator.tenants import QueueStats, TenantStatus


def build_status_patch(
    *,
    previous: Mapping[str, Any],
    generation: int | None,
    stats: QueueStats | None,
    current_replicas: int | None,
    decision: Decision | None,
    ownership: Ownership | None,
    tenants: Mapping[str, TenantStatus],
    conditions: list[dict[str, Any]],
    last_active_at: datetime.datetime | None,
    last_scale_at: datetime.datetime | None,
    history: ScalerMemory | None = None,
    schedules: Mapping[str, ScheduleStatus] | None = None,
) -> dict[str, Any]:
    """Fields we could not observe this pass are left as they were (absent from the
    patch); tenants and schedules no longer listed are removed (null in a merge patch)."""
    patch: dict[str, Any] = {"conditions": conditions}
    if generation is not None:
        patch["observedGeneration"] = generation
    if stats is not None:
        patch["queued"] = stats.queued
        patch["running"] = stats.running
        patch["oldestQueuedAgeSeconds"] = round(stats.oldest_queued_age_s or 0.0, 3)
    if current_replicas is not None:
        patch["currentReplicas"] = current_replicas
    if decision is not None:
        patch["desiredReplicas"] = decision.desired
    if ownership is not None:
        patch["autoscalingMode"] = ownership.mode.value
    if last_active_at is not None:
        patch["lastActiveTime"] = rfc3339(last_active_at)
    if last_scale_at is not None:
        patch["lastScaleTime"] = rfc3339(last_scale_at)
    if history is not None:
        patch["scalingHistory"] = history_to_status(history)
    gone = [n for n in previous.get("tenants") or {} if n not in tenants]
    tenant_patch: dict[str, Any] = dict.fromkeys(gone)
    tenant_patch.update({n: s.to_json() for n, s in tenants.items()})
    if tenant_patch:
        patch["tenants"] = tenant_patch
    if schedules is not None:  # None: not read this pass, left as it was
        dropped = [n for n in previous.get("schedules") or {} if n not in schedules]
        schedule_patch: dict[str, Any] = dict.fromkeys(dropped)
        schedule_patch.update({n: s.to_json() for n, s in schedules.items()})
        if schedule_patch:
            patch["schedules"] = schedule_patch
    return patch


def history_to_status(memory: ScalerMemory) -> dict[str, Any]:
    """The recommendations and scale events a restarted operator needs to keep honouring
    the stabilisation windows and step limits (the HPA forgets them on restart)."""
    kept = essential(memory)
    return {
        "recommendations": [{"at": s.at, "replicas": s.value} for s in kept.recommendations],
        "scaleEvents": [{"at": s.at, "change": s.value} for s in kept.scale_events],
    }


def history_from_status(
    status: Mapping[str, Any], *, last_active_at: float | None, last_running: int | None = None
) -> ScalerMemory:
    """The memory a previous operator left in ``status``; malformed entries are skipped.
    ``last_running`` is ``status.running``, written with every good read of the stats."""
    saved = status.get("scalingHistory") or {}

    def samples(key: str, field: str) -> tuple[Sample, ...]:
        out = []
        for item in saved.get(key) or []:
            try:
                out.append(Sample(float(item["at"]), int(item[field])))
            except (KeyError, TypeError, ValueError):
                continue
        return tuple(sorted(out))

    return ScalerMemory(
        recommendations=samples("recommendations", "replicas"),
        scale_events=samples("scaleEvents", "change"),
        last_active_at=last_active_at,
        last_running=last_running,
    )


def memory_from_status(
    status: Mapping[str, Any],
) -> tuple[ScalerMemory, datetime.datetime | None]:
    """What a restarted operator starts from: the scaling memory and the last scale time."""
    memory = history_from_status(
        status,
        last_active_at=_timestamp(status.get("lastActiveTime")),
        last_running=_int_or_none(status.get("running")),
    )
    return memory, _parse_time(status.get("lastScaleTime"))


def _parse_time(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _timestamp(value: Any) -> float | None:
    parsed = _parse_time(value)
    return None if parsed is None else parsed.timestamp()


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
