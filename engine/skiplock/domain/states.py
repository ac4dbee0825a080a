"""The task lifecycle: one table of allowed transitions, decided here and nowhere else.

Which service moves a task in and out of each state:

- ``scheduled``: set by submission (``run_at`` in the future); left by the promoter, a
  run-now, a cancel, or a delete (the row goes: ``DELETABLE_STATES``).
- ``queued``: set by submission, the promoter, the rescuer (attempts left), graceful
  release and a manual requeue; left by the producer's claim or a cancel.
- ``running``: set by the producer's claim; left by the completer (success or failure),
  the rescuer (lease expired), graceful release, or a cancel.
- ``retrying``: set by the completer or rescuer after a failed attempt with attempts left;
  left by the promoter once ``run_at`` is due, or a cancel.
- ``succeeded``: terminal; set by the completer; rows are pruned by the cleaner.
- ``dead``: the dead-letter queue; set when attempts are exhausted; left by a requeue.
- ``cancelled``: set by a cancel; left by a requeue.

Storage persists a transition with a compare-and-set on the previous state, so a change
that lost a race writes nothing.
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Transition(StrEnum):
    """Every event that changes a task's state."""

    SUBMIT_NOW = "submit_now"
    SUBMIT_LATER = "submit_later"
    PROMOTE = "promote"
    CLAIM = "claim"
    SUCCEED = "succeed"
    FAIL_RETRY = "fail_retry"
    FAIL_DEAD = "fail_dead"
    RESCUE_RETRY = "rescue_retry"
    RESCUE_DEAD = "rescue_dead"
    RELEASE = "release"
    CANCEL = "cancel"
    REQUEUE = "requeue"


S = TaskState
T = Transition

# (event) -> (states it may start from, state it leads to). ``None`` as a source means
# the task does not exist yet.
TRANSITIONS: dict[Transition, tuple[frozenset[TaskState | None], TaskState]] = {
    T.SUBMIT_NOW: (frozenset({None}), S.QUEUED),
    T.SUBMIT_LATER: (frozenset({None}), S.SCHEDULED),
    T.PROMOTE: (frozenset({S.SCHEDULED, S.RETRYING}), S.QUEUED),
    T.CLAIM: (frozenset({S.QUEUED}), S.RUNNING),
    T.SUCCEED: (frozenset({S.RUNNING}), S.SUCCEEDED),
    T.FAIL_RETRY: (frozenset({S.RUNNING}), S.RETRYING),
    T.FAIL_DEAD: (frozenset({S.RUNNING}), S.DEAD),
    T.RESCUE_RETRY: (frozenset({S.RUNNING}), S.RETRYING),
    T.RESCUE_DEAD: (frozenset({S.RUNNING}), S.DEAD),
    T.RELEASE: (frozenset({S.RUNNING}), S.QUEUED),
    T.CANCEL: (frozenset({S.SCHEDULED, S.QUEUED, S.RETRYING, S.RUNNING}), S.CANCELLED),
    T.REQUEUE: (frozenset({S.DEAD, S.CANCELLED}), S.QUEUED),
}

TERMINAL_STATES: frozenset[TaskState] = frozenset({S.SUCCEEDED, S.DEAD, S.CANCELLED})
ACTIVE_STATES: frozenset[TaskState] = frozenset(set(TaskState) - TERMINAL_STATES)
# A task may be deleted (not just cancelled) only before it was ever due: nothing ran it,
# nothing waits on it, and no history is lost that an operator would look for.
DELETABLE_STATES: frozenset[TaskState] = frozenset({S.SCHEDULED})


class InvalidTransition(Exception):
    """The task's current state forbids the requested change (HTTP 409)."""

    def __init__(self, transition: Transition, current: TaskState | None) -> None:
        allowed = sorted(s.value for s in sources(transition) if s is not None)
        super().__init__(
            f"cannot {transition.value.replace('_', ' ')} a task that is "
            f"{current.value if current else 'new'}; allowed from: {', '.join(allowed)}"
        )
        self.transition = transition
        self.current = current


def sources(transition: Transition) -> frozenset[TaskState | None]:
    """The states ``transition`` may start from."""
    return TRANSITIONS[transition][0]


def target(transition: Transition) -> TaskState:
    """The state ``transition`` leads to."""
    return TRANSITIONS[transition][1]


def apply(transition: Transition, current: TaskState | None) -> TaskState:
    """The state after ``transition`` from ``current``, or :class:`InvalidTransition`."""
    allowed, to = TRANSITIONS[transition]
    if current not in allowed:
        raise InvalidTransition(transition, current)
    return to


def after_failure(*, attempt: int, attempt_base: int, max_attempts: int) -> Transition:
    """Retry while attempts remain in this run's budget; otherwise dead-letter."""
    return T.FAIL_RETRY if attempt - attempt_base < max_attempts else T.FAIL_DEAD


def after_rescue(*, attempt: int, attempt_base: int, max_attempts: int) -> Transition:
    """A lost lease counts as a failed attempt: retry or dead-letter like a failure."""
    return T.RESCUE_RETRY if attempt - attempt_base < max_attempts else T.RESCUE_DEAD
