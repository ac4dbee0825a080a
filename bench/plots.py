"""PNG plots for docs/images/bench-*.png (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from bench import common

ENGINE = "#3b6ea5"
CEILING = "#9aa5b1"
TARGET = "#c0392b"


def _save(fig: Any, name: str, *, quick: bool) -> Path:
    common.IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    # A quick run never overwrites the figure the docs show.
    path = common.IMAGES_DIR / (f"bench-{name}-quick.png" if quick else f"bench-{name}.png")
    if quick:
        path = common.RESULTS_DIR / path.name
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bars(ax: Any, rows: list[dict[str, Any]], colors: list[str]) -> None:
    labels = [r["config"] for r in rows]
    means = [r["rate"]["mean"] for r in rows]
    lo = [r["rate"]["mean"] - r["rate"]["min"] for r in rows]
    hi = [r["rate"]["max"] - r["rate"]["mean"] for r in rows]
    y = range(len(rows))
    ax.barh(list(y), means, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    for i, row in enumerate(rows):
        # The mean, written past the end of the min–max bar so neither hides the other.
        ax.text(row["rate"]["max"], i, f"  {means[i]:,.0f}", va="center", fontsize=8)
    ax.set_xlim(0, max(r["rate"]["max"] for r in rows) * 1.15)


def drain(
    summary: list[dict[str, Any]], results: list[dict[str, Any]], *, target: float, quick: bool
) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), width_ratios=[1.3, 1])
    colors = [ENGINE if r["kind"] == "engine" else CEILING for r in summary]
    _bars(ax1, summary, colors)
    ax1.axvline(target, color=TARGET, linestyle="--", label=f"target {target:,.0f}/s")
    ax1.set_xlabel("tasks (rows) per second, first → last completion; bars: min–max")
    ax1.set_title("Drain rate: Skiplock workers vs bare PyMySQL loop")
    ax1.legend(loc="lower right", fontsize=8)
    seen: set[str] = set()
    for r in results:
        if r["config"] in seen:
            continue
        seen.add(r["config"])
        xs = [t for t, _ in r["timeline"]]
        ys = [d for _, d in r["timeline"]]
        ax2.plot(xs, ys, label=r["config"], linewidth=1.3)
    ax2.set_xlabel("seconds since the worker process(es) started")
    ax2.set_ylabel("tasks succeeded")
    ax2.set_title("Drain progress (first run of each config)")
    ax2.legend(fontsize=7)
    return _save(fig, "drain", quick=quick)


def submit(summary: list[dict[str, Any]], *, target: float, quick: bool) -> Path:
    fig, ax = plt.subplots(figsize=(10, 3.8))
    _bars(ax, summary, [ENGINE] * len(summary))
    ax.axvline(target, color=TARGET, linestyle="--", label=f"target {target:,.0f}/s (batched)")
    ax.set_xlabel("tasks accepted per second (201 responses); bars: min–max")
    ax.set_title("Submission rate through the HTTP API (skiplock serve --role api)")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, "submit", quick=quick)


def original(data: dict[str, Any], *, quick: bool) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
    rows = data["scaling"]
    xs = [r["instances"] for r in rows]
    ax1.plot(xs, [r["ideal"] for r in rows], "--", color=CEILING, label="ideal (slots / mean)")
    ax1.errorbar(
        xs,
        [r["throughput"]["mean"] for r in rows],
        yerr=[
            [r["throughput"]["mean"] - r["throughput"]["min"] for r in rows],
            [r["throughput"]["max"] - r["throughput"]["mean"] for r in rows],
        ],
        marker="o",
        color=ENGINE,
        capsize=3,
        label="Skiplock",
    )
    orig = {1: 4.6 / 2.5, 3: 4.6}
    ax1.plot(
        list(orig),
        list(orig.values()),
        "s:",
        color=TARGET,
        label="original (Go; 1 instance = 4.6/2.5)",
    )
    ax1.set_xticks(xs)
    ax1.set_xlabel("instances × 4 slots")
    ax1.set_ylabel("tasks/s")
    ax1.set_title("Throughput, handlers averaging 1.8 s")
    ax1.legend(fontsize=8)
    waits = data["queue_wait"]
    labels = [f"{w['slots']} slots" for w in waits]
    means = [w["wait_s"]["mean"] for w in waits]
    ideal = []
    for w, row in zip(waits, rows, strict=True):
        # Perfect scheduling of a burst of B on S slots: task i (0-based) waits about
        # max(0, i - S + 1) / throughput.
        b, s_ = w["burst"], w["slots"]
        ideal.append(sum(max(0, i - s_ + 1) for i in range(b)) / b / row["ideal"])
    xs2 = range(len(labels))
    ax2.bar([x - 0.2 for x in xs2], means, width=0.4, color=ENGINE, label="Skiplock")
    ax2.bar(
        [x + 0.2 for x in xs2], ideal, width=0.4, color=CEILING, label="ideal (mean-duration model)"
    )
    ax2.set_ylim(0, max([*means, *ideal]) * 1.25)
    ax2.set_xticks(list(xs2), labels)
    for x, m in zip(xs2, means, strict=True):
        ax2.text(x - 0.2, m, f"{m:.1f} s", ha="center", va="bottom", fontsize=8)
    if len(means) == 2 and means[1] > 0:
        ax2.text(
            0.5,
            0.94,
            f"4 → 12 slots: wait ÷ {means[0] / means[1]:.2f} (original: 53.7 → 19.0 s, ÷ 2.83)",
            transform=ax2.transAxes,
            ha="center",
            fontsize=8,
        )
    ax2.set_ylabel("mean queue wait, s")
    ax2.set_title(f"Queue wait for one burst of {waits[0]['burst']} tasks")
    ax2.legend(fontsize=8, loc="center right")
    return _save(fig, "original", quick=quick)


def latency(data: dict[str, Any], *, quick: bool) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    for mode in data["modes"]:
        samples = sorted(mode["samples_ms"])
        if not samples:
            continue
        ys = [(i + 1) / len(samples) for i in range(len(samples))]
        ax.plot(samples, ys, label=mode["mode"])
    ax.axvline(10, color=TARGET, linestyle="--", linewidth=1, label="p50 target 10 ms")
    ax.axvline(50, color=TARGET, linestyle=":", linewidth=1, label="p99 target 50 ms")
    ax.set_xscale("log")
    plain = FuncFormatter(lambda x, _pos: f"{x:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("created_at (API insert) → started_at (worker claim), ms, log scale")
    ax.set_ylabel("fraction of tasks")
    ax.set_title("Submit-to-start latency, one task at a time (CDF)")
    ax.legend(fontsize=8)
    return _save(fig, "latency", quick=quick)


def peers(summary: list[dict[str, Any]], *, quick: bool) -> Path:
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(summary) + 1.6))
    colors = [ENGINE if r["config"].startswith("skiplock") else CEILING for r in summary]
    _bars(ax, summary, colors)
    ax.set_xlabel("no-op drain, tasks/s (first → last completion); bars: min–max")
    ax.set_title("Skiplock vs peers on the same 2-core machine")
    return _save(fig, "peers", quick=quick)
