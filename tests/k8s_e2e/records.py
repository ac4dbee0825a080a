"""Reading what the story's handler wrote down (``app/e2e_tasks.py``): every execution of
every task, with where and when it started and how it ended."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Execution:
    task_id: int
    attempt: int
    pod: str
    started: float
    ended: float | None = None  # None: it never finished (its process died, or it still runs)
    outcome: str | None = None  # "end" (returned) or "fail" (raised)


def read(directory: Path) -> dict[int, list[Execution]]:
    """Executions by task id, in the order they started."""
    open_runs: dict[tuple[int, int, str], Execution] = {}
    runs: dict[int, list[Execution]] = defaultdict(list)
    lines: list[tuple[float, str, int, int, str]] = []
    for path in sorted(directory.glob("*.log")):
        for line in path.read_text().splitlines():
            at, event, task_id, attempt, pod = line.split()
            lines.append((float(at), event, int(task_id), int(attempt), pod))
    for at, event, task_id, attempt, pod in sorted(lines):
        key = (task_id, attempt, pod)
        if event == "start":
            run = Execution(task_id, attempt, pod, at)
            open_runs[key] = run
            runs[task_id].append(run)
        elif key in open_runs:
            run = open_runs.pop(key)
            run.ended, run.outcome = at, event
    return dict(runs)


def completed_twice(runs: dict[int, list[Execution]]) -> list[int]:
    """Tasks whose handler returned more than once: a task run twice."""
    return sorted(t for t, rs in runs.items() if sum(r.outcome == "end" for r in rs) > 1)


def overlapping(runs: dict[int, list[Execution]], *, died: dict[str, float]) -> list[int]:
    """Tasks with two executions at the same time: one runner at a time was broken. An
    execution that never finished ends when its pod died (``died``: pod -> time)."""
    found = []
    for task_id, rs in runs.items():
        for first, second in itertools.pairwise(rs):
            end = first.ended if first.ended is not None else died.get(first.pod)
            if end is None or second.started < end:
                found.append(task_id)
                break
    return sorted(found)


def utilisation(runs: dict[int, list[Execution]], *, slots: int) -> float:
    """Busy slot-seconds over slots x (last end - first start)."""
    done = [r for rs in runs.values() for r in rs if r.ended is not None]
    span = max(r.ended or 0.0 for r in done) - min(r.started for r in done) if done else 0.0
    busy = sum((r.ended or 0.0) - r.started for r in done)
    return round(busy / (slots * span), 2) if span > 0 else 0.0
