from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.lifecycle import (
    ACTION_LABELS,
    STATE_LABELS,
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    CaseworkError,
    IllegalTransition,
    State,
    allowed_actions,
    is_terminal,
    next_state,
)


def test_the_main_path_from_submission_to_closing() -> None:
    state = State.submitted
    for action, expected in [
        (Action.triage, State.in_triage),
        (Action.route, State.routed),
        (Action.schedule, State.scheduled),
        (Action.decide, State.decided),
        (Action.follow_up, State.following_up),
        (Action.close, State.closed),
    ]:
        state = next_state(state, action)
        assert state == expected


def test_an_information_item_is_noted_then_closed() -> None:
    assert next_state(State.scheduled, Action.note) == State.noted
    assert next_state(State.noted, Action.close) == State.closed


def test_a_case_lacking_documents_is_returned_and_can_be_resubmitted() -> None:
    for state in (State.submitted, State.in_triage, State.routed):
        assert next_state(state, Action.return_for_completion) == State.returned
    assert next_state(State.returned, Action.resubmit) == State.submitted


def test_a_group_that_cannot_agree_escalates_and_the_case_is_rerouted() -> None:
    assert next_state(State.scheduled, Action.escalate) == State.escalated
    assert next_state(State.escalated, Action.reroute) == State.routed


def test_illegal_transition_names_the_state_the_action_and_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(State.submitted, Action.decide)
    error = caught.value
    assert isinstance(error, CaseworkError)
    assert error.state is State.submitted
    assert error.action == Action.decide
    assert Action.triage in error.allowed
    assert "decide" in str(error) and "submitted" in str(error) and "triage" in str(error)


def test_an_unknown_action_is_an_illegal_transition() -> None:
    with pytest.raises(IllegalTransition, match="approve"):
        next_state(State.submitted, "approve")


def test_finished_cases_allow_nothing() -> None:
    assert set(TERMINAL_STATES) == {State.closed, State.withdrawn}
    for state in TERMINAL_STATES:
        assert is_terminal(state)
        assert allowed_actions(state) == ()
        with pytest.raises(IllegalTransition, match="finished"):
            next_state(state, Action.withdraw)


def test_every_open_case_can_be_withdrawn() -> None:
    for state in State:
        if not is_terminal(state) and state not in (State.decided, State.noted, State.following_up):
            assert next_state(state, Action.withdraw) == State.withdrawn


def test_every_state_is_reachable_and_every_open_state_can_finish() -> None:
    reachable = {State.submitted}
    frontier = [State.submitted]
    while frontier:
        state = frontier.pop()
        for action in allowed_actions(state):
            target = next_state(state, action)
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(State)

    def can_finish(state: State, seen: frozenset[State] = frozenset()) -> bool:
        if is_terminal(state):
            return True
        return any(
            can_finish(next_state(state, a), seen | {state})
            for a in allowed_actions(state)
            if next_state(state, a) not in seen
        )

    assert all(can_finish(state) for state in State)


def test_every_state_and_action_has_a_swedish_label() -> None:
    assert set(STATE_LABELS) == set(State)
    assert set(ACTION_LABELS) == set(Action)
    assert set(TRANSITIONS) == set(Action)
    assert STATE_LABELS[State.returned] == "Återsänt för komplettering"


@given(st.sampled_from(State), st.sampled_from(Action))
def test_next_state_agrees_with_the_table(state: State, action: Action) -> None:
    transition = TRANSITIONS[action]
    if state in transition.sources:
        assert action in allowed_actions(state)
        assert next_state(state, action) == transition.target
        assert next_state(state, action.value) == transition.target
    else:
        assert action not in allowed_actions(state)
        with pytest.raises(IllegalTransition) as caught:
            next_state(state, action)
        assert caught.value.allowed == allowed_actions(state)
