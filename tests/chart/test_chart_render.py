"""The chart lints, renders for every ci/*-values.yaml, and every manifest is schema-valid:
Kubernetes kinds through kubernetes-validate --strict, TaskQueues through the CRD's own
openAPIV3Schema."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from skiplock.domain.ratelimit import parse_rate_limit
from tests.chart.chartlib import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    ROOT,
    Manifest,
    RenderError,
    crd_schema,
    find,
    run_helm,
)

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBE_VERSIONS = ("1.27.0", "1.35.0")
# Custom resources kubernetes-validate has no schema for; each is checked another way:
# TaskQueue against our CRD below, ServiceMonitor and KopfPeering by test_chart_policies,
# PrometheusRule and HTTPRoute by test_chart_lifecycle.
CUSTOM_KINDS = {"TaskQueue", "ServiceMonitor", "KopfPeering", "PrometheusRule", "HTTPRoute"}

Render = Callable[..., list[Manifest]]


def test_the_ci_matrix_covers_the_documented_scenarios() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "defaults-values.yaml",
        "external-values.yaml",
        "ingress-monitoring-values.yaml",
        "existing-secret-values.yaml",
        "no-operator-values.yaml",
        "gateway-values.yaml",
    } <= names


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_helm_lint_strict_passes(helm: Path, values: Path) -> None:
    result = run_helm(
        helm, "lint", "--strict", "--namespace", NAMESPACE, str(CHART), "-f", str(values)
    )
    assert "fail" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_manifest_is_valid_kubernetes_in_strict_mode(render: Render, values: Path) -> None:
    manifests = render(values)
    assert manifests, "nothing rendered"
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = f"{manifest['kind']}/{manifest['metadata']['name']} ({version})"
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rendered_taskqueues_satisfy_the_crd_schema(render: Render, values: Path) -> None:
    validator = jsonschema.Draft202012Validator(crd_schema())
    for tq in find(render(values), "TaskQueue"):
        errors = sorted(validator.iter_errors(tq), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
        auto = tq["spec"]["autoscaling"]
        assert auto["minReplicas"] <= auto["maxReplicas"]  # the CRD's CEL rule


def test_the_crds_are_valid_customresourcedefinitions() -> None:
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for manifest in yaml.safe_load_all(path.read_text()):
            for version in KUBE_VERSIONS:
                kubernetes_validate.validate(manifest, version, strict=True)


def test_the_crd_schema_is_structural_and_complete() -> None:
    schema = crd_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    spec = schema["properties"]["spec"]["properties"]
    auto = spec["autoscaling"]["properties"]
    for field in (
        "minReplicas",
        "maxReplicas",
        "targetTasksPerReplica",
        "activationThreshold",
        "pollingIntervalSeconds",
        "scaleToZeroCooldownSeconds",
        "workerSlots",
        "scaleUp",
        "scaleDown",
        "fallback",
    ):
        assert field in auto, field
    assert {"maxPods", "maxPercent", "periodSeconds", "stabilizationWindowSeconds"} <= set(
        auto["scaleDown"]["properties"]
    )
    tenant = spec["tenants"]["additionalProperties"]["properties"]
    assert tenant["state"]["enum"] == ["Active", "Paused", "Draining"]
    rules = spec["autoscaling"]["x-kubernetes-validations"]
    assert any(r["rule"] == "self.minReplicas <= self.maxReplicas" for r in rules)
    status = schema["properties"]["status"]["properties"]
    for field in (
        "observedGeneration",
        "queued",
        "running",
        "oldestQueuedAgeSeconds",
        "currentReplicas",
        "desiredReplicas",
        "lastActiveTime",
        "lastScaleTime",
        "tenants",
        "conditions",
    ):
        assert field in status, field
    condition = status["conditions"]["items"]
    assert set(condition["required"]) == {
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
    }

    def walk(node: Any, path: str) -> None:
        # Structural: every object level says what it holds.
        if isinstance(node, dict):
            if node.get("type") == "object" and path != "metadata":
                assert (
                    "properties" in node
                    or "additionalProperties" in node
                    or node.get("x-kubernetes-preserve-unknown-fields")
                ), f"untyped object at {path}"
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else key)

    walk(schema["properties"]["spec"], "spec")
    walk(schema["properties"]["status"], "status")


def test_examples_are_valid() -> None:
    validator = jsonschema.Draft202012Validator(crd_schema())
    taskqueues = sorted((ROOT / "examples").glob("taskqueue*.yaml"))
    assert taskqueues
    for path in taskqueues:
        for manifest in yaml.safe_load_all(path.read_text()):
            if manifest and manifest.get("kind") == "TaskQueue":
                errors = [e.message for e in validator.iter_errors(manifest)]
                assert not errors, f"{path.name}: {errors}"


def test_example_values_files_render(render: Render) -> None:
    values = sorted((ROOT / "examples").glob("values-*.yaml"))
    values.append(ROOT / "examples" / "app" / "values.yaml")
    assert values
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path in values:
        jsonschema.Draft7Validator(schema).validate(yaml.safe_load(path.read_text()))
        assert render(path)


def test_values_schema_is_valid_and_accepts_the_defaults() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["taskQueue.tenants.acme.state=Sleeping"], "Active"),
        (["secret.adminKey=letmein"], "adminKey"),
        (["secret.adminKey=sk_ABCD1234_" + "x" * 40], "adminKey"),
        (["worker.drainSeconds=400"], "terminationGracePeriodSeconds"),
        (["taskQueue.autoscaling.maxReplicas=0"], "maxReplicas"),
        (["api.replicaCount=-1"], "replicaCount"),
        (["operator.replicaCount=2"], "peering"),
        (["mysql.enabled=false"], "externalDatabase.host"),
        (["redis.enabled=false"], "externalRedis.host"),
        (["ingress.hosts[0].paths[0].path=nope"], "path"),
    ],
)
def test_bad_values_are_refused_with_a_message(
    render: Render, sets: list[str], message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        render(None, sets)


def test_the_crd_and_values_admit_the_rate_limits_the_engine_accepts_and_no_others() -> None:
    """A TaskQueue (or values entry) the API server admits must not be refused by the
    engine later, where it only shows as a condition; and what the engine accepts must
    be writable (in its canonical form: no leading zeros or spaces)."""
    tenant = crd_schema()["properties"]["spec"]["properties"]["tenants"]["additionalProperties"]
    values = json.loads((CHART / "values.schema.json").read_text())
    patterns = {
        "crd": tenant["properties"]["rateLimit"]["pattern"],
        "values": _find_key(values, "rateLimit")["pattern"],
    }
    samples = ["1/1", "100/60", "10000000/86400", "9999999/86399", "0/60", "10/0"]
    samples += ["10000001/60", "1/86401", "1/100000", "99999999/1", "10/0.5", "none", "5"]
    for text in samples:
        try:
            parse_rate_limit(text)
            engine = True
        except ValueError:
            engine = text == "none"
        for where, pattern in patterns.items():
            assert bool(re.match(pattern, text)) == engine, (where, text)


def _find_key(tree: Any, key: str) -> dict[str, Any]:
    if isinstance(tree, dict):
        if key in tree and isinstance(tree[key], dict):
            return tree[key]
        for value in tree.values():
            with contextlib.suppress(KeyError):
                return _find_key(value, key)
    elif isinstance(tree, list):
        for value in tree:
            with contextlib.suppress(KeyError):
                return _find_key(value, key)
    raise KeyError(key)


def test_declared_schedules_render_into_a_taskqueue_the_crd_admits(render: Render) -> None:
    manifests = render(
        None,
        [
            "taskQueue.schedules.nightly.type=report",
            "taskQueue.schedules.nightly.cron=0 3 * * *",
            "taskQueue.schedules.nightly.timezone=Europe/Berlin",
            "taskQueue.schedules.nightly.catchUp=None",
            "taskQueue.schedules.ping.type=noop",
            "taskQueue.schedules.ping.everySeconds=30",
        ],
    )
    (queue,) = find(manifests, "TaskQueue")
    assert queue["spec"]["schedules"] == {
        "nightly": {
            "type": "report",
            "cron": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "catchUp": "None",
        },
        "ping": {"type": "noop", "everySeconds": 30},
    }
    errors = [e.message for e in jsonschema.Draft202012Validator(crd_schema()).iter_errors(queue)]
    assert not errors, errors
    assert "schedules" not in find(render(None), "TaskQueue")[0]["spec"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["taskQueue.schedules.a.type=noop"], "schedules"),  # neither cron nor everySeconds
        (
            ["taskQueue.schedules.a.type=noop", "taskQueue.schedules.a.everySeconds=0"],
            "everySeconds",
        ),
        (["taskQueue.schedules.a.cron=* * * * *"], "type"),
        (
            [
                "taskQueue.schedules.a.type=noop",
                "taskQueue.schedules.a.cron=* * * * *",
                "taskQueue.schedules.a.catchUp=Some",
            ],
            "catchUp",
        ),
    ],
)
def test_bad_schedule_values_are_refused_naming_the_field(
    render: Render, sets: list[str], message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        render(None, sets)
