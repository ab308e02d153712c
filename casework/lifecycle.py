"""Case states and the actions that move a case between them, declared in one place.

Pure: no database, no clock. Every state change in the application asks this module
whether it is allowed (`next_state`) and records the answer as an audit event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class CaseworkError(Exception):
    """Root of every error the casework package raises on purpose."""


class RefusedError(CaseworkError):
    """A request refused with a reason for the person who made it.

    The exception's message is for logs; `message_sv` is for the page, `field` names the
    form or API field at fault (None when the request as a whole is refused), and
    `status` is the HTTP status a page answers with.
    """

    status = 409

    def __init__(self, message: str, message_sv: str, *, field: str | None = None) -> None:
        self.message_sv = message_sv
        self.field = field
        super().__init__(message)


class State(StrEnum):
    """Where a case stands."""

    submitted = "submitted"
    in_triage = "in_triage"
    routed = "routed"
    scheduled = "scheduled"
    decided = "decided"
    noted = "noted"
    following_up = "following_up"
    closed = "closed"
    returned = "returned"
    escalated = "escalated"
    withdrawn = "withdrawn"


class Action(StrEnum):
    """What a person (or a flow) does to a case."""

    triage = "triage"
    route = "route"
    reroute = "reroute"
    return_for_completion = "return_for_completion"
    resubmit = "resubmit"
    schedule = "schedule"
    decide = "decide"
    note = "note"
    follow_up = "follow_up"
    close = "close"
    escalate = "escalate"
    withdraw = "withdraw"


@dataclass(frozen=True, slots=True)
class Transition:
    """An action is allowed from any of `sources` and always leads to `target`."""

    sources: frozenset[State]
    target: State


def _t(target: State, *sources: State) -> Transition:
    return Transition(frozenset(sources), target)


_S = State
_OPEN = (_S.submitted, _S.in_triage, _S.routed, _S.scheduled, _S.returned, _S.escalated)

TRANSITIONS: Mapping[Action, Transition] = MappingProxyType(
    {
        Action.triage: _t(_S.in_triage, _S.submitted),
        Action.route: _t(_S.routed, _S.submitted, _S.in_triage),
        # Moving a case to another body, also off an agenda or after an escalation.
        Action.reroute: _t(_S.routed, _S.routed, _S.scheduled, _S.escalated),
        # Lacking documents (underlag) sends a case back to the submitter (2023-05-12, §60 b).
        Action.return_for_completion: _t(_S.returned, _S.submitted, _S.in_triage, _S.routed),
        Action.resubmit: _t(_S.submitted, _S.returned),
        # From `scheduled` too: the chair and secretary may move a case to another meeting.
        Action.schedule: _t(_S.scheduled, _S.routed, _S.scheduled),
        Action.decide: _t(_S.decided, _S.scheduled),
        # An information item ends "att lägga informationen till protokollet".
        Action.note: _t(_S.noted, _S.scheduled),
        Action.follow_up: _t(_S.following_up, _S.decided),
        Action.close: _t(_S.closed, _S.decided, _S.noted, _S.following_up, _S.escalated),
        # A body that cannot agree lifts the question to the body above it.
        Action.escalate: _t(_S.escalated, _S.scheduled),
        Action.withdraw: _t(_S.withdrawn, *_OPEN),
    }
)

TERMINAL_STATES: frozenset[State] = frozenset(
    state for state in State if not any(state in t.sources for t in TRANSITIONS.values())
)

STATE_LABELS: Mapping[State, str] = MappingProxyType(
    {
        _S.submitted: "Inkommet",
        _S.in_triage: "Under bedömning",
        _S.routed: "Fördelat",
        _S.scheduled: "Uppsatt på dagordning",
        _S.decided: "Beslutat",
        _S.noted: "Lagt till protokollet",
        _S.following_up: "Under uppföljning",
        _S.closed: "Avslutat",
        _S.returned: "Återsänt för komplettering",
        _S.escalated: "Lyft vidare",
        _S.withdrawn: "Återtaget",
    }
)

ACTION_LABELS: Mapping[Action, str] = MappingProxyType(
    {
        Action.triage: "Påbörja bedömning",
        Action.route: "Fördela",
        Action.reroute: "Fördela om",
        Action.return_for_completion: "Återsänd för komplettering",
        Action.resubmit: "Skicka in igen",
        Action.schedule: "Sätt upp på dagordning",
        Action.decide: "Besluta",
        Action.note: "Lägg till protokollet",
        Action.follow_up: "Påbörja uppföljning",
        Action.close: "Avsluta",
        Action.escalate: "Lyft vidare",
        Action.withdraw: "Återta",
    }
)


class IllegalTransition(CaseworkError):
    """An action that the case's current state does not allow."""

    def __init__(self, state: State, action: Action | str) -> None:
        self.state = state
        self.action = action
        self.allowed: tuple[Action, ...] = allowed_actions(state)
        allowed = ", ".join(self.allowed) if self.allowed else "none, the case is finished"
        super().__init__(
            f"cannot {action!s} a case that is {state.value}; allowed actions: {allowed}"
        )


def allowed_actions(state: State) -> tuple[Action, ...]:
    """The actions that may be taken from `state`, in declaration order."""
    return tuple(action for action, t in TRANSITIONS.items() if state in t.sources)


def next_state(state: State, action: Action | str) -> State:
    """The state `action` leads to from `state`; raises IllegalTransition if not allowed."""
    try:
        transition = TRANSITIONS[Action(action)]
    except ValueError:
        raise IllegalTransition(state, action) from None
    if state not in transition.sources:
        raise IllegalTransition(state, action)
    return transition.target


def is_terminal(state: State) -> bool:
    """True when no action leads out of `state`."""
    return state in TERMINAL_STATES
