from __future__ import annotations

import pytest

from skiplock.domain import states
from skiplock.domain.states import InvalidTransition, TaskState, Transition


def test_every_state_is_reachable_from_submission() -> None:
    reachable: set[TaskState] = set()
    frontier: set[TaskState | None] = {None}
    while frontier:
        current = frontier.pop()
        for transition in Transition:
            if current in states.sources(transition):
                nxt = states.target(transition)
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.add(nxt)
    assert reachable == set(TaskState)


@pytest.mark.parametrize("terminal", [TaskState.SUCCEEDED])
def test_succeeded_is_final(terminal: TaskState) -> None:
    for transition in Transition:
        if transition is not Transition.CANCEL:
            assert terminal not in states.sources(transition)
    with pytest.raises(InvalidTransition):
        states.apply(Transition.CANCEL, terminal)


def test_dead_and_cancelled_tasks_can_only_be_requeued() -> None:
    for state in (TaskState.DEAD, TaskState.CANCELLED):
        allowed = {t for t in Transition if state in states.sources(t)}
        assert allowed == {Transition.REQUEUE}
        assert states.apply(Transition.REQUEUE, state) is TaskState.QUEUED


def test_invalid_transition_message_names_the_allowed_states() -> None:
    with pytest.raises(InvalidTransition, match="allowed from: cancelled, dead"):
        states.apply(Transition.REQUEUE, TaskState.QUEUED)


@pytest.mark.parametrize(
    ("attempt", "base", "maximum", "expected"),
    [
        (1, 0, 3, Transition.FAIL_RETRY),
        (2, 0, 3, Transition.FAIL_RETRY),
        (3, 0, 3, Transition.FAIL_DEAD),
        (3, 1, 3, Transition.FAIL_RETRY),  # one released attempt was not charged
        (4, 1, 3, Transition.FAIL_DEAD),
        (1, 0, 1, Transition.FAIL_DEAD),
    ],
)
def test_failure_retries_while_the_budget_lasts(
    attempt: int, base: int, maximum: int, expected: Transition
) -> None:
    assert (
        states.after_failure(attempt=attempt, attempt_base=base, max_attempts=maximum) is expected
    )


@pytest.mark.parametrize(
    ("attempt", "base", "maximum", "expected"),
    [
        (1, 0, 3, Transition.RESCUE_RETRY),
        (2, 0, 3, Transition.RESCUE_RETRY),
        (3, 0, 3, Transition.RESCUE_DEAD),
        (3, 1, 3, Transition.RESCUE_RETRY),  # one released attempt was not charged
        (4, 1, 3, Transition.RESCUE_DEAD),
        (7, 5, 3, Transition.RESCUE_RETRY),  # requeued by hand: a fresh budget
        (1, 0, 1, Transition.RESCUE_DEAD),
    ],
)
def test_a_lost_lease_retries_while_the_budget_since_the_last_requeue_lasts(
    attempt: int, base: int, maximum: int, expected: Transition
) -> None:
    assert states.after_rescue(attempt=attempt, attempt_base=base, max_attempts=maximum) is expected


# --- the lifecycle as DESIGN §2 states it -------------------------------------------------------
# Each of these is a rule the rest of the engine relies on; a table edit that breaks one
# (a requeue of a running task would run it twice at once) must fail here, not in production.

S = TaskState
T = Transition
RUN_ENDINGS = {
    T.SUCCEED: S.SUCCEEDED,
    T.FAIL_RETRY: S.RETRYING,
    T.FAIL_DEAD: S.DEAD,
    T.RESCUE_RETRY: S.RETRYING,
    T.RESCUE_DEAD: S.DEAD,
    T.RELEASE: S.QUEUED,
}


def test_only_a_submission_creates_a_task_queued_now_or_scheduled_later() -> None:
    assert {t for t in Transition if None in states.sources(t)} == {T.SUBMIT_NOW, T.SUBMIT_LATER}
    assert states.sources(T.SUBMIT_NOW) == states.sources(T.SUBMIT_LATER) == {None}
    assert states.apply(T.SUBMIT_NOW, None) is S.QUEUED
    assert states.apply(T.SUBMIT_LATER, None) is S.SCHEDULED


def test_only_a_claim_starts_a_run_and_only_a_queued_task_can_be_claimed() -> None:
    assert {t for t in Transition if states.target(t) is S.RUNNING} == {T.CLAIM}
    assert states.sources(T.CLAIM) == {S.QUEUED}


@pytest.mark.parametrize("transition", list(RUN_ENDINGS))
def test_every_end_of_a_run_starts_from_running_only(transition: Transition) -> None:
    # Fencing relies on it: a worker's write is conditional on state = running.
    assert states.sources(transition) == {S.RUNNING}
    assert states.apply(transition, S.RUNNING) is RUN_ENDINGS[transition]


def test_scheduled_and_retrying_tasks_become_queued_when_due() -> None:
    assert states.sources(T.PROMOTE) == {S.SCHEDULED, S.RETRYING}
    assert states.target(T.PROMOTE) is S.QUEUED


@pytest.mark.parametrize("state", list(TaskState))
def test_cancel_is_allowed_from_every_active_state_and_no_finished_one(state: TaskState) -> None:
    if state in states.ACTIVE_STATES:
        assert states.apply(T.CANCEL, state) is S.CANCELLED
    else:
        with pytest.raises(InvalidTransition):
            states.apply(T.CANCEL, state)


@pytest.mark.parametrize("state", list(TaskState))
def test_requeue_is_allowed_from_dead_and_cancelled_only(state: TaskState) -> None:
    # From running, retrying or scheduled it would run a task twice, or early.
    if state in (S.DEAD, S.CANCELLED):
        assert states.apply(T.REQUEUE, state) is S.QUEUED
    else:
        with pytest.raises(InvalidTransition):
            states.apply(T.REQUEUE, state)


def test_active_and_terminal_states_split_the_states() -> None:
    assert {S.SUCCEEDED, S.DEAD, S.CANCELLED} == states.TERMINAL_STATES
    assert set(TaskState) - states.TERMINAL_STATES == states.ACTIVE_STATES


def test_an_invalid_transition_says_what_was_asked_and_from_what() -> None:
    with pytest.raises(InvalidTransition, match="cannot fail retry a task that is queued") as e:
        states.apply(T.FAIL_RETRY, S.QUEUED)
    assert (e.value.transition, e.value.current) == (T.FAIL_RETRY, S.QUEUED)
    with pytest.raises(InvalidTransition, match="that is new; allowed from: running"):
        states.apply(T.SUCCEED, None)
