"""kopf wiring, kept thin: settings, login, and one daemon per TaskQueue that calls the
reconciler every polling interval (or at once when the spec changes).

No finalizer. kopf puts one on every object a daemon serves, so that it can stop the
daemon before the object goes; but a TaskQueue leaves nothing behind to clean up, and a
finalizer makes deletion wait for the operator: with the operator gone (``helm
uninstall`` deletes it and its RBAC before custom resources; a namespace being deleted)
the TaskQueue would hang in Terminating. So the daemon is registered without the
finalizer, a finalizer left by an earlier version is removed (kopf does that for a
finalizer no handler needs). Without the finalizer kopf does not stop the daemon of a
vanished object, so the operator stops it itself: an event handler notes each DELETED
event for the daemon to see within a second, and any pass that finds its object gone
(a watch that missed the event) ends the daemon too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from skiplock_operator import metrics
from skiplock_operator.config import OperatorConfig
from skiplock_operator.engine_client import EngineError
from skiplock_operator.kube import KubeApi
from skiplock_operator.reconciler import Reconciler
from skiplock_operator.runtime import EventSink, QueueRuntime
from skiplock_operator.schedule_sync import remove_owned_schedules

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
    _without_finalizer(registry)
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(note_deletion)
    return registry


def _without_finalizer(registry: kopf.OperatorRegistry) -> None:
    """kopf offers no switch for a daemon's finalizer (``kopf.daemon`` always asks for
    one), so the registered handlers are replaced by copies that do not. A kmock test
    checks that no finalizer appears and that deletion needs no operator."""
    # kopf's private registry attributes: no public API for this (see above); kopf is
    # pinned in constraints.txt and the kmock test fails if this stops working.
    spawning = registry._spawning
    handlers = spawning.get_all_handlers()
    spawning._handlers = [dataclasses.replace(h, requires_finalizer=False) for h in handlers]


def deleted_uids(memo: kopf.Memo) -> set[str]:
    """UIDs of TaskQueues seen deleted; shared by every object's memo (shallow copies of
    the operator's, where ``configure`` puts it at start)."""
    found = memo.get("deleted_uids")
    if not isinstance(found, set):
        found = set()
        memo["deleted_uids"] = found
    return found


def note_deletion(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED":
        uid = (event.get("object") or {}).get("metadata", {}).get("uid")
        if uid:
            deleted_uids(memo).add(str(uid))


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    deleted_uids(memo)  # in the operator's memo, before any object's copy is made
    # Our own finalizer name and annotation prefix, so we never collide with another kopf
    # operator's bookkeeping on the same objects. No handler asks for the finalizer any
    # more; naming it lets kopf remove the one earlier versions put on TaskQueues.
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


def config_from(memo: kopf.Memo) -> OperatorConfig:
    """The operator's configuration (cli.py puts it in the memo; ``kopf run -m`` reads the
    environment)."""
    config = memo.get("config")
    if not isinstance(config, OperatorConfig):
        from_env = os.environ.get("SKIPLOCK_OPERATOR_NAMESPACES", "")
        namespaces = [ns.strip() for ns in from_env.split(",") if ns.strip()]
        config = OperatorConfig.from_env(os.environ, watch_namespaces=namespaces)
        memo["config"] = config
    return config


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
    uid: str | None,
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
    reconciler = Reconciler(
        kube=kube_from(memo), events=_event_sink(body), config=config_from(memo)
    )
    runtime = QueueRuntime()
    deleted = deleted_uids(memo)
    try:
        while not stopped:
            seen = _snapshot(spec)
            try:
                result = await reconciler.run_once(
                    namespace=namespace,
                    name=name,
                    uid=uid,
                    generation=meta.get("generation"),
                    spec=spec,
                    status=status,
                    runtime=runtime,
                )
                if result.gone:
                    break
                interval = result.interval_s
            except Exception:
                # A bug in one pass must not end the daemon: log it and try again later.
                logger.exception("reconcile of TaskQueue %s/%s failed", namespace, name)
                interval = 15.0
            if await _pause(stopped, spec, seen, interval, gone=lambda: uid in deleted):
                break
        if not stopped:
            logger.info("TaskQueue %s/%s is gone: its daemon ends", namespace, name)
            await _remove_schedules(runtime, namespace, name)
    finally:
        deleted.discard(uid or "")
        await runtime.close()
        metrics.forget(f"{namespace}/{name}")


async def _remove_schedules(runtime: QueueRuntime, namespace: str, name: str) -> None:
    """The schedules go with their TaskQueue, through the admin client its last pass used
    (there is none when it declared no schedules). Best effort, as there is no finalizer:
    a deletion the operator does not see leaves them, still under the TaskQueue's prefix."""
    admin = runtime.access.held("admin")
    if admin is None:
        return
    try:
        removed = await remove_owned_schedules(admin, namespace=namespace, taskqueue=name)
    except EngineError as exc:
        logger.warning("cannot remove the schedules of TaskQueue %s/%s: %s", namespace, name, exc)
        return
    if removed:
        logger.info("removed %d schedules of TaskQueue %s/%s", removed, namespace, name)


async def _pause(
    stopped: kopf.DaemonStopped,
    spec: Mapping[str, Any],
    seen: str,
    interval: float,
    *,
    gone: Callable[[], bool],
) -> bool:
    """Sleep until the interval ends, the spec changes, or the daemon is stopped; True
    when the object was deleted meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + interval
    while not stopped:
        if gone():
            return True
        remaining = deadline - loop.time()
        if remaining <= 0 or _snapshot(spec) != seen:
            return False
        await stopped.wait(min(SPEC_CHECK_S, remaining))
    return False


def _snapshot(spec: Mapping[str, Any]) -> str:
    return json.dumps(dict(spec), sort_keys=True, default=str)
