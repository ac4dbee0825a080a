from __future__ import annotations

import json
import logging

from skiplock.logs import JsonFormatter, TextFormatter


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


def test_text_lines_escape_control_characters_in_messages_and_fields() -> None:
    record = _record(task_id=7, tenant="a\nb", type="t\r\x1b[2K")
    record.args = ("boom\n2026-01-01 00:00:00,000 ERROR forged",)
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "boom\\n2026-01-01" in line
    assert line.endswith("[task_id=7 tenant=a\\nb type=t\\r\\x1b[2K]")


def test_a_traceback_follows_on_indented_lines_whatever_its_message_holds() -> None:
    try:
        raise RuntimeError("bad\n2026-01-01 00:00:00,000 ERROR forged")
    except RuntimeError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).split("\n")
    assert first.endswith("task attempt failed: boom")
    assert rest and all(line.startswith("    ") for line in rest), rest
    assert "    2026-01-01 00:00:00,000 ERROR forged" in rest  # indented: not a record
