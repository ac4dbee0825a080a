"""kopf wiring, kept thin: settings, login, and one daemon per TaskQueue that calls the
reconciler every polling interval (or at once when the spec changes)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from engine_operator import metrics
from engine_operator.kube import KubeApi
from engine_operator.reconciler import EventSink, QueueRuntime, Reconciler

GROUP = "skiplock.dev"
VERSION = "v1alpha1"
PLURAL = "taskqueues"
FINALIZER = "skiplock.dev/operator"

# How often the daemon looks at its (live, in-memory) spec for changes between passes.
SPEC_CHECK_S = 1.0

logger = logging.getLogger(__name__)


def register(registry: kopf.OperatorRegistry, *, login: bool = True) -> kopf.OperatorRegistry:
    """Register the handlers; tests pass ``login=False`` and bring their own login."""
    kopf.on.startup(registry=registry)(configure)
    if login:
        kopf.on.login(registry=registry)(login_to_cluster)
    kopf.on.cleanup(registry=registry)(close_kube)
    daemon = kopf.daemon(GROUP, VERSION, PLURAL, registry=registry, cancellation_timeout=30.0)
    daemon(run_taskqueue)
    return registry


def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Our own finalizer and annotation prefix, so we never collide with another kopf
    # operator's bookkeeping on the same objects.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    # Least privilege: the chart grants a namespaced Role only, so kopf neither lists
    # namespaces nor watches CRDs; it serves the namespaces it is given and the resources
    # present at start (the TaskQueue CRD is installed before the operator).
    settings.scanning.disabled = True


def kube_from(memo: kopf.Memo) -> KubeApi:
    """The one KubeApi, shared by every object's memo (they are shallow copies)."""
    kube = memo.get("kube")
    if not isinstance(kube, KubeApi):
        kube = KubeApi()
        memo["kube"] = kube
    return kube


def login_to_cluster(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """Log in as kopf would by default (kubernetes client, else service account, else
    kubeconfig) and hand the same credentials to our own API calls."""
    info = (
        kopf.login_via_client(**kwargs)
        or kopf.login_with_service_account(**kwargs)
        or kopf.login_with_kubeconfig(**kwargs)
    )
    if info is not None:
        kube_from(memo).use(info)
    return info


async def close_kube(memo: kopf.Memo, **_: Any) -> None:
    kube = memo.get("kube")
    if isinstance(kube, KubeApi):
        await kube.close()


def _event_sink(body: kopf.Body) -> EventSink:
    def post(*, warning: bool, reason: str, message: str) -> None:
        if warning:
            kopf.warn(body, reason=reason, message=message)
        else:
            kopf.info(body, reason=reason, message=message)

    return post


async def run_taskqueue(
    *,
    name: str,
    namespace: str | None,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: Any,
    **_: Any,
) -> None:
    if namespace is None:  # the CRD is namespaced; kopf types the kwarg for both scopes
        return
    reconciler = Reconciler(kube=kube_from(memo), events=_event_sink(body))
    runtime = QueueRuntime()
    try:
        while not stopped:
            seen = _snapshot(spec)
            try:
                result = await reconciler.run_once(
                    namespace=namespace,
                    name=name,
                    generation=meta.get("generation"),
                    spec=spec,
                    status=status,
                    runtime=runtime,
                )
                interval = result.interval_s
            except Exception:
                # A bug in one pass must not end the daemon: log it and try again later.
                logger.exception("reconcile of TaskQueue %s/%s failed", namespace, name)
                interval = 15.0
            await _pause(stopped, spec, seen, interval)
    finally:
        await runtime.close()
        metrics.forget(f"{namespace}/{name}")


async def _pause(
    stopped: kopf.DaemonStopped, spec: Mapping[str, Any], seen: str, interval: float
) -> None:
    """Sleep until the interval ends, the spec changes, or the daemon is stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + interval
    while not stopped:
        remaining = deadline - loop.time()
        if remaining <= 0 or _snapshot(spec) != seen:
            return
        await stopped.wait(min(SPEC_CHECK_S, remaining))


def _snapshot(spec: Mapping[str, Any]) -> str:
    return json.dumps(dict(spec), sort_keys=True, default=str)
