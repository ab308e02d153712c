"""Meetings' agendas: placing routed cases on meetings and building the agenda.

The pure parts (which meeting a case is proposed for, whether it is late, who may manage
a group's agenda, the order and numbering of the items) come first; the use cases after
them each run in one transaction (`casework.db.unit_of_work`) and leave an audit event.

An agenda holds three sections: the fixed opening items, the cases in the order the
secretary sets, and "Övriga frågor", under which items may be added up to and at the
meeting. Items are stored as `AgendaItem` rows; until the first change to a meeting's
agenda its opening items are shown without being stored (reading never writes).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from casework import repository
from casework.accounts import Identity
from casework.calendar import (
    SWEDISH_MONTHS,
    DeadlineRule,
    Deadlines,
    deadlines_for,
    landing_meeting,
    local_date,
    submission_due,
)
from casework.db import unit_of_work
from casework.lifecycle import Action, RefusedError, State, next_state
from casework.model import (
    AgendaItem,
    AgendaSection,
    Case,
    Group,
    GroupLevel,
    Meeting,
    StaffRole,
    kinds_from_marks,
    utcnow,
)
from casework.outbox import tell_submitter
from casework.services import SAMVERKANSGRUPP_OF, CaseNotFound
from rules.facts import kind_marks

LSVO = "lsvo"
BEREDNINGSGRUPPEN = "beredningsgruppen"
OTHER_BUSINESS = "Övriga frågor"
SECTION_ORDER = (AgendaSection.opening, AgendaSection.case, AgendaSection.other)
MAX_TITLE = 300
MAX_PRESENTER = 300

Direction = Literal["up", "down"]


class AgendaError(RefusedError):
    """A request about an agenda that cannot be carried out."""


class NotAllowed(AgendaError):
    status = 403


class MeetingNotFound(AgendaError):
    status = 404

    def __init__(self, meeting_id: int) -> None:
        self.meeting_id = meeting_id
        super().__init__(f"no meeting with id {meeting_id}", "Det finns inget sådant möte.")


class OverrideNeedsReason(AgendaError):
    status = 422


# --- pure rules ------------------------------------------------------------------------


def agenda_group(case: Case) -> str:
    """The group whose agenda a case goes on: its destination, or its lead group when
    beredningsgruppen coordinates a case that touches several samverkansgrupper."""
    if case.destination == BEREDNINGSGRUPPEN and case.lead_group:
        return case.lead_group
    return case.destination


def information_groups(case: Case) -> list[str]:
    """The other samverkansgrupper that get a case with a lead group as information."""
    if not case.lead_group:
        return []
    touched = list(
        dict.fromkeys(SAMVERKANSGRUPP_OF[g] for g in case.routed_groups if g in SAMVERKANSGRUPP_OF)
    )
    if len(touched) < 2:
        return []
    home = agenda_group(case)
    return [g for g in touched if g != home]


def missed_deadline(submitted_at: datetime, meeting_date: date, rule: DeadlineRule) -> bool:
    """True when a case submitted at `submitted_at` came after the meeting's submission due date
    (the end of that day, Swedish time)."""
    return local_date(submitted_at) > submission_due(meeting_date, rule)


@dataclass(frozen=True)
class Proposal:
    """The meeting proposed for a case, and whether the case is late.

    `late`: the case missed the submission deadline of the group's next meeting after it
    was submitted (`missed`) and so lands on a later one.
    """

    meeting: date | None
    late: bool
    missed: date | None


def propose(
    submitted_at: datetime, meetings: Sequence[date], rule: DeadlineRule, *, today: date
) -> Proposal:
    """The earliest meeting from `today` on whose submission deadline the case met."""
    submitted = local_date(submitted_at)
    chosen = landing_meeting(submitted_at, [m for m in meetings if m >= today], rule)
    next_after_submission = min((m for m in meetings if m >= submitted), default=None)
    missed = (
        next_after_submission
        if next_after_submission is not None
        and missed_deadline(submitted_at, next_after_submission, rule)
        else None
    )
    late = missed is not None and chosen is not None and chosen > missed
    return Proposal(chosen, late, missed)


def is_late_placement(
    submitted_at: datetime, meetings: Sequence[date], chosen: date, rule: DeadlineRule
) -> tuple[bool, date | None]:
    """Whether placing a case on `chosen` moves it past a meeting whose deadline it missed.

    Returns (late, the missed meeting). A case placed on the meeting it missed (an
    override) is not moved late.
    """
    submitted = local_date(submitted_at)
    first = min((m for m in meetings if m >= submitted), default=None)
    if first is None or not missed_deadline(submitted_at, first, rule) or chosen <= first:
        return False, None
    return True, first


def may_manage(identity: Identity, group_slug: str) -> bool:
    """Whether `identity` may place cases on and change the agenda of `group_slug`'s meetings:
    the group's secretary or chair, an admin, and for LSVO also beredningsgruppen."""
    if identity.has(StaffRole.secretary, StaffRole.chair, group=group_slug):
        return True
    return group_slug == LSVO and identity.has(StaffRole.beredning)


def may_approve(identity: Identity, group_slug: str) -> bool:
    """Who approves an agenda: for LSVO beredningsgruppen (it decides LSVO's agenda), for the
    other groups their chair or secretary; an admin always."""
    if group_slug == LSVO:
        return identity.has(StaffRole.beredning)
    return identity.has(StaffRole.secretary, StaffRole.chair, group=group_slug)


def opening_items(group: Group) -> list[tuple[str, str]]:
    """The fixed opening items of a group's agenda, as (title, kind marks)."""
    items = [("Godkännande av dagordningen", "B"), ("Föregående sammanträdesprotokoll", "B")]
    if group.level == GroupLevel.tactical:
        items.append(("Protokoll LSVO:s ledningsgrupp", "I"))
    return items


def ordered(items: Sequence[AgendaItem]) -> list[AgendaItem]:
    """Items in agenda order: by section, then position, then when they were added."""
    return sorted(items, key=lambda i: (SECTION_ORDER.index(i.section), i.position, i.id or 0))


def moved(ids: Sequence[int], item_id: int, direction: Direction) -> list[int]:
    """`ids` with `item_id` swapped with its neighbour; unchanged at either end."""
    order = list(ids)
    index = order.index(item_id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return order


def normalise_marks(marks: str) -> str:
    """ "i/d" → "I/D"; raises ValueError for anything that is not B, I or D."""
    return kind_marks(kinds_from_marks(marks)) if marks.strip() else ""


@dataclass(frozen=True)
class Line:
    """One numbered line of an agenda as it is read and printed."""

    number: str  # "1", "2" … or "a", "b" … under Övriga frågor
    title: str
    kind: str
    presenter: str = ""
    proposed_decision: str = ""
    documents: tuple[str, ...] = ()
    reference: str = ""
    for_information: bool = False
    item_id: int | None = None
    section: AgendaSection = AgendaSection.case
    case_id: int | None = None
    sub_items: tuple[Line, ...] = ()

    @property
    def heading(self) -> str:
        """ "3. Trygg och säker utskrivning (B)"."""
        marks = f" ({self.kind})" if self.kind else ""
        separator = "." if self.number.isdigit() else "/"
        return f"{self.number}{separator} {self.title}{marks}"


def letters(n: int) -> str:
    """a, b, … z, aa, ab …: the sub-items of Övriga frågor."""
    alphabet = string.ascii_lowercase
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = alphabet[rest] + text
    return text


def number_lines(
    items: Sequence[AgendaItem], documents: dict[int, list[str]], references: dict[int, str]
) -> list[Line]:
    """The numbered lines of an agenda: openings and cases 1, 2, …, then Övriga frågor with
    its items lettered a, b, …"""
    lines: list[Line] = []
    others: list[Line] = []
    for item in ordered(items):
        documents_of = tuple(documents.get(item.case_id, [])) if item.case_id else ()
        line = Line(
            number="",
            title=item.title,
            kind=item.kind,
            presenter=item.presenter,
            proposed_decision=item.proposed_decision,
            documents=documents_of,
            reference=references.get(item.case_id, "") if item.case_id else "",
            for_information=item.for_information,
            item_id=item.id,
            section=item.section,
            case_id=item.case_id,
        )
        if item.section == AgendaSection.other:
            others.append(line)
        else:
            lines.append(line)
    numbered = [_renumber(line, str(i)) for i, line in enumerate(lines, start=1)]
    lettered = tuple(_renumber(line, letters(i)) for i, line in enumerate(others))
    numbered.append(
        Line(
            number=str(len(numbered) + 1),
            title=OTHER_BUSINESS,
            kind="",
            section=AgendaSection.other,
            sub_items=lettered,
        )
    )
    return numbered


def _renumber(line: Line, number: str) -> Line:
    return replace(line, number=number)


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Agenda:
    """A meeting's agenda as the pages and the PDF show it."""

    meeting: Meeting
    group: Group
    deadlines: Deadlines
    lines: list[Line]
    built: bool = True

    @property
    def case_count(self) -> int:
        return sum(1 for line in self.lines if line.section == AgendaSection.case)


def meeting_and_group(
    session: Session, meeting_id: int, *, lock: bool = False
) -> tuple[Meeting, Group]:
    statement = select(Meeting).where(Meeting.id == meeting_id)
    if lock:
        statement = statement.with_for_update()
    meeting = session.exec(statement).first()
    if meeting is None:
        raise MeetingNotFound(meeting_id)
    group = session.get(Group, meeting.group_id)
    assert group is not None
    return meeting, group


def _items(session: Session, meeting_id: int) -> list[AgendaItem]:
    statement = select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)
    return list(session.exec(statement).all())


def _agenda(session: Session, meeting: Meeting, group: Group) -> Agenda:
    assert meeting.id is not None
    items = _items(session, meeting.id)
    built = any(i.section == AgendaSection.opening for i in items)
    if not built:
        items = [
            AgendaItem(
                meeting_id=meeting.id,
                section=AgendaSection.opening,
                position=n,
                title=title,
                kind=kind,
            )
            for n, (title, kind) in enumerate(opening_items(group), start=1)
        ] + items
    case_ids = [i.case_id for i in items if i.case_id is not None]
    documents: dict[int, list[str]] = {}
    references: dict[int, str] = {}
    for case_id in case_ids:
        documents[case_id] = [
            a.filename for a in repository.list_attachments(session, case_id=case_id)
        ]
        case = repository.get_case(session, case_id=case_id)
        references[case_id] = case.reference if case else ""
    return Agenda(
        meeting=meeting,
        group=group,
        deadlines=deadlines_for(group.slug, meeting.date, group.deadline_rule),
        lines=number_lines(items, documents, references),
        built=built,
    )


def agenda_of(session: Session, meeting_id: int) -> Agenda:
    """A meeting's agenda, numbered, with each case's documents, read in `session`."""
    meeting, group = meeting_and_group(session, meeting_id)
    return _agenda(session, meeting, group)


def load_agenda(engine: Engine, meeting_id: int) -> Agenda:
    """A meeting's agenda, numbered, with each case's documents."""
    with unit_of_work(engine, write=False) as session:
        return agenda_of(session, meeting_id)


@dataclass(frozen=True)
class MeetingSummary:
    meeting: Meeting
    group: Group
    deadlines: Deadlines
    items: int
    cases: int


def manageable_meetings(engine: Engine, identity: Identity, *, today: date) -> list[MeetingSummary]:
    """The upcoming meetings of the groups whose agendas `identity` may manage."""
    with unit_of_work(engine) as session:
        groups = [g for g in repository.list_groups(session) if may_manage(identity, g.slug)]
        counts = dict(
            session.exec(
                select(AgendaItem.meeting_id, func.count())
                .where(AgendaItem.section != AgendaSection.other)
                .group_by(col(AgendaItem.meeting_id))
            ).all()
        )
        case_counts = dict(
            session.exec(
                select(AgendaItem.meeting_id, func.count())
                .where(AgendaItem.section == AgendaSection.case)
                .group_by(col(AgendaItem.meeting_id))
            ).all()
        )
        summaries = []
        for group in groups:
            for meeting in repository.list_meetings(
                session, group_slug=group.slug, on_or_after=today
            ):
                summaries.append(
                    MeetingSummary(
                        meeting,
                        group,
                        deadlines_for(group.slug, meeting.date, group.deadline_rule),
                        counts.get(meeting.id or 0, 0),
                        case_counts.get(meeting.id or 0, 0),
                    )
                )
    return sorted(summaries, key=lambda s: (s.meeting.date, s.group.id or 0))


@dataclass(frozen=True)
class MeetingChoice:
    """A meeting a case could be placed on, as the case page offers it."""

    meeting: Meeting
    deadlines: Deadlines
    missed: bool
    proposed: bool


@dataclass(frozen=True)
class Placement:
    """What the case page needs to offer placing a case on a meeting."""

    group: Group | None
    choices: list[MeetingChoice] = field(default_factory=list)
    proposal: Proposal | None = None
    current: Meeting | None = None


def placement_options(engine: Engine, case_id: int, *, today: date) -> Placement:
    """The upcoming, not yet sent meetings of the case's agenda group, the proposed one marked."""
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            raise CaseNotFound(case_id)
        group = repository.get_group(session, slug=agenda_group(case))
        current = session.get(Meeting, case.meeting_id) if case.meeting_id else None
        if group is None:
            return Placement(None, current=current)
        meetings = repository.list_meetings(session, group_slug=group.slug, on_or_after=today)
        every = repository.list_meetings(
            session, group_slug=group.slug, on_or_after=local_date(case.created_at)
        )
    rule = group.deadline_rule
    proposal = propose(case.created_at, [m.date for m in every], rule, today=today)
    choices = [
        MeetingChoice(
            m,
            deadlines_for(group.slug, m.date, rule),
            missed_deadline(case.created_at, m.date, rule),
            m.date == proposal.meeting,
        )
        for m in meetings
        if m.agenda_sent_at is None
    ]
    return Placement(group, choices, proposal, current)


def proposed_meeting(engine: Engine, case_id: int, *, today: date) -> Meeting | None:
    """The meeting proposed for a case: the first from today on whose deadline it met."""
    options = placement_options(engine, case_id, today=today)
    return next((c.meeting for c in options.choices if c.proposed), None)


# --- writing ---------------------------------------------------------------------------


def ensure_opening(session: Session, meeting: Meeting, group: Group, actor: str) -> bool:
    """Store the opening items if they are not there yet; True when they were added."""
    assert meeting.id is not None
    existing = _items(session, meeting.id)
    if any(i.section == AgendaSection.opening for i in existing):
        return False
    for position, (title, kind) in enumerate(opening_items(group), start=1):
        session.add(
            AgendaItem(
                meeting_id=meeting.id,
                section=AgendaSection.opening,
                position=position,
                title=title,
                kind=kind,
                added_by=actor,
            )
        )
    session.flush()
    return True


def next_position(session: Session, meeting_id: int, section: AgendaSection) -> int:
    positions = [i.position for i in _items(session, meeting_id) if i.section == section]
    return max(positions, default=0) + 1


def _renumber_section(session: Session, meeting_id: int, section: AgendaSection) -> None:
    items = ordered([i for i in _items(session, meeting_id) if i.section == section])
    for position, item in enumerate(items, start=1):
        if item.position != position:
            item.position = position
            session.add(item)


def clear_approval(session: Session, meeting: Meeting, actor: str, at: datetime, why: str) -> None:
    """A changed agenda needs approving again: clear the approval and audit it."""
    if meeting.agenda_approved_at is None:
        return
    before = {
        "meeting_id": meeting.id,
        "agenda_approved_at": meeting.agenda_approved_at.isoformat(),
        "agenda_approved_by": meeting.agenda_approved_by,
    }
    meeting.agenda_approved_at = None
    meeting.agenda_approved_by = ""
    session.add(meeting)
    repository.add_audit_event(
        session,
        case_id=None,
        actor=actor,
        action="agenda_approval_cleared",
        before=before,
        after={"meeting_id": meeting.id, "agenda_approved_at": None},
        note=why,
        at=at,
    )


def _check_manage(identity: Identity, group: Group) -> None:
    if not may_manage(identity, group.slug):
        raise NotAllowed(
            f"{identity.email} may not manage the agenda of {group.slug}",
            f"Du får inte ändra dagordningen för {group.name}.",
        )


def _check_not_sent(meeting: Meeting) -> None:
    if meeting.agenda_sent_at is not None:
        raise AgendaError(
            f"the agenda of meeting {meeting.id} has been sent: add the item under "
            f"{OTHER_BUSINESS} instead",
            "Kallelsen till mötet är redan skickad. Ta upp frågan under Övriga frågor i stället.",
        )


def build_agenda(
    engine: Engine, meeting_id: int, *, actor: Identity, now: datetime | None = None
) -> bool:
    """Store a meeting's opening items (idempotent); True when they were added now."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        meeting, group = meeting_and_group(session, meeting_id, lock=True)
        _check_manage(actor, group)
        added = ensure_opening(session, meeting, group, actor.email)
        if added:
            repository.add_audit_event(
                session,
                case_id=None,
                actor=actor.email,
                action="agenda_built",
                after={
                    "meeting_id": meeting_id,
                    "group": group.slug,
                    "date": meeting.date.isoformat(),
                },
                at=now,
            )
        return added


@dataclass(frozen=True)
class Scheduled:
    """The outcome of placing a case: its meeting, and what else happened."""

    case: Case
    meeting: Meeting
    late: bool
    override: bool
    information_on: list[int]


def schedule_case(
    engine: Engine,
    case_id: int,
    meeting_id: int,
    *,
    actor: Identity,
    reason: str | None = None,
    now: datetime | None = None,
) -> Scheduled:
    """Place a routed case on a meeting of its agenda group (or move a scheduled one).

    Refuses a meeting of another group, a past meeting, one whose agenda is already sent,
    and one whose submission deadline the case missed unless a `reason` is given (an
    override, kept in the audit event). A case that missed its group's next meeting and
    lands on a later one is late: the submitter is told the new date (`case_moved_late`);
    otherwise the submitter is told the date (`case_scheduled`). A case with a lead group
    is also put, for information, on the other samverkansgrupper's proposed meetings.
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    today = local_date(now)
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id, for_update=True)
        if case is None:
            raise CaseNotFound(case_id)
        meeting, group = meeting_and_group(session, meeting_id, lock=True)
        _check_manage(actor, group)
        home = agenda_group(case)
        if group.slug != home:
            raise AgendaError(
                f"case {case.reference} goes on the agenda of {home}, not {group.slug}",
                f"Ärendet ska tas upp i {home_name(session, home)}, inte i {group.name}.",
                field="meeting_id",
            )
        if meeting.date < today:
            raise AgendaError(
                f"meeting {meeting.id} on {meeting.date} has already taken place",
                "Mötet har redan varit.",
                field="meeting_id",
            )
        _check_not_sent(meeting)
        if case.meeting_id == meeting.id:
            raise AgendaError(
                f"case {case.reference} is already on meeting {meeting.id}",
                "Ärendet står redan på det mötets dagordning.",
                field="meeting_id",
            )
        next_state(case.status, Action.schedule)  # refuses a case that cannot be scheduled
        rule = group.deadline_rule
        override = missed_deadline(case.created_at, meeting.date, rule)
        if override and not reason:
            raise OverrideNeedsReason(
                f"case {case.reference} missed the submission deadline "
                f"{submission_due(meeting.date, rule)} of meeting {meeting.date}: "
                "give a reason to take it up there anyway",
                "Ärendet kom in efter sista dag för anmälan till mötet. Ange skälet till att "
                "det ändå tas upp där.",
                field="reason",
            )
        every = repository.list_meetings(
            session, group_slug=group.slug, on_or_after=local_date(case.created_at)
        )
        late, missed = is_late_placement(
            case.created_at, [m.date for m in every], meeting.date, rule
        )
        if case.meeting_id is not None:
            _take_off(session, case, case.meeting_id, actor.email, now)
        information_on = _information_items(session, case, actor.email, now)
        place_case_item(
            session,
            case,
            meeting,
            group,
            actor=actor.email,
            now=now,
            why=f"{case.reference} sattes upp",
            note=reason or "",
            after={"override": override, "late": late, "information_meetings": information_on},
        )
        _ask_for_backing(session, case, meeting, group, actor.email, now)
        tell_submitter(
            session,
            case,
            "case_moved_late" if late else "case_scheduled",
            at=now,
            meeting_id=meeting.id,
            event_key=f"schedule:{case.id}:{meeting.id}:{now.isoformat()}",
            meeting=meeting,
            group_name=group.name,
            missed=missed,
            deadline=submission_due(missed, rule) if missed else None,
        )
        session.flush()
        return Scheduled(case, meeting, late, override, information_on)


def place_case_item(
    session: Session,
    case: Case,
    meeting: Meeting,
    group: Group,
    *,
    actor: str,
    now: datetime,
    why: str,
    note: str,
    after: dict[str, Any],
    kind: str | None = None,
    proposed_decision: str | None = None,
) -> AgendaItem:
    """Put `case` on `meeting` as its own item, in the caller's transaction: the opening
    items are made if missing, an item the case had there for information becomes its
    own, the approval of the agenda is cleared (`why` says why), and the case is
    scheduled there with an audit event (`after` adds to it, `note` explains it)."""
    target = next_state(case.status, Action.schedule)
    assert meeting.id is not None and case.id is not None
    ensure_opening(session, meeting, group, actor)
    item = session.exec(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.case_id == case.id)
    ).first()
    if item is None:
        item = AgendaItem(
            meeting_id=meeting.id,
            section=AgendaSection.case,
            position=next_position(session, meeting.id, AgendaSection.case),
            case_id=case.id,
            title=case.title,
            presenter=case.presenter,
            proposed_decision=case.proposed_decision,
            added_by=actor,
            added_at=now,
        )
    item.for_information = False
    item.kind = kind or case.kind
    if proposed_decision is not None:
        item.proposed_decision = proposed_decision
    session.add(item)
    clear_approval(session, meeting, actor, now, why)
    before = {"status": case.status.value, "meeting_id": case.meeting_id}
    case.status = target
    case.meeting_id = meeting.id
    case.updated_at = now
    session.add(case)
    repository.add_audit_event(
        session,
        case_id=case.id,
        actor=actor,
        action=Action.schedule.value,
        before=before,
        after={
            "status": case.status.value,
            "meeting_id": meeting.id,
            "meeting_date": meeting.date.isoformat(),
            "group": group.slug,
            **after,
        },
        note=note,
        at=now,
    )
    return item


def defer_case(
    session: Session,
    case: Case,
    meeting_id: int,
    *,
    deferred_at: Meeting,
    actor: str,
    reason: str,
    now: datetime,
) -> Meeting:
    """Place a case deferred (bordlagd) at `deferred_at` on a later meeting of its agenda
    group, in the caller's transaction; its item on the held meeting stays, as the minutes
    of that meeting tell of it. The submitter is told by the caller."""
    meeting, group = meeting_and_group(session, meeting_id, lock=True)
    home = agenda_group(case)
    if group.slug != home:
        raise AgendaError(
            f"case {case.reference} goes on the agenda of {home}, not {group.slug}",
            f"{case.reference} kan bara bordläggas till ett möte i {home_name(session, home)}.",
        )
    if meeting.date <= deferred_at.date:
        raise AgendaError(
            f"meeting {meeting.id} on {meeting.date} is not after {deferred_at.date}",
            f"{case.reference} kan bara bordläggas till ett senare möte än "
            f"{deferred_at.date.isoformat()}.",
        )
    if meeting.agenda_sent_at is not None:
        raise AgendaError(
            f"the agenda of meeting {meeting.id} has been sent",
            f"Kallelsen till mötet {meeting.date.isoformat()} som {case.reference} bordläggs "
            "till är redan skickad. Välj ett senare möte.",
        )
    place_case_item(
        session,
        case,
        meeting,
        group,
        actor=actor,
        now=now,
        why=f"{case.reference} bordlades dit",
        note=reason,
        after={"deferred_from": deferred_at.id},
    )
    _ask_for_backing(session, case, meeting, group, actor, now)
    session.flush()
    return meeting


def _ask_for_backing(
    session: Session, case: Case, meeting: Meeting, group: Group, actor: str, now: datetime
) -> None:
    """A resource-requiring case placed on an LSVO meeting: ask each organisation's own
    decision body for its backing (`org_requests.ensure_backing`), once."""
    if group.slug != LSVO or not case.requires_endorsement:
        return
    from casework import org_requests  # org_requests places cases through this module

    org_requests.ensure_backing(session, case, meeting, actor=actor, now=now)


def home_name(session: Session, slug: str) -> str:
    group = repository.get_group(session, slug=slug)
    return group.name if group else slug


def _information_items(session: Session, case: Case, actor: str, now: datetime) -> list[int]:
    """Put a case with a lead group on the other touched groups' proposed meetings, as
    information; the meeting ids it was put on."""
    placed: list[int] = []
    today = local_date(now)
    for slug in information_groups(case):
        group = repository.get_group(session, slug=slug)
        if group is None:
            continue
        meetings = [
            m
            for m in repository.list_meetings(session, group_slug=slug, on_or_after=today)
            if m.agenda_sent_at is None
        ]
        proposal = propose(
            case.created_at, [m.date for m in meetings], group.deadline_rule, today=today
        )
        meeting = next((m for m in meetings if m.date == proposal.meeting), None)
        if meeting is None or meeting.id is None:
            continue
        already = session.exec(
            select(AgendaItem).where(
                AgendaItem.meeting_id == meeting.id, AgendaItem.case_id == case.id
            )
        ).first()
        if already is not None:
            continue
        ensure_opening(session, meeting, group, actor)
        session.add(
            AgendaItem(
                meeting_id=meeting.id,
                section=AgendaSection.case,
                position=next_position(session, meeting.id, AgendaSection.case),
                case_id=case.id,
                title=case.title,
                kind="I",
                presenter=case.presenter,
                proposed_decision="",
                for_information=True,
                added_by=actor,
                added_at=now,
            )
        )
        clear_approval(session, meeting, actor, now, f"{case.reference} sattes upp som information")
        placed.append(meeting.id)
    session.flush()
    return placed


def _take_off(session: Session, case: Case, meeting_id: int, actor: str, now: datetime) -> None:
    """Remove a case's own item from a meeting's agenda (not its information items)."""
    item = session.exec(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting_id, AgendaItem.case_id == case.id)
    ).first()
    if item is not None:
        session.delete(item)
        session.flush()
        _renumber_section(session, meeting_id, AgendaSection.case)
    old = session.get(Meeting, meeting_id)
    if old is not None:
        _check_not_sent(old)
        clear_approval(session, old, actor, now, f"{case.reference} togs bort")


def item_of(session: Session, meeting_id: int, item_id: int) -> AgendaItem:
    item = session.get(AgendaItem, item_id)
    if item is None or item.meeting_id != meeting_id:
        raise AgendaError(
            f"no item {item_id} on meeting {meeting_id}",
            "Punkten finns inte på dagordningen. Ladda om sidan.",
        )
    return item


def _editable_item(
    session: Session,
    meeting_id: int,
    item_id: int,
    actor: Identity,
    opening_refusal: tuple[str, str],
) -> tuple[Meeting, AgendaItem]:
    """The meeting (locked) and an item the actor may change: not an opening item, and
    not a case once the agenda is sent."""
    meeting, group = meeting_and_group(session, meeting_id, lock=True)
    _check_manage(actor, group)
    item = item_of(session, meeting_id, item_id)
    if item.section == AgendaSection.opening:
        raise AgendaError(*opening_refusal)
    if item.section == AgendaSection.case:
        _check_not_sent(meeting)
    return meeting, item


def move_item(
    engine: Engine,
    meeting_id: int,
    item_id: int,
    direction: Direction,
    *,
    actor: Identity,
    now: datetime | None = None,
) -> None:
    """Move a case or an Övriga frågor item one step within its section, renumbering the
    section in the same transaction. Reordering the cases clears an approval."""
    now = now or utcnow()
    if direction not in ("up", "down"):
        raise AgendaError(f"direction must be up or down, not {direction!r}", "Okänd riktning.")
    with unit_of_work(engine) as session:
        meeting, item = _editable_item(
            session,
            meeting_id,
            item_id,
            actor,
            ("the opening items keep their places", "De inledande punkterna har fasta platser."),
        )
        _renumber_section(session, meeting_id, item.section)
        section = ordered([i for i in _items(session, meeting_id) if i.section == item.section])
        ids = [i.id for i in section if i.id is not None]
        order = moved(ids, item_id, direction)
        if order == ids:
            return
        by_id = {i.id: i for i in section}
        for position, moved_id in enumerate(order, start=1):
            by_id[moved_id].position = position
            session.add(by_id[moved_id])
        repository.add_audit_event(
            session,
            case_id=item.case_id,
            actor=actor.email,
            action="agenda_reordered",
            before={"meeting_id": meeting_id, "order": ids},
            after={"meeting_id": meeting_id, "order": order, "item": item_id},
            at=now,
        )
        if item.section == AgendaSection.case:
            clear_approval(session, meeting, actor.email, now, "dagordningens ordning ändrades")


def add_other_item(
    engine: Engine,
    meeting_id: int,
    *,
    title: str,
    kind: str = "",
    presenter: str = "",
    actor: Identity,
    now: datetime | None = None,
) -> AgendaItem:
    """Add an item under Övriga frågor: allowed until the end of the meeting day, also after
    the agenda is sent; it does not clear an approval."""
    now = now or utcnow()
    title = " ".join(title.split())
    presenter = " ".join(presenter.split())
    if not title:
        raise AgendaError("an item needs a title", "Skriv en rubrik för punkten.", field="title")
    if len(title) > MAX_TITLE:
        raise AgendaError(
            f"the title is longer than {MAX_TITLE} characters",
            f"Rubriken får vara högst {MAX_TITLE} tecken.",
            field="title",
        )
    if len(presenter) > MAX_PRESENTER:
        raise AgendaError(
            f"the presenter is longer than {MAX_PRESENTER} characters",
            f"Föredragande får vara högst {MAX_PRESENTER} tecken.",
            field="presenter",
        )
    try:
        marks = normalise_marks(kind)
    except ValueError as exc:
        raise AgendaError(
            str(exc), "Ange typ som B, I, D eller en kombination som I/D.", field="kind"
        ) from None
    with unit_of_work(engine) as session:
        meeting, group = meeting_and_group(session, meeting_id, lock=True)
        _check_manage(actor, group)
        if meeting.date < local_date(now):
            raise AgendaError(
                f"meeting {meeting_id} on {meeting.date} is over",
                "Mötet har redan varit; punkter kan läggas till till och med mötesdagen.",
            )
        ensure_opening(session, meeting, group, actor.email)
        item = AgendaItem(
            meeting_id=meeting_id,
            section=AgendaSection.other,
            position=next_position(session, meeting_id, AgendaSection.other),
            title=title,
            kind=marks,
            presenter=presenter,
            added_by=actor.email,
            added_at=now,
        )
        session.add(item)
        session.flush()
        repository.add_audit_event(
            session,
            case_id=None,
            actor=actor.email,
            action="agenda_other_added",
            after={"meeting_id": meeting_id, "item": item.id, "title": title, "kind": marks},
            at=now,
        )
        return item


def remove_item(
    engine: Engine,
    meeting_id: int,
    item_id: int,
    *,
    actor: Identity,
    note: str = "",
    now: datetime | None = None,
) -> None:
    """Remove an item. A case's own item sends the case back to routed (and drops its
    information items on meetings not yet sent out); removing a case clears an approval."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        meeting, item = _editable_item(
            session,
            meeting_id,
            item_id,
            actor,
            ("the opening items cannot be removed", "De inledande punkterna kan inte tas bort."),
        )
        detail = {"meeting_id": meeting_id, "item": item_id, "title": item.title}
        case = (
            repository.get_case(session, case_id=item.case_id, for_update=True)
            if item.case_id
            else None
        )
        if case is not None and not item.for_information and case.meeting_id == meeting_id:
            target = next_state(case.status, Action.reroute)
            assert target == State.routed
            for info in session.exec(
                select(AgendaItem).where(
                    AgendaItem.case_id == case.id, col(AgendaItem.for_information).is_(True)
                )
            ).all():
                other = session.get(Meeting, info.meeting_id)
                if other is not None and other.agenda_sent_at is None:
                    session.delete(info)
                    clear_approval(session, other, actor.email, now, f"{case.reference} togs bort")
            before = {"status": case.status.value, "meeting_id": case.meeting_id}
            case.status = target
            case.meeting_id = None
            case.updated_at = now
            session.add(case)
            repository.add_audit_event(
                session,
                case_id=case.id,
                actor=actor.email,
                action="unschedule",
                before=before,
                after={"status": case.status.value, "meeting_id": None, **detail},
                note=note,
                at=now,
            )
        else:
            repository.add_audit_event(
                session,
                case_id=item.case_id,
                actor=actor.email,
                action="agenda_item_removed",
                before=detail,
                after={"meeting_id": meeting_id},
                note=note,
                at=now,
            )
        section = item.section
        session.delete(item)
        session.flush()
        _renumber_section(session, meeting_id, section)
        if section == AgendaSection.case:
            clear_approval(session, meeting, actor.email, now, "en punkt togs bort")


def approve_agenda(
    engine: Engine, meeting_id: int, *, actor: Identity, now: datetime | None = None
) -> Meeting:
    """Approve a meeting's agenda before it is sent: for LSVO beredningsgruppen decides it."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        meeting, group = meeting_and_group(session, meeting_id, lock=True)
        if not may_approve(actor, group.slug):
            who = (
                "beredningsgruppen"
                if group.slug == LSVO
                else "gruppens ordförande eller sekreterare"
            )
            raise NotAllowed(
                f"{actor.email} may not approve the agenda of {group.slug}",
                f"Dagordningen för {group.name} godkänns av {who}.",
            )
        _check_not_sent(meeting)
        if meeting.agenda_approved_at is not None:
            raise AgendaError(
                f"the agenda of meeting {meeting_id} is already approved",
                "Dagordningen är redan godkänd.",
            )
        ensure_opening(session, meeting, group, actor.email)
        meeting.agenda_approved_at = now
        meeting.agenda_approved_by = actor.email[:200]
        session.add(meeting)
        repository.add_audit_event(
            session,
            case_id=None,
            actor=actor.email,
            action="agenda_approved",
            before={"meeting_id": meeting_id, "agenda_approved_at": None},
            after={
                "meeting_id": meeting_id,
                "group": group.slug,
                "date": meeting.date.isoformat(),
                "agenda_approved_at": now.isoformat(),
            },
            at=now,
        )
        return meeting


# --- wording -----------------------------------------------------------------------------

_DAYS = ("Måndagen", "Tisdagen", "Onsdagen", "Torsdagen", "Fredagen", "Lördagen", "Söndagen")


def meeting_day(day: date) -> str:
    """2023-05-12 → "Fredagen den 12 maj 2023", as the minutes write it."""
    return f"{_DAYS[day.weekday()]} den {day.day} {SWEDISH_MONTHS[day.month - 1]} {day.year}"


def time_and_place(meeting: Meeting) -> str:
    """ "Fredagen den 12 maj 2023 kl. 08.15–12.00, Folkhögskolan Bräkne-Hoby"."""
    text = meeting_day(meeting.date)
    if meeting.starts_at:
        text += f" kl. {meeting.starts_at.replace(':', '.')}"
        if meeting.ends_at:
            text += f"–{meeting.ends_at.replace(':', '.')}"
    if meeting.place:
        text += f", {meeting.place}"
    return text
