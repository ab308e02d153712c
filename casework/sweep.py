"""The deadline sweep: every calendar event that is due, acted on exactly once.

A sweep takes the current time and asks, for each kind of event, which meetings (or
cases) have that event due today. The meeting dates that qualify are worked out here in
Python from the calendar (`due_meeting_dates`, pure), so each kind costs one query over
the meetings in a few-day window, not a scan of every open case.

Each event is recorded as a `SweepEvent` under a unique key ("agenda_sent:17") in the
same transaction as its outbox messages and the state change it makes. The key is
claimed with INSERT … ON CONFLICT DO NOTHING and only the keys a transaction actually
inserted are acted on, so two sweeps running at once, a sweep run twice, or a sweep
that crashed half-way and runs again, all act once per event.

Pure selection functions, one transaction per batch, no Prefect here: the flows in
`flows/` wrap `sweep`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from casework import access, followup, outbox, repository
from casework import recipients as who
from casework.calendar import (
    STOCKHOLM,
    DeadlineRule,
    DeadlineRuleError,
    add_working_days,
    agenda_due,
    next_working_moment,
    submission_due,
    working_days_between,
)
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import (
    AccessPurpose,
    AgendaItem,
    AgendaSection,
    Assignment,
    AssignmentStatus,
    Attachment,
    Case,
    Decision,
    Group,
    Meeting,
    Member,
    Role,
    SweepEvent,
)
from casework.outbox import Recipient, enqueue
from casework.settings import Settings

__all__ = [
    "ACTOR",
    "ASSIGNMENT_KINDS",
    "CASE_KINDS",
    "MEETING_KINDS",
    "REQUEST_KINDS",
    "DueEvent",
    "EventKind",
    "SweepConfig",
    "SweepReport",
    "due_meeting_dates",
    "event_window",
    "find_due_events",
    "stale_cutoff",
    "sweep",
]

log = logging.getLogger(__name__)

ACTOR = "system:deadline-sweep"

_SECTION_ORDER = {AgendaSection.opening: 0, AgendaSection.case: 1, AgendaSection.other: 2}


class EventKind(StrEnum):
    """A kind of calendar event; also the name of its message template."""

    submission_reminder = "submission_reminder"
    submissions_closed = "submissions_closed"
    agenda_reminder = "agenda_reminder"
    agenda_sent = "agenda_sent"
    agenda_not_approved = "agenda_not_approved"
    documents_reminder = "documents_reminder"
    stale_triage = "stale_triage"
    stale_triage_chair = "stale_triage_chair"
    # Organisation requests (each organisation's own decision body): before and after due.
    organisation_request_reminder = "organisation_request_reminder"
    organisation_request_overdue = "organisation_request_overdue"
    # Assignments (uppdrag) from final minutes: to the owner before the due date and when
    # overdue, to the group's chair when long overdue.
    assignment_reminder = "assignment_reminder"
    assignment_overdue = "assignment_overdue"
    assignment_overdue_chair = "assignment_overdue_chair"


MEETING_KINDS: tuple[EventKind, ...] = (
    EventKind.submission_reminder,
    EventKind.submissions_closed,
    EventKind.agenda_reminder,
    EventKind.agenda_sent,
    EventKind.agenda_not_approved,
    EventKind.documents_reminder,
)
CASE_KINDS: tuple[EventKind, ...] = (EventKind.stale_triage, EventKind.stale_triage_chair)
REQUEST_KINDS: tuple[EventKind, ...] = (
    EventKind.organisation_request_reminder,
    EventKind.organisation_request_overdue,
)
ASSIGNMENT_KINDS: tuple[EventKind, ...] = (
    EventKind.assignment_reminder,
    EventKind.assignment_overdue,
    EventKind.assignment_overdue_chair,
)

# States in which a case waits for beredningsgruppen.
_IN_TRIAGE = (State.submitted, State.in_triage)
# States in which a case on an agenda no longer needs its documents.
_GONE = (State.withdrawn, State.closed, State.returned)


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """What the sweep needs from the settings (see `from_settings`)."""

    public_url: str = "http://127.0.0.1:8000"
    # Submitters and presenters are reminded this many working days before submission_due.
    submission_reminder_days: int = 3
    # The secretary is reminded to finish the agenda this many working days before agenda_due.
    agenda_reminder_days: int = 2
    # Members are reminded to read the documents this many working days before the meeting.
    documents_reminder_days: int = 2
    # A case waiting in triage more than this many working days is stale (twice: the chair).
    stale_triage_days: int = 5
    # Owners are reminded this many working days before an assignment's due date; the
    # group's chair is told when it has been overdue this many working days.
    assignment_reminder_days: int = followup.DEFAULT_LEAD_DAYS
    assignment_escalation_days: int = followup.DEFAULT_ESCALATION_DAYS
    working_hours_start: int = 8
    working_hours_end: int = 17
    batch_size: int = 500
    # Members are reminded this many working days before an organisation request is due.
    request_reminder_days: int = 5

    def __post_init__(self) -> None:
        for name in (
            "submission_reminder_days",
            "agenda_reminder_days",
            "documents_reminder_days",
            "stale_triage_days",
            "assignment_reminder_days",
            "assignment_escalation_days",
            "batch_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SweepConfig:
        """The configuration from `casework.settings.Settings`."""
        return cls(
            public_url=settings.public_url,
            submission_reminder_days=settings.document_reminder_working_days,
            stale_triage_days=settings.stale_triage_working_days,
            request_reminder_days=settings.organisation_request_reminder_working_days,
            assignment_reminder_days=settings.assignment_reminder_working_days,
            assignment_escalation_days=settings.assignment_escalation_working_days,
            working_hours_start=settings.working_hours_start,
            working_hours_end=settings.working_hours_end,
        )


# Due-event selection (pure)


def event_window(
    kind: EventKind, meeting_date: date, rule: DeadlineRule, config: SweepConfig
) -> tuple[date, date]:
    """The first and last day (inclusive) on which a meeting's event of `kind` is due.

    A sweep on any day of the window acts on the event if it has not been acted on yet;
    after the window it is too late to matter (the deadline or the meeting has passed).
    """
    if kind is EventKind.submission_reminder:
        due = submission_due(meeting_date, rule)
        return add_working_days(due, -config.submission_reminder_days), due
    if kind is EventKind.submissions_closed:
        # Submissions are open to the end of the due day; they close the day after.
        return submission_due(meeting_date, rule) + timedelta(days=1), meeting_date
    if kind is EventKind.agenda_reminder:
        due = agenda_due(meeting_date, rule)
        return add_working_days(due, -config.agenda_reminder_days), due
    if kind in (EventKind.agenda_sent, EventKind.agenda_not_approved):
        return agenda_due(meeting_date, rule), meeting_date
    if kind is EventKind.documents_reminder:
        first = add_working_days(meeting_date, -config.documents_reminder_days)
        return first, meeting_date - timedelta(days=1)
    raise ValueError(f"{kind} is not an event of a meeting")


def _horizon(rule: DeadlineRule, config: SweepConfig) -> int:
    # How many calendar days before a meeting its earliest event can fall: both offsets,
    # the longest working-day reminder (at most ~2 calendar days per working day with
    # weekends and holidays), and the moves back to a working day.
    days = max(
        config.submission_reminder_days,
        config.agenda_reminder_days,
        config.documents_reminder_days,
    )
    return rule.agenda_offset_days + rule.submission_offset_days + 2 * days + 21


def due_meeting_dates(
    kind: EventKind, today: date, rule: DeadlineRule, config: SweepConfig
) -> frozenset[date]:
    """The meeting dates whose event of `kind` is due on `today` (for groups with `rule`).

    Every event falls on or before its meeting, so only meetings from `today` on, up to
    the horizon of the longest offsets, can qualify.
    """
    found = set()
    for offset in range(_horizon(rule, config) + 1):
        meeting_date = today + timedelta(days=offset)
        first, last = event_window(kind, meeting_date, rule, config)
        if first <= today <= last:
            found.add(meeting_date)
    return frozenset(found)


def stale_cutoff(today: date, working_days: int) -> date:
    """The latest creation date (Stockholm) of a case that has waited more than
    `working_days` working days by `today`."""
    day = today
    while working_days_between(day, today) <= working_days:
        day -= timedelta(days=1)
    return day


def agenda_day(now: datetime, config: SweepConfig) -> date:
    """The day whose agenda deadline has come: today from the start of working hours.

    The agenda goes out (or, unapproved, raises the alert) on its due day when working
    hours begin, which leaves the secretary the early morning to approve it.
    """
    local = now.astimezone(STOCKHOLM)
    if local.hour >= config.working_hours_start:
        return local.date()
    return local.date() - timedelta(days=1)


def _start_of_day_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=STOCKHOLM).astimezone(UTC)


# Due-event queries


@dataclass(frozen=True, slots=True)
class DueEvent:
    """An event to act on, identified by its key."""

    kind: EventKind
    key: str
    meeting_id: int | None = None
    case_id: int | None = None
    assignment_id: int | None = None


def event_key(
    kind: EventKind,
    meeting_id: int | None = None,
    case_id: int | None = None,
    assignment_id: int | None = None,
) -> str:
    """ "agenda_sent:17", "submission_reminder:17:342", "stale_triage:342",
    "assignment_overdue:58" (an assignment's id)."""
    if kind in ASSIGNMENT_KINDS:
        return f"{kind}:{assignment_id}"
    if kind in CASE_KINDS:
        return f"{kind}:{case_id}"
    if case_id is None:
        return f"{kind}:{meeting_id}"
    return f"{kind}:{meeting_id}:{case_id}"


def _key_sql(kind: EventKind, *parts: Any) -> sa.ColumnElement[str]:
    # The same key as event_key, built in SQL so the anti-join can use the primary key.
    expression: sa.ColumnElement[str] = sa.literal_column(f"'{kind.value}:'", sa.String)
    for number, part in enumerate(parts):
        if number:
            expression = expression + sa.literal_column("':'", sa.String)
        expression = expression + sa.cast(part, sa.String)
    return expression


def _not_done(kind: EventKind, *parts: Any) -> sa.ColumnElement[bool]:
    return ~sa.exists().where(col(SweepEvent.key) == _key_sql(kind, *parts))


def _rules(session: Session) -> list[DeadlineRule]:
    statement = select(Group.agenda_offset_days, Group.submission_offset_days).distinct()
    found = []
    for agenda_offset, submission_offset in session.exec(statement).all():
        try:
            found.append(DeadlineRule(agenda_offset, submission_offset))
        except DeadlineRuleError as exc:
            log.warning("groups with unusable deadline offsets are not swept: %s", exc)
    return found


def _in_window(
    kind: EventKind, day: date, rules: Sequence[DeadlineRule], config: SweepConfig
) -> sa.ColumnElement[bool]:
    clauses = []
    for rule in rules:
        dates = due_meeting_dates(kind, day, rule, config)
        if dates:
            clauses.append(
                sa.and_(
                    col(Group.agenda_offset_days) == rule.agenda_offset_days,
                    col(Group.submission_offset_days) == rule.submission_offset_days,
                    col(Meeting.date).in_(sorted(dates)),
                )
            )
    return sa.or_(*clauses) if clauses else sa.false()


def _meetings_due(
    session: Session, kind: EventKind, window: sa.ColumnElement[bool], *conditions: Any
) -> list[DueEvent]:
    statement = (
        select(Meeting.id)
        .join(Group, col(Group.id) == col(Meeting.group_id))
        .where(window, _not_done(kind, Meeting.id), *conditions)
        .order_by(col(Meeting.date), col(Meeting.id))
    )
    return [
        DueEvent(kind, event_key(kind, meeting_id), meeting_id=meeting_id)
        for meeting_id in session.exec(statement).all()
        if meeting_id is not None
    ]


def _submission_reminders_due(session: Session, window: sa.ColumnElement[bool]) -> list[DueEvent]:
    kind = EventKind.submission_reminder
    statement = (
        select(AgendaItem.meeting_id, AgendaItem.case_id)
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .join(Group, col(Group.id) == col(Meeting.group_id))
        .join(Case, col(Case.id) == col(AgendaItem.case_id))
        .where(
            window,
            col(Meeting.submissions_closed_at).is_(None),
            col(AgendaItem.for_information).is_(False),
            col(Case.status).not_in(_GONE),
            ~sa.exists().where(col(Attachment.case_id) == col(AgendaItem.case_id)),
            _not_done(kind, AgendaItem.meeting_id, AgendaItem.case_id),
        )
        .order_by(col(Meeting.date), col(AgendaItem.meeting_id), col(AgendaItem.case_id))
    )
    return [
        DueEvent(kind, event_key(kind, meeting_id, case_id), meeting_id, case_id)
        for meeting_id, case_id in session.exec(statement).all()
    ]


def _stale_cases_due(session: Session, kind: EventKind, cutoff: date) -> list[DueEvent]:
    statement = (
        select(Case.id)
        .where(
            col(Case.status).in_(_IN_TRIAGE),
            col(Case.created_at) < _start_of_day_utc(cutoff + timedelta(days=1)),
            _not_done(kind, Case.id),
        )
        .order_by(col(Case.id))
    )
    return [
        DueEvent(kind, event_key(kind, case_id=case_id), case_id=case_id)
        for case_id in session.exec(statement).all()
        if case_id is not None
    ]


# --- assignments (uppdrag): reminders, overdue, the chair ------------------------------------


def _assignments_due(
    session: Session, kind: EventKind, today: date, config: SweepConfig
) -> list[DueEvent]:
    """Open assignments of final minutes whose event of `kind` is due on `today`."""
    due_meeting = aliased(Meeting)
    due = sa.func.coalesce(col(Assignment.due_date), col(due_meeting.date))
    if kind is EventKind.assignment_reminder:
        last = followup.latest_due_soon(today, config.assignment_reminder_days)
        window = sa.and_(due >= today, due <= last)
    elif kind is EventKind.assignment_overdue:
        window = due < today
    else:
        window = due <= followup.escalation_cutoff(today, config.assignment_escalation_days)
    statement = (
        select(Assignment.id, Decision.meeting_id, Assignment.case_id)
        .join(Decision, col(Decision.id) == col(Assignment.decision_id))
        .outerjoin(due_meeting, col(due_meeting.id) == col(Assignment.due_meeting_id))
        .where(
            col(Assignment.status) == AssignmentStatus.open,
            followup.final_condition(),
            window,
            _not_done(kind, Assignment.id),
        )
        .order_by(col(Assignment.id))
    )
    return [
        DueEvent(
            kind,
            event_key(kind, assignment_id=assignment_id),
            meeting_id=meeting_id,
            case_id=case_id,
            assignment_id=assignment_id,
        )
        for assignment_id, meeting_id, case_id in session.exec(statement).all()
        if assignment_id is not None
    ]


@dataclass
class _AssignmentBatch:
    """What the assignment events of one batch need."""

    entries: dict[int, followup.Entry] = field(default_factory=dict)
    owners: dict[int, list[Recipient]] = field(default_factory=dict)
    chairs: dict[int, list[Recipient]] = field(default_factory=dict)


def _load_assignments(
    session: Session, events: Sequence[DueEvent], today: date, config: SweepConfig
) -> _AssignmentBatch:
    ids = sorted({e.assignment_id for e in events if e.assignment_id is not None})
    if not ids:
        return _AssignmentBatch()
    found = followup.entries(
        session, today, assignment_ids=ids, lead=config.assignment_reminder_days
    )
    entries = {entry.id: entry for entry in found}
    member_ids = sorted(
        {e.assignment.owner_member_id for e in found if e.assignment.owner_member_id}
    )
    members = {
        m.id: m
        for m in session.exec(select(Member).where(col(Member.id).in_(member_ids))).all()
        if m.id is not None
    }
    owners: dict[int, list[Recipient]] = {}
    for entry in found:
        task = entry.assignment
        targets = [Recipient(task.owner_name, task.owner_address, task.owner_member_id)]
        member = members.get(task.owner_member_id or 0)
        if member is not None:
            targets += outbox.member_recipients(member)
        owners[entry.id] = targets
    chair_groups = sorted(
        {
            chosen.assignment.group_id
            for e in events
            if e.kind is EventKind.assignment_overdue_chair
            and (chosen := entries.get(e.assignment_id or 0)) is not None
        }
    )
    chairs = who.group_officers(session, chair_groups, [Role.chair]) if chair_groups else {}
    return _AssignmentBatch(entries, owners, dict(chairs))


def _act_on_assignment(
    session: Session,
    event: DueEvent,
    batch: _AssignmentBatch,
    now: datetime,
    not_before: datetime,
    config: SweepConfig,
) -> int:
    assert event.assignment_id is not None
    entry = batch.entries.get(event.assignment_id)
    if entry is None:  # pragma: no cover - selected in the same transaction's snapshot
        log.warning("%s: the assignment is no longer in the register", event.key)
        return 0
    today = now.astimezone(STOCKHOLM).date()
    context: dict[str, Any] = {
        "entry": entry,
        "assignment": entry.assignment,
        "due": entry.due,
        "overdue_days": entry.overdue_working_days(today),
        "register_url": f"{config.public_url}/uppfoljning/{entry.group_slug}",
        "public_url": config.public_url,
    }
    if event.kind is EventKind.assignment_overdue_chair:
        targets = batch.chairs.get(entry.assignment.group_id, [])
        return _send(session, event.kind, targets, context, event, not_before)
    links: list[str] = []

    def own_link(_recipient: Recipient) -> dict[str, str]:
        if not links:  # one link per message, shared by the owner's addresses
            links.append(
                followup.create_owner_link(
                    session,
                    entry.assignment,
                    meeting_id=entry.meeting_id,
                    now=now,
                    public_url=config.public_url,
                )
            )
        return {"done_url": links[0]}

    targets = batch.owners.get(entry.id, [])
    return _send(
        session, event.kind, targets, context, event, not_before, recipient_context=own_link
    )


def find_due_events(
    session: Session, now: datetime, config: SweepConfig, kinds: Iterable[EventKind]
) -> list[DueEvent]:
    """Every event of `kinds` that is due at `now` and not yet acted on: one query per kind."""
    today = now.astimezone(STOCKHOLM).date()
    wanted = set(kinds)
    rules = _rules(session) if wanted & set(MEETING_KINDS) else []
    found: list[DueEvent] = []
    for kind in (*MEETING_KINDS, *CASE_KINDS, *ASSIGNMENT_KINDS):
        if kind not in wanted:
            continue
        if kind in ASSIGNMENT_KINDS:
            found += _assignments_due(session, kind, today, config)
            continue
        if kind is EventKind.submission_reminder:
            found += _submission_reminders_due(session, _in_window(kind, today, rules, config))
        elif kind is EventKind.submissions_closed:
            window = _in_window(kind, today, rules, config)
            found += _meetings_due(
                session, kind, window, col(Meeting.submissions_closed_at).is_(None)
            )
        elif kind is EventKind.agenda_reminder:
            window = _in_window(kind, today, rules, config)
            found += _meetings_due(session, kind, window, col(Meeting.agenda_approved_at).is_(None))
        elif kind in (EventKind.agenda_sent, EventKind.agenda_not_approved):
            window = _in_window(kind, agenda_day(now, config), rules, config)
            approved = col(Meeting.agenda_approved_at)
            found += _meetings_due(
                session,
                kind,
                window,
                col(Meeting.agenda_sent_at).is_(None),
                approved.is_not(None) if kind is EventKind.agenda_sent else approved.is_(None),
            )
        elif kind is EventKind.documents_reminder:
            found += _meetings_due(session, kind, _in_window(kind, today, rules, config))
        elif kind is EventKind.stale_triage:
            found += _stale_cases_due(session, kind, stale_cutoff(today, config.stale_triage_days))
        elif kind is EventKind.stale_triage_chair:
            cutoff = stale_cutoff(today, 2 * config.stale_triage_days)
            found += _stale_cases_due(session, kind, cutoff)
    found += _requests_due(session, today, config, wanted)
    return found


# Acting on events


@dataclass
class SweepReport:
    """What a sweep did: events acted on and messages written, per kind."""

    events: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    # Events that failed on their own (key → error); the others were still acted on.
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())

    def add(self, other: SweepReport) -> None:
        for name, number in other.events.items():
            self.events[name] = self.events.get(name, 0) + number
        for name, number in other.messages.items():
            self.messages[name] = self.messages.get(name, 0) + number
        self.failed.update(other.failed)

    def as_json(self) -> dict[str, Any]:
        return {
            "events": dict(self.events),
            "messages": dict(self.messages),
            "failed": dict(self.failed),
            "total_events": self.total_events,
            "total_messages": self.total_messages,
        }


def _claim(session: Session, events: Sequence[DueEvent], now: datetime) -> set[str]:
    """Insert the events' keys; the keys this transaction inserted (the others are taken)."""
    table = SweepEvent.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert: Callable[..., Any]
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - the application supports these two
        raise RuntimeError(f"the sweep supports SQLite and PostgreSQL, not {dialect}")
    statement = (
        insert(table)
        .values(
            [
                {
                    "key": e.key,
                    "kind": e.kind.value,
                    "meeting_id": e.meeting_id,
                    "case_id": e.case_id,
                    "acted_at": now,
                }
                for e in events
            ]
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.key)
    )
    return set(session.execute(statement).scalars())


@dataclass(frozen=True, slots=True)
class AgendaLine:
    """An agenda item as the messages show it (read once per meeting, not per message)."""

    title: str
    kind: str
    presenter: str
    for_information: bool

    @classmethod
    def of(cls, item: AgendaItem) -> AgendaLine:
        return cls(item.title, item.kind, item.presenter, item.for_information)


@dataclass
class _Batch:
    """What the events of one batch need, loaded with a few queries."""

    meetings: dict[int, Meeting]
    groups: dict[int, Group]
    cases: dict[int, Case]
    items: dict[int, list[AgendaLine]]
    members: dict[int, list[Recipient]]
    secretaries: dict[int, list[Recipient]]
    officers: dict[int, list[Recipient]]
    presenters: dict[str, Recipient]
    beredning: list[Recipient]
    beredning_chair: list[Recipient]


def _load(session: Session, events: Sequence[DueEvent]) -> _Batch:
    kinds = {e.kind for e in events}
    meeting_ids = sorted({e.meeting_id for e in events if e.meeting_id is not None})
    case_ids = sorted({e.case_id for e in events if e.case_id is not None})
    meetings = {
        m.id: m
        for m in session.exec(select(Meeting).where(col(Meeting.id).in_(meeting_ids))).all()
        if m.id is not None
    }
    group_ids = sorted({m.group_id for m in meetings.values()})
    groups = {
        g.id: g
        for g in session.exec(select(Group).where(col(Group.id).in_(group_ids))).all()
        if g.id is not None
    }
    cases = {
        c.id: c
        for c in session.exec(select(Case).where(col(Case.id).in_(case_ids))).all()
        if c.id is not None
    }
    items: dict[int, list[AgendaLine]] = {}
    agenda_ids = sorted(
        {
            e.meeting_id
            for e in events
            if e.meeting_id is not None
            and e.kind in (EventKind.agenda_sent, EventKind.documents_reminder)
        }
    )
    if agenda_ids:
        statement = select(AgendaItem).where(col(AgendaItem.meeting_id).in_(agenda_ids))
        by_meeting: dict[int, list[AgendaItem]] = defaultdict(list)
        for item in session.exec(statement).all():
            by_meeting[item.meeting_id].append(item)
        for meeting_id, listed in by_meeting.items():
            listed.sort(key=lambda i: (_SECTION_ORDER.get(i.section, 1), i.position, i.id or 0))
            items[meeting_id] = [AgendaLine.of(item) for item in listed]

    def groups_of(*wanted: EventKind) -> list[int]:
        return sorted(
            {
                meetings[e.meeting_id].group_id
                for e in events
                if e.kind in wanted and e.meeting_id in meetings
            }
        )

    presenter_names = [
        cases[e.case_id].presenter
        for e in events
        if e.kind is EventKind.submission_reminder and e.case_id in cases
    ]
    return _Batch(
        meetings=meetings,
        groups=groups,
        cases=cases,
        items=items,
        members=who.group_members(
            session, groups_of(EventKind.agenda_sent, EventKind.documents_reminder)
        ),
        secretaries=who.secretaries(session, groups_of(EventKind.agenda_reminder)),
        officers=who.chairs_and_secretaries(session, groups_of(EventKind.agenda_not_approved)),
        presenters=who.members_named(session, presenter_names),
        beredning=who.beredning(session) if EventKind.stale_triage in kinds else [],
        beredning_chair=(
            who.beredning_chair(session) if EventKind.stale_triage_chair in kinds else []
        ),
    )


def _agenda_url(config: SweepConfig, meeting_id: int) -> str:
    return f"{config.public_url}/moten/{meeting_id}/dagordning"


def _meeting_context(batch: _Batch, meeting: Meeting, config: SweepConfig) -> dict[str, Any]:
    group = batch.groups[meeting.group_id]
    rule = group.deadline_rule
    assert meeting.id is not None
    return {
        "meeting": meeting,
        "group": group,
        "agenda_due": agenda_due(meeting.date, rule),
        "submission_due": submission_due(meeting.date, rule),
        "agenda_url": _agenda_url(config, meeting.id),
        "items": batch.items.get(meeting.id, []),
        "public_url": config.public_url,
    }


def _act(
    session: Session,
    event: DueEvent,
    batch: _Batch,
    now: datetime,
    not_before: datetime,
    config: SweepConfig,
) -> int:
    """Write the event's messages and state change into the session; the number of messages."""
    kind = event.kind
    if kind in REQUEST_KINDS:
        return _act_on_request(session, event, now, not_before, config)
    if kind in CASE_KINDS:
        assert event.case_id is not None
        case = batch.cases[event.case_id]
        created = case.created_at.astimezone(STOCKHOLM).date()
        waited = working_days_between(created, now.astimezone(STOCKHOLM).date())
        context = {
            "case": case,
            "waited": waited,
            "case_url": f"{config.public_url}/arenden/{case.id}",
            "public_url": config.public_url,
        }
        targets = batch.beredning if kind is EventKind.stale_triage else batch.beredning_chair
        return _send(session, kind, targets, context, event, not_before)

    assert event.meeting_id is not None
    meeting = batch.meetings[event.meeting_id]
    context = _meeting_context(batch, meeting, config)
    if kind is EventKind.submission_reminder:
        assert event.case_id is not None
        case = batch.cases[event.case_id]
        targets = [Recipient(case.submitter_name, case.submitter_email)]
        presenter = batch.presenters.get(case.presenter.strip())
        if presenter is not None:
            targets.append(presenter)
        context["case"] = case
        own = _submitter_link(session, case, config.public_url, now)
        return _send(session, kind, targets, context, event, not_before, recipient_context=own)
    if kind is EventKind.submissions_closed:
        meeting.submissions_closed_at = now
        session.add(meeting)
        _audit(session, "close_submissions", meeting, context, now)
        return 0
    if kind is EventKind.agenda_reminder:
        targets = batch.secretaries.get(meeting.group_id, [])
        return _send(session, kind, targets, context, event, not_before)
    if kind is EventKind.agenda_sent:
        meeting.agenda_sent_at = now
        session.add(meeting)
        _audit(session, "send_agenda", meeting, context, now)
        targets = batch.members.get(meeting.group_id, [])
        assert meeting.id is not None
        group = batch.groups[meeting.group_id]
        files = [outbox.agenda_attachment(meeting.id, group.slug, meeting.date)]
        own = _written_views_link(session, meeting, config.public_url, now)
        return _send(
            session, kind, targets, context, event, not_before, files, recipient_context=own
        )
    if kind is EventKind.agenda_not_approved:
        targets = batch.officers.get(meeting.group_id, [])
        return _send(session, kind, targets, context, event, not_before)
    if kind is EventKind.documents_reminder:
        targets = batch.members.get(meeting.group_id, [])
        return _send(session, kind, targets, context, event, not_before)
    raise ValueError(f"unknown event kind {kind}")  # pragma: no cover


def _send(
    session: Session,
    kind: EventKind,
    targets: Sequence[Recipient],
    context: dict[str, Any],
    event: DueEvent,
    not_before: datetime,
    attachments: Sequence[dict[str, str]] = (),
    *,
    recipient_context: Callable[[Recipient], dict[str, str]] | None = None,
) -> int:
    if not targets:
        log.warning("%s: nobody to write to (no e-mail address on file)", event.key)
    rows = enqueue(
        session,
        kind=kind.value,
        recipients=targets,
        context=context,
        case_id=event.case_id,
        meeting_id=event.meeting_id,
        event_key=event.key,
        not_before=not_before,
        attachments=attachments,
        recipient_context=recipient_context,
    )
    return len(rows)


def _written_views_link(
    session: Session, meeting: Meeting, public_url: str, now: datetime
) -> Callable[[Recipient], dict[str, str]]:
    """Each member's own link for written views on the meeting's items (one per member,
    shared by their addresses), valid to the end of the meeting day."""
    links: dict[int, str] = {}

    def link(recipient: Recipient) -> dict[str, str]:
        member_id = recipient.member_id
        if member_id is None:
            return {"written_views_url": ""}
        if member_id not in links:
            links[member_id] = access.create_link(
                session,
                AccessPurpose.written_views,
                meeting_id=meeting.id,
                member_id=member_id,
                expires_at=access.end_of_day(meeting.date),
                public_url=public_url,
                now=now,
            )
        return {"written_views_url": links[member_id]}

    return link


def _submitter_link(
    session: Session, case: Case, public_url: str, now: datetime
) -> Callable[[Recipient], dict[str, str]]:
    """The submitter's own fresh link to the case's status page; others get none."""

    def link(recipient: Recipient) -> dict[str, str]:
        if recipient.member_id is not None or recipient.address != case.submitter_email:
            return {"case_url": ""}
        assert case.id is not None
        url = access.create_link(
            session, AccessPurpose.case, case_id=case.id, public_url=public_url, now=now
        )
        return {"case_url": url}

    return link


def _audit(
    session: Session, action: str, meeting: Meeting, context: dict[str, Any], now: datetime
) -> None:
    group: Group = context["group"]
    repository.add_audit_event(
        session,
        case_id=None,
        actor=ACTOR,
        action=action,
        at=now,
        after={"meeting_id": meeting.id, "group": group.slug, "date": meeting.date.isoformat()},
        note=f"{group.name}, möte {meeting.date.isoformat()}",
    )


def _batches(events: Sequence[DueEvent], size: int) -> Iterator[Sequence[DueEvent]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def _act_on_batch(
    engine: Engine, events: Sequence[DueEvent], now: datetime, config: SweepConfig
) -> SweepReport:
    """One transaction: claim the keys, act on those claimed, commit them together."""
    report = SweepReport()
    not_before = next_working_moment(now, config.working_hours_start, config.working_hours_end)
    with unit_of_work(engine) as session:
        claimed = _claim(session, events, now)
        mine = [e for e in events if e.key in claimed]
        if not mine:
            return report
        batch = _load(session, mine)
        today = now.astimezone(STOCKHOLM).date()
        tasks = _load_assignments(session, mine, today, config)
        for event in mine:
            if event.kind in ASSIGNMENT_KINDS:
                written = _act_on_assignment(session, event, tasks, now, not_before, config)
            else:
                written = _act(session, event, batch, now, not_before, config)
            report.events[event.kind.value] = report.events.get(event.kind.value, 0) + 1
            report.messages[event.kind.value] = report.messages.get(event.kind.value, 0) + written
    return report


def sweep(
    engine: Engine,
    now: datetime,
    config: SweepConfig,
    kinds: Iterable[EventKind] = (
        *MEETING_KINDS,
        *CASE_KINDS,
        *ASSIGNMENT_KINDS,
        *REQUEST_KINDS,
    ),
) -> SweepReport:
    """Act on every due event of `kinds` at `now`, in batches of `config.batch_size`.

    A batch that fails is rolled back and tried again event by event, so one event that
    cannot be acted on (a broken template, a missing row) holds back only itself; it is
    reported in `failed` and tried again at the next sweep.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} has no time zone; pass an aware datetime")
    with unit_of_work(engine, write=False) as session:
        events = find_due_events(session, now, config, kinds)
    report = SweepReport()
    for chunk in _batches(events, config.batch_size):
        try:
            report.add(_act_on_batch(engine, chunk, now, config))
        except Exception:
            log.exception("a batch of %d events failed; acting on them one by one", len(chunk))
            for event in chunk:
                try:
                    report.add(_act_on_batch(engine, [event], now, config))
                except Exception as exc:
                    log.exception("%s failed", event.key)
                    report.failed[event.key] = f"{type(exc).__name__}: {exc}"
    log.info(
        "sweep at %s: %d events, %d messages%s",
        now.isoformat(),
        report.total_events,
        report.total_messages,
        f", {len(report.failed)} failed" if report.failed else "",
    )
    return report


# --- Organisation requests: reminders before and after the due date --------------------
#
# A request of each organisation's own decision body (`OrganisationRequest`) that is not
# answered gets one reminder when its due date is at most `request_reminder_days` working
# days away, and one more the first sweep after the due date; each goes to every member
# of that organisation with their own private link to answer. Keyed per request.


def _request_waits() -> sa.ColumnElement[bool]:
    """The request's case still waits for the answers of its purpose."""
    from casework.model import OrganisationRequest
    from casework.org_requests import WAITING

    return sa.or_(
        *(
            sa.and_(col(OrganisationRequest.purpose) == purpose, col(Case.status).in_(states))
            for purpose, states in WAITING.items()
        )
    )


def _requests_due(
    session: Session, today: date, config: SweepConfig, wanted: set[EventKind]
) -> list[DueEvent]:
    from casework.model import OrganisationRequest, RequestResponse

    found: list[DueEvent] = []
    for kind in REQUEST_KINDS:
        if kind not in wanted:
            continue
        due = col(OrganisationRequest.due_date)
        window = (
            sa.and_(due >= today, due <= add_working_days(today, config.request_reminder_days))
            if kind is EventKind.organisation_request_reminder
            else due < today
        )
        statement = (
            select(OrganisationRequest.id, OrganisationRequest.case_id)
            .join(Case, col(Case.id) == col(OrganisationRequest.case_id))
            .where(
                window,
                col(OrganisationRequest.response) == RequestResponse.pending,
                _request_waits(),
                _not_done(kind, OrganisationRequest.id),
            )
            .order_by(col(OrganisationRequest.due_date), col(OrganisationRequest.id))
        )
        found += [
            DueEvent(kind, f"{kind.value}:{request_id}", case_id=case_id)
            for request_id, case_id in session.exec(statement).all()
            if request_id is not None
        ]
    return found


def _act_on_request(
    session: Session, event: DueEvent, now: datetime, not_before: datetime, config: SweepConfig
) -> int:
    from casework.model import Organisation, OrganisationRequest
    from casework.org_requests import tell_members

    request = session.get(OrganisationRequest, int(event.key.rsplit(":", 1)[1]))
    assert request is not None
    case = session.get(Case, request.case_id)
    organisation = session.get(Organisation, request.organisation_id)
    assert case is not None and organisation is not None
    written = tell_members(
        session,
        request,
        case,
        organisation,
        kind=event.kind.value,
        now=now,
        not_before=not_before,
        event_key=event.key,
        public_url=config.public_url,
    )
    if not written:
        log.warning("%s: nobody to write to (no e-mail address on file)", event.key)
    repository.add_audit_event(
        session,
        case_id=case.id,
        actor=ACTOR,
        action=event.kind.value,
        after={"request": request.id, "organisation": organisation.slug, "messages": written},
        note=f"{organisation.name}, svar senast {request.due_date.isoformat()}",
        at=now,
    )
    return written
