"""Tenant planning, ownership, conditions and the status patch: the pure parts."""

from __future__ import annotations

import datetime

import pytest

from skiplock_operator.conditions import Observed, build_conditions, merge_conditions
from skiplock_operator.ownership import DISABLE_ANNOTATION, Mode, decide_ownership
from skiplock_operator.scaling import Decision, Limit, QueueLoad, ScalerMemory, SpecError
from skiplock_operator.spec import parse_spec
from skiplock_operator.status import build_status_patch
from skiplock_operator.tenants import (
    EngineTenant,
    QueueStats,
    RateLimit,
    TenantSpec,
    TenantSpecError,
    TenantState,
    TenantStatus,
    missing_tenants,
    plan_changes,
    tenant_statuses,
    tenants_from_spec,
)

T0 = datetime.datetime(2026, 11, 28, 8, 0, tzinfo=datetime.UTC)


def engine_tenant(name: str, **kw: object) -> EngineTenant:
    fields: dict[str, object] = {
        "weight": 1,
        "rate_limit": None,
        "state": TenantState.ACTIVE,
    }
    fields.update(kw)
    return EngineTenant(name=name, **fields)  # type: ignore[arg-type]


# --- tenants ---------------------------------------------------------------------------


def test_rate_limits_parse_and_compare_with_the_engines_shape() -> None:
    assert RateLimit.parse("100/60") == RateLimit(100, 60.0)
    assert RateLimit.parse("none") is None
    assert RateLimit.parse(None) is None
    assert RateLimit.from_engine({"cost": 100, "window_s": 60}) == RateLimit.parse("100/60")
    assert str(RateLimit(100, 60.0)) == "100/60"
    assert RateLimit.parse("10000000/86400") == RateLimit(10_000_000, 86_400.0)
    # What the engine would refuse is refused here, naming the bounds.
    for bad in ("100", "0/60", "10/0", "a/b", "-1/5", "10/0.5", "10000001/60", "1/86401"):
        with pytest.raises(TenantSpecError):
            RateLimit.parse(bad)


def test_spec_tenants_get_crd_defaults() -> None:
    tenants = tenants_from_spec({"acme": {}, "globex": {"weight": 3, "state": "Paused"}})
    assert tenants["acme"] == TenantSpec("acme", 1, None, TenantState.ACTIVE)
    assert tenants["globex"].state is TenantState.PAUSED
    with pytest.raises(TenantSpecError):
        tenants_from_spec({"x": {"state": "Sleeping"}})
    with pytest.raises(TenantSpecError):
        tenants_from_spec({"x": {"weight": 0}})
    with pytest.raises(TenantSpecError):
        tenants_from_spec({"bad name!": {}})


def test_plan_patches_only_what_differs_and_never_creates_a_tenant() -> None:
    desired = tenants_from_spec(
        {
            "acme": {"weight": 3, "rateLimit": "100/60"},
            "globex": {"state": "Paused"},
            "initech": {"state": "Draining"},
            "same": {"weight": 2},
        }
    )
    actual = {
        "acme": engine_tenant("acme", weight=1, rate_limit=RateLimit(5, 1)),
        "globex": engine_tenant("globex"),
        "same": engine_tenant("same", weight=2),
        "unlisted": engine_tenant("unlisted", state=TenantState.PAUSED),
    }
    changes = {c.name: c for c in plan_changes(desired, actual)}
    assert set(changes) == {"acme", "globex"}  # initech is missing: reported, not created
    assert changes["acme"].patch == {"weight": 3, "rate_limit": "100/60"}
    assert changes["globex"].patch == {"state": "paused"}
    assert missing_tenants(desired, actual) == ["initech"]


def test_a_listed_tenant_is_owned_so_a_limit_set_elsewhere_is_removed() -> None:
    desired = tenants_from_spec({"acme": {}})
    actual = {"acme": engine_tenant("acme", rate_limit=RateLimit(1, 1))}
    (change,) = plan_changes(desired, actual)
    assert change.patch == {"rate_limit": None}


def test_paused_tenants_do_not_ask_for_workers_but_running_tasks_do() -> None:
    stats = QueueStats.from_json(
        {
            "tenants": [
                {"tenant": "a", "state": "active", "queued": 30, "running": 2},
                {"tenant": "b", "state": "paused", "queued": 500, "running": 3},
                {"tenant": "c", "state": "draining", "queued": 7, "running": 0},
            ],
            "totals": {"queued": 537, "scheduled": 0, "running": 5, "retrying": 0},
            "oldest_queued_age_s": 12.5,
        }
    )
    assert stats.load() == QueueLoad(queued=37, running=5)
    assert stats.queued == 537
    assert stats.oldest_queued_age_s == 12.5


def test_tenant_statuses_prefer_stats_then_the_tenant_list_then_unknown() -> None:
    stats = QueueStats.from_json(
        {"tenants": [{"tenant": "a", "state": "draining", "queued": 1, "running": 1}]}
    )
    engine = {"b": engine_tenant("b", state=TenantState.PAUSED, queued=4)}
    statuses = tenant_statuses(["a", "b", "c"], engine=engine, stats=stats)
    assert statuses["a"] == TenantStatus("Draining", 1, 1, False)
    assert statuses["b"] == TenantStatus("Paused", 4, 0, False)
    assert statuses["c"].state == "Unknown"


# --- ownership -------------------------------------------------------------------------


def hpa(name: str, target: str, kind: str = "Deployment") -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target}},
    }


def test_the_operator_owns_replicas_only_when_nobody_else_does() -> None:
    def mode(**kw: object) -> Mode:
        args: dict[str, object] = {
            "enabled": True,
            "deployment": "worker",
            "deployment_annotations": {},
            "hpas": [],
            "scaled_objects": [],
        }
        args.update(kw)
        return decide_ownership(**args).mode  # type: ignore[arg-type]

    assert mode() is Mode.OPERATOR
    assert mode(hpas=[hpa("other", "api")]) is Mode.OPERATOR
    assert mode(hpas=[hpa("x", "worker", kind="StatefulSet")]) is Mode.OPERATOR
    assert mode(hpas=[hpa("w", "worker")]) is Mode.EXTERNAL
    keda = {"metadata": {"name": "so"}, "spec": {"scaleTargetRef": {"name": "worker"}}}
    assert mode(scaled_objects=[keda]) is Mode.EXTERNAL
    assert mode(enabled=False) is Mode.DISABLED
    assert mode(deployment_annotations={DISABLE_ANNOTATION: "disabled"}) is Mode.DISABLED
    assert mode(unknown="403 forbidden") is Mode.EXTERNAL


# --- spec ------------------------------------------------------------------------------


def test_parse_spec_requires_the_worker_and_the_engine() -> None:
    good = {
        "workerRef": {"name": "w"},
        "engine": {"url": "http://api:8080/", "adminKeySecretRef": {"name": "s"}},
    }
    parsed = parse_spec(good)
    assert parsed.engine.url == "http://api:8080/"  # checked against the allow-list later
    assert parsed.engine.secret_name == "s"
    assert parsed.polling_interval_s == 15
    no_url = parse_spec({**good, "engine": {"adminKeySecretRef": {"name": "s"}}})
    assert no_url.engine.url is None  # the operator's default engine
    with pytest.raises(SpecError, match="workerRef"):
        parse_spec({**good, "workerRef": {}})
    with pytest.raises(SpecError, match="url"):
        parse_spec({**good, "engine": {"url": "api:8080", "adminKeySecretRef": {"name": "s"}}})
    with pytest.raises(SpecError, match="rate limit"):
        parse_spec({**good, "tenants": {"a": {"rateLimit": "fast"}}})


# --- conditions and status -------------------------------------------------------------


def decision(desired: int, *, limit: Limit = Limit.WITHIN_RANGE, ok: bool = True) -> Decision:
    return Decision(desired, desired, True, limit, False, ok, "msg", ScalerMemory())


def by_type(conditions: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(c["type"]): c for c in conditions}


def test_conditions_report_a_healthy_scaling_queue() -> None:
    own = decide_ownership(
        enabled=True, deployment="w", deployment_annotations={}, hpas=[], scaled_objects=[]
    )
    conds = by_type(
        build_conditions(Observed(ownership=own, decision=decision(3)), generation=4, now=T0)
    )
    assert conds["Ready"]["status"] == "True"
    assert conds["ScalingActive"]["status"] == "True"
    assert conds["ScalingLimited"]["status"] == "False"
    assert conds["ScalingLimited"]["reason"] == "DesiredWithinRange"
    assert conds["Drained"]["reason"] == "NoTenantDraining"
    assert all(c["observedGeneration"] == 4 for c in conds.values())
    assert conds["Ready"]["lastTransitionTime"] == "2026-11-28T08:00:00Z"


def test_conditions_report_failures_limits_and_drain_progress() -> None:
    draining = {
        "a": TenantStatus("Draining", 2, 1, False),
        "b": TenantStatus("Draining", 0, 0, True),
    }
    conds = by_type(
        build_conditions(
            Observed(
                stats_error="GET /api/queue/stats: refused",
                decision=decision(2, ok=False),
                draining=draining,
            ),
            generation=1,
            now=T0,
        )
    )
    assert conds["Ready"]["reason"] == "EngineUnavailable"
    assert conds["ScalingActive"]["reason"] == "FailedGetQueueStats"
    assert conds["ScalingLimited"]["status"] == "Unknown"
    assert conds["Drained"]["status"] == "Unknown"

    conds = by_type(
        build_conditions(
            Observed(decision=decision(10, limit=Limit.TOO_MANY), draining=draining),
            generation=1,
            now=T0,
        )
    )
    assert conds["ScalingLimited"]["status"] == "True"
    assert conds["ScalingLimited"]["reason"] == "TooManyReplicas"
    assert conds["Drained"]["status"] == "False"
    assert "a (2 queued, 1 running)" in str(conds["Drained"]["message"])

    drained = {"b": TenantStatus("Draining", 0, 0, True)}
    conds = by_type(build_conditions(Observed(draining=drained), generation=1, now=T0))
    assert conds["Drained"]["status"] == "True"


def test_last_transition_time_moves_only_when_status_changes() -> None:
    first = build_conditions(Observed(decision=decision(1)), generation=1, now=T0)
    later = T0 + datetime.timedelta(minutes=5)
    same = merge_conditions(
        first, build_conditions(Observed(decision=decision(2)), generation=2, now=later)
    )
    assert by_type(same)["Ready"]["lastTransitionTime"] == "2026-11-28T08:00:00Z"
    assert by_type(same)["Ready"]["observedGeneration"] == 2
    flipped = merge_conditions(
        same, build_conditions(Observed(stats_error="down"), generation=2, now=later)
    )
    assert by_type(flipped)["Ready"]["lastTransitionTime"] == "2026-11-28T08:05:00Z"
    foreign = [
        {
            "type": "SomeoneElses",
            "status": "True",
            "reason": "X",
            "message": "",
            "lastTransitionTime": "2020-01-01T00:00:00Z",
        }
    ]
    kept = merge_conditions(foreign, first)
    assert [c["type"] for c in kept] == [
        "Ready",
        "ScalingActive",
        "ScalingLimited",
        "Drained",
        "Conflict",
        "SomeoneElses",
    ]


def test_status_patch_removes_tenants_no_longer_listed_and_skips_unknowns() -> None:
    patch = build_status_patch(
        previous={"tenants": {"old": {"state": "Active"}, "a": {}}},
        generation=3,
        stats=None,
        current_replicas=None,
        decision=None,
        ownership=None,
        tenants={"a": TenantStatus("Paused", 1, 0, False)},
        conditions=[],
        last_active_at=T0,
        last_scale_at=None,
    )
    assert patch["tenants"] == {
        "old": None,
        "a": {"state": "Paused", "queued": 1, "running": 0, "drained": False},
    }
    assert "queued" not in patch
    assert "desiredReplicas" not in patch
    assert patch["lastActiveTime"] == "2026-11-28T08:00:00Z"
    assert patch["observedGeneration"] == 3


def test_the_documented_keda_example_is_recognised_as_the_owner_of_replicas() -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[2] / "examples" / "keda-scaledobject.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    assert scaled
    owner = decide_ownership(
        enabled=True,
        deployment="skiplock-worker",  # the chart's worker for release "skiplock"
        deployment_annotations={},
        hpas=[],
        scaled_objects=scaled,
    )
    assert owner.mode is Mode.EXTERNAL
    (trigger,) = scaled[0]["spec"]["triggers"]
    assert trigger["metadata"]["url"].endswith("/api/queue/stats")
