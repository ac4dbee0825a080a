"""RQ: the no-op the drain measures."""

from __future__ import annotations

from _record import record


def noop() -> None:
    record()
