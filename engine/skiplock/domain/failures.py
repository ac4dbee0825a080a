"""How much of a failed attempt's traceback is kept.

A handler's exception can carry a traceback of any size (deep recursion, a huge message),
and every failed attempt stores one: so each is bounded. The cut keeps the start (the
outermost frames: which task code was entered) and most of the end (the innermost frames
and the exception itself, what an operator reads first), with a marker in between that
says how much was left out.
"""

from __future__ import annotations

from typing import Final

MAX_TRACEBACK_CHARS: Final = 16 * 1024
# Of a cut traceback, this share of the limit comes from its start; the rest, its end.
HEAD_SHARE: Final = 0.25


def bound_traceback(text: str, limit: int = MAX_TRACEBACK_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and end around a
    ``[… N characters cut …]`` marker, the whole at most ``limit`` characters long."""
    if limit < 64:
        raise ValueError("limit must leave room for the marker")
    if len(text) <= limit:
        return text
    # The marker's length depends on the number it shows; size it for the largest.
    marker_room = len(f"\n[… {len(text)} characters cut …]\n")
    keep = limit - marker_room
    head = int(keep * HEAD_SHARE)
    tail = keep - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[len(text) - tail :]}"
