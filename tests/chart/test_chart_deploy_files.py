"""The files for people with Docker (compose, nginx, kind, skaffold, the Dockerfile) agree
with each other and with the engine's interface. No Docker here, so these check structure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from tests.chart.chartlib import CHART, ROOT, Manifest

ENGINE_KEY = re.compile(r"^sk_[a-z0-9]{8,32}_[A-Za-z0-9_-]{32,128}$")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


def test_compose_runs_three_engines_behind_nginx_with_mariadb_and_redis() -> None:
    compose = load("docker-compose.yml")
    services = compose["services"]
    engines = sorted(n for n in services if n.startswith("engine-"))
    assert engines == ["engine-1", "engine-2", "engine-3"]
    for name in engines:
        svc = services[name]
        assert svc["command"] == ["serve"]
        env = svc["environment"]
        assert env["SKIPLOCK_DATABASE_URL"].startswith(
            "mysql+pymysql://skiplock:skiplock@mariadb:3306/"
        )
        assert env["SKIPLOCK_REDIS_URL"] == "redis://redis:6379/0"
        assert env["SKIPLOCK_HOST"] == "0.0.0.0"
        assert env["SKIPLOCK_INSTANCE_ID"] == name
        default_key = env["SKIPLOCK_ADMIN_KEY"].split(":-", 1)[1].rstrip("}")
        assert ENGINE_KEY.match(default_key)
        assert "/api/ready" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["mariadb"]["condition"] == "service_healthy"
        assert svc["read_only"] is True
    nginx = services["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert all(p.startswith("127.0.0.1:") for p in nginx["ports"])
    assert services["mariadb"]["image"].startswith("mariadb:")
    assert services["redis"]["image"].startswith("redis:")


def test_nginx_balances_over_the_compose_engines_and_keeps_sse_unbuffered() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream skiplock \{(.*?)\}", conf, re.S)
    assert upstream
    servers = re.findall(r"server (engine-\d):8080", upstream.group(1))
    assert servers == ["engine-1", "engine-2", "engine-3"]
    sse = re.search(r"location /api/sse/ \{(.*?)\}", conf, re.S)
    assert sse
    block = sse.group(1)
    assert re.search(r"proxy_buffering off;", block)
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", block)
    assert read_timeout
    assert int(read_timeout.group(1)) >= 3600
    assert "proxy_http_version 1.1;" in conf
    assert conf.count("{") == conf.count("}")


def test_kind_cluster_publishes_the_ingress_ports_locally() -> None:
    kind = load("kind-config.yaml")
    assert kind["kind"] == "Cluster"
    assert kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    control = next(n for n in kind["nodes"] if n["role"] == "control-plane")
    ports = {(m["containerPort"], m["hostPort"]) for m in control["extraPortMappings"]}
    assert (80, 8080) in ports
    assert all(m["listenAddress"] == "127.0.0.1" for m in control["extraPortMappings"])
    assert "ingress-ready=true" in control["kubeadmConfigPatches"][0]


def test_skaffold_builds_the_image_the_release_uses(render: Callable[..., list[Manifest]]) -> None:
    skaffold = load("skaffold.yaml")
    (artifact,) = skaffold["build"]["artifacts"]
    assert artifact["docker"]["dockerfile"] == "Dockerfile"
    (release,) = skaffold["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]) == CHART
    image = artifact["image"]
    assert release["setValueTemplates"]["image.repository"] == f"{{{{.IMAGE_REPO_{image}}}}}"
    assert release["setValueTemplates"]["image.tag"] == f"{{{{.IMAGE_TAG_{image}}}}}"
    assert skaffold["deploy"]["kubeContext"] == f"kind-{load('kind-config.yaml')['name']}"
    for values in release["valuesFiles"]:
        assert render(ROOT / values)
    forward = skaffold["portForward"][0]
    assert forward["resourceName"] == f"{release['name']}-api"


def test_dockerfile_builds_frontend_and_wheels_and_runs_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, re.M)
    assert [name for _, name in stages] == ["frontend", "build", "runtime"]
    assert stages[0][0].startswith("node:")
    assert "npm ci" in text
    assert "npm run build" in text
    runtime = text.split("AS runtime", 1)[1]
    assert "USER 10001:10001" in runtime
    assert "--uid 10001" in runtime
    assert not re.search(r"apt-get|gcc|build-essential|npm", runtime)
    assert 'ENTRYPOINT ["skiplock"]' in runtime
    assert "pip wheel --no-deps --wheel-dir /wheels . ./operator" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "frontend/node_modules", "tools/bin", "tests"):
        assert entry in ignored


def test_operator_is_its_own_small_distribution() -> None:
    import tomllib

    meta = tomllib.loads((ROOT / "operator" / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "skiplock-operator"
    assert meta["project"]["scripts"]["skiplock-operator"] == "skiplock_operator.cli:main"
    assert not (ROOT / "operator" / "__init__.py").exists()
    assert not (ROOT / "operator" / "operator").exists(), "would shadow the stdlib module"
