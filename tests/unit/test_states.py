from __future__ import annotations

import pytest

from engine.domain import states
from engine.domain.states import InvalidTransition, TaskState, Transition


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
