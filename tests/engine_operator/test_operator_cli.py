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

from engine_operator.cli import build_parser
from tests.engine_operator.conftest import (
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
                "engine_operator",
                "--namespace",
                NAMESPACE,
                "--standalone",
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
