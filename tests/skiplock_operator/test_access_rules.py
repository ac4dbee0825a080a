"""The pure rules behind what the operator may send where, which TaskQueue owns a tenant,
which pods a scale-down removes first, and the conditions that report each."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiplock_operator.claims import Claim, claim_of, conflicts
from skiplock_operator.conditions import Observed, Problem, build_conditions
from skiplock_operator.config import EngineNotAllowed, OperatorConfig
from skiplock_operator.podcost import (
    POD_DELETION_COST,
    InstanceLoad,
    annotations_to_change,
    deletion_costs,
    parse_workers,
    selector_matches,
)
from skiplock_operator.scaling import SpecError
from skiplock_operator.spec import parse_spec

T0 = datetime.datetime(2026, 11, 28, 8, 0, tzinfo=datetime.UTC)
CHART = OperatorConfig(
    engine_urls=("http://skiplock-api:8080",), own_namespace="jobs", watch_namespaces=("jobs",)
)


# --- the engine allow-list ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://skiplock-api:8080",
        "http://skiplock-api:8080/",
        "HTTP://Skiplock-API:8080",
        "http://skiplock-api.jobs.svc:8080",
        "http://skiplock-api.jobs.svc.cluster.local:8080",
        "http://skiplock-api.jobs.svc.cluster.local.:8080",
    ],
)
def test_spellings_of_the_release_service_resolve_to_the_configured_url(url: str) -> None:
    assert CHART.resolve_engine(url) == "http://skiplock-api:8080"


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example.com:8080",
        "http://skiplock-api:8081",  # another port
        "https://skiplock-api:8080",  # another scheme
        "http://skiplock-api.other.svc:8080",  # the same name in another namespace
        "http://skiplock-api.jobs.svc.evil.example.com:8080",  # not the cluster domain
        "http://skiplock-api:8080/elsewhere",
        "http://user:pw@skiplock-api:8080",
        "http://skiplock-api:8080/?next=http://evil",
        "http://skiplock-api@evil.example.com:8080",
        "file:///etc/passwd",
        "http://skiplock-api:99999",
    ],
)
def test_any_other_url_is_refused_and_named(url: str) -> None:
    with pytest.raises(EngineNotAllowed):
        CHART.resolve_engine(url)


def test_a_taskqueue_without_a_url_uses_the_first_allowed_engine() -> None:
    config = OperatorConfig(engine_urls=("http://a:8080/", "http://b:8080"))
    assert config.resolve_engine(None) == "http://a:8080"
    assert config.resolve_engine("http://b:8080") == "http://b:8080"


def test_with_no_engine_configured_nothing_is_allowed() -> None:
    with pytest.raises(EngineNotAllowed, match="--engine-url"):
        OperatorConfig().resolve_engine("http://skiplock-api:8080")
    with pytest.raises(EngineNotAllowed):
        OperatorConfig().resolve_engine(None)


def test_the_allow_list_comes_from_the_environment_and_bad_entries_are_refused() -> None:
    env = {
        "SKIPLOCK_OPERATOR_ENGINE_URLS": "http://a:8080, http://b.jobs.svc:8080",
        "POD_NAMESPACE": "jobs",
    }
    config = OperatorConfig.from_env(env)
    assert config.engine_urls == ("http://a:8080", "http://b.jobs.svc:8080")
    assert config.resolve_engine("http://b:8080") == "http://b.jobs.svc:8080"
    with pytest.raises(EngineNotAllowed):
        OperatorConfig(engine_urls=("ftp://a",))


@given(st.text(max_size=60))
def test_resolve_never_answers_a_url_that_is_not_configured(url: str) -> None:
    try:
        resolved = CHART.resolve_engine(url)
    except EngineNotAllowed:
        return
    assert resolved == "http://skiplock-api:8080"


# --- fixed Secret entries --------------------------------------------------------------


def test_a_taskqueue_cannot_choose_which_secret_entry_is_sent() -> None:
    spec = {"workerRef": {"name": "w"}, "engine": {"adminKeySecretRef": {"name": "s"}}}
    parse_spec(spec)
    spec["engine"]["adminKeySecretRef"]["key"] = "admin-key"  # the CRD's default: fine
    parse_spec(spec)
    spec["engine"]["adminKeySecretRef"]["key"] = "mysql-password"
    with pytest.raises(SpecError, match="'admin-key' and 'reader-key'"):
        parse_spec(spec)


# --- tenant claims ---------------------------------------------------------------------


def tq(name: str, created: str, *tenants: str, url: str | None = None, **meta: str) -> dict:
    return {
        "metadata": {"name": name, "namespace": "jobs", "uid": name, "creationTimestamp": created}
        | meta,
        "spec": {"engine": {"url": url}, "tenants": {t: {} for t in tenants}},
    }


def engine_of(url: str | None) -> str | None:
    try:
        return CHART.canonical(CHART.resolve_engine(url))
    except EngineNotAllowed:
        return None


def claims(*objects: dict) -> list[Claim]:
    return [c for c in (claim_of(o, engine_of) for o in objects) if c is not None]


def test_the_earlier_taskqueue_keeps_a_shared_tenant_and_the_later_one_loses_it() -> None:
    first = tq("first", "2026-01-01T00:00:00Z", "acme", "globex")
    second = tq("second", "2026-02-01T00:00:00Z", "acme", "initech", url="http://skiplock-api:8080")
    all_ = claims(first, second)
    mine_first, mine_second = all_
    assert conflicts(mine_first, all_) == {}
    assert conflicts(mine_second, all_) == {"acme": "jobs/first"}


def test_ties_on_creation_time_break_by_name_and_every_view_agrees() -> None:
    a = tq("a", "2026-01-01T00:00:00Z", "acme")
    b = tq("b", "2026-01-01T00:00:00Z", "acme")
    everyone = claims(b, a)
    winners = [c.name for c in everyone if not conflicts(c, everyone)]
    assert winners == ["a"]


def test_deleting_or_unserved_taskqueues_and_other_engines_claim_nothing() -> None:
    later = tq("later", "2026-03-01T00:00:00Z", "acme")
    going = tq("going", "2026-01-01T00:00:00Z", "acme", deletionTimestamp="2026-03-02T00:00:00Z")
    foreign = tq("foreign", "2026-01-01T00:00:00Z", "acme", url="http://evil:8080")
    everyone = claims(later, going, foreign)
    assert [c.name for c in everyone] == ["later"]
    assert conflicts(everyone[0], everyone) == {}


# --- pod-deletion cost ------------------------------------------------------------------

WORKERS = {
    "instances": [
        {"id": "worker-a:1f2e3d", "slots": 8, "busy": 3, "tasks": []},
        {"id": "worker-b:9a8b7c", "slots": 8, "busy": 0, "tasks": []},
        {"id": "api-0:aaaaaa", "slots": 0, "busy": 0, "tasks": []},
        {"id": "worker-a:000000", "slots": 8, "busy": 1, "tasks": []},  # an older start
    ]
}


def pod(name: str, *, cost: str | None = None, app: str = "worker", **meta: str) -> dict:
    annotations = {} if cost is None else {POD_DELETION_COST: cost}
    return {"metadata": {"name": name, "labels": {"app": app}, "annotations": annotations} | meta}


def test_busy_pods_cost_their_busy_slots_and_idle_or_unknown_pods_cost_nothing() -> None:
    instances = parse_workers(WORKERS)
    assert InstanceLoad("worker-a", 8, 3) in instances
    pods = [
        pod("worker-a"),
        pod("worker-b", cost="0"),
        pod("worker-c"),  # not in the registry yet
        pod("worker-d", deletionTimestamp="2026-01-01T00:00:00Z"),  # already going
        pod("api-0", app="api"),  # not the Deployment's
    ]
    selector = {"matchLabels": {"app": "worker"}}
    costs = deletion_costs(pods, selector, instances)
    assert costs == {"worker-a": "3", "worker-b": "0", "worker-c": "0"}
    assert annotations_to_change(pods, costs) == {"worker-a": "3", "worker-c": "0"}


def test_selectors_match_as_the_api_server_matches_them() -> None:
    labels = {"app": "worker", "tier": "batch"}
    assert selector_matches({"matchLabels": {"app": "worker"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "api"}}, labels)
    expr = [{"key": "tier", "operator": "In", "values": ["batch", "x"]}]
    assert selector_matches({"matchExpressions": expr}, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, labels
    )


def test_a_workers_body_of_another_shape_is_an_error_not_a_guess() -> None:
    for body in ({}, {"instances": [{"slots": 1}]}, {"instances": [{"id": "a:1", "busy": "x"}]}):
        with pytest.raises((KeyError, TypeError, ValueError)):
            parse_workers(body)


# --- the conditions that report these ---------------------------------------------------


def by_type(observed: Observed) -> dict[str, dict[str, object]]:
    return {str(c["type"]): c for c in build_conditions(observed, generation=1, now=T0)}


@pytest.mark.parametrize(
    "reason", ["InvalidSpec", "EngineNotAllowed", "WorkerDeploymentMissing", "TenantNotFound"]
)
def test_a_blocking_problem_is_named_by_ready_and_scaling_active(reason: str) -> None:
    conds = by_type(Observed(Problem(reason, f"what went wrong: {reason}")))
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", reason)
    assert conds["Ready"]["message"] == f"what went wrong: {reason}"
    assert conds["ScalingActive"]["reason"] == reason
    assert conds["ScalingLimited"]["status"] == "Unknown"


def test_a_conflict_is_a_condition_of_its_own() -> None:
    conds = by_type(Observed(conflicts={"acme": "jobs/first"}))
    assert (conds["Conflict"]["status"], conds["Conflict"]["reason"]) == ("True", "TenantClaimed")
    assert "acme (by TaskQueue jobs/first)" in str(conds["Conflict"]["message"])
    assert conds["Ready"]["reason"] == "TenantConflict"
    assert by_type(Observed(conflicts={}))["Conflict"]["status"] == "False"
    assert by_type(Observed())["Conflict"]["status"] == "Unknown"
