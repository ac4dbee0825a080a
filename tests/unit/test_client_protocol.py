"""The client's protocol, without a server: answers parsed into typed objects, errors
mapped by status, Retry-After honoured within max_wait_s, and wait() driven step by
step through its stream and polling paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from skiplock import (
    Conflict,
    Forbidden,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    Task,
    TaskFailed,
    TaskState,
    TooLarge,
    Unauthorized,
    Unavailable,
    ValidationError,
    WaitTimeout,
)
from skiplock.client import _flow

TASK = {
    "id": 42,
    "tenant": "acme",
    "type": "resize_image",
    "state": "succeeded",
    "priority": 0,
    "cost": 2,
    "attempt": 3,
    "attempts_used": 1,
    "max_attempts": 3,
    "timeout_s": 60,
    "payload": {"url": "u"},
    "result": {"width": 800},
    "last_error": None,
    "idempotency_key": None,
    "created_at": "2026-11-28T08:00:00.123456Z",
    "run_at": "2026-11-28T08:00:00.123456Z",
    "started_at": "2026-11-28T08:00:01+00:00",
    "finished_at": "2026-11-28T08:00:02Z",
    "lease_owner": None,
    "lease_expires_at": None,
    "attempts": [
        {
            "attempt": 3,
            "worker": "host:1",
            "started_at": "2026-11-28T08:00:01Z",
            "finished_at": "2026-11-28T08:00:02Z",
            "outcome": "succeeded",
            "error": None,
        }
    ],
    "a_field_from_a_newer_server": True,
}


def reply(status: int, body: Any = None, **headers: str) -> _flow.Reply:
    raw = json.dumps(body).encode() if body is not None else b""
    return _flow.Reply(status, {k.replace("_", "-"): v for k, v in headers.items()}, raw)


def test_a_task_is_parsed_into_typed_fields_with_aware_datetimes() -> None:
    task = Task.from_json(TASK)
    assert task.state is TaskState.SUCCEEDED and task.is_finished and task.is_succeeded
    assert task.created_at == datetime(2026, 11, 28, 8, 0, 0, 123456, tzinfo=UTC)
    assert task.finished_at is not None and task.finished_at.tzinfo is not None
    assert task.timeout_s == 60.0 and isinstance(task.timeout_s, float)
    assert task.result == {"width": 800} and task.attempts_used == 1
    assert task.attempts[0].outcome == "succeeded" and task.attempts[0].worker == "host:1"
    assert repr(task) == "<Task 42 'resize_image' succeeded tenant='acme' attempt 1/3>"


def test_a_failed_tasks_repr_shows_its_error() -> None:
    task = Task.from_json({**TASK, "state": "dead", "last_error": "ValueError: bad"})
    assert task.is_failed and not task.is_succeeded
    assert "dead" in repr(task) and "ValueError: bad" in repr(task)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"id": "42"}, "'id'"),
        ({"state": "exploded"}, "exploded"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"attempt": True}, "'attempt'"),
    ],
)
def test_an_answer_that_is_not_a_task_raises_protocol_error(
    change: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ProtocolError, match=needle):
        Task.from_json({**TASK, **change})


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, TooLarge),
        (422, ValidationError),
        (429, RateLimited),
        (500, ServerError),
        (503, Unavailable),
    ],
)
def test_each_error_status_maps_to_its_typed_error_with_the_servers_reason(
    status: int, kind: type[Exception]
) -> None:
    err = _flow.error_for(reply(status, {"error": "x", "message": "the reason"}))
    assert type(err) is kind and str(err) == "the reason" and err.status == status


def test_a_validation_error_carries_the_fields_the_server_named() -> None:
    body = {
        "error": "validation_error",
        "message": "priority: too high",
        "fields": [{"field": "priority", "message": "must be <= 100"}],
    }
    err = _flow.error_for(reply(422, body))
    assert isinstance(err, ValidationError)
    assert err.field == "priority" and err.fields[0].message == "must be <= 100"


def test_an_error_without_a_json_body_keeps_the_text() -> None:
    err = _flow.error_for(_flow.Reply(502, {}, b"<html>Bad gateway</html>"))
    assert isinstance(err, ServerError) and "Bad gateway" in str(err)


def test_retry_after_reads_seconds_dates_and_defaults() -> None:
    assert _flow.retry_after_s({"retry-after": "7"}) == 7.0
    assert _flow.retry_after_s({}) == _flow.DEFAULT_RETRY_AFTER_S
    assert _flow.retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert _flow.retry_after_s({"retry-after": "soon"}) == _flow.DEFAULT_RETRY_AFTER_S


def drive(flow: _flow.Flow[Any], answers: list[Any]) -> tuple[list[Any], Any]:
    """Run ``flow`` answering its actions from ``answers``; returns (actions, result)."""
    actions = []
    try:
        action = next(flow)
        while True:
            actions.append(action)
            action = flow.send(answers.pop(0) if not isinstance(action, _flow.Sleep) else None)
    except StopIteration as stop:
        return actions, stop.value


def test_a_429_is_retried_after_retry_after_while_the_waits_fit_max_wait() -> None:
    answers = [reply(429, {"message": "slow"}, retry_after="2"), reply(201, TASK)]
    actions, task = drive(_flow.submit({"type": "t"}, max_wait_s=3), answers)
    assert [type(a) for a in actions] == [_flow.Request, _flow.Sleep, _flow.Request]
    assert actions[1].seconds == 2.0 and task.id == 42


def test_max_wait_zero_raises_rate_limited_with_retry_after_at_once() -> None:
    flow = _flow.submit({"type": "t"}, max_wait_s=0)
    with pytest.raises(RateLimited) as caught:
        drive(flow, [reply(429, {"message": "over its limit"}, retry_after="4")])
    assert caught.value.retry_after_s == 4.0 and "over its limit" in str(caught.value)


def test_waits_stop_once_they_would_pass_max_wait() -> None:
    answers = [reply(503, {"message": "busy"}, retry_after="2")] * 3
    with pytest.raises(Unavailable):
        drive(_flow.get(1, max_wait_s=5), answers)  # waits 2 + 2, the third 2 would pass 5


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_wait_reads_the_task_after_the_streams_greeting_and_again_on_its_terminal_event() -> None:
    running = reply(200, {**TASK, "state": "running", "finished_at": None})
    done = reply(200, TASK)
    other = _flow.SseMessage("task", json.dumps({"id": 7, "state": "succeeded"}), "1-0")
    mine = _flow.SseMessage("task", json.dumps({"id": 42, "state": "succeeded"}), "2-0")
    flow = _flow.wait(42, timeout_s=10, max_wait_s=0, raise_on_failure=False, clock=Clock())
    answers = [
        _flow.Reply(200, {}),
        _flow.SseMessage("message", ""),  # the greeting
        running,
        other,
        mine,
        done,
        None,
    ]
    actions, task = drive(flow, answers)
    kinds = [type(a).__name__ for a in actions]
    assert kinds == [
        "OpenStream",
        "NextMessage",
        "Request",
        "NextMessage",
        "NextMessage",
        "Request",
        "CloseStream",
    ]
    assert ("state", "dead") in actions[0].request.params  # only terminal events
    assert task.is_succeeded


def test_wait_polls_with_growing_intervals_when_the_stream_is_refused() -> None:
    running = reply(200, {**TASK, "state": "queued"})
    flow = _flow.wait(42, timeout_s=10, max_wait_s=0, raise_on_failure=False, clock=Clock())
    answers = [reply(503, {"message": "too many"}), running, running, running, reply(200, TASK)]
    actions, task = drive(flow, answers)
    sleeps = [a.seconds for a in actions if isinstance(a, _flow.Sleep)]
    assert sleeps == [0.05, 0.1, 0.2] and task.is_succeeded
    assert sum(isinstance(a, _flow.OpenStream) for a in actions) == 1


def test_wait_raises_wait_timeout_with_the_last_state_seen() -> None:
    clock = Clock()
    flow = _flow.wait(42, timeout_s=1, max_wait_s=0, raise_on_failure=False, clock=clock)
    queued = reply(200, {**TASK, "state": "queued"})
    assert isinstance(next(flow), _flow.OpenStream)
    assert isinstance(flow.send(_flow.Reply(404, {})), _flow.Request)
    clock.t = 1.5
    with pytest.raises(WaitTimeout) as caught:
        flow.send(queued)
    assert caught.value.task is not None and caught.value.task.state is TaskState.QUEUED


def test_wait_can_raise_the_tasks_error_when_it_died() -> None:
    dead = reply(200, {**TASK, "state": "dead", "last_error": "RuntimeError: boom"})
    flow = _flow.wait(42, timeout_s=None, max_wait_s=0, raise_on_failure=True, clock=Clock())
    with pytest.raises(TaskFailed, match="RuntimeError: boom") as caught:
        drive(flow, [reply(503, {}), dead])
    assert caught.value.task.is_failed


def test_stream_messages_become_events_and_greetings_are_skipped() -> None:
    data = {"id": 5, "tenant": "a", "type": "t", "state": "running", "at": "2026-01-01T00:00:00Z"}
    event = _flow.to_event(_flow.SseMessage("task", json.dumps(data), "9-1"))
    assert event is not None and event.id == "9-1"
    assert event.task_id == 5 and event.state is TaskState.RUNNING and event.tenant == "a"
    assert event.at == datetime(2026, 1, 1, tzinfo=UTC)
    assert _flow.to_event(_flow.SseMessage("message", "")) is None
    reset = _flow.to_event(_flow.SseMessage("reset", "{}", "10-0"))
    assert reset is not None and reset.kind == "reset" and reset.task_id is None


def test_resuming_sends_last_event_id_and_filters() -> None:
    request = _flow.events_request(kind="task", state=["dead", "succeeded"], after="5-0")
    assert dict(request.headers) == {"Last-Event-ID": "5-0"}
    assert request.params == (("kind", "task"), ("state", "dead"), ("state", "succeeded"))


def test_list_pages_carry_filters_limit_and_cursor() -> None:
    params = _flow.list_params(
        state=TaskState.DEAD,
        type_=["a", "b"],
        tenant="acme",
        created_after=datetime(2026, 1, 1, tzinfo=UTC),
        created_before=None,
    )
    page = {"items": [TASK], "next_cursor": "41"}
    actions, (items, cursor) = drive(
        _flow.list_page(params, cursor="99", size=10, max_wait_s=0), [reply(200, page)]
    )
    assert actions[0].params == (
        ("state", "dead"),
        ("type", "a"),
        ("type", "b"),
        ("tenant", "acme"),
        ("created_after", "2026-01-01T00:00:00+00:00"),
        ("limit", "10"),
        ("cursor", "99"),
    )
    assert [t.id for t in items] == [42] and cursor == "41"


def test_submissions_leave_out_unset_options_and_send_datetimes_as_iso() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    body = _flow.task_body("t", {"a": 1}, {"priority": None, "run_at": when, "cost": 2})
    assert body == {"type": "t", "payload": {"a": 1}, "run_at": when.isoformat(), "cost": 2}


def test_a_task_id_must_be_a_positive_integer() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        next(_flow.get(0, max_wait_s=0))
