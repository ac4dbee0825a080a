"""Tasks and events as the public Python API hands them out: frozen, typed, parsed
from the HTTP API's JSON (``Client``) or made from a stored row (``enqueue``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skiplock.domain.states import TERMINAL_STATES, TaskState
from skiplock.errors import ProtocolError

__all__ = ["Attempt", "Event", "Task", "TaskState"]


def _req(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"expected {name!r} in the answer; got {value!r}")
    return value


def _opt(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    return None if value is None else _req(data, name, kind)


def _when(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ProtocolError(f"expected a timestamp in {name!r}; got {value!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ProtocolError(f"{name!r} is not an ISO-8601 timestamp: {value!r}") from exc


def _when_opt(data: Mapping[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    return None if value is None else _when(value, name)


def _state(value: Any) -> TaskState:
    try:
        return TaskState(value)
    except ValueError as exc:
        raise ProtocolError(f"unknown task state {value!r}") from exc


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a task: who ran it, when, and how it ended (``outcome`` is
    ``succeeded``, ``failed``, ``timed_out``, ``retry``, ``lease_lost``, ``released`` or
    ``cancelled``; ``None`` while it runs)."""

    attempt: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        return cls(
            attempt=_req(data, "attempt", int),
            worker=_req(data, "worker", str),
            started_at=_when(data.get("started_at"), "started_at"),
            finished_at=_when_opt(data, "finished_at"),
            outcome=_opt(data, "outcome", str),
            error=_opt(data, "error", str),
        )


@dataclass(frozen=True, slots=True, repr=False)
class Task:
    """A task as the engine stored it when it was read. ``attempts`` is filled by
    ``Client.get`` (and ``wait``), empty elsewhere."""

    id: int
    type: str
    state: TaskState
    tenant: str
    payload: Any
    result: Any
    last_error: str | None
    priority: int
    cost: int
    attempt: int  # claims so far; grows across manual retries
    attempts_used: int  # attempts spent from this run's max_attempts budget
    max_attempts: int
    timeout_s: float
    idempotency_key: str | None
    created_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: tuple[Attempt, ...] = field(default=())

    @property
    def is_finished(self) -> bool:
        """Succeeded, dead or cancelled: nothing will change it unless it is retried."""
        return self.state in TERMINAL_STATES

    @property
    def is_succeeded(self) -> bool:
        return self.state is TaskState.SUCCEEDED

    @property
    def is_failed(self) -> bool:
        """Dead: every attempt failed (the dead-letter queue)."""
        return self.state is TaskState.DEAD

    @property
    def is_cancelled(self) -> bool:
        return self.state is TaskState.CANCELLED

    def __repr__(self) -> str:
        detail = f" error={self.last_error!r}" if self.last_error and not self.is_succeeded else ""
        return (
            f"<Task {self.id} {self.type!r} {self.state.value} tenant={self.tenant!r} "
            f"attempt {self.attempts_used}/{self.max_attempts}{detail}>"
        )

    @classmethod
    def from_json(cls, data: Any) -> Task:
        """Parse the API's task object; :class:`ProtocolError` when it is not one.
        Fields this client does not know are ignored, so newer servers still parse."""
        if not isinstance(data, Mapping):
            raise ProtocolError(f"expected a task object; got {type(data).__name__}")
        attempts = data.get("attempts") or ()
        if not isinstance(attempts, list | tuple):
            raise ProtocolError("expected 'attempts' to be a list")
        attempt = _req(data, "attempt", int)
        used = _opt(data, "attempts_used", int)
        return cls(
            id=_req(data, "id", int),
            type=_req(data, "type", str),
            state=_state(data.get("state")),
            tenant=_req(data, "tenant", str),
            payload=data.get("payload"),
            result=data.get("result"),
            last_error=_opt(data, "last_error", str),
            priority=_req(data, "priority", int),
            cost=_req(data, "cost", int),
            attempt=attempt,
            attempts_used=attempt if used is None else used,
            max_attempts=_req(data, "max_attempts", int),
            timeout_s=float(_req(data, "timeout_s", (int, float))),
            idempotency_key=_opt(data, "idempotency_key", str),
            created_at=_when(data.get("created_at"), "created_at"),
            run_at=_when(data.get("run_at"), "run_at"),
            started_at=_when_opt(data, "started_at"),
            finished_at=_when_opt(data, "finished_at"),
            lease_owner=_opt(data, "lease_owner", str),
            lease_expires_at=_when_opt(data, "lease_expires_at"),
            attempts=tuple(Attempt.from_json(a) for a in attempts),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One message of the live stream: ``kind`` is ``task`` (a task changed state),
    ``tenant`` (a tenant changed) or ``reset`` (the stream dropped events this client
    had not read: re-read what you track). ``id`` resumes the stream after it."""

    id: str | None
    kind: str
    data: Mapping[str, Any]

    @property
    def task_id(self) -> int | None:
        value = self.data.get("id") if self.kind == "task" else None
        return value if isinstance(value, int) else None

    @property
    def state(self) -> TaskState | None:
        value = self.data.get("state") if self.kind == "task" else None
        try:
            return TaskState(value) if value is not None else None
        except ValueError:
            return None

    @property
    def tenant(self) -> str | None:
        value = self.data.get("tenant")
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str | None:
        value = self.data.get("type")
        return value if isinstance(value, str) else None

    @property
    def error(self) -> str | None:
        value = self.data.get("error")
        return value if isinstance(value, str) else None

    @property
    def at(self) -> datetime | None:
        value = self.data.get("at")
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None
