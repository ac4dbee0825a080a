"""Pods as local processes: what the kubelet would run for a rendered container.

The image is the repository's Dockerfile, read for its runtime stage (``ENV``,
``ENTRYPOINT``, ``CMD``) with ``/opt/venv`` mapped to this checkout's virtualenv. A
container's command line and environment follow Kubernetes' rules: ``command`` replaces
the entrypoint and drops ``CMD``; ``args`` replace ``CMD``; ``envFrom`` comes first and
``env`` overrides it; ``$(VAR)`` expands to variables defined before it; Secret and
ConfigMap references and the downward API (``metadata.name`` ...) are read from the API
server. Each pod gets its own loopback address as its IP, so every replica listens on the
ports the chart renders, as pods do; a container told to listen on ``0.0.0.0`` (all of
the pod's interfaces) listens on the pod's IP.

What the runner adds, standing in for the cluster rather than the pod: ``KUBECONFIG``
with the service account's identity for pods that mount a token (the operator),
``PYTHONPATH`` with the cluster DNS shim and the application's handler package (what an
application image built ``FROM`` skiplock adds: chosen by the container's image, see
:func:`app_image_path`), and the DNS map itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")

Lookup = Callable[[str, str, str], Mapping[str, Any] | None]  # (kind, namespace, name)


@dataclass(frozen=True)
class Image:
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]


def read_image(dockerfile: Path = ROOT / "Dockerfile") -> Image:
    """The runtime stage's ENV, ENTRYPOINT and CMD."""
    text = dockerfile.read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)
    env: dict[str, str] = {}
    entrypoint: list[str] = []
    cmd: list[str] = []
    for line in stages[-1].splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
    # The image's virtualenv is this checkout's; the rest of PATH is the machine's.
    env["PATH"] = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])
    return Image(env=env, entrypoint=entrypoint, cmd=cmd)


def app_image_path(dockerfile: Path) -> Path:
    """Where an application image built ``FROM`` skiplock finds its packages, as a local
    directory: the build context, provided the Dockerfile copies its packages from there
    into the directory its ``PYTHONPATH`` names (an image whose packages would not import
    fails here, not in a pod)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    copies: list[tuple[str, str]] = []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        elif word == "COPY":
            *sources, dest = [a for a in shlex.split(rest) if not a.startswith("--")]
            copies += [(src, dest) for src in sources]
    path = env.get("PYTHONPATH", "")
    assert copies and path, f"{dockerfile}: no COPY of a package, or no PYTHONPATH"
    for src, dest in copies:
        assert (dockerfile.parent / src).is_dir(), f"{dockerfile}: {src} is not a package"
        assert PurePosixPath(dest).parent == PurePosixPath(path), (
            f"{dockerfile}: {dest} is not in PYTHONPATH {path}"
        )
    return dockerfile.parent


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)``: defined names expand, unknown ones stay as written."""
    return REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


@dataclass
class PodContext:
    name: str
    namespace: str
    ip: str
    service_account: str


def container_env(container: Mapping[str, Any], pod: PodContext, lookup: Lookup) -> dict[str, str]:
    """The environment the kubelet gives the container (without the image's)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _data(lookup, "ConfigMap", pod.namespace, source["configMapRef"]["name"])
        else:
            data = _data(lookup, "Secret", pod.namespace, source["secretRef"]["name"])
        env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(str(item["value"]), env)
            continue
        ref = item.get("valueFrom", {})
        for kind, source_field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            if source_field in ref:
                r = ref[source_field]
                data = _data(lookup, kind, pod.namespace, r["name"], optional=r.get("optional"))
                if r["key"] in data:
                    env[item["name"]] = data[r["key"]]
                elif not r.get("optional"):
                    # The kubelet would not start the container: CreateContainerConfigError.
                    raise LookupError(f"{kind} {r['name']} has no key {r['key']}")
        if "fieldRef" in ref:
            env[item["name"]] = {
                "metadata.name": pod.name,
                "metadata.namespace": pod.namespace,
                "status.podIP": pod.ip,
                "spec.serviceAccountName": pod.service_account,
            }[ref["fieldRef"]["fieldPath"]]
    return env


def _data(
    lookup: Lookup, kind: str, namespace: str, name: str, *, optional: bool | None = None
) -> dict[str, str]:
    found = lookup(kind, namespace, name)
    if found is None:
        if optional:
            return {}
        raise LookupError(f"{kind} {namespace}/{name} not found")
    if kind == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}
    return {k: str(v) for k, v in (found.get("data") or {}).items()}


def command_line(container: Mapping[str, Any], image: Image, env: Mapping[str, str]) -> list[str]:
    """The argv, from the container and the image (``env`` includes the image's PATH)."""
    if container.get("command"):
        argv = list(container["command"]) + list(container.get("args", []))
    else:
        argv = image.entrypoint + list(container.get("args") or image.cmd)
    argv = [expand(a, env) for a in argv]
    found = shutil.which(argv[0], path=env.get("PATH"))
    if found is None:
        raise FileNotFoundError(f"{argv[0]} is not in the image (PATH={env.get('PATH')})")
    return [found, *argv[1:]]


@dataclass
class Process:
    """One container of one pod, run as a local process in its own process group."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0

    async def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    async def wait(self, within: float | None = None) -> int | None:
        """The exit code, or None if it is still running after ``within`` seconds."""
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            return None

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def probe(probe_spec: Mapping[str, Any], ip: str, ports: Mapping[str, int]) -> bool:
    """One HTTP probe, as the kubelet makes it (2xx and 3xx pass)."""
    get = probe_spec["httpGet"]
    port = get["port"] if isinstance(get["port"], int) else ports[get["port"]]
    timeout = float(probe_spec.get("timeoutSeconds", 1))
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(f"http://{ip}:{port}{get['path']}")
    except httpx.HTTPError:
        return False
    return 200 <= response.status_code < 400


@dataclass
class Probing:
    """The kubelet's view of a container: started, then ready or not."""

    startup: Mapping[str, Any] | None
    readiness: Mapping[str, Any] | None
    started: bool = False
    ready: bool = False
    ready_since: float | None = None
    failures: int = field(default=0)
    transitions: list[tuple[float, bool]] = field(default_factory=list)  # ready or not, when

    async def run(self, ip: str, ports: Mapping[str, int], alive: Callable[[], bool]) -> None:
        if self.startup:
            period = float(self.startup.get("periodSeconds", 10))
            while alive() and not await probe(self.startup, ip, ports):
                await asyncio.sleep(period)
        self.started = True
        if not self.readiness:
            self._mark(True)
            return
        await asyncio.sleep(float(self.readiness.get("initialDelaySeconds", 0)))
        period = float(self.readiness.get("periodSeconds", 10))
        threshold = int(self.readiness.get("failureThreshold", 3))
        while alive():
            if await probe(self.readiness, ip, ports):
                self.failures = 0
                self._mark(True)
            else:
                self.failures += 1
                if self.failures >= threshold or not self.ready:
                    self._mark(False)
            await asyncio.sleep(period)

    def _mark(self, ready: bool) -> None:
        if ready != self.ready:
            self.transitions.append((time.monotonic(), ready))
        if ready and not self.ready:
            self.ready_since = time.monotonic()
        if not ready:
            self.ready_since = None
        self.ready = ready


def container_ports(container: Mapping[str, Any]) -> dict[str, int]:
    return {p["name"]: int(p["containerPort"]) for p in container.get("ports", []) if "name" in p}
