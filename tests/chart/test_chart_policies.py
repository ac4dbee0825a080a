"""What the rendered objects promise: hardened pods, probes on the right paths, selectors
that select, SSE-safe ingress, minimal RBAC, and each values scenario doing what it says."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.chart.chartlib import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    RELEASE,
    ROOT,
    Manifest,
    containers,
    env_of,
    find,
    one,
    pod_spec,
    pods,
    workloads,
)

Render = Callable[..., list[Manifest]]
FULL = f"{RELEASE}-skiplock"
CI = {p.name.removesuffix("-values.yaml"): p for p in CI_VALUES}


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_pod_runs_non_root_hardened_and_bounded(render: Render, values: Any) -> None:
    for workload in pods(render(values)):
        name = workload["metadata"]["name"]
        pod = pod_spec(workload)
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True, name
        assert psc["runAsUser"] > 0, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(workload):
            csc = container["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, name
            assert csc["readOnlyRootFilesystem"] is True, name
            assert csc.get("privileged", False) is False, name
            assert "ALL" in csc["capabilities"]["drop"], name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name
            if workload["kind"] in ("Deployment", "StatefulSet"):  # Jobs and Pods end
                assert "livenessProbe" in container, name
        if not name.endswith("-operator"):
            assert pod["automountServiceAccountToken"] is False, name


def test_engine_pods_run_as_uid_10001(render: Render) -> None:
    for workload in find(render(), "Deployment"):
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


def http_probe(container: dict[str, Any], kind: str) -> tuple[str, Any]:
    get = container[kind]["httpGet"]
    return get["path"], get["port"]


def test_probes_hit_the_documented_endpoints_on_the_served_port(render: Render) -> None:
    manifests = render()
    (api,) = containers(one(manifests, "Deployment", f"{FULL}-api"))
    assert http_probe(api, "livenessProbe") == ("/api/health", "http")
    assert http_probe(api, "readinessProbe") == ("/api/ready", "http")
    assert http_probe(api, "startupProbe")[0] == "/api/health"
    (worker,) = containers(one(manifests, "Deployment", f"{FULL}-worker"))
    assert http_probe(worker, "livenessProbe") == ("/api/health", "http")
    for c in (api, worker):
        assert c["ports"] == [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ]
    config = one(manifests, "ConfigMap", FULL)["data"]
    assert config["SKIPLOCK_PORT"] == "8080"
    assert config["SKIPLOCK_METRICS_PORT"] == "9090"
    (mysql,) = containers(one(manifests, "StatefulSet", f"{FULL}-mysql"))
    (redis,) = containers(one(manifests, "StatefulSet", f"{FULL}-redis"))
    for c in (mysql, redis):
        assert "exec" in c["livenessProbe"]
        assert "exec" in c["readinessProbe"]
    (operator,) = containers(one(manifests, "Deployment", f"{FULL}-operator"))
    assert http_probe(operator, "livenessProbe") == ("/healthz", "liveness")
    assert "--liveness=http://0.0.0.0:8080/healthz" in operator["args"]


def test_only_worker_pods_are_told_to_import_the_handler_modules(render: Render) -> None:
    """Api pods accept the types workers announce: they never import the user's code, so
    an image without it, or an import error in it, cannot stop the API."""
    manifests = render(ROOT / "examples" / "app" / "values.yaml")
    assert "SKIPLOCK_HANDLERS" not in one(manifests, "ConfigMap", FULL)["data"]
    (worker,) = containers(one(manifests, "Deployment", f"{FULL}-worker"))
    assert {"name": "SKIPLOCK_HANDLERS", "value": "myapp.tasks"} in worker["env"]
    for name in (f"{FULL}-api", f"{FULL}-operator"):
        (c,) = containers(one(manifests, "Deployment", name))
        assert "SKIPLOCK_HANDLERS" not in {e["name"] for e in c.get("env", [])}, name
        assert c["image"] == "registry.example.com/myapp:1.0.0"


def test_api_and_worker_run_the_right_roles_with_the_engine_environment(render: Render) -> None:
    manifests = render()
    roles = {"api": "api,maintenance", "worker": "worker"}
    for component, role in roles.items():
        (c,) = containers(one(manifests, "Deployment", f"{FULL}-{component}"))
        assert c["args"] == ["serve", "--role", role]
        env = env_of(c)
        assert env["SKIPLOCK_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        url = env["SKIPLOCK_DATABASE_URL"]["value"]
        assert url == f"mysql+pymysql://skiplock:$(DATABASE_PASSWORD)@{FULL}-mysql:3306/skiplock"
        names = list(env)
        # $(VAR) expansion only sees variables defined earlier in the list.
        assert names.index("DATABASE_PASSWORD") < names.index("SKIPLOCK_DATABASE_URL")
        assert names.index("REDIS_PASSWORD") < names.index("SKIPLOCK_REDIS_URL")
        assert (
            env["SKIPLOCK_REDIS_URL"]["value"] == f"redis://:$(REDIS_PASSWORD)@{FULL}-redis:6379/0"
        )
        assert c["envFrom"] == [{"configMapRef": {"name": FULL}}]
    config = one(manifests, "ConfigMap", FULL)["data"]
    assert config["SKIPLOCK_LOG_JSON"] == "true"
    assert config["SKIPLOCK_LEASE_S"] == "30"
    assert config["SKIPLOCK_REGISTRY_TTL_S"] == "10"
    (worker,) = containers(one(manifests, "Deployment", f"{FULL}-worker"))
    assert env_of(worker)["SKIPLOCK_WORKERS"]["value"] == "8"


def test_workers_get_a_long_grace_period_to_drain(render: Render) -> None:
    worker = one(render(), "Deployment", f"{FULL}-worker")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    (c,) = containers(worker)
    drain = int(env_of(c)["SKIPLOCK_SHUTDOWN_GRACE_S"]["value"])
    assert grace >= 300
    assert drain < grace, "the kubelet would SIGKILL a worker still draining"


def test_engine_listens_on_all_interfaces_in_pods(render: Render) -> None:
    assert one(render(), "ConfigMap", FULL)["data"]["SKIPLOCK_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_selectors_select_what_they_are_meant_to(render: Render, values: Any) -> None:
    manifests = render(values)
    pods = {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in workloads(manifests)
    }
    for w in workloads(manifests):
        selector = w["spec"]["selector"]["matchLabels"]
        assert labels_match(selector, pods[w["metadata"]["name"]])
        assert set(selector) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        }
        others = [n for n, labels in pods.items() if n != w["metadata"]["name"]]
        assert not any(labels_match(selector, pods[n]) for n in others), "selectors overlap"
    for svc in find(manifests, "Service"):
        matched = [n for n, labels in pods.items() if labels_match(svc["spec"]["selector"], labels)]
        assert len(matched) == 1, (svc["metadata"]["name"], matched)
        workload = next(w for w in workloads(manifests) if w["metadata"]["name"] == matched[0])
        port_names = {p["name"] for c in containers(workload) for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names
    for pdb in find(manifests, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert sum(labels_match(selector, labels) for labels in pods.values()) == 1
    for sts in find(manifests, "StatefulSet"):
        assert find(manifests, "Service", sts["spec"]["serviceName"])


def test_ingress_keeps_server_sent_events_flowing(render: Render) -> None:
    manifests = render(CI["ingress-monitoring"])
    ingress = one(manifests, "Ingress", FULL)
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"  # user's kept
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{FULL}-api", "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["secretName"] == "skiplock-tls"
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "16m"
    no_sse = render(CI["ingress-monitoring"], ["ingress.nginxAnnotations=false"])
    plain = one(no_sse, "Ingress", FULL)["metadata"]["annotations"]
    assert not any(k.startswith("nginx.ingress") for k in plain)


def test_no_ingress_servicemonitor_or_dashboard_unless_asked(render: Render) -> None:
    manifests = render()
    assert not find(manifests, "Ingress")
    assert not find(manifests, "ServiceMonitor")
    assert not find(manifests, "ConfigMap", f"{FULL}-dashboard")


def test_servicemonitor_carries_additional_labels_and_scrapes_every_component(
    render: Render,
) -> None:
    manifests = render(CI["ingress-monitoring"])
    sm = one(manifests, "ServiceMonitor", FULL)
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert {e["port"] for e in sm["spec"]["endpoints"]} == {"metrics"}
    assert all(e["path"] == "/metrics" and e["interval"] == "15s" for e in sm["spec"]["endpoints"])
    selector = sm["spec"]["selector"]["matchLabels"]
    scraped = [
        s for s in find(manifests, "Service") if labels_match(selector, s["metadata"]["labels"])
    ]
    assert {s["metadata"]["name"] for s in scraped} == {
        f"{FULL}-api",
        f"{FULL}-worker",
        f"{FULL}-operator",
    }


def test_grafana_dashboard_configmap_is_labelled_for_the_sidecar(render: Render) -> None:
    cm = one(render(CI["ingress-monitoring"]), "ConfigMap", f"{FULL}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "Skiplock"
    embedded = json.loads(cm["data"]["skiplock.json"])
    assert embedded == json.loads((CHART / "dashboards" / "skiplock.json").read_text())
    custom = render(
        CI["ingress-monitoring"],
        ["grafana.dashboards.label=dashboards", "grafana.dashboards.labelValue=skiplock"],
    )
    labels = one(custom, "ConfigMap", f"{FULL}-dashboard")["metadata"]["labels"]
    assert labels["dashboards"] == "skiplock"
    assert "grafana_dashboard" not in labels


EXPECTED_RULES = [
    {
        "apiGroups": ["skiplock.dev"],
        "resources": ["taskqueues"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"apiGroups": ["skiplock.dev"], "resources": ["taskqueues/status"], "verbs": ["patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "patch"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list"]},
    {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": ["list"]},
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": [f"{FULL}-keys"],
        "verbs": ["get"],
    },
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
]


def test_operator_rbac_is_namespaced_and_minimal(render: Render) -> None:
    manifests = render()
    assert not find(manifests, "ClusterRole")
    assert not find(manifests, "ClusterRoleBinding")
    role = one(manifests, "Role", f"{FULL}-operator")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == EXPECTED_RULES
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert not {"delete", "deletecollection", "update", "create", "escalate", "bind"} & set(
            rule["verbs"]
        ) or rule["resources"] == ["events"]
    binding = one(manifests, "RoleBinding", f"{FULL}-operator")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (subject,) = binding["subjects"]
    operator = one(manifests, "Deployment", f"{FULL}-operator")
    assert subject["name"] == operator["spec"]["template"]["spec"]["serviceAccountName"]
    engine_sa = one(manifests, "Deployment", f"{FULL}-api")["spec"]["template"]["spec"]
    assert engine_sa["serviceAccountName"] != subject["name"]


def test_the_operator_owns_worker_replicas_and_the_taskqueue_points_at_them(
    render: Render,
) -> None:
    manifests = render()
    worker = one(manifests, "Deployment", f"{FULL}-worker")
    assert "replicas" not in worker["spec"], "helm upgrade would reset the operator's count"
    operator = one(manifests, "Deployment", f"{FULL}-operator")
    assert operator["spec"]["strategy"]["type"] == "Recreate"
    (c,) = containers(operator)
    assert c["command"] == ["skiplock-operator"]
    assert f"--namespace={NAMESPACE}" in c["args"]
    assert "--standalone" in c["args"]
    tq = one(manifests, "TaskQueue", FULL)
    assert tq["spec"]["workerRef"]["name"] == worker["metadata"]["name"]
    assert tq["spec"]["engine"]["url"] == f"http://{FULL}-api.{NAMESPACE}.svc:8080"
    assert tq["spec"]["engine"]["adminKeySecretRef"] == {"name": f"{FULL}-keys"}
    assert find(manifests, "Secret", f"{FULL}-keys")
    (wc,) = containers(worker)
    assert tq["spec"]["autoscaling"]["workerSlots"] == int(env_of(wc)["SKIPLOCK_WORKERS"]["value"])


def test_without_the_operator_workers_have_fixed_replicas(render: Render) -> None:
    manifests = render(CI["no-operator"])
    worker = one(manifests, "Deployment", f"{FULL}-worker")
    assert worker["spec"]["replicas"] == 4
    (wc,) = containers(worker)
    assert env_of(wc)["SKIPLOCK_WORKERS"]["value"] == "16"
    assert not find(manifests, "Deployment", f"{FULL}-operator")
    assert not find(manifests, "Role")
    assert not find(manifests, "TaskQueue")


def test_an_existing_secret_replaces_the_generated_one_everywhere(render: Render) -> None:
    manifests = render(CI["existing-secret"])
    assert not find(manifests, "Secret")
    refs: dict[str, set[str]] = {}
    for w in pods(manifests):
        for c in containers(w):
            for e in c.get("env", []):
                if "secretKeyRef" in e.get("valueFrom", {}):
                    ref = e["valueFrom"]["secretKeyRef"]
                    refs.setdefault(ref["name"], set()).add(ref["key"])
    # The passwords from one Secret, the API keys from the other.
    assert refs == {
        "skiplock-credentials": {"mysql-password", "mysql-root-password", "redis-password"},
        "skiplock-api-keys": {"admin-key", "reader-key"},
    }
    role = one(manifests, "Role", f"{FULL}-operator")
    secrets_rule = next(r for r in role["rules"] if r["resources"] == ["secrets"])
    assert secrets_rule["resourceNames"] == ["skiplock-api-keys"]
    tq = one(manifests, "TaskQueue", FULL)
    assert tq["spec"]["engine"]["adminKeySecretRef"]["name"] == "skiplock-api-keys"


def test_external_database_and_redis_replace_the_statefulsets(render: Render) -> None:
    manifests = render(CI["external"])
    assert not find(manifests, "StatefulSet")
    assert not [s for s in find(manifests, "Service") if "mysql" in s["metadata"]["name"]]
    (c,) = containers(one(manifests, "Deployment", f"{FULL}-api"))
    env = env_of(c)
    assert env["SKIPLOCK_DATABASE_URL"]["value"] == (
        "mysql+pymysql://skiplock:$(DATABASE_PASSWORD)@mysql.example.internal:3306/skiplock"
    )
    assert env["SKIPLOCK_REDIS_URL"]["value"] == (
        "rediss://:$(REDIS_PASSWORD)@redis.example.internal:6380/2"
    )
    secret = one(manifests, "Secret", FULL)
    assert set(secret["data"]) == {"mysql-password", "redis-password"}
    assert set(one(manifests, "Secret", f"{FULL}-keys")["data"]) == {"admin-key", "reader-key"}
    url_key = render(
        CI["external"],
        ["externalDatabase.existingSecret=db", "externalDatabase.existingSecretUrlKey=url"],
    )
    (c,) = containers(one(url_key, "Deployment", f"{FULL}-api"))
    assert env_of(c)["SKIPLOCK_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "db",
        "key": "url",
    }


def test_generated_admin_key_has_the_engine_format(render: Render) -> None:
    import base64

    secret = one(render(), "Secret", f"{FULL}-keys")
    key = base64.b64decode(secret["data"]["admin-key"]).decode()
    assert re.fullmatch(r"sk_[a-z0-9]{8}_[A-Za-z0-9]{40}", key)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    given = "sk_abcd1234_" + "x" * 40
    secret = one(render(None, [f"secret.adminKey={given}"]), "Secret", f"{FULL}-keys")
    assert base64.b64decode(secret["data"]["admin-key"]).decode() == given


def test_peering_mode_runs_replicas_that_elect_one_per_namespace(render: Render) -> None:
    manifests = render(CI["peering"])
    operator = one(manifests, "Deployment", f"{FULL}-operator")
    assert operator["spec"]["replicas"] == 2
    assert "strategy" not in operator["spec"]
    (c,) = containers(operator)
    assert f"--peering={FULL}-operator" in c["args"]
    assert "--standalone" not in c["args"]
    assert {"--namespace=jobs", "--namespace=jobs-batch"} <= set(c["args"])
    peerings = find(manifests, "KopfPeering")
    assert {p["metadata"]["namespace"] for p in peerings} == {"jobs", "jobs-batch"}
    roles = find(manifests, "Role")
    assert {r["metadata"]["namespace"] for r in roles} == {"jobs", "jobs-batch"}
    for role in roles:
        assert role["rules"][-1] == {
            "apiGroups": ["kopf.dev"],
            "resources": ["kopfpeerings"],
            "verbs": ["get", "list", "watch", "patch"],
        }
    redis = one(manifests, "StatefulSet", f"{FULL}-redis")
    assert "volumeClaimTemplates" not in redis["spec"]
    (rc,) = containers(one(manifests, "Deployment", f"{FULL}-api"))
    assert env_of(rc)["SKIPLOCK_REDIS_URL"]["value"] == f"redis://{FULL}-redis:6379/0"
