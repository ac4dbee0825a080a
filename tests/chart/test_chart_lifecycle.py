"""What an install, an upgrade and a rollout need from the rendered chart: maintenance in
every install, migrations in one Job with pods waiting for the schema, a preStop on api
pods, /metrics away from the published port, secrets where they belong, the namespaces
the operator must watch, alerts over real metric names, and a `helm test`."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram

from skiplock import metrics as engine_metrics
from skiplock_operator import metrics as operator_metrics
from tests.chart.chartlib import (
    CI_VALUES,
    NAMESPACE,
    RELEASE,
    Manifest,
    RenderError,
    containers,
    env_of,
    find,
    one,
    pod_spec,
    pods,
)

Render = Callable[..., list[Manifest]]
FULL = f"{RELEASE}-skiplock"
CI = {p.name.removesuffix("-values.yaml"): p for p in CI_VALUES}


def roles_of(deployment: Manifest) -> set[str]:
    """The engine roles a Deployment's pods run (none for the operator)."""
    (c,) = containers(deployment)
    args = c.get("args", [])
    if c.get("command") or args[:1] != ["serve"]:
        return set()  # not `skiplock serve` (the image's entrypoint)
    if "--role" not in args:
        return {"api", "worker", "maintenance"}
    return set(args[args.index("--role") + 1].split(","))


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_install_runs_maintenance_on_pods_that_always_exist(
    render: Render, values: Path
) -> None:
    manifests = render(values)
    runners = [d for d in find(manifests, "Deployment") if "maintenance" in roles_of(d)]
    assert runners, "no pod promotes, rescues or prunes"
    for deployment in runners:
        # Not the workers: the operator may scale those to zero.
        assert "worker" not in roles_of(deployment)
        assert deployment["spec"]["replicas"] >= 1


def test_migrations_run_once_in_a_post_install_and_pre_upgrade_hook(render: Render) -> None:
    manifests = render()
    job = one(manifests, "Job", f"{FULL}-migrate")
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "post-install,pre-upgrade"
    assert "hook-succeeded" in hooks["helm.sh/hook-delete-policy"]
    assert "before-hook-creation" in hooks["helm.sh/hook-delete-policy"]
    (c,) = containers(job)
    assert c["args"] == ["migrate"]
    assert "envFrom" not in c, "a pre-upgrade hook runs before this revision's ConfigMap"
    env = env_of(c)
    assert env["SKIPLOCK_DATABASE_URL"]["value"].startswith("mysql+pymysql://skiplock:$(")
    assert int(env["SKIPLOCK_STARTUP_TIMEOUT_S"]["value"]) >= 300  # outlasts MySQL's first start
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    config = one(manifests, "ConfigMap", FULL)["data"]
    assert config["SKIPLOCK_MIGRATE_ON_START"] == "false"
    for deployment in (f"{FULL}-api", f"{FULL}-worker"):
        (e,) = containers(one(manifests, "Deployment", deployment))
        assert e["envFrom"] == [{"configMapRef": {"name": FULL}}]


def test_without_hooks_the_migration_job_is_named_per_revision(render: Render) -> None:
    manifests = render(None, ["migrations.useHelmHooks=false"])
    (job,) = find(manifests, "Job")
    assert job["metadata"]["name"] == f"{FULL}-migrate-1"
    assert "annotations" not in job["metadata"]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_without_the_migration_job_pods_migrate_at_start(render: Render) -> None:
    manifests = render(None, ["migrations.enabled=false"])
    assert not find(manifests, "Job")
    assert "SKIPLOCK_MIGRATE_ON_START" not in one(manifests, "ConfigMap", FULL)["data"]


def test_api_pods_keep_serving_through_a_prestop_before_sigterm(render: Render) -> None:
    api = one(render(), "Deployment", f"{FULL}-api")
    (c,) = containers(api)
    sleep = c["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) >= 3
    grace = pod_spec(api)["terminationGracePeriodSeconds"]
    assert grace > int(sleep[1]) + 5  # room for uvicorn's graceful shutdown after it
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    with pytest.raises(RenderError, match="preStopSeconds"):
        render(None, ["api.preStopSeconds=30"])


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_metrics_are_scraped_on_their_own_port_and_never_routed_publicly(
    render: Render, values: Path
) -> None:
    manifests = render(values)
    config = one(manifests, "ConfigMap", FULL)["data"]
    metrics_port = int(config["SKIPLOCK_METRICS_PORT"])
    assert metrics_port != int(config["SKIPLOCK_PORT"])
    for name in (f"{FULL}-api", f"{FULL}-worker"):
        (c,) = containers(one(manifests, "Deployment", name))
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"http": int(config["SKIPLOCK_PORT"]), "metrics": metrics_port}
    for ingress in find(manifests, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["port"] == {"name": "http"}
    api_service = one(manifests, "Service", f"{FULL}-api")
    by_name = {p["name"]: p for p in api_service["spec"]["ports"]}
    assert by_name["metrics"]["targetPort"] == "metrics"
    assert by_name["http"]["targetPort"] == "http"
    worker_service = one(manifests, "Service", f"{FULL}-worker")
    assert [p["name"] for p in worker_service["spec"]["ports"]] == ["metrics"]
    for sm in find(manifests, "ServiceMonitor"):
        assert [e["port"] for e in sm["spec"]["endpoints"]] == ["metrics"]


def test_the_ingress_admits_the_engines_largest_body(render: Render) -> None:
    ingress = one(render(CI["ingress-monitoring"]), "Ingress", FULL)
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "16m"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    odd = render(CI["ingress-monitoring"], ["config.maxBodyBytes=5000000"])
    annotations = one(odd, "Ingress", FULL)["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "5000000"
    assert one(odd, "ConfigMap", FULL)["data"]["SKIPLOCK_MAX_BODY_BYTES"] == "5000000"
    default_config = one(render(), "ConfigMap", FULL)["data"]
    assert default_config["SKIPLOCK_MAX_BODY_BYTES"] == str(16 * 1024 * 1024)


def test_an_httproute_sends_the_api_to_the_gateway_with_sse_unbounded(render: Render) -> None:
    assert not find(render(), "HTTPRoute")
    manifests = render(
        None,
        [
            "httpRoute.enabled=true",
            "httpRoute.parentRefs[0].name=public",
            "httpRoute.parentRefs[0].namespace=gateways",
            "httpRoute.hostnames[0]=jobs.example.com",
            "httpRoute.timeouts.request=120s",
        ],
    )
    route = one(manifests, "HTTPRoute", FULL)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    assert spec["hostnames"] == ["jobs.example.com"]
    sse, rest = spec["rules"]
    assert sse["matches"] == [{"path": {"type": "PathPrefix", "value": "/api/sse/"}}]
    assert sse["timeouts"] == {"request": "0s"}
    assert rest["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rest["timeouts"] == {"request": "120s"}
    for rule in spec["rules"]:
        assert rule["backendRefs"] == [{"name": f"{FULL}-api", "port": 8080}]
    with pytest.raises(RenderError, match="parentRefs"):
        render(None, ["httpRoute.enabled=true"])


def test_watch_namespaces_must_include_the_release_namespace(render: Render) -> None:
    with pytest.raises(RenderError, match=f'must include the release namespace "{NAMESPACE}"'):
        render(None, ["operator.watchNamespaces={batch,other}"])
    manifests = render(None, [f"operator.watchNamespaces={{batch,{NAMESPACE}}}"])
    roles = {r["metadata"]["namespace"] for r in find(manifests, "Role")}
    assert roles == {"batch", NAMESPACE}


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_only_the_pods_that_bootstrap_the_admin_key_receive_it(
    render: Render, values: Path
) -> None:
    manifests = render(values)
    for variable in ("SKIPLOCK_ADMIN_KEY", "SKIPLOCK_READER_KEY"):
        holders = {
            m["metadata"]["name"]
            for m in pods(manifests)
            for c in containers(m)
            if variable in env_of(c)
        }
        assert holders == {f"{FULL}-api"}, variable


def test_the_operator_may_read_the_api_keys_and_no_database_password(render: Render) -> None:
    manifests = render()
    keys = one(manifests, "Secret", f"{FULL}-keys")
    assert set(keys["data"]) == {"admin-key", "reader-key"}
    admin, reader = (
        base64.b64decode(keys["data"][k]).decode() for k in ("admin-key", "reader-key")
    )
    assert admin != reader
    assert re.fullmatch(r"sk_[a-z0-9]{8}_[A-Za-z0-9]{40}", reader)
    credentials = one(manifests, "Secret", FULL)
    assert set(credentials["data"]) == {"mysql-password", "mysql-root-password", "redis-password"}
    rule = next(
        r
        for r in one(manifests, "Role", f"{FULL}-operator")["rules"]
        if "secrets" in r["resources"]
    )
    assert rule["resourceNames"] == [f"{FULL}-keys"]
    tq = one(manifests, "TaskQueue", FULL)
    assert tq["spec"]["engine"]["adminKeySecretRef"] == {"name": f"{FULL}-keys"}
    split = render(CI["existing-secret"])
    rule = next(
        r for r in one(split, "Role", f"{FULL}-operator")["rules"] if "secrets" in r["resources"]
    )
    assert rule["resourceNames"] == ["skiplock-api-keys"]
    assert not find(split, "Secret")


def _exported(module: Any) -> set[str]:
    """The series names a metrics module's collectors expose."""
    names: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{value._name}_{s}" for s in ("bucket", "sum", "count")}
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def test_the_prometheus_rule_alerts_only_on_metrics_that_exist(render: Render) -> None:
    assert not find(render(), "PrometheusRule")
    manifests = render(CI["ingress-monitoring"], ["metrics.prometheusRule.enabled=true"])
    rule = one(manifests, "PrometheusRule", FULL)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {
        "SkiplockQueuedTasksWaiting",
        "SkiplockDeadLettersGrowing",
        "SkiplockNoLiveWorkers",
        "SkiplockOperatorCannotReadQueueStats",
    }
    exported = _exported(engine_metrics) | _exported(operator_metrics)
    for name, alert in alerts.items():
        expr = alert["expr"]
        used = set(re.findall(r"\b(skiplock_[a-z0-9_]+)\b", expr))
        assert used, name
        assert used <= exported, f"{name}: {sorted(used - exported)} not exported"
        assert expr.count("(") == expr.count(")"), name
        assert f'namespace="{NAMESPACE}"' in expr, name
        assert alert["labels"]["severity"] == "warning"
    assert "skiplock_queue_oldest_age_seconds" in alerts["SkiplockQueuedTasksWaiting"]["expr"]
    assert "skiplock_dead_lettered_total" in alerts["SkiplockDeadLettersGrowing"]["expr"]
    assert "skiplock_worker_slots" in alerts["SkiplockNoLiveWorkers"]["expr"]
    assert (
        "skiplock_operator_stats_errors_total"
        in alerts["SkiplockOperatorCannotReadQueueStats"]["expr"]
    )
    # The services the selectors name are the ones the ServiceMonitor scrapes.
    scraped = {s["metadata"]["name"] for s in find(manifests, "Service")}
    for service in re.findall(r'service=~?"([^"]+)"', " ".join(a["expr"] for a in alerts.values())):
        assert set(service.split("|")) <= scraped


def test_helm_test_runs_tasks_through_the_api_service(render: Render) -> None:
    manifests = render(CI["peering"])  # scale to zero with activationThreshold 5
    (pod,) = find(manifests, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (c,) = containers(pod)
    env = env_of(c)
    assert env["SKIPLOCK_URL"]["value"] == f"http://{FULL}-api:8080"
    assert env["TASKS"]["value"] == "6"  # one more than the activation threshold
    assert env["KEY"]["valueFrom"]["secretKeyRef"] == {"name": f"{FULL}-keys", "key": "admin-key"}
    script = c["command"][-1]
    assert "/api/tasks/batch" in script and '"succeeded"' in script
    compile(script, "helm-test", "exec")
    assert not find(render(None, ["tests.enabled=false"]), "Pod")


def test_one_existing_secret_for_passwords_and_keys_is_refused_with_the_operator(
    render: Render,
) -> None:
    with pytest.raises(RenderError, match="existingKeysSecret"):
        render(None, ["secret.existingSecret=everything"])
    # Without the operator nobody else reads it: one Secret may hold both, as before.
    manifests = render(None, ["secret.existingSecret=everything", "operator.enabled=false"])
    (api,) = containers(one(manifests, "Deployment", f"{FULL}-api"))
    assert env_of(api)["SKIPLOCK_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "everything"


def test_the_operator_may_send_keys_only_to_this_releases_engine(render: Render) -> None:
    manifests = render()
    (c,) = containers(one(manifests, "Deployment", f"{FULL}-operator"))
    url = f"http://{FULL}-api.{NAMESPACE}.svc:8080"
    assert [a for a in c["args"] if a.startswith("--engine-url")] == [f"--engine-url={url}"]
    assert env_of(c)["SKIPLOCK_OPERATOR_NAMESPACE"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.namespace"
    }
    assert one(manifests, "TaskQueue", FULL)["spec"]["engine"]["url"] == url
    more = render(None, ["operator.extraEngineUrls={http://other-api.batch.svc:8080}"])
    (c,) = containers(one(more, "Deployment", f"{FULL}-operator"))
    assert [a for a in c["args"] if a.startswith("--engine-url")] == [
        f"--engine-url={url}",
        "--engine-url=http://other-api.batch.svc:8080",
    ]


def test_the_api_pods_bootstrap_the_reader_key_and_tolerate_a_secret_without_one(
    render: Render,
) -> None:
    (api,) = containers(one(render(), "Deployment", f"{FULL}-api"))
    ref = env_of(api)["SKIPLOCK_READER_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{FULL}-keys", "key": "reader-key", "optional": True}
    with pytest.raises(RenderError, match="readerKey"):
        render(None, ["secret.readerKey=not-a-key"])
