"""Markdown tables from the latest results, for docs/BENCHMARKS.md.

    python -m bench.report [drain submit original latency peers]

Reads ``bench/results/<scenario>-latest.json`` and prints one section per scenario."""

from __future__ import annotations

import json
import sys
from typing import Any

from bench import common


def _load(name: str) -> dict[str, Any] | None:
    path = common.RESULTS_DIR / f"{name}-latest.json"
    if not path.exists():
        return None
    return dict(json.loads(path.read_text()))


def _spread(d: dict[str, Any], digits: int = 0, scale: float = 1.0) -> str:
    f = f"{{:,.{digits}f}}"
    mean, lo, hi = (d["mean"] * scale, d["min"] * scale, d["max"] * scale)
    if d["n"] == 1:
        return f"{f.format(mean)} (n=1)"
    return f"{f.format(mean)} ({f.format(lo)}–{f.format(hi)}, n={d['n']})"


def machine(data: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"{m['nproc']} cores ({m['cpu_model']}), {m['ram_gib']} GiB RAM, MariaDB "
        f"{m.get('mariadb', '?')} "
        f"(innodb_flush_log_at_trx_commit={m.get('innodb_flush_log_at_trx_commit', '?')}), "
        f"Redis {m.get('redis', '?')}, Python {m['python']}, commit {m.get('git_commit', '?')}, "
        f"measured {data['at']}"
    )


def _other(runs: list[dict[str, Any]]) -> str:
    other = [r["other_cpu_pct"] for r in runs if r.get("other_cpu_pct") is not None]
    return f"{min(other):.0f}–{max(other):.0f}" if other else "-"


def drain(data: dict[str, Any]) -> str:
    lines = [
        f"`{data['command']}` — {data['tasks']:,} tasks, {data['runs']} runs. {machine(data)}",
        "",
        "| kind | config | tasks/s: mean (min–max, n) | worker CPU % | worker CPU ms/task | "
        "mysqld CPU % | mysqld CPU ms/task | other CPU % (min–max) | retried / extra attempts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["summary"]:
        if r["kind"] == "engine":
            runs = [e for e in data["engine"] if e["config"] == r["config"]]
            lines.append(
                f"| Skiplock | {r['config']} | {_spread(r['rate'])} | "
                f"{r['worker_cpu_pct']:.0f} | "
                f"{r['worker_cpu_ms_per_task']:.3f} | {r['mysqld_cpu_pct']:.0f} | "
                f"{r['mysqld_cpu_ms_per_task']:.3f} | {_other(runs)} | "
                f"{r['retried']} / {r['extra_attempts']} |"
            )
        else:
            lines.append(
                f"| DB ceiling | {r['config']} (claim txn p50 {r['claim_ms_p50']:.1f} ms, "
                f"p99 {r['claim_ms_p99']:.1f} ms) | {_spread(r['rate'])} | - | - | - | - | - | "
                f"dups {r['duplicates']} |"
            )
    return "\n".join(lines)


def submit(data: dict[str, Any]) -> str:
    lines = [
        f"`{data['command']}` — {data['runs']} runs. {machine(data)}",
        "",
        "| case | tasks/s: mean (min–max, n) | request p50 / p99 ms | api CPU % | "
        "api CPU ms/task | mysqld CPU % | other load % (min–max) | non-201 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in data["summary"]:
        runs = [e for e in data["results"] if e["case"] == r["config"]]
        lines.append(
            f"| {r['config']} | {_spread(r['rate'])} | "
            f"{r['latency_ms_p50']:.1f} / "
            f"{r['latency_ms_p99']:.1f} | {r['api_cpu_pct']:.0f} | "
            f"{r.get('api_cpu_ms_per_task', float('nan')):.3f} | {r['mysqld_cpu_pct']:.0f} | "
            f"{_other(runs)} | {r['non_201']} |"
        )
    busy = [r.get("machine_busy_pct") for r in data["results"] if r.get("machine_busy_pct")]
    if busy:
        lines.append("")
        lines.append(
            f"Machine-wide CPU during the cases: {min(busy):.0f}–{max(busy):.0f} % of one core "
            "(2 cores = 200 %)."
        )
    return "\n".join(lines)


def original(data: dict[str, Any]) -> str:
    lines = [
        f"`{data['command']}` — bursts of {data['burst']}, {data['runs']} runs. {machine(data)}",
        "",
        "| instances × slots | ideal tasks/s | steady tasks/s | % of ideal | burst tasks/s "
        "(incl. ramp-down) | mean queue wait s | run overhead p50 / p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for inst in (1, 3):
        rs = [r for r in data["results"] if r["instances"] == inst]
        if not rs:
            continue
        sp = common.Spread
        lines.append(
            f"| {inst} × 4 | {rs[0]['ideal']:.2f} | "
            f"{sp([r['steady_throughput'] for r in rs]).fmt(2)} | "
            f"{sp([100 * r['efficiency'] for r in rs]).fmt(1)} | "
            f"{sp([r['burst_throughput'] for r in rs]).fmt(2)} | "
            f"{sp([r['wait_mean_s'] for r in rs]).fmt(1)} | "
            f"{sp([r['run_overhead_ms_p50'] for r in rs]).mean:.1f} / "
            f"{sp([r['run_overhead_ms_p99'] for r in rs]).mean:.1f} |"
        )
    lines.append("")
    lines.append(f"Scaling 1 → 3 instances (steady): {_spread(data['scaling_ratio'], 2)}×.")
    extra = sum(r["extra_attempts"] for r in data["results"])
    ok = sum(r["succeeded"] for r in data["results"])
    lines.append(f"Tasks succeeded: {ok}; extra attempts: {extra}.")
    return "\n".join(lines)


def latency(data: dict[str, Any]) -> str:
    lines = [
        f"`{data['command']}` — {data['samples']} sequential submissions per run, "
        f"{data['gap_s'] * 1000:.0f} ms apart, {data['runs']} runs. {machine(data)}",
        "",
        "| mode | p50 ms | p95 ms | p99 ms | client-side p50 ms (incl. HTTP) |",
        "|---|---|---|---|---|",
    ]
    for m in data["modes"]:
        lines.append(
            f"| {m['mode']} | {_spread(m['p50_ms'], 1)} | {_spread(m['p95_ms'], 1)} | "
            f"{_spread(m['p99_ms'], 1)} | {_spread(m['client_p50_ms'], 1)} |"
        )
    busy = [r["machine_busy_pct"] for r in data["results"] if "machine_busy_pct" in r]
    if busy:
        lines.append("")
        lines.append(
            f"Machine-wide CPU while sampling: {min(busy):.0f}–{max(busy):.0f} % of one core "
            "(the system under test is nearly idle; the rest is other load)."
        )
    return "\n".join(lines)


def peers(data: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items())
    lines = [
        f"`{data['command']}` — {data['tasks']:,} no-op tasks, {data['runs']} runs; {versions}. "
        f"{machine(data)}",
        "",
        "| config | setup | drain tasks/s: mean (min–max, n) | enqueue tasks/s | complete | "
        "extra executions | load (1 min) per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["summary"]:
        load = " / ".join(f"{x:.2f}" for x in r.get("load_1m", []))
        lines.append(
            f"| {r['config']} | {r['setup']} | {r['rate_text']} | {r['enqueue_text']}"
            f"{' †' if r['tool'] == 'skiplock' else ''} | "
            f"{'yes' if r['complete'] else 'no'} | {r['extra_executions']} | {load} |"
        )
    lines.append("")
    lines.append(
        "† Skiplock's tasks are queued through its store, 1,000 rows per transaction (the "
        "batch API's path); the peers' clients enqueue one message per call. Not comparable."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    sections = {
        "drain": drain,
        "submit": submit,
        "original": original,
        "latency": latency,
        "peers": peers,
    }
    for name in argv or list(sections):
        data = _load(name)
        print(f"## {name}\n")
        print(sections[name](data) if data else "(no results yet)")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
