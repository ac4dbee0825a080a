"""The benchmark command line: ``python -m bench <scenario> [--quick] [options]``."""

from __future__ import annotations

import argparse
import importlib
import sys

SCENARIOS = {
    "drain": "no-op drain rate of 1 and 2 worker processes vs the bare PyMySQL ceiling",
    "submit": "HTTP submission rate: batches of 1000 and single tasks (skiplock serve --role api)",
    "original": "the original system's workload: 3 instances x 4 slots, 1.8 s handlers",
    "latency": "submit -> start latency on an idle system (distributed and embedded)",
    "peers": "Celery, RQ and Dramatiq on the same no-op drain (separate virtualenv)",
    "cycle": "a worker's claim cycle at the store alone: round trips, CPU, wall per cycle",
    "fairness": "weighted DRR shares: a 20,000-task backlog vs two small tenants; 3:1 weights",
    "ratelimit": "rate-limit accuracy: 8 clients over the limit, overshoot and utilisation",
    "scale": "claim and analytics cost with 10^3 vs 10^6 queued rows, 10 vs 1,000 tenants",
    "chaos": "kill -9 instances, restart MariaDB and Redis mid-run: lost and overlapping tasks",
    "soak": "memory over time: 3 instances, 100 tasks/s for 30 minutes; RSS slope per process",
    "schedules": "10,000 schedules every minute on 3 instances: firing lag and maintenance CPU",
    "search": "task search in payload and last error: latency at 10^3 and 10^6 rows",
}

EPILOG = """\
examples:
  python -m bench drain --quick        one run per config, 5,000 tasks (about a minute)
  python -m bench drain                3 runs of every config, 10,000 tasks
  python -m bench submit --runs 3
  python -m bench original --quick     about 30 s
  python -m bench latency --samples 300
  python -m bench all --quick          every scenario once, quickly

Needs MariaDB on 127.0.0.1:3306 (root, no password; BENCH_MYSQL_PORT/USER/PASSWORD
override) and Redis on 127.0.0.1:6379 (BENCH_REDIS_URL). Results: bench/results/*.json;
plots: docs/images/bench-*.png (quick runs write theirs under bench/results/ instead).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Skiplock benchmarks. Every scenario starts and always stops its own "
        "engine processes, on a throwaway database, with all traffic on 127.0.0.1.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name, help_text in SCENARIOS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--quick", action="store_true", help="one short run (for a smoke test)")
        module = importlib.import_module(f"bench.{name}")
        module.add_arguments(p)
    p = sub.add_parser("all", help="run every scenario but peers in priority order")
    p.add_argument("--quick", action="store_true", help="one short run of each")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench.common import BenchError

    names = (
        ["drain", "submit", "original", "latency"] if args.scenario == "all" else [args.scenario]
    )
    try:
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            if args.scenario == "all":
                args = build_parser().parse_args([name, *(["--quick"] if args.quick else [])])
            module.main(args)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every process the benchmark started has been stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
