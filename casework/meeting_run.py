"""Running a meeting: attendance, quorum, the decision on each item, assignments, and the
approval (justering) of earlier minutes.

Each change runs in one transaction (`casework.db.unit_of_work`), is allowed to whoever
may manage the group's agenda (`agenda.may_manage`) and leaves an audit event. Once a
meeting has minutes (a `Minutes` row) its attendance and decisions are frozen.

A `Decision` is the draft record of an agenda item (one per item, replaced when recorded
again); recording it changes no case: the cases move when the minutes are finalised.
While a meeting is not quorate, an item can be noted or deferred, but deciding it
(and referring it back or escalating it, which are decisions too) needs the explicit
choice `QuorumChoice.without_quorum`, which is stored on the decision and audited.

Feedback (återkoppling) on the assignments of the previous minutes is stored on each
assignment (`Assignment.report`, and `status` done when it is reported done); the form of
the "Föregående sammanträdesprotokoll" item offers the reports as the start of its text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import agenda, org_requests, repository
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.lifecycle import RefusedError
from casework.model import (
    AgendaItem,
    AgendaSection,
    Assignment,
    AssignmentStatus,
    Attendance,
    Decision,
    Group,
    Meeting,
    Member,
    Minutes,
    Outcome,
    QuorumChoice,
    StaffRole,
    utcnow,
)
from casework.quorum import QuorumStatus, Seat, quorum

PREVIOUS_MINUTES_TITLE = "Föregående sammanträdesprotokoll"
NOTED_CLAUSE = "lägga informationen till protokollet"
# The "att"-clauses the decision form offers; "…" marks where the secretary writes.
STANDARD_PHRASES: tuple[str, ...] = (
    "att lägga informationen till protokollet",
    "att godkänna …",
    "att ge … i uppdrag att …",
)
# Outcomes that may be recorded whether or not the meeting is quorate.
ALWAYS_ALLOWED = frozenset({Outcome.noted, Outcome.deferred})
OUTCOME_LABELS = {
    Outcome.decided: "Beslut",
    Outcome.noted: "Informationen läggs till protokollet",
    Outcome.referred_back: "Återremitteras",
    Outcome.deferred: "Bordläggs till ett senare möte",
    Outcome.escalated: "Lyfts vidare: gruppen kan inte enas",
}
MAX_CLAUSE = 2000
MAX_TEXT = 50_000
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_FUNCTION = 300
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
APPRISE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
LEADING_ATT = re.compile(r"^att\b\s*", re.IGNORECASE)


class MeetingRunError(RefusedError):
    """A request about a meeting being held that cannot be carried out.

    `message_sv` is for the page; `errors` holds messages per form field when the input
    itself was wrong (the keys are the field names of `DecisionInput`, with the row
    number for rows: "clauses", "recipients.0.address", "assignments.1.due" …).
    """

    def __init__(
        self, message: str, message_sv: str, *, errors: dict[str, str] | None = None
    ) -> None:
        self.errors = errors or {}
        super().__init__(message, message_sv)


class NotAllowed(MeetingRunError):
    status = 403


class NotFound(MeetingRunError):
    status = 404


class MinutesFinal(MeetingRunError):
    """The meeting has minutes: its attendance and decisions are frozen."""


class InvalidInput(MeetingRunError):
    status = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            f"invalid input: {sorted(errors)}", "Rätta uppgifterna som är markerade.", errors=errors
        )


class NotQuorate(MeetingRunError):
    """A decision needs the explicit choice to decide without quorum."""

    status = 422


# --- reading -------------------------------------------------------------------------------


def _meeting_and_group(
    session: Session, meeting_id: int, *, lock: bool = False
) -> tuple[Meeting, Group]:
    try:
        return agenda.meeting_and_group(session, meeting_id, lock=lock)
    except agenda.MeetingNotFound as exc:
        raise NotFound(str(exc), exc.message_sv) from None


def group_of(session: Session, meeting_id: int) -> Group:
    """The group holding a meeting; NotFound when there is no such meeting."""
    return _meeting_and_group(session, meeting_id)[1]


def _check_manage(identity: Identity, group: Group) -> None:
    if not agenda.may_manage(identity, group.slug):
        raise NotAllowed(
            f"{identity.email} may not run the meetings of {group.slug}",
            f"Du får inte föra protokoll för {group.name}.",
        )


def has_minutes(session: Session, meeting_id: int) -> bool:
    statement = select(Minutes.id).where(Minutes.meeting_id == meeting_id).limit(1)
    return session.exec(statement).first() is not None


def _check_open(session: Session, meeting: Meeting) -> None:
    assert meeting.id is not None
    if has_minutes(session, meeting.id):
        raise MinutesFinal(
            f"meeting {meeting.id} has minutes: attendance and decisions are frozen",
            "Protokollet är fastställt; närvaro och beslut kan inte längre ändras.",
        )


@dataclass(frozen=True)
class GroupMember:
    """A member of the group as the attendance list shows them."""

    member_id: int
    name: str
    organisation: str
    organisation_slug: str
    function: str
    role: str
    counts: bool  # holds a seat with a decision mandate


def group_members(session: Session, group: Group) -> list[GroupMember]:
    """The group's members in seating order, with whether they count towards quorum."""
    rows = repository.list_group_members(session, group_slug=group.slug)
    return [
        GroupMember(
            member_id=member.id or 0,
            name=member.name,
            organisation=organisation.name,
            organisation_slug=organisation.slug,
            function=member.function,
            role=seat.role.value,
            counts=seat.decision_mandate,
        )
        for member, seat, organisation in rows
    ]


def seats_of(session: Session, group: Group) -> list[Seat]:
    """The group's seats with a decision mandate."""
    rows = repository.list_group_members(session, group_slug=group.slug)
    return [
        Seat(member.id or 0, organisation.slug, organisation.name, organisation.kind)
        for member, seat, organisation in rows
        if seat.decision_mandate
    ]


def _attendance(session: Session, meeting_id: int) -> list[Attendance]:
    statement = (
        select(Attendance).where(Attendance.meeting_id == meeting_id).order_by(col(Attendance.id))
    )
    return list(session.exec(statement).all())


def present_ids(session: Session, meeting_id: int) -> set[int]:
    return {
        a.member_id
        for a in _attendance(session, meeting_id)
        if a.member_id is not None and a.present
    }


def quorum_for(session: Session, meeting_id: int, present: Sequence[int]) -> QuorumStatus:
    """The count of the meeting if `present` were there (nothing is stored)."""
    _, group = _meeting_and_group(session, meeting_id)
    return quorum(group.quorum_rule, seats_of(session, group), set(present))


def meeting_quorum(session: Session, meeting_id: int) -> QuorumStatus:
    """The count of the meeting with its recorded attendance."""
    _, group = _meeting_and_group(session, meeting_id)
    return quorum(group.quorum_rule, seats_of(session, group), present_ids(session, meeting_id))


@dataclass(frozen=True)
class ItemRecord:
    """An agenda line with its decision, for the meeting page."""

    line: agenda.Line
    decision: Decision | None


@dataclass(frozen=True)
class MeetingRun:
    """Everything the meeting page shows."""

    meeting: Meeting
    group: Group
    members: list[GroupMember]
    present: set[int]
    absent: set[int]
    guests: list[Attendance]
    quorum: QuorumStatus
    items: list[ItemRecord]
    frozen: bool
    minutes: Minutes | None  # the latest version, if any
    built: bool  # the opening items are stored (they are once attendance is saved)


def _flat_lines(lines: Sequence[agenda.Line]) -> list[agenda.Line]:
    flat: list[agenda.Line] = []
    for line in lines:
        if line.item_id is not None:
            flat.append(line)
        flat.extend(line.sub_items)
    return flat


def decisions_of(session: Session, meeting_id: int) -> dict[int, Decision]:
    """The meeting's decisions by agenda item id."""
    rows = session.exec(select(Decision).where(Decision.meeting_id == meeting_id)).all()
    return {d.agenda_item_id: d for d in rows}


def latest_minutes(session: Session, meeting_id: int) -> Minutes | None:
    statement = (
        select(Minutes)
        .where(Minutes.meeting_id == meeting_id)
        .order_by(col(Minutes.version).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def load_run(engine: Engine, meeting_id: int) -> MeetingRun:
    """The meeting page's content, read in one transaction."""
    with unit_of_work(engine, write=False) as session:
        meeting, group = _meeting_and_group(session, meeting_id)
        attendance = _attendance(session, meeting_id)
        present = {a.member_id for a in attendance if a.member_id is not None and a.present}
        absent = {a.member_id for a in attendance if a.member_id is not None and not a.present}
        decisions = decisions_of(session, meeting_id)
        read = agenda.agenda_of(session, meeting_id)
        lines = _flat_lines(read.lines)
        return MeetingRun(
            meeting=meeting,
            group=group,
            members=group_members(session, group),
            present=present,
            absent=absent,
            guests=[a for a in attendance if a.member_id is None],
            quorum=quorum(group.quorum_rule, seats_of(session, group), present),
            items=[ItemRecord(line, decisions.get(line.item_id or 0)) for line in lines],
            frozen=has_minutes(session, meeting_id),
            minutes=latest_minutes(session, meeting_id),
            built=read.built,
        )


# --- attendance ------------------------------------------------------------------------------


def record_attendance(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    present_member_ids: Sequence[int],
    absent_member_ids: Sequence[int],
    *,
    now: datetime | None = None,
) -> QuorumStatus:
    """Replace the meeting's attendance of members: those present and those absent.

    Only the group's members may be listed, each once. Guests are kept. Stores the
    agenda's opening items if they are not stored yet, so every item can get a decision.
    """
    now = now or utcnow()
    present, absent = set(present_member_ids), set(absent_member_ids)
    with unit_of_work(engine) as session:
        meeting, group = _meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        _check_open(session, meeting)
        both = present & absent
        if both:
            raise InvalidInput(
                {"present": "En ledamot kan inte vara både närvarande och frånvarande."}
            )
        members = {m.member_id for m in group_members(session, group)}
        strangers = (present | absent) - members
        if strangers:
            raise InvalidInput(
                {"present": f"Bara ledamöter i {group.name} kan markeras som närvarande."}
            )
        before = sorted(present_ids(session, meeting_id))
        for row in _attendance(session, meeting_id):
            if row.member_id is not None:
                session.delete(row)
        session.flush()
        for member_id, here in [(m, True) for m in sorted(present)] + [
            (m, False) for m in sorted(absent)
        ]:
            session.add(
                Attendance(
                    meeting_id=meeting_id,
                    member_id=member_id,
                    present=here,
                    recorded_by=identity.email[:200],
                    recorded_at=now,
                )
            )
        agenda.ensure_opening(session, meeting, group, identity.email)
        session.flush()
        status = quorum(group.quorum_rule, seats_of(session, group), present)
        repository.add_audit_event(
            session,
            case_id=None,
            actor=identity.email,
            action="attendance_recorded",
            before={"meeting_id": meeting_id, "present": before},
            after={
                "meeting_id": meeting_id,
                "present": sorted(present),
                "absent": sorted(absent),
                "quorum": status.as_dict(),
            },
            note=status.summary,
            at=now,
        )
        return status


def add_guest(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    *,
    name: str,
    organisation: str = "",
    function: str = "",
    now: datetime | None = None,
) -> Attendance:
    """Add an adjunct guest (no member row; never counted for quorum)."""
    now = now or utcnow()
    name, organisation, function = (" ".join(v.split()) for v in (name, organisation, function))
    errors: dict[str, str] = {}
    if not name:
        errors["guest_name"] = "Skriv gästens namn."
    elif len(name) > MAX_NAME:
        errors["guest_name"] = f"Namnet får vara högst {MAX_NAME} tecken."
    if len(organisation) > MAX_NAME:
        errors["guest_organisation"] = f"Organisationen får vara högst {MAX_NAME} tecken."
    if len(function) > MAX_FUNCTION:
        errors["guest_function"] = f"Funktionen får vara högst {MAX_FUNCTION} tecken."
    if errors:
        raise InvalidInput(errors)
    with unit_of_work(engine) as session:
        meeting, group = _meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        _check_open(session, meeting)
        row = Attendance(
            meeting_id=meeting_id,
            guest_name=name,
            guest_organisation=organisation,
            guest_function=function,
            present=True,
            recorded_by=identity.email[:200],
            recorded_at=now,
        )
        session.add(row)
        session.flush()
        repository.add_audit_event(
            session,
            case_id=None,
            actor=identity.email,
            action="guest_added",
            after={
                "meeting_id": meeting_id,
                "attendance": row.id,
                "name": name,
                "organisation": organisation,
                "function": function,
            },
            at=now,
        )
        return row


def remove_guest(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    attendance_id: int,
    *,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    with unit_of_work(engine) as session:
        meeting, group = _meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        _check_open(session, meeting)
        row = session.get(Attendance, attendance_id)
        if row is None or row.meeting_id != meeting_id or row.member_id is not None:
            raise NotFound(
                f"no guest {attendance_id} at meeting {meeting_id}",
                "Gästen finns inte på mötet. Ladda om sidan.",
            )
        detail = {"meeting_id": meeting_id, "attendance": attendance_id, "name": row.guest_name}
        session.delete(row)
        repository.add_audit_event(
            session,
            case_id=None,
            actor=identity.email,
            action="guest_removed",
            before=detail,
            after={"meeting_id": meeting_id},
            at=now,
        )


# --- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientInput:
    """Someone the paragraph is sent to: a name, and an e-mail or Apprise address or none."""

    name: str
    address: str = ""


@dataclass(frozen=True)
class AssignmentInput:
    """An uppdrag: what, who, and a due date or a meeting to report back at."""

    description: str
    owner_name: str
    owner_member_id: int | None = None
    owner_address: str = ""
    due_date: date | None = None
    due_meeting_id: int | None = None


@dataclass(frozen=True)
class DecisionInput:
    outcome: Outcome
    clauses: Sequence[str] = ()
    text: str = ""
    recipients: Sequence[RecipientInput] = ()
    deferred_to_meeting_id: int | None = None
    assignments: Sequence[AssignmentInput] = ()
    quorum: QuorumChoice = QuorumChoice.quorate


def clean_clause(clause: str) -> str:
    """ "Att  godkänna rutinen." → "godkänna rutinen." (no leading "att", spaces folded)."""
    return LEADING_ATT.sub("", " ".join(clause.split()))


def _valid_address(address: str) -> bool:
    return bool(EMAIL.match(address) or APPRISE.match(address))


def _check_decision(
    data: DecisionInput, meeting: Meeting, group: Group, session: Session
) -> tuple[list[str], list[dict[str, str]]]:
    """The clauses and recipients to store, or InvalidInput with every problem found."""
    errors: dict[str, str] = {}
    clauses = [c for c in (clean_clause(c) for c in data.clauses) if c]
    if data.outcome == Outcome.noted and not clauses:
        clauses = [NOTED_CLAUSE]
    if data.outcome == Outcome.decided and not clauses:
        errors["clauses"] = "Skriv minst en att-sats för beslutet."
    if any(len(c) > MAX_CLAUSE for c in clauses):
        errors["clauses"] = f"En att-sats får vara högst {MAX_CLAUSE} tecken."
    if len(data.text) > MAX_TEXT:
        errors["text"] = f"Texten får vara högst {MAX_TEXT} tecken."
    recipients: list[dict[str, str]] = []
    for n, recipient in enumerate(data.recipients):
        name, address = " ".join(recipient.name.split()), recipient.address.strip()
        if not name and not address:
            continue
        if not name:
            errors[f"recipients.{n}.name"] = "Skriv mottagarens namn."
        elif len(name) > MAX_NAME:
            errors[f"recipients.{n}.name"] = f"Namnet får vara högst {MAX_NAME} tecken."
        if address and (len(address) > MAX_ADDRESS or not _valid_address(address)):
            errors[f"recipients.{n}.address"] = (
                "Ange en e-postadress (namn@exempel.se) eller en adress av formen tjänst://…, "
                "eller lämna fältet tomt."
            )
        recipients.append({"name": name, "address": address})
    if data.outcome == Outcome.deferred:
        target = (
            session.get(Meeting, data.deferred_to_meeting_id)
            if data.deferred_to_meeting_id
            else None
        )
        if target is None:
            errors["deferred_to_meeting_id"] = "Välj mötet som punkten bordläggs till."
        elif target.group_id != group.id or target.date <= meeting.date:
            errors["deferred_to_meeting_id"] = (
                f"Välj ett senare möte med {group.name} än det här mötet."
            )
    for n, task in enumerate(data.assignments):
        prefix = f"assignments.{n}"
        if not " ".join(task.description.split()):
            errors[f"{prefix}.description"] = "Beskriv uppdraget."
        if not " ".join(task.owner_name.split()):
            errors[f"{prefix}.owner_name"] = "Skriv vem som har uppdraget."
        elif len(task.owner_name) > MAX_NAME:
            errors[f"{prefix}.owner_name"] = f"Namnet får vara högst {MAX_NAME} tecken."
        if task.owner_address and (
            len(task.owner_address) > MAX_ADDRESS or not _valid_address(task.owner_address)
        ):
            errors[f"{prefix}.owner_address"] = (
                "Ange en e-postadress eller en adress av formen tjänst://…, eller lämna tomt."
            )
        if task.owner_member_id is not None and task.owner_member_id not in {
            m.member_id for m in group_members(session, group)
        }:
            errors[f"{prefix}.owner_member_id"] = f"Välj en av ledamöterna i {group.name}."
        if (task.due_date is None) == (task.due_meeting_id is None):
            errors[f"{prefix}.due"] = (
                "Ange antingen ett datum eller ett möte att återrapportera till."
            )
        elif task.due_meeting_id is not None:
            due = session.get(Meeting, task.due_meeting_id)
            if due is None or due.group_id != group.id or due.date <= meeting.date:
                errors[f"{prefix}.due"] = f"Välj ett senare möte med {group.name}."
        elif task.due_date is not None and task.due_date < meeting.date:
            errors[f"{prefix}.due"] = "Datumet kan inte vara före mötet."
    if errors:
        raise InvalidInput(errors)
    return clauses, recipients


def decision_errors(engine: Engine, meeting_id: int, data: DecisionInput) -> dict[str, str]:
    """The problems `record_decision` would find in `data` (nothing is stored); a form
    that found problems of its own shows these beside them."""
    with unit_of_work(engine, write=False) as session:
        meeting, group = _meeting_and_group(session, meeting_id)
        try:
            _check_decision(data, meeting, group, session)
        except InvalidInput as exc:
            return exc.errors
        return {}


def _item_of(session: Session, meeting_id: int, item_id: int) -> AgendaItem:
    try:
        return agenda.item_of(session, meeting_id, item_id)
    except agenda.AgendaError as exc:
        raise NotFound(str(exc), exc.message_sv) from None


class NotBacked(MeetingRunError):
    """A resource-requiring case that not every organisation has backed yet."""

    status = 422


def _check_backing(session: Session, group: Group, item: AgendaItem, outcome: Outcome) -> None:
    """Refuse deciding a resource-requiring case before every organisation's own decision
    body backs it (`org_requests.backing_refusal`)."""
    if outcome != Outcome.decided or item.case_id is None or item.for_information:
        return
    if group.slug != org_requests.LSVO:
        return
    case = repository.get_case(session, case_id=item.case_id)
    if case is None:
        return
    refusal = org_requests.backing_refusal(session, case)
    if refusal is not None:
        raise NotBacked(
            f"case {case.reference} is not backed by every organisation",
            refusal,
            errors={"outcome": refusal},
        )


def record_decision(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    item_id: int,
    data: DecisionInput,
    *,
    now: datetime | None = None,
) -> Decision:
    """Record (or replace) the decision on an agenda item, with its assignments.

    Deciding while the meeting is not quorate needs `QuorumChoice.without_quorum`; noting
    and deferring are always allowed. Refused once the meeting has minutes.
    """
    now = now or utcnow()
    with unit_of_work(engine) as session:
        meeting, group = _meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        _check_open(session, meeting)
        item = _item_of(session, meeting_id, item_id)
        clauses, recipients = _check_decision(data, meeting, group, session)
        _check_backing(session, group, item, data.outcome)
        status = quorum(
            group.quorum_rule, seats_of(session, group), present_ids(session, meeting_id)
        )
        choice = QuorumChoice.quorate
        if not status.quorate and data.outcome not in ALWAYS_ALLOWED:
            if data.quorum != QuorumChoice.without_quorum:
                raise NotQuorate(
                    f"meeting {meeting_id} is not quorate: {status.explanations}",
                    f"{status.summary} Anteckna informationen, bordlägg punkten eller välj "
                    "uttryckligen att besluta trots att mötet inte är beslutsmässigt.",
                    errors={"quorum": "; ".join(status.explanations)},
                )
            choice = QuorumChoice.without_quorum
        decision = session.exec(select(Decision).where(Decision.agenda_item_id == item_id)).first()
        before = _decision_record(decision) if decision is not None else None
        if decision is None:
            decision = Decision(agenda_item_id=item_id, meeting_id=meeting_id, outcome=data.outcome)
        decision.outcome = data.outcome
        decision.clauses = clauses
        decision.text = data.text.strip()
        decision.recipients = recipients
        decision.deferred_to_meeting_id = (
            data.deferred_to_meeting_id if data.outcome == Outcome.deferred else None
        )
        decision.quorum = choice
        decision.recorded_by = identity.email[:200]
        decision.recorded_at = now
        session.add(decision)
        session.flush()
        assert decision.id is not None
        for old in session.exec(
            select(Assignment).where(Assignment.decision_id == decision.id)
        ).all():
            session.delete(old)
        session.flush()
        for task in data.assignments:
            address = task.owner_address.strip()
            if not address and task.owner_member_id is not None:
                member = session.get(Member, task.owner_member_id)
                address = (member.email or "") if member else ""
            session.add(
                Assignment(
                    decision_id=decision.id,
                    group_id=group.id or 0,
                    case_id=item.case_id,
                    description=" ".join(task.description.split()),
                    owner_name=" ".join(task.owner_name.split()),
                    owner_member_id=task.owner_member_id,
                    owner_address=address,
                    due_date=task.due_date,
                    due_meeting_id=task.due_meeting_id,
                    created_at=now,
                )
            )
        session.flush()
        after = _decision_record(decision)
        after["assignments"] = len(data.assignments)
        repository.add_audit_event(
            session,
            case_id=item.case_id,
            actor=identity.email,
            action="decision_recorded",
            before=before,
            after=after,
            note=status.summary,
            at=now,
        )
        if choice == QuorumChoice.without_quorum:
            repository.add_audit_event(
                session,
                case_id=item.case_id,
                actor=identity.email,
                action="decided_without_quorum",
                after={"meeting_id": meeting_id, "item": item_id, "quorum": status.as_dict()},
                note="Beslutet fattades trots att mötet inte var beslutsmässigt: "
                + "; ".join(status.explanations),
                at=now,
            )
        return decision


def _decision_record(decision: Decision) -> dict[str, object]:
    return {
        "meeting_id": decision.meeting_id,
        "item": decision.agenda_item_id,
        "outcome": decision.outcome.value,
        "clauses": list(decision.clauses),
        "recipients": [dict(r) for r in decision.recipients],
        "deferred_to_meeting_id": decision.deferred_to_meeting_id,
        "quorum": decision.quorum.value,
    }


@dataclass(frozen=True)
class DecisionForm:
    """What the decision form of one item shows."""

    meeting: Meeting
    group: Group
    item: AgendaItem
    decision: Decision | None
    assignments: list[Assignment]
    quorum: QuorumStatus
    later_meetings: list[Meeting]
    members: list[GroupMember]
    frozen: bool
    previous: PreviousMinutes | None = None


def load_decision_form(engine: Engine, meeting_id: int, item_id: int) -> DecisionForm:
    with unit_of_work(engine, write=False) as session:
        meeting, group = _meeting_and_group(session, meeting_id)
        item = _item_of(session, meeting_id, item_id)
        decision = session.exec(select(Decision).where(Decision.agenda_item_id == item_id)).first()
        assignments = (
            list(
                session.exec(
                    select(Assignment)
                    .where(Assignment.decision_id == decision.id)
                    .order_by(col(Assignment.id))
                ).all()
            )
            if decision is not None
            else []
        )
        later = [
            m
            for m in repository.list_meetings(
                session, group_slug=group.slug, on_or_after=meeting.date
            )
            if m.date > meeting.date
        ]
        previous = previous_minutes(session, meeting_id) if is_previous_minutes_item(item) else None
        return DecisionForm(
            meeting=meeting,
            group=group,
            item=item,
            decision=decision,
            assignments=assignments,
            quorum=meeting_quorum(session, meeting_id),
            later_meetings=later,
            members=group_members(session, group),
            frozen=has_minutes(session, meeting_id),
            previous=previous,
        )


# --- the previous minutes: feedback and approval ----------------------------------------------


def is_previous_minutes_item(item: AgendaItem) -> bool:
    return item.section == AgendaSection.opening and item.title == PREVIOUS_MINUTES_TITLE


@dataclass(frozen=True)
class OpenAssignment:
    assignment: Assignment
    item_title: str


@dataclass(frozen=True)
class PreviousMinutes:
    """The group's latest minutes before a meeting, and what is still open from them."""

    minutes: Minutes
    meeting: Meeting
    open_assignments: list[OpenAssignment] = field(default_factory=list)
    reported: list[OpenAssignment] = field(default_factory=list)  # reported done
    item_id: int | None = None  # the "Föregående sammanträdesprotokoll" item of this meeting

    @property
    def approved(self) -> bool:
        return self.minutes.approved_at is not None

    def feedback_text(self) -> str:
        """The reports as the start of the item's text ("Återkoppling protokoll …")."""
        lines = [
            f"{entry.item_title}: {entry.assignment.report}"
            for entry in [*self.reported, *self.open_assignments]
            if entry.assignment.report
        ]
        if not lines:
            return ""
        return "\n".join([f"Återkoppling protokoll {self.meeting.date.isoformat()}:", *lines])


def previous_minutes(session: Session, meeting_id: int) -> PreviousMinutes | None:
    """The latest version of the group's latest minutes of a meeting before this one, with
    the open assignments from them (and those already reported done)."""
    meeting, _ = _meeting_and_group(session, meeting_id)
    row = session.exec(
        select(Minutes, Meeting)
        .join(Meeting, col(Meeting.id) == col(Minutes.meeting_id))
        .where(Meeting.group_id == meeting.group_id, col(Meeting.date) < meeting.date)
        .order_by(col(Meeting.date).desc(), col(Minutes.version).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    minutes, earlier = row
    tasks = session.exec(
        select(Assignment, AgendaItem)
        .join(Decision, col(Decision.id) == col(Assignment.decision_id))
        .join(AgendaItem, col(AgendaItem.id) == col(Decision.agenda_item_id))
        .where(Decision.meeting_id == earlier.id)
    ).all()
    tasks = sorted(
        tasks,
        key=lambda row: (
            agenda.SECTION_ORDER.index(row[1].section),
            row[1].position,
            row[0].id or 0,
        ),
    )
    own_item = session.exec(
        select(AgendaItem).where(
            AgendaItem.meeting_id == meeting_id,
            AgendaItem.section == AgendaSection.opening,
            AgendaItem.title == PREVIOUS_MINUTES_TITLE,
        )
    ).first()
    return PreviousMinutes(
        minutes=minutes,
        meeting=earlier,
        open_assignments=[
            OpenAssignment(a, i.title) for a, i in tasks if a.status == AssignmentStatus.open
        ],
        reported=[
            OpenAssignment(a, i.title) for a, i in tasks if a.status == AssignmentStatus.done
        ],
        item_id=own_item.id if own_item else None,
    )


def record_feedback(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    assignment_id: int,
    *,
    report: str,
    done: bool,
    now: datetime | None = None,
) -> Assignment:
    """Write the feedback (återkoppling) on an assignment at a later meeting, and mark it
    done or leave it open. Refused once that later meeting has minutes."""
    now = now or utcnow()
    report = report.strip()
    if len(report) > MAX_TEXT:
        raise InvalidInput({"report": f"Återkopplingen får vara högst {MAX_TEXT} tecken."})
    with unit_of_work(engine) as session:
        meeting, group = _meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        _check_open(session, meeting)
        task = session.get(Assignment, assignment_id)
        if task is None or task.group_id != group.id:
            raise NotFound(
                f"no assignment {assignment_id} in group {group.slug}",
                "Uppdraget finns inte. Ladda om sidan.",
            )
        before = {"status": task.status.value, "report": task.report}
        task.report = report
        task.status = AssignmentStatus.done if done else AssignmentStatus.open
        task.done_at = now if done else None
        session.add(task)
        repository.add_audit_event(
            session,
            case_id=task.case_id,
            actor=identity.email,
            action="assignment_reported",
            before={"assignment": assignment_id, **before},
            after={
                "assignment": assignment_id,
                "meeting_id": meeting_id,
                "status": task.status.value,
                "report": report,
            },
            at=now,
        )
        return task


def approval_clause(minutes_meeting: Meeting) -> str:
    """ "godkänna för 2021-05-07 upprättat sammanträdesprotokoll"."""
    return f"godkänna för {minutes_meeting.date.isoformat()} upprättat sammanträdesprotokoll"


def approve_minutes(
    engine: Engine,
    identity: Identity,
    minutes_id: int,
    *,
    at_meeting_id: int | None,
    now: datetime | None = None,
) -> Minutes:
    """Approve (justera) the latest version of a meeting's minutes.

    With `at_meeting_id`, at that later meeting of the group: its "Föregående
    sammanträdesprotokoll" item then gets the decision "att godkänna för <date> upprättat
    sammanträdesprotokoll" (added to a decision already recorded there; when that meeting
    is not quorate the decision records it, `QuorumChoice.without_quorum`, and it is
    audited). Without, by the group's secretary or chair signing. Refused when already
    approved, and for an earlier version.
    """
    now = now or utcnow()
    with unit_of_work(engine) as session:
        minutes = session.exec(
            select(Minutes).where(Minutes.id == minutes_id).with_for_update()
        ).first()
        if minutes is None:
            raise NotFound(f"no minutes {minutes_id}", "Protokollet finns inte.")
        own_meeting, group = _meeting_and_group(session, minutes.meeting_id)
        _check_manage(identity, group)
        latest = latest_minutes(session, minutes.meeting_id)
        assert latest is not None
        if latest.id != minutes.id:
            raise MeetingRunError(
                f"minutes {minutes_id} is not the latest version",
                f"Det finns en senare version (version {latest.version}) av protokollet; "
                "justera den.",
            )
        if minutes.approved_at is not None:
            raise MeetingRunError(
                f"minutes {minutes_id} already approved",
                "Protokollet är redan justerat.",
            )
        item_id: int | None = None
        if at_meeting_id is not None:
            at_meeting, _ = _meeting_and_group(session, at_meeting_id, lock=True)
            if at_meeting.group_id != group.id or at_meeting.date <= own_meeting.date:
                raise MeetingRunError(
                    f"meeting {at_meeting_id} is not a later meeting of {group.slug}",
                    f"Protokollet justeras vid ett senare möte med {group.name}.",
                )
            _check_open(session, at_meeting)
            agenda.ensure_opening(session, at_meeting, group, identity.email)
            item = session.exec(
                select(AgendaItem).where(
                    AgendaItem.meeting_id == at_meeting_id,
                    AgendaItem.section == AgendaSection.opening,
                    AgendaItem.title == PREVIOUS_MINUTES_TITLE,
                )
            ).first()
            if item is None:
                raise MeetingRunError(
                    f"meeting {at_meeting_id} has no {PREVIOUS_MINUTES_TITLE} item",
                    f"Mötet saknar punkten {PREVIOUS_MINUTES_TITLE}.",
                )
            item_id = item.id
            clause = approval_clause(own_meeting)
            decision = session.exec(
                select(Decision).where(Decision.agenda_item_id == item.id)
            ).first()
            if decision is None:
                decision = Decision(
                    agenda_item_id=item.id or 0,
                    meeting_id=at_meeting_id,
                    outcome=Outcome.decided,
                    clauses=[clause],
                )
            elif clause not in decision.clauses:
                decision.clauses = [*decision.clauses, clause]
                decision.outcome = Outcome.decided
            # Minutes are approved also at a meeting that is not quorate (as LSVO did on
            # 2021-06-04); the lack of quorum is then recorded on the decision.
            status = quorum(
                group.quorum_rule, seats_of(session, group), present_ids(session, at_meeting_id)
            )
            if not status.quorate:
                decision.quorum = QuorumChoice.without_quorum
                repository.add_audit_event(
                    session,
                    case_id=None,
                    actor=identity.email,
                    action="decided_without_quorum",
                    after={
                        "meeting_id": at_meeting_id,
                        "item": item.id,
                        "quorum": status.as_dict(),
                    },
                    note="Protokollet justerades trots att mötet inte var beslutsmässigt: "
                    + "; ".join(status.explanations),
                    at=now,
                )
            decision.recorded_by = identity.email[:200]
            decision.recorded_at = now
            session.add(decision)
        elif not identity.has(StaffRole.secretary, StaffRole.chair, group=group.slug):
            raise NotAllowed(
                f"{identity.email} may not sign the minutes of {group.slug}",
                f"Protokollet justeras av ordföranden eller sekreteraren i {group.name}.",
            )
        minutes.approved_at = now
        minutes.approved_by = identity.email[:200]
        minutes.approved_at_meeting_id = at_meeting_id
        session.add(minutes)
        session.flush()
        repository.add_audit_event(
            session,
            case_id=None,
            actor=identity.email,
            action="minutes_approved",
            before={"minutes": minutes_id, "approved_at": None},
            after={
                "minutes": minutes_id,
                "meeting_id": own_meeting.id,
                "version": minutes.version,
                "approved_at": now.isoformat(),
                "at_meeting_id": at_meeting_id,
                "item": item_id,
            },
            note="justerat vid mötet" if at_meeting_id else "justerat genom underskrift",
            at=now,
        )
        return minutes
