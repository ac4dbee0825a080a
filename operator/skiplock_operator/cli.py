"""``skiplock-operator``: run the kopf operator with the options a deployment needs."""

from __future__ import annotations

import argparse
import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import kopf
import prometheus_client

from skiplock_operator import __version__
from skiplock_operator.config import EngineNotAllowed, OperatorConfig, split_list
from skiplock_operator.handlers import register
from skiplock_operator.kube import KubeApi

LOG_FORMATS = {
    "plain": kopf.LogFormat.PLAIN,
    "full": kopf.LogFormat.FULL,
    "json": kopf.LogFormat.JSON,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skiplock-operator",
        description="Scale skiplock workers from queue depth and apply TaskQueue tenants.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        default=[],
        help="watch TaskQueues in this namespace (repeatable; default: "
        "$SKIPLOCK_OPERATOR_NAMESPACES, else all namespaces)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--standalone", action="store_true", help="no peering: the only instance")
    mode.add_argument(
        "--peering",
        metavar="NAME",
        default=os.environ.get("SKIPLOCK_OPERATOR_PEERING") or None,
        help="KopfPeering object that elects one active instance among several",
    )
    parser.add_argument(
        "--priority", type=int, help="peering priority (default: random, so peers differ)"
    )
    parser.add_argument(
        "--engine-url",
        dest="engine_urls",
        action="append",
        default=[],
        metavar="URL",
        help="an engine the operator may send keys to (repeatable; the first is the default "
        "for TaskQueues without spec.engine.url; default: $SKIPLOCK_OPERATOR_ENGINE_URLS, "
        "comma-separated). A TaskQueue naming any other URL gets EngineNotAllowed.",
    )
    parser.add_argument(
        "--liveness",
        default=os.environ.get("SKIPLOCK_OPERATOR_LIVENESS", "http://0.0.0.0:8080/healthz"),
        help="kopf liveness endpoint URL ('' to disable)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("SKIPLOCK_OPERATOR_METRICS_PORT", "8081")),
        help="Prometheus metrics port (0 to disable)",
    )
    parser.add_argument(
        "--log-format",
        choices=sorted(LOG_FORMATS),
        default=os.environ.get("SKIPLOCK_OPERATOR_LOG_FORMAT", "full"),
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"skiplock-operator {__version__}")
    return parser


# In a pod, the namespace the service account belongs to: the operator's own.
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def operator_config(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    namespaces: Sequence[str],
    namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE,
) -> OperatorConfig:
    """Flags over the environment; raises EngineNotAllowed for a malformed engine URL."""
    config = OperatorConfig.from_env(env, watch_namespaces=namespaces)
    if args.engine_urls:
        config = replace(config, engine_urls=tuple(args.engine_urls))
    if config.own_namespace is None and namespace_file.is_file():
        config = replace(config, own_namespace=namespace_file.read_text().strip() or None)
    return config


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    namespaces = list(args.namespaces) or list(
        split_list(os.environ.get("SKIPLOCK_OPERATOR_NAMESPACES"))
    )
    clusterwide = bool(args.all_namespaces) or not namespaces
    try:
        config = operator_config(args, os.environ, namespaces=[] if clusterwide else namespaces)
    except EngineNotAllowed as exc:
        parser.error(str(exc))
    kopf.configure(verbose=args.verbose, log_format=LOG_FORMATS[args.log_format])
    if not config.engine_urls:
        logging.getLogger(__name__).warning(
            "no --engine-url or SKIPLOCK_OPERATOR_ENGINE_URLS: every TaskQueue will report "
            "EngineNotAllowed and no key will be sent anywhere"
        )
    if args.metrics_port:
        prometheus_client.start_http_server(args.metrics_port)
    priority = args.priority
    if args.peering and priority is None:
        # Equal priorities freeze every peer; a random one elects exactly one.
        priority = random.randint(1, 1_000_000)
    try:
        kopf.run(
            registry=register(kopf.OperatorRegistry()),
            standalone=True if args.standalone or not args.peering else None,
            peering_name=args.peering,
            priority=priority,
            liveness_endpoint=args.liveness or None,
            namespaces=[] if clusterwide else namespaces,
            clusterwide=clusterwide,
            memo=kopf.Memo(kube=KubeApi(), config=config),
        )
    except TimeoutError:
        # kopf returns only once the operator has stopped; while stopping, it cancels the
        # tasks still running and re-raises what they ended with. A request cut short by
        # that (an Event post retrying a 403 after `helm uninstall` removed the RBAC) can
        # end in TimeoutError: the stop was still clean, so it is not a failed exit.
        logging.getLogger(__name__).warning(
            "a background request timed out while the operator stopped", exc_info=True
        )


if __name__ == "__main__":
    main()
