from __future__ import annotations

import json
import logging

from engine.logs import JsonFormatter, TextFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "skiplock.executor",
        logging.WARNING,
        __file__,
        1,
        "task attempt failed: %s",
        ("boom",),
        None,
    )
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_lines_carry_the_task_fields() -> None:
    line = json.loads(
        JsonFormatter().format(_record(task_id=7, tenant="acme", type="resize", attempt=2))
    )
    assert line["msg"] == "task attempt failed: boom"
    assert (line["task_id"], line["tenant"], line["type"], line["attempt"]) == (
        7,
        "acme",
        "resize",
        2,
    )
    assert line["level"] == "warning" and line["ts"].endswith("+00:00")


def test_text_lines_append_the_task_fields() -> None:
    line = TextFormatter().format(_record(task_id=7, tenant="acme"))
    assert line.endswith("[task_id=7 tenant=acme]")


def test_lines_without_a_task_stay_plain() -> None:
    assert "task_id" not in JsonFormatter().format(_record())
