"""Linked cases: a new case raised from an earlier one, in the caller's transaction.

When a samverkansgrupp cannot agree on a case, finalising its minutes raises a linked
case for LSVO (`raise_linked_case`): a case of its own with a reference, `parent_case_id`
pointing back, `escalated_from` the group's slug, the history in its description, and
routed by the rules exactly as a submission is (`services.store_case`, rule 1 → lsvo).
The new case is routed, not placed: as every routed case, it is placed on a meeting by
the group's chair or secretary, and the meeting proposed for it (the first of its
group's meetings whose submission deadline it meets) is named in the audit trail and
in the messages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from sqlmodel import Session

import rules as rule_files
from casework import outbox, repository
from casework import recipients as who
from casework.access import create_link
from casework.agenda import agenda_group, propose
from casework.calendar import local_date, submission_due
from casework.lifecycle import Action
from casework.model import AccessPurpose, Case, CaseCreate, Group, GroupLevel, Meeting
from casework.services import LOCAL_TIMEZONE, Router, apply_action, snapshot, store_case
from casework.settings import get_settings
from rules.facts import TARGET_GROUPS

MAX_TITLE = 300
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@lru_cache(maxsize=4)
def _rules_at(path: Path) -> rule_files.RuleSet:
    return rule_files.load_rules(path)


def default_router() -> Router:
    """The configured rule set (loaded once per file)."""
    return _rules_at(get_settings().rules_path)


@dataclass(frozen=True)
class Linked:
    """The linked case raised, and the meeting proposed for it (None: no meeting planned)."""

    case: Case
    proposed: Meeting | None


def history_text(
    parent: Case,
    *,
    group: Group,
    meeting: Meeting,
    paragraph_label: str,
    text: str,
    clauses: Sequence[str],
    case_url: str,
) -> str:
    """The history of a case lifted onward: what it was, what the group wrote and said."""
    parts = [
        f"Lyft från {group.name}, mötet {meeting.date.isoformat()}"
        + (f", {paragraph_label}" if paragraph_label else "")
        + f". Ursprungligt ärende {parent.reference} ”{parent.title}”: {case_url}",
    ]
    if parent.description.strip():
        parts.append("Ursprunglig beskrivning:\n" + parent.description.strip())
    if text.strip():
        parts.append("Protokollets text:\n" + text.strip())
    if clauses:
        parts.append(f"{group.name} beslutar\n" + "\n".join(f"att {clause}" for clause in clauses))
    return "\n\n".join(parts)


def proposed_meeting(session: Session, case: Case, *, today: date) -> Meeting | None:
    """The meeting proposed for a routed case: its agenda group's first meeting from
    `today` on whose submission deadline it met, with the agenda not yet sent."""
    group = repository.get_group(session, slug=agenda_group(case))
    if group is None:
        return None
    meetings = [
        m
        for m in repository.list_meetings(session, group_slug=group.slug, on_or_after=today)
        if m.agenda_sent_at is None
    ]
    proposal = propose(
        case.created_at, [m.date for m in meetings], group.deadline_rule, today=today
    )
    return next((m for m in meetings if m.date == proposal.meeting), None)


def raise_linked_case(
    session: Session,
    parent: Case,
    *,
    title: str,
    description: str,
    escalated_from: str | None,
    actor: str,
    now: datetime,
    rules: Router | None = None,
    submitter_name: str = "",
    submitter_email: str = "",
    submitter_organisation: str = "",
    reference_prefix: str | None = None,
    requests_resources: bool | None = None,
) -> Linked:
    """A new case raised from `parent`, stored, routed by the rules and audited on both
    cases, in the caller's transaction. The new case carries the parent's kind, target
    groups and proposed decision; its submitter is the one given (by default the parent's).
    Tells no one: the caller knows who must hear of it."""
    assert parent.id is not None
    router = rules if rules is not None else default_router()
    data = CaseCreate.model_validate(
        {
            "title": " ".join(title.split())[:MAX_TITLE],
            "description": description,
            "kind": list(parent.kinds),
            "target_groups": [g for g in parent.target_groups if g in TARGET_GROUPS],
            "requests_resources": (
                parent.requests_resources if requests_resources is None else requests_resources
            ),
            "county_wide": parent.county_wide,
            "municipalities_only": parent.municipalities_only,
            "escalated_from": escalated_from,
            "submitter_name": submitter_name or parent.submitter_name,
            "submitter_email": submitter_email or parent.submitter_email,
            "submitter_organisation": submitter_organisation or parent.submitter_organisation,
            "presenter": parent.presenter,
            "proposed_decision": parent.proposed_decision,
        }
    )
    route = router.route(data.facts())
    stored, _destination_name = store_case(
        session,
        data,
        route,
        actor=actor,
        reference_prefix=reference_prefix or get_settings().reference_prefix,
        year=now.astimezone(LOCAL_TIMEZONE).year,
        access_token=secrets.token_urlsafe(32),
        now=now,
        parent_case_id=parent.id,
    )
    assert stored.id is not None
    case = repository.get_case(session, case_id=stored.id, for_update=True)
    assert case is not None and case.id is not None
    # The rules' answer is the routing: a case lifted onward is not triaged again.
    proposed = None
    if route.destination != "beredningsgruppen":
        proposed = proposed_meeting(session, case, today=local_date(now))
        apply_action(
            session,
            case,
            Action.route,
            actor=actor,
            note=f"Fördelat enligt reglerna ({route.rule})",
            now=now,
            after={
                "parent_case_id": parent.id,
                "proposed_meeting_id": proposed.id if proposed else None,
                "proposed_meeting_date": proposed.date.isoformat() if proposed else None,
            },
        )
    repository.add_audit_event(
        session,
        case_id=parent.id,
        actor=actor,
        action="linked_case_raised",
        after={
            "child_case_id": case.id,
            "child_reference": case.reference,
            "destination": case.destination,
            "escalated_from": escalated_from,
            "child": snapshot(case),
        },
        note=f"{case.reference} till {case.destination}",
        at=now,
    )
    return Linked(case, proposed)


def tell_group_of_escalation(
    session: Session,
    parent: Case,
    linked: Linked,
    *,
    group: Group,
    meeting: Meeting,
    paragraph_label: str,
    now: datetime,
) -> int:
    """Tell the group that could not agree (its chair and secretary) and the original
    submitter that the question went on as a linked case; the number of messages."""
    assert group.id is not None and linked.case.id is not None and parent.id is not None
    destination = repository.group_name(session, slug=linked.case.destination)
    destination = destination or linked.case.destination
    proposed = linked.proposed
    due = None
    if proposed is not None:
        home = repository.get_group(session, slug=agenda_group(linked.case))
        if home is not None:
            due = submission_due(proposed.date, home.deadline_rule)
    public_url = get_settings().public_url
    context = {
        "parent": parent,
        "case": linked.case,
        "group": group,
        "meeting": meeting,
        "paragraph_label": paragraph_label,
        "destination_name": destination,
        "proposed": proposed,
        "submission_due": due,
        "staff_url": f"{public_url}/arenden/{linked.case.id}",
    }
    officers = who.chairs_and_secretaries(session, [group.id]).get(group.id, [])
    sent = outbox.enqueue(
        session,
        kind="linked_case_raised",
        recipients=officers,
        context={**context, "case_url": ""},
        case_id=linked.case.id,
        meeting_id=meeting.id,
        event_key=f"linked:{parent.id}:{linked.case.id}",
        not_before=now,
    )
    submitter = outbox.Recipient(parent.submitter_name, parent.submitter_email)
    sent += outbox.enqueue(
        session,
        kind="linked_case_raised",
        recipients=[submitter],
        context=context,
        case_id=parent.id,
        meeting_id=meeting.id,
        event_key=f"linked:{parent.id}:{linked.case.id}",
        not_before=now,
        recipient_context=lambda _r: {
            "case_url": create_link(
                session, AccessPurpose.case, case_id=parent.id, public_url=public_url, now=now
            )
        },
    )
    return len(sent)


def lift_onward(
    session: Session,
    case: Case,
    *,
    group: Group,
    meeting: Meeting,
    paragraph_label: str,
    text: str,
    clauses: Sequence[str],
    actor: str,
    now: datetime,
    rules: Router | None = None,
) -> dict[str, object]:
    """A group's minutes say it could not agree on `case` (already moved to escalated):
    a samverkansgrupp raises a linked case for LSVO and is told; LSVO sends the case to
    each organisation's own decision body. What was done, for the minutes' audit event."""
    from casework import org_requests  # org_requests places cases through agenda

    if group.level == GroupLevel.tactical:
        public_url = get_settings().public_url
        description = history_text(
            case,
            group=group,
            meeting=meeting,
            paragraph_label=paragraph_label,
            text=text,
            clauses=clauses,
            case_url=f"{public_url}/arenden/{case.id}",
        )
        own_address = EMAIL.match(actor) is not None
        linked = raise_linked_case(
            session,
            case,
            title=case.title,
            description=description,
            escalated_from=group.slug,
            actor=actor,
            now=now,
            rules=rules,
            submitter_name=group.name if own_address else "",
            submitter_email=actor if own_address else "",
            submitter_organisation=group.name if own_address else "",
        )
        messages = tell_group_of_escalation(
            session,
            case,
            linked,
            group=group,
            meeting=meeting,
            paragraph_label=paragraph_label,
            now=now,
        )
        return {"linked_case": linked.case.reference, "messages": messages}
    if group.slug == org_requests.LSVO:
        opened = org_requests.open_position_requests(session, case, actor=actor, now=now)
        return {"organisation_requests": len(opened)}
    return {}
