"""A case's whole chain, as its submitter follows it: where it is now, what the final
minutes of each meeting decided on it (§ and clauses), what is being done about it (the
assignments), the cases linked to it (the one it was raised from and those raised from
it, with their state and decision), and the organisations' answers. Read only."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import repository
from casework.db import unit_of_work
from casework.lifecycle import STATE_LABELS, State
from casework.meeting_run import OUTCOME_LABELS
from casework.minutes import document_of
from casework.minutes_document import short_name
from casework.model import (
    AgendaItem,
    Assignment,
    AssignmentStatus,
    Case,
    Group,
    Meeting,
    Minutes,
    RequestPurpose,
)
from casework.org_requests import RequestLine, lines_of

ASSIGNMENT_LABELS = {AssignmentStatus.open: "Pågår", AssignmentStatus.done: "Klart"}


@dataclass(frozen=True)
class DecisionView:
    """What a meeting's final minutes say about the case."""

    group_name: str
    meeting_date: str
    paragraph: str  # "§ 12", "§ 14 b/"
    outcome: str
    clauses: list[str]
    text: str


@dataclass(frozen=True)
class AssignmentView:
    description: str
    owner: str
    due: str
    status: str
    done: bool
    report: str


@dataclass(frozen=True)
class LinkedView:
    relation: str  # "Lyft från" / "Lyft vidare som"
    reference: str
    title: str
    group_name: str
    status_label: str
    decisions: list[DecisionView]
    answers: list[RequestLine]


@dataclass(frozen=True)
class ChainView:
    where: str
    decisions: list[DecisionView] = field(default_factory=list)
    assignments: list[AssignmentView] = field(default_factory=list)
    linked: list[LinkedView] = field(default_factory=list)
    answers: list[RequestLine] = field(default_factory=list)


def _group_names(session: Session) -> dict[str, str]:
    return {g.slug: g.name for g in repository.list_groups(session)}


def decisions_of(session: Session, case_id: int) -> list[DecisionView]:
    """The case's paragraphs in the latest version of each finalised minutes, oldest first."""
    meetings = session.exec(
        select(Meeting, Group)
        .join(AgendaItem, col(AgendaItem.meeting_id) == col(Meeting.id))
        .join(Group, col(Group.id) == col(Meeting.group_id))
        .where(AgendaItem.case_id == case_id, col(AgendaItem.for_information).is_(False))
        .order_by(col(Meeting.date))
    ).all()
    found: list[DecisionView] = []
    for meeting, group in meetings:
        latest = session.exec(
            select(Minutes)
            .where(Minutes.meeting_id == meeting.id)
            .order_by(col(Minutes.version).desc())
            .limit(1)
        ).first()
        if latest is None:
            continue
        doc = document_of(latest)
        for item in doc.items():
            if item.case_id != case_id or item.outcome is None or item.item_id is None:
                continue
            paragraph = doc.paragraph_of(item.item_id)
            label = paragraph.label if paragraph else ""
            if item.letter:
                label += f" {item.letter}/"
            found.append(
                DecisionView(
                    group_name=group.name,
                    meeting_date=meeting.date.isoformat(),
                    paragraph=label.strip(),
                    outcome=OUTCOME_LABELS[item.outcome],
                    clauses=list(item.clauses),
                    text=item.text,
                )
            )
    return found


def assignments_of(session: Session, case_id: int) -> list[AssignmentView]:
    rows = session.exec(
        select(Assignment).where(Assignment.case_id == case_id).order_by(col(Assignment.id))
    ).all()
    views = []
    for a in rows:
        due = a.due_date.isoformat() if a.due_date else ""
        if a.due_meeting_id:
            meeting = session.get(Meeting, a.due_meeting_id)
            group = session.get(Group, meeting.group_id) if meeting else None
            if meeting is not None:
                due = f"mötet {meeting.date.isoformat()}" + (
                    f" i {short_name(group.name)}" if group else ""
                )
        views.append(
            AssignmentView(
                description=a.description,
                owner=a.owner_name,
                due=due,
                status=ASSIGNMENT_LABELS[a.status],
                done=a.status == AssignmentStatus.done,
                report=a.report,
            )
        )
    return views


def where_now(session: Session, case: Case, names: dict[str, str]) -> str:
    """One Swedish sentence: where the case is now."""
    assert case.id is not None
    group = names.get(case.destination, case.destination)
    if case.status == State.scheduled and case.meeting_id:
        meeting = session.get(Meeting, case.meeting_id)
        if meeting is not None:
            return f"Ärendet står på dagordningen till mötet {meeting.date.isoformat()} i {group}."
    if case.status == State.escalated:
        children = session.exec(select(Case).where(Case.parent_case_id == case.id)).all()
        if children:
            child = children[-1]
            child_group = names.get(child.destination, child.destination)
            return f"Frågan är lyft till {child_group} som ärende {child.reference}."
        pending = [
            line
            for line in lines_of(session, case.id, RequestPurpose.position)
            if not line.answered
        ]
        if pending:
            return (
                "Frågan ligger hos organisationernas egna beslutsorgan; "
                f"{len(pending)} av dem har inte svarat än."
            )
        return "Frågan är lyft vidare."
    if case.status in (State.routed, State.submitted, State.in_triage):
        return f"Ärendet ligger hos {group} och väntar på att sättas upp på ett möte."
    if case.status == State.following_up:
        return f"{group} har beslutat, och beslutet följs upp."
    return f"{STATE_LABELS[case.status]} ({group})."


def _linked(session: Session, case: Case, relation: str, names: dict[str, str]) -> LinkedView:
    assert case.id is not None
    return LinkedView(
        relation=relation,
        reference=case.reference,
        title=case.title,
        group_name=names.get(case.destination, case.destination),
        status_label=STATE_LABELS[case.status],
        decisions=decisions_of(session, case.id),
        answers=lines_of(session, case.id),
    )


def chain_of(session: Session, case: Case) -> ChainView:
    assert case.id is not None
    names = _group_names(session)
    linked: list[LinkedView] = []
    if case.parent_case_id is not None:
        parent = repository.get_case(session, case_id=case.parent_case_id)
        if parent is not None:
            linked.append(_linked(session, parent, "Lyft från", names))
    for child in session.exec(
        select(Case).where(Case.parent_case_id == case.id).order_by(col(Case.id))
    ).all():
        linked.append(_linked(session, child, "Lyft vidare som", names))
    return ChainView(
        where=where_now(session, case, names),
        decisions=decisions_of(session, case.id),
        assignments=assignments_of(session, case.id)
        + [
            a
            for view in linked
            if view.relation == "Lyft vidare som"
            for a in _child_assignments(session, view.reference)
        ],
        linked=linked,
        answers=lines_of(session, case.id),
    )


def _child_assignments(session: Session, reference: str) -> list[AssignmentView]:
    child = session.exec(select(Case).where(Case.reference == reference)).first()
    if child is None or child.id is None:
        return []
    return assignments_of(session, child.id)


def load_chain(engine: Engine, case_id: int) -> ChainView | None:
    with unit_of_work(engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            return None
        return chain_of(session, case)
