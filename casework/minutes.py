"""The minutes (protokoll) of a meeting: the draft, § numbers, finalising and new versions.

A draft is assembled from the meeting whenever it is shown (`draft_minutes`): its agenda
items in agenda order, the attendance, the decisions with their assignments, and the
written views members sent. Finalising (`finalise_minutes`) freezes the document as the
first `Minutes` row with its § numbers, changes the cases' states as the decisions say,
and sends each paragraph to its recipients and each submitter the outcome, all in one
transaction. A correction is a new version (`new_version`) with a reason; the earlier
version stays as it was.

§ numbers run per group and calendar year of the meeting date (`ParagraphCounter`): a
meeting continues where the group's last finalised minutes ended, a new year starts at 1,
and a number once given is never given again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from casework import agenda, linked_cases, outbox, repository
from casework.accounts import Identity
from casework.calendar import local_date
from casework.db import unit_of_work
from casework.lifecycle import Action, State
from casework.minutes_document import (
    OUTCOME_LABELS,
    AssignmentEntry,
    MinutesDocument,
    MinutesStatus,
    Paragraph,
    Person,
    WrittenViewEntry,
    short_name,
)
from casework.minutes_pdf import render_minutes_pdf
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
    Organisation,
    Outcome,
    QuorumChoice,
    Role,
    utcnow,
)
from casework.services import Router, apply_action
from casework.settings import get_settings
from casework.written_views import views_by_item

__all__ = [
    "OUTCOME_LABELS",
    "AssignmentEntry",
    "MinutesDocument",
    "MinutesError",
    "MinutesStatus",
    "Paragraph",
    "Person",
    "WrittenViewEntry",
    "draft_minutes",
    "finalise_minutes",
    "minutes_view",
    "new_version",
    "next_paragraph_numbers",
]

MAX_REASON = 2000
MAX_TEXT = 50_000


class MinutesError(agenda.AgendaError):
    """A request about minutes that cannot be carried out; `message_sv` is for the page."""


# --- § numbers ---------------------------------------------------------------------------

# Portable upsert, as `repository.next_reference_number`: the row lock (PostgreSQL) or the
# write lock (SQLite) makes concurrent callers wait, and a rolled-back transaction gives
# its numbers back, so a failed finalising consumes none.
_RESERVE_PARAGRAPHS = text(
    "INSERT INTO paragraph_counters (group_id, year, last) VALUES (:group_id, :year, :count) "
    "ON CONFLICT (group_id, year) DO UPDATE SET last = paragraph_counters.last + :count "
    "RETURNING last"
)


def next_paragraph_numbers(session: Session, *, group_id: int, year: int, count: int) -> range:
    """Reserve the next `count` § numbers of a group's year (1, 2, … restarting each year)."""
    if count < 1:
        raise ValueError("reserve at least one paragraph number")
    last = int(
        session.execute(
            _RESERVE_PARAGRAPHS, {"group_id": group_id, "year": year, "count": count}
        ).scalar_one()
    )
    return range(last - count + 1, last + 1)


# --- the draft ---------------------------------------------------------------------------


def _person(member: Member, organisation: Organisation | None, role: str = "") -> Person:
    return Person(
        name=member.name,
        organisation=organisation.name if organisation else "",
        function=member.function,
        role=role,
    )


def _meeting_label(meeting: Meeting | None, group_names: Mapping[int, str], home: int) -> str:
    if meeting is None:
        return ""
    if meeting.group_id == home:
        return f"mötet {meeting.date.isoformat()}"
    return f"mötet {meeting.date.isoformat()} i {group_names.get(meeting.group_id, '')}".strip()


def _clauses(clauses: list[str]) -> list[str]:
    """The "att"-clauses without a leading "att", blank ones dropped."""
    cleaned = []
    for clause in clauses:
        words = clause.strip()
        if words[:4].lower() == "att ":
            words = words[4:].strip()
        if words:
            cleaned.append(words)
    return cleaned


def _people(
    session: Session, meeting: Meeting, group: Group
) -> tuple[list[Person], list[Person], list[Person], list[Person], list[Person]]:
    """Present, absent, adjunct guests, secretary and chair of a meeting, in seating order
    with the chair first. A member of the group with no attendance recorded is absent; the
    secretary is listed as such, not among the members."""
    seats = repository.list_group_members(session, group_slug=group.slug)
    attendance = list(
        session.exec(
            select(Attendance)
            .where(Attendance.meeting_id == meeting.id)
            .order_by(col(Attendance.id))
        ).all()
    )
    here = {a.member_id: a.present for a in attendance if a.member_id is not None}
    present: list[Person] = []
    absent: list[Person] = []
    adjuncts: list[Person] = []
    for member, seat, organisation in sorted(seats, key=lambda s: s[1].role != Role.chair):
        if seat.role == Role.secretary:
            continue
        if not here.get(member.id or 0, False):
            if seat.role != Role.adjunct:
                absent.append(_person(member, organisation))
        elif seat.role == Role.adjunct:
            adjuncts.append(_person(member, organisation))
        else:
            role = "Ordförande" if seat.role == Role.chair else ""
            present.append(_person(member, organisation, role))
    seated = {member.id for member, _, _ in seats}
    others = [a.member_id for a in attendance if a.present and a.member_id not in seated]
    if others:  # present without a seat in the group: listed with the guests
        organisations = {o.id: o for o in repository.list_organisations(session)}
        for member in session.exec(select(Member).where(col(Member.id).in_(others))).all():
            adjuncts.append(_person(member, organisations.get(member.organisation_id)))
    for row in attendance:
        if row.member_id is None and row.present and row.guest_name:
            adjuncts.append(
                Person(
                    name=row.guest_name,
                    organisation=row.guest_organisation,
                    function=row.guest_function,
                )
            )
    secretary = [_person(m, o) for m, seat, o in seats if seat.role == Role.secretary]
    chair = [_person(m, o) for m, seat, o in seats if seat.role == Role.chair]
    return present, absent, adjuncts, secretary, chair


def draft_minutes(session: Session, meeting_id: int) -> MinutesDocument:
    """The minutes as they stand now, assembled from the meeting, without § numbers.

    Items without a recorded decision show as not handled. Raises
    `agenda.MeetingNotFound`.
    """
    read = agenda.agenda_of(session, meeting_id)
    meeting, group = read.meeting, read.group
    assert group.id is not None
    home: int = group.id
    heading = f"{short_name(group.name)} beslutar"
    decisions = {
        d.agenda_item_id: d
        for d in session.exec(select(Decision).where(Decision.meeting_id == meeting_id)).all()
    }
    decision_ids = [d.id for d in decisions.values()]
    assignments: dict[int, list[Assignment]] = {}
    for a in session.exec(
        select(Assignment)
        .where(col(Assignment.decision_id).in_(decision_ids))
        .order_by(col(Assignment.id))
    ).all():
        assignments.setdefault(a.decision_id, []).append(a)
    views = {
        item_id: [
            WrittenViewEntry(member=v.member_name, organisation=v.organisation, text=v.text)
            for v in lines
        ]
        for item_id, lines in views_by_item(session, meeting_id).items()
    }
    other_meeting_ids = {d.deferred_to_meeting_id for d in decisions.values()} | {
        a.due_meeting_id for rows in assignments.values() for a in rows
    }
    other_meetings = {
        m.id: m
        for m in session.exec(
            select(Meeting).where(col(Meeting.id).in_([i for i in other_meeting_ids if i]))
        ).all()
    }
    group_names = {g.id: short_name(g.name) for g in repository.list_groups(session) if g.id}

    def paragraph(line: agenda.Line, letter: str = "") -> Paragraph:
        decision = decisions.get(line.item_id) if line.item_id is not None else None
        p = Paragraph(
            letter=letter,
            agenda_number=line.number,
            item_id=line.item_id,
            case_id=line.case_id,
            reference=line.reference,
            title=line.title,
            kind=line.kind,
            presenter=line.presenter,
            written_views=views.get(line.item_id, []) if line.item_id is not None else [],
            decision_heading=heading,
        )
        if decision is None:
            return p
        assert decision.id is not None
        p.text = decision.text
        p.outcome = decision.outcome
        p.clauses = _clauses(decision.clauses)
        p.without_quorum = decision.quorum == QuorumChoice.without_quorum
        p.recipients = [r.get("name", "").strip() for r in decision.recipients if r.get("name")]
        if decision.outcome == Outcome.deferred:
            p.deferred_to_meeting_id = decision.deferred_to_meeting_id
            p.deferred_to = _meeting_label(
                other_meetings.get(decision.deferred_to_meeting_id), group_names, home
            )
        for a in assignments.get(decision.id, []):
            due = a.due_date.isoformat() if a.due_date else ""
            if a.due_meeting_id:
                due = _meeting_label(other_meetings.get(a.due_meeting_id), group_names, home)
            p.assignments.append(
                AssignmentEntry(
                    description=a.description, owner=a.owner_name, due=due, due_date=a.due_date
                )
            )
        return p

    paragraphs: list[Paragraph] = []
    for line in read.lines:
        if line.section == AgendaSection.other and line.item_id is None:
            if line.sub_items:  # Övriga frågor: one §, its items lettered
                paragraphs.append(
                    Paragraph(
                        agenda_number=line.number,
                        title=line.title,
                        decision_heading=heading,
                        sub_items=[paragraph(sub, sub.number) for sub in line.sub_items],
                    )
                )
            continue
        paragraphs.append(paragraph(line))
    present, absent, adjuncts, secretary, chair = _people(session, meeting, group)
    return MinutesDocument(
        group_name=group.name,
        group_short_name=short_name(group.name),
        group_slug=group.slug,
        meeting_id=meeting_id,
        meeting_date=meeting.date,
        time_and_place=agenda.time_and_place(meeting),
        present=present,
        absent=absent,
        adjuncts=adjuncts,
        secretary=secretary,
        chair=chair,
        paragraphs=paragraphs,
    )


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MinutesView:
    """A meeting's minutes as the pages show them: the stored versions (oldest first) and
    the document shown, which is the latest version or, before finalising, the draft."""

    meeting: Meeting
    group: Group
    versions: list[Minutes]
    document: MinutesDocument

    @property
    def latest(self) -> Minutes | None:
        return self.versions[-1] if self.versions else None

    @property
    def is_final(self) -> bool:
        return bool(self.versions)


def _versions(session: Session, meeting_id: int) -> list[Minutes]:
    return list(
        session.exec(
            select(Minutes).where(Minutes.meeting_id == meeting_id).order_by(col(Minutes.version))
        ).all()
    )


def document_of(minutes: Minutes) -> MinutesDocument:
    """A stored version's document."""
    return MinutesDocument.model_validate(minutes.content)


def minutes_view(engine: Engine, meeting_id: int, *, version: int | None = None) -> MinutesView:
    """The minutes of a meeting: a given version, the latest, or the draft before there is
    one. Raises `agenda.MeetingNotFound`, and `MinutesError` for a version not stored."""
    with unit_of_work(engine, write=False) as session:
        meeting, group = agenda.meeting_and_group(session, meeting_id)
        versions = _versions(session, meeting_id)
        if version is not None:
            chosen = next((m for m in versions if m.version == version), None)
            if chosen is None:
                raise MinutesError(
                    f"meeting {meeting_id} has no minutes version {version}",
                    "Det finns ingen sådan version av protokollet.",
                )
            document = document_of(chosen)
        elif versions:
            document = document_of(versions[-1])
        else:
            document = draft_minutes(session, meeting_id)
        return MinutesView(meeting, group, versions, document)


# --- finalising --------------------------------------------------------------------------


def _check_manage(identity: Identity, group: Group) -> None:
    if not agenda.may_manage(identity, group.slug):
        raise agenda.NotAllowed(
            f"{identity.email} may not keep the minutes of {group.slug}",
            f"Protokollet för {group.name} förs av gruppens sekreterare eller ordförande.",
        )


def _item_names(items: list[Paragraph]) -> str:
    return ", ".join(f"”{p.title}”" for p in items)


def _number(doc: MinutesDocument, numbers: range) -> None:
    for paragraph, number in zip(doc.paragraphs, numbers, strict=True):
        paragraph.number = number


def finalise_minutes(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    *,
    data_dir: Path | None = None,
    now: datetime | None = None,
    rules: Router | None = None,
) -> Minutes:
    """Finalise (fastställ) a meeting's minutes, in one transaction.

    Refused when the meeting is still to come, already has minutes, or has an item
    without a decision. Gives the paragraphs the group's next § numbers of the year in
    agenda order, stores the document as version 1, changes each case on the agenda as its
    decision says (decided, and following up when it gave open assignments; noted;
    escalated; referred back to its destination; deferred onto the named meeting), lifts
    an escalated case onward (`linked_cases.lift_onward`: from a samverkansgrupp a linked
    case for LSVO, routed by `rules` or the configured rules; from LSVO a request to each
    organisation's own decision body), tells
    each submitter the outcome, and sends every recipient with an address their
    paragraph(s) with the minutes as a PDF. Audited.
    """
    now = now or utcnow()
    data_dir = data_dir if data_dir is not None else get_settings().data_dir
    with unit_of_work(engine) as session:
        meeting, group = agenda.meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        assert group.id is not None and meeting.id is not None
        if _versions(session, meeting_id):
            raise MinutesError(
                f"the minutes of meeting {meeting_id} are already final",
                "Protokollet är redan fastställt. Rättelser görs som en ny version.",
            )
        if meeting.date > local_date(now):
            raise MinutesError(
                f"meeting {meeting_id} on {meeting.date} has not been held",
                "Mötet har inte hållits än: protokollet kan fastställas från mötesdagen.",
            )
        doc = draft_minutes(session, meeting_id)
        missing = doc.unhandled()
        if missing:
            raise MinutesError(
                f"{len(missing)} item(s) of meeting {meeting_id} have no decision",
                "Protokollet kan inte fastställas: "
                + ("punkten " if len(missing) == 1 else "punkterna ")
                + _item_names(missing)
                + " saknar beslut.",
            )
        if not doc.paragraphs:
            raise MinutesError(
                f"meeting {meeting_id} has no items", "Mötet har inga punkter att protokollföra."
            )
        numbers = next_paragraph_numbers(
            session, group_id=group.id, year=meeting.date.year, count=len(doc.paragraphs)
        )
        _number(doc, numbers)
        doc.status = MinutesStatus.final
        doc.finalised_at = now
        minutes = Minutes(
            meeting_id=meeting.id,
            version=1,
            content=doc.model_dump(mode="json"),
            first_paragraph=numbers[0],
            last_paragraph=numbers[-1],
            finalised_at=now,
            finalised_by=identity.email[:200],
        )
        session.add(minutes)
        session.flush()
        changed, onward = _change_cases(
            session, doc, meeting, group, identity.email, now, rules=rules
        )
        sent = _distribute(session, doc, meeting, group, data_dir, now)
        repository.add_audit_event(
            session,
            case_id=None,
            actor=identity.email,
            action="minutes_finalised",
            before={"meeting_id": meeting.id, "minutes": None},
            after={
                "meeting_id": meeting.id,
                "group": group.slug,
                "date": meeting.date.isoformat(),
                "version": 1,
                "paragraphs": [numbers[0], numbers[-1]],
                "cases": changed,
                "messages": sent,
                "lifted_onward": onward,
            },
            at=now,
        )
        return minutes


_ACTIONS: dict[Outcome, Action] = {
    Outcome.decided: Action.decide,
    Outcome.noted: Action.note,
    Outcome.escalated: Action.escalate,
    Outcome.referred_back: Action.reroute,
}


def _change_cases(
    session: Session,
    doc: MinutesDocument,
    meeting: Meeting,
    group: Group,
    actor: str,
    now: datetime,
    rules: Router | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, object]]]:
    """Move each case the meeting decided on as its decision says and tell its submitter;
    the references and their new states. A case on the agenda for information, or one
    that has since left this meeting, keeps its state: the minutes only record it."""
    changed: dict[str, str] = {}
    onward: dict[str, dict[str, object]] = {}
    for item in doc.items():
        if item.case_id is None or item.item_id is None or item.outcome is None:
            continue
        agenda_item = session.get(AgendaItem, item.item_id)
        case = repository.get_case(session, case_id=item.case_id, for_update=True)
        if agenda_item is None or agenda_item.for_information or case is None:
            continue
        if case.meeting_id != meeting.id or case.status != State.scheduled:
            continue
        paragraph = doc.paragraph_of(item.item_id)
        label = f"§ {paragraph.number}" if paragraph and paragraph.number else ""
        if item.letter:
            label += f" {item.letter}/"
        note = f"{short_name(group.name)} {meeting.date.isoformat()} {label}".strip()
        detail = {"meeting_id": meeting.id, "paragraph": label}
        deferred_meeting: Meeting | None = None
        if item.outcome == Outcome.deferred:
            if item.deferred_to_meeting_id is None:
                raise MinutesError(
                    f"{case.reference} is deferred without a meeting",
                    f"Ange vilket möte ”{item.title}” bordläggs till.",
                )
            deferred_meeting = agenda.defer_case(
                session,
                case,
                item.deferred_to_meeting_id,
                deferred_at=meeting,
                actor=actor,
                reason=f"Bordlagt vid {note}",
                now=now,
            )
        else:
            apply_action(
                session,
                case,
                _ACTIONS[item.outcome],
                actor=actor,
                note=note,
                now=now,
                after=detail,
            )
            if item.outcome in (Outcome.referred_back, Outcome.escalated):
                case.meeting_id = None  # off this meeting's hands; the audit keeps it
                session.add(case)
            if item.outcome == Outcome.escalated:
                onward[case.reference] = linked_cases.lift_onward(
                    session,
                    case,
                    group=group,
                    meeting=meeting,
                    paragraph_label=label,
                    text=item.text,
                    clauses=item.clauses,
                    actor=actor,
                    now=now,
                    rules=rules,
                )
            if item.outcome == Outcome.decided and any(
                a.status == AssignmentStatus.open
                for a in session.exec(
                    select(Assignment)
                    .join(Decision, col(Decision.id) == col(Assignment.decision_id))
                    .where(Decision.agenda_item_id == item.item_id)
                ).all()
            ):
                apply_action(
                    session, case, Action.follow_up, actor=actor, note=note, now=now, after=detail
                )
        outbox.tell_submitter(
            session,
            case,
            "case_outcome",
            at=now,
            meeting_id=meeting.id,
            event_key=f"minutes:{meeting.id}:case:{case.id}",
            item=item,
            paragraph_label=label,
            outcome=item.outcome.value,
            group_name=group.name,
            meeting=meeting,
            deferred_meeting=deferred_meeting,
        )
        changed[case.reference] = case.status.value
    return changed, onward


@dataclass
class _Addressee:
    name: str
    address: str
    paragraphs: list[tuple[str, Paragraph]]


def _distribute(
    session: Session,
    doc: MinutesDocument,
    meeting: Meeting,
    group: Group,
    data_dir: Path,
    now: datetime,
) -> int:
    """Send each recipient with an address one message with their paragraph(s) and the
    minutes as a PDF (expediering); the number of messages."""
    decisions = {
        d.agenda_item_id: d
        for d in session.exec(select(Decision).where(Decision.meeting_id == meeting.id)).all()
    }
    addressees: dict[str, _Addressee] = {}
    for paragraph in doc.paragraphs:
        for item in paragraph.sub_items or [paragraph]:
            decision = decisions.get(item.item_id) if item.item_id is not None else None
            if decision is None:
                continue
            label = paragraph.label + (f" {item.letter}/" if item.letter else "")
            for recipient in decision.recipients:
                address = (recipient.get("address") or "").strip()
                if not address:
                    continue
                entry = addressees.setdefault(
                    address.casefold(),
                    _Addressee((recipient.get("name") or "").strip(), address, []),
                )
                if not any(existing is item for _, existing in entry.paragraphs):
                    entry.paragraphs.append((label, item))
    if not addressees:
        return 0
    attachment = outbox.stored_attachment(
        data_dir,
        filename=f"protokoll-{group.slug}-{meeting.date.isoformat()}.pdf",
        content_type="application/pdf",
        content=render_minutes_pdf(doc),
    )
    sent = 0
    for entry in addressees.values():
        sent += len(
            outbox.enqueue(
                session,
                kind="minutes_paragraphs",
                recipients=[outbox.Recipient(entry.name, entry.address)],
                context={
                    "doc": doc,
                    "group": group,
                    "meeting": meeting,
                    "paragraphs": entry.paragraphs,
                },
                meeting_id=meeting.id,
                event_key=f"minutes:{meeting.id}:1",
                not_before=now,
                attachments=[attachment],
            )
        )
    return sent


# --- new versions ------------------------------------------------------------------------


def new_version(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    reason: str,
    edits: Mapping[int, str],
    *,
    now: datetime | None = None,
) -> Minutes:
    """A corrected version of finalised minutes: the latest version with the paragraph
    texts in `edits` (agenda item id → text) changed, the same § numbers, and the reason
    given. The earlier versions stay as they were. Audited."""
    now = now or utcnow()
    reason = reason.strip()
    if not reason:
        raise MinutesError(
            "a new version needs a reason", "Ange skälet till den nya versionen.", field="reason"
        )
    if len(reason) > MAX_REASON:
        raise MinutesError(
            f"the reason is longer than {MAX_REASON} characters",
            f"Skälet får vara högst {MAX_REASON} tecken.",
            field="reason",
        )
    with unit_of_work(engine) as session:
        _meeting, group = agenda.meeting_and_group(session, meeting_id, lock=True)
        _check_manage(identity, group)
        versions = _versions(session, meeting_id)
        if not versions:
            raise MinutesError(
                f"the minutes of meeting {meeting_id} are not final",
                "Protokollet är inte fastställt än; ändra texten i utkastet i stället.",
            )
        latest = versions[-1]
        doc = document_of(latest)
        items = {item.item_id: item for item in doc.items() if item.item_id is not None}
        changes: dict[str, Any] = {}
        for item_id, new_text in edits.items():
            item = items.get(item_id)
            if item is None:
                raise MinutesError(
                    f"item {item_id} is not in the minutes of meeting {meeting_id}",
                    "Punkten finns inte i protokollet. Ladda om sidan.",
                )
            cleaned = new_text.replace("\r\n", "\n").strip()
            if len(cleaned) > MAX_TEXT:
                raise MinutesError(
                    f"the text is longer than {MAX_TEXT} characters",
                    f"Texten får vara högst {MAX_TEXT} tecken.",
                    field=f"text-{item_id}",
                )
            if cleaned != item.text.strip():
                changes[str(item_id)] = {"title": item.title, "before": item.text}
                item.text = cleaned
        if not changes:
            raise MinutesError(
                "the new version changes no text",
                "Ingen text är ändrad: ändra minst en paragraf för en ny version.",
            )
        doc.version = latest.version + 1
        doc.reason = reason
        doc.finalised_at = now
        minutes = Minutes(
            meeting_id=meeting_id,
            version=doc.version,
            content=doc.model_dump(mode="json"),
            first_paragraph=latest.first_paragraph,
            last_paragraph=latest.last_paragraph,
            reason=reason,
            finalised_at=now,
            finalised_by=identity.email[:200],
        )
        session.add(minutes)
        session.flush()
        repository.add_audit_event(
            session,
            case_id=None,
            actor=identity.email,
            action="minutes_new_version",
            before={"meeting_id": meeting_id, "version": latest.version, "changed": changes},
            after={
                "meeting_id": meeting_id,
                "group": group.slug,
                "version": doc.version,
                "changed": sorted(changes),
            },
            note=reason,
            at=now,
        )
        return minutes
