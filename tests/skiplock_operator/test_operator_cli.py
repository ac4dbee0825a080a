"""The production entry point: ``skiplock-operator`` as a process, logging in through a
kubeconfig like kubectl would, serving liveness and metrics, and stopping cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from skiplock_operator import cli
from skiplock_operator.cli import build_parser, operator_config
from tests.skiplock_operator.conftest import (
    DEPLOYMENTS,
    NAMESPACE,
    ROOT,
    Emulator,
    Engine,
    admin_secret,
    deployment,
    eventually,
    free_port,
    taskqueue,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_the_parser_defaults_to_standalone_liveness_and_metrics() -> None:
    args = build_parser().parse_args(["--namespace", "jobs"])
    assert args.namespaces == ["jobs"]
    assert args.liveness == "http://0.0.0.0:8080/healthz"
    assert args.metrics_port == 8081
    assert args.peering is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--standalone", "--peering", "p"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["-A", "-n", "jobs"])


@pytest.mark.parametrize(("raised", "exits_cleanly"), [(TimeoutError, True), (RuntimeError, False)])
def test_a_timeout_while_stopping_is_a_clean_exit_and_nothing_else_is(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    raised: type[Exception],
    exits_cleanly: bool,
) -> None:
    """kopf.run returns (or raises) only after the operator stopped; a request its stop cut
    short may end in TimeoutError (seen after ``helm uninstall`` removed the RBAC)."""

    def stopped(**_: object) -> None:
        raise raised("stopping")

    monkeypatch.setattr(cli.kopf, "run", stopped)
    argv = ["-n", "jobs", "--metrics-port=0", "--engine-url", "http://skiplock-api:8080"]
    if exits_cleanly:
        cli.main(argv)
        assert "timed out while the operator stopped" in caplog.text
    else:
        with pytest.raises(RuntimeError):
            cli.main(argv)


def test_the_engine_allow_list_comes_from_flags_over_the_environment() -> None:
    env = {
        "SKIPLOCK_OPERATOR_ENGINE_URLS": "http://from-env:8080",
        "SKIPLOCK_OPERATOR_NAMESPACE": "jobs",
    }
    args = build_parser().parse_args(["-n", "jobs"])
    assert operator_config(args, env, namespaces=["jobs"]).engine_urls == ("http://from-env:8080",)
    args = build_parser().parse_args(
        ["--engine-url", "http://a:8080", "--engine-url", "http://b:80"]
    )
    config = operator_config(args, env, namespaces=[])
    assert config.engine_urls == ("http://a:8080", "http://b:80")
    assert config.own_namespace == "jobs"


def test_in_a_pod_the_operator_knows_its_namespace_from_the_service_account(
    tmp_path: Path,
) -> None:
    """So the chart's bare Service name and its .svc name are the same allowed engine."""
    file = tmp_path / "namespace"
    file.write_text("skiplock\n")
    args = build_parser().parse_args(["--engine-url", "http://skiplock-api.skiplock.svc:8080"])
    config = operator_config(args, {}, namespaces=["skiplock"], namespace_file=file)
    assert config.own_namespace == "skiplock"
    assert config.resolve_engine("http://skiplock-api:8080") == (
        "http://skiplock-api.skiplock.svc:8080"
    )


def test_a_malformed_engine_url_stops_the_operator_at_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT)]),
        "SKIPLOCK_OPERATOR_ENGINE_URLS": "ftp://skiplock-api:8080",
    }
    out = subprocess.run(
        [sys.executable, "-m", "skiplock_operator", "-n", "jobs", "--metrics-port=0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "must be http:// or https://" in out.stderr


async def test_the_operator_process_logs_in_via_kubeconfig_scales_and_exits_cleanly(
    k8s: Emulator, start_engine: object, tmp_path: Path
) -> None:
    engine: Engine = await start_engine(role="api")  # type: ignore[operator]
    for path, body in [
        (f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment("worker", 1)),
        (f"/api/v1/namespaces/{NAMESPACE}/secrets", admin_secret("skiplock", engine.admin_key)),
        (
            f"/apis/skiplock.dev/v1alpha1/namespaces/{NAMESPACE}/taskqueues",
            taskqueue(
                "queue",
                worker="worker",
                engine_url=engine.url,
                secret="skiplock",
                autoscaling={"minReplicas": 1, "maxReplicas": 3, "pollingIntervalSeconds": 1},
            ),
        ),
    ]:
        async with k8s.request("post", path, json=body) as response:
            assert response.status in (200, 201)
    async with engine.client() as client:
        await client.post("/api/tasks/batch", json={"tasks": [{"type": "noop"}] * 25})

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": str(k8s.url).rstrip("/")}}],
                "users": [{"name": "tester", "user": {"token": "not-checked"}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "tester"}}],
                "current-context": "kmock",
            }
        )
    )
    liveness, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT)]),
    }
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped below
            [
                sys.executable,
                "-m",
                "skiplock_operator",
                "--namespace",
                NAMESPACE,
                "--standalone",
                f"--engine-url={engine.url}",
                f"--liveness=http://127.0.0.1:{liveness}/healthz",
                f"--metrics-port={metrics_port}",
                "--log-format=plain",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        async def get(url: str) -> str:
            if process.poll() is not None:
                pytest.fail(f"operator exited {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    response = await client.get(url)
                    return response.text if response.status_code == 200 else ""
            except httpx.HTTPError:
                return ""

        await eventually(lambda: get(f"http://127.0.0.1:{liveness}/healthz"), within=30)
        await eventually(
            lambda: k8s.objects[DEPLOYMENTS, NAMESPACE, "worker"]["spec"]["replicas"] == 3,
            within=30,
            message="the operator process scaled the workers",
        )
        text = await eventually(
            lambda: _contains(
                get(f"http://127.0.0.1:{metrics_port}/metrics"),
                'skiplock_operator_desired_replicas{taskqueue="default/queue"} 3.0',
            ),
            within=30,
        )
        assert (
            'skiplock_operator_scale_events_total{direction="up",taskqueue="default/queue"}' in text
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
    assert code == 0, log.read_text()[-3000:]


async def _contains(text: object, needle: str) -> str:
    body = await text  # type: ignore[misc]
    return str(body) if needle in str(body) else ""
