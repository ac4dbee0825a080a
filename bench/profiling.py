"""Sampling profiles of engine processes with py-spy, summarised as file:function shares.

py-spy attaches to a running process by pid (no code change in the engine) and writes
collapsed stacks ("frame;frame;frame count"). We report, per function, the share of
samples where it is on the stack (inclusive) and where it is the innermost frame (self)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def attach(
    pid: int, out: Path, *, duration_s: int, rate: int = 200, idle: bool = False, gil: bool = True
) -> subprocess.Popen[bytes] | None:
    """Start ``py-spy record`` on ``pid`` for ``duration_s``; None when py-spy is missing.

    ``gil`` samples only the thread holding the GIL: for a process that one core of Python
    bounds, that is where its CPU goes (waits on the database or a lock do not show)."""
    exe = py_spy()
    if exe is None:
        return None
    argv = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(duration_s),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    if idle:
        argv.append("--idle")
    if gil:
        argv.append("--gil")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame_name(frame: str) -> str:
    # A raw frame looks like "function (path/to/file.py:123)".
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    marker = "site-packages/"
    if marker in path:
        path = path.split(marker, 1)[1]
    elif "/engine/" in path:
        path = "engine/" + path.split("/engine/", 1)[1]
    elif "/lib/python" in path:
        path = "stdlib:" + path.rsplit("/", 1)[1]
    return f"{path}:{func}"


def summarise(raw: Path, *, top: int = 25) -> dict[str, Any]:
    """Top functions by inclusive and by self share of samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return {"samples": 0, "inclusive": [], "self": []}
    return {
        "samples": total,
        "inclusive": [
            {"function": f, "pct": round(100 * c / total, 1)} for f, c in inclusive.most_common(top)
        ],
        "self": [
            {"function": f, "pct": round(100 * c / total, 1)} for f, c in own.most_common(top)
        ],
    }
