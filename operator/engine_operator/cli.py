"""``skiplock-operator``: run the kopf operator with the options a deployment needs."""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence

import kopf
import prometheus_client

from engine_operator import __version__
from engine_operator.handlers import register
from engine_operator.kube import KubeApi

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


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from_env = os.environ.get("SKIPLOCK_OPERATOR_NAMESPACES", "").split(",")
    namespaces = list(args.namespaces) or [ns.strip() for ns in from_env if ns.strip()]
    clusterwide = bool(args.all_namespaces) or not namespaces
    kopf.configure(verbose=args.verbose, log_format=LOG_FORMATS[args.log_format])
    if args.metrics_port:
        prometheus_client.start_http_server(args.metrics_port)
    priority = args.priority
    if args.peering and priority is None:
        # Equal priorities freeze every peer; a random one elects exactly one.
        priority = random.randint(1, 1_000_000)
    kopf.run(
        registry=register(kopf.OperatorRegistry()),
        standalone=True if args.standalone or not args.peering else None,
        peering_name=args.peering,
        priority=priority,
        liveness_endpoint=args.liveness or None,
        namespaces=[] if clusterwide else namespaces,
        clusterwide=clusterwide,
        memo=kopf.Memo(kube=KubeApi()),
    )


if __name__ == "__main__":
    main()
