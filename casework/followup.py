"""The follow-up register (uppföljning): the assignments (uppdrag) the groups have given,
where each stands, and the figures the auditors ask for.

An assignment counts from the moment its meeting's minutes are final: until then the
decision is a draft that the secretary may still change or drop, and its assignments
with it. A draft is not in the register, gets no reminders and cannot be reported done
through the register (the meeting's feedback item still can, as before).

Its due date is its own date, or the date of the meeting it is to report back at. On a
day `today` (Stockholm) it is

- done: reported done (with a short report);
- overdue: not done and the due date has passed (the day after it, even on a weekend);
- due soon: not done and `today` is within the reminder lead, that is on or after the
  day `lead` working days before the due date (`reminder_day`), up to the due date;
- open: otherwise.

The owner reports an assignment done through the private link in a reminder
(`/uppdrag/<token>`, no account); the group's secretary or chair (or an admin) on the
register page. Both, and reopening, run in one transaction and leave an audit event.
"""

from __future__ import annotations

import csv
import hmac
import io
import secrets
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from casework import access, repository
from casework.accounts import Identity
from casework.calendar import add_working_days, local_date, working_days_between
from casework.db import unit_of_work
from casework.lifecycle import RefusedError
from casework.model import (
    AccessLink,
    AccessPurpose,
    AgendaItem,
    Assignment,
    AssignmentStatus,
    Case,
    Decision,
    Group,
    Meeting,
    Minutes,
    StaffRole,
    utcnow,
)
from casework.settings import get_settings

__all__ = [
    "DEFAULT_ESCALATION_DAYS",
    "DEFAULT_LEAD_DAYS",
    "LINK_DAYS",
    "Entry",
    "FollowupError",
    "FollowupState",
    "GroupFigures",
    "OwnerForm",
    "assignment_for_token",
    "create_owner_link",
    "csv_text",
    "due_of",
    "entries",
    "figures",
    "mark_done",
    "mark_done_by_link",
    "may_follow_up",
    "owner_form",
    "register",
    "reminder_day",
    "reopen",
    "state_of",
]

# Owners are reminded this many working days before the due date; the same span is
# "due soon" in the register.
DEFAULT_LEAD_DAYS = 5
# The group's chair is told once an assignment has been overdue this many working days.
DEFAULT_ESCALATION_DAYS = 10
# An owner's private link lasts this many days after the message that carried it.
LINK_DAYS = 60
MAX_REPORT = 2_000
# The address under the public URL of the owner's page.
OWNER_PATH = "/uppdrag/"


class FollowupState(StrEnum):
    """Where an assignment stands on a day."""

    open = "open"
    due_soon = "due_soon"
    overdue = "overdue"
    done = "done"


STATE_LABELS: dict[FollowupState, str] = {
    FollowupState.open: "Pågår",
    FollowupState.due_soon: "Snart förfallet",
    FollowupState.overdue: "Försenat",
    FollowupState.done: "Klart",
}


class FollowupError(RefusedError):
    """A follow-up change refused, with the status the page answers with."""

    def __init__(
        self, message: str, message_sv: str, *, status: int = 409, field: str | None = None
    ) -> None:
        self.status = status
        super().__init__(message, message_sv, field=field)


# --- dates (pure) ---------------------------------------------------------------------------


def reminder_day(due: date, lead: int = DEFAULT_LEAD_DAYS) -> date:
    """The first day an assignment due on `due` is due soon: `lead` working days before."""
    return add_working_days(due, -lead)


def latest_due_soon(today: date, lead: int = DEFAULT_LEAD_DAYS) -> date:
    """The latest due date that is due soon on `today` (its reminder day is on or before
    `today`); due dates from `today` to this one are due soon."""
    day = today
    while reminder_day(day + timedelta(days=1), lead) <= today:
        day += timedelta(days=1)
    return day


def escalation_cutoff(today: date, working_days: int = DEFAULT_ESCALATION_DAYS) -> date:
    """The latest due date that has been overdue at least `working_days` working days on
    `today` (working days after the due date, up to and including today)."""
    day = today - timedelta(days=1)
    while working_days_between(day, today) < working_days:
        day -= timedelta(days=1)
    return day


def state_of(
    status: AssignmentStatus, due: date, today: date, lead: int = DEFAULT_LEAD_DAYS
) -> FollowupState:
    """Where an assignment with `status` due on `due` stands on `today`."""
    if status == AssignmentStatus.done:
        return FollowupState.done
    if today > due:
        return FollowupState.overdue
    if reminder_day(due, lead) <= today:
        return FollowupState.due_soon
    return FollowupState.open


# --- the register ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An assignment in the register, with its decision and where it stands."""

    assignment: Assignment
    group_slug: str
    group_name: str
    decided_on: date  # the date of the meeting that gave it
    meeting_id: int
    due: date
    due_meeting_date: date | None
    item_title: str
    case_reference: str
    state: FollowupState

    @property
    def id(self) -> int:
        assert self.assignment.id is not None
        return self.assignment.id

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    def age_days(self, today: date) -> int:
        """Days since the decision (calendar days)."""
        return (today - self.decided_on).days

    def overdue_working_days(self, today: date) -> int:
        return max(0, working_days_between(self.due, today))

    @property
    def days_to_execution(self) -> int | None:
        """Days from the decision (meeting date) to the day it was reported done."""
        done_at = self.assignment.done_at
        if self.assignment.status != AssignmentStatus.done or done_at is None:
            return None
        return (local_date(done_at) - self.decided_on).days


def final_condition() -> sa.ColumnElement[bool]:
    """The decision's meeting has final minutes (any version)."""
    return sa.exists().where(col(Minutes.meeting_id) == col(Decision.meeting_id))


def _statement(group_ids: Sequence[int] | None) -> sa.Select[Any]:
    due_meeting = aliased(Meeting)
    decided = aliased(Meeting)
    statement = (
        sa.select(
            Assignment,
            col(Group.slug),
            col(Group.name),
            col(decided.date),
            col(decided.id),
            col(due_meeting.date),
            col(AgendaItem.title),
            col(Case.reference),
        )
        .join(Decision, col(Decision.id) == col(Assignment.decision_id))
        .join(decided, col(decided.id) == col(Decision.meeting_id))
        .join(AgendaItem, col(AgendaItem.id) == col(Decision.agenda_item_id))
        .join(Group, col(Group.id) == col(Assignment.group_id))
        .outerjoin(due_meeting, col(due_meeting.id) == col(Assignment.due_meeting_id))
        .outerjoin(Case, col(Case.id) == col(Assignment.case_id))
        .where(final_condition())
        .order_by(col(decided.date), col(Assignment.id))
    )
    if group_ids is not None:
        statement = statement.where(col(Assignment.group_id).in_(sorted(group_ids)))
    return statement


def due_of(assignment: Assignment, due_meeting_date: date | None) -> date:
    """The due date: the assignment's own, or its due meeting's."""
    if assignment.due_date is not None:
        return assignment.due_date
    if due_meeting_date is not None:
        return due_meeting_date
    raise ValueError(f"assignment {assignment.id} has neither a due date nor a due meeting")


def entries(
    session: Session,
    today: date,
    *,
    group_ids: Sequence[int] | None = None,
    assignment_ids: Iterable[int] | None = None,
    lead: int = DEFAULT_LEAD_DAYS,
) -> list[Entry]:
    """The register's entries (final minutes only), in the order of the decisions."""
    statement = _statement(group_ids)
    if assignment_ids is not None:
        statement = statement.where(col(Assignment.id).in_(sorted(assignment_ids)))
    found = []
    for row in session.execute(statement).all():
        task, slug, name, decided_on, meeting_id, due_meeting_date, title, reference = row
        due = due_of(task, due_meeting_date)
        found.append(
            Entry(
                assignment=task,
                group_slug=slug,
                group_name=name,
                decided_on=decided_on,
                meeting_id=meeting_id,
                due=due,
                due_meeting_date=due_meeting_date if task.due_date is None else None,
                item_title=title,
                case_reference=reference or "",
                state=state_of(task.status, due, today, lead),
            )
        )
    return found


def register_order(found: Iterable[Entry]) -> list[Entry]:
    """Oldest unexecuted first (by decision date, then due date), then the done ones, the
    latest done first."""
    found = list(found)
    undone = sorted(
        (e for e in found if e.state != FollowupState.done),
        key=lambda e: (e.decided_on, e.due, e.id),
    )
    done = sorted(
        (e for e in found if e.state == FollowupState.done),
        key=lambda e: (e.assignment.done_at or utcnow(), e.id),
        reverse=True,
    )
    return [*undone, *done]


def register(
    engine: Engine,
    today: date,
    *,
    group_ids: Sequence[int] | None = None,
    states: Iterable[FollowupState] | None = None,
    lead: int = DEFAULT_LEAD_DAYS,
) -> list[Entry]:
    """The register of `group_ids` (all groups when None), only `states` when given."""
    with unit_of_work(engine, write=False) as session:
        found = entries(session, today, group_ids=group_ids, lead=lead)
    wanted = set(states) if states is not None else None
    return register_order(e for e in found if wanted is None or e.state in wanted)


@dataclass
class GroupFigures:
    """The auditors' figures for one group."""

    slug: str
    name: str
    open: int = 0  # not done (due soon and overdue included)
    due_soon: int = 0
    overdue: int = 0
    done: int = 0
    oldest: list[Entry] = field(default_factory=list)  # the oldest unexecuted
    days_to_execution: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.open + self.done

    @property
    def median_days(self) -> float | None:
        if not self.days_to_execution:
            return None
        return float(statistics.median(self.days_to_execution))

    @property
    def mean_days(self) -> float | None:
        if not self.days_to_execution:
            return None
        return round(statistics.fmean(self.days_to_execution), 1)

    @property
    def median_label(self) -> str:
        return _number(self.median_days)

    @property
    def mean_label(self) -> str:
        return _number(self.mean_days)


def _number(value: float | None) -> str:
    """12.0 → "12", 12.5 → "12,5", None → "–" (as Swedish text)."""
    if value is None:
        return "–"
    if value == int(value):
        return str(int(value))
    return f"{value:.1f}".replace(".", ",")


OLDEST_SHOWN = 5


def figures(
    found: Iterable[Entry], groups: Iterable[Group] = (), *, oldest: int = OLDEST_SHOWN
) -> list[GroupFigures]:
    """Per group (every group of `groups`, and any other with entries): the counts, the
    `oldest` unexecuted assignments, and the days from decision to execution."""
    by_slug: dict[str, GroupFigures] = {g.slug: GroupFigures(g.slug, g.name) for g in groups}
    undone: dict[str, list[Entry]] = defaultdict(list)
    for entry in found:
        figure = by_slug.setdefault(
            entry.group_slug, GroupFigures(entry.group_slug, entry.group_name)
        )
        if entry.state == FollowupState.done:
            figure.done += 1
            days = entry.days_to_execution
            if days is not None:
                figure.days_to_execution.append(days)
            continue
        figure.open += 1
        undone[entry.group_slug].append(entry)
        if entry.state == FollowupState.overdue:
            figure.overdue += 1
        elif entry.state == FollowupState.due_soon:
            figure.due_soon += 1
    for slug, listed in undone.items():
        by_slug[slug].oldest = register_order(listed)[:oldest]
    return sorted(by_slug.values(), key=lambda f: f.name.casefold())


# --- who may see and change -----------------------------------------------------------------


def may_see_all(identity: Identity) -> bool:
    """Admins and beredningsgruppen see every group's register."""
    return identity.has(StaffRole.beredning)


def served_slugs(identity: Identity) -> set[str | None]:
    """The groups a person serves as secretary or chair (None: every group)."""
    return {
        group for role, group in identity.roles if role in (StaffRole.secretary, StaffRole.chair)
    }


def visible_groups(session: Session, identity: Identity) -> list[Group]:
    """The groups whose register `identity` may see: all for admins and beredningsgruppen,
    else those they serve as secretary or chair."""
    statement = select(Group).order_by(col(Group.name))
    served = served_slugs(identity)
    if not may_see_all(identity) and None not in served:
        statement = statement.where(col(Group.slug).in_(sorted(s for s in served if s)))
    return list(session.exec(statement).all())


def may_see(identity: Identity, slug: str) -> bool:
    return may_see_all(identity) or identity.has(StaffRole.secretary, StaffRole.chair, group=slug)


def may_follow_up(identity: Identity, slug: str) -> bool:
    """Who marks a group's assignments done or reopens them: its secretary or chair, an
    admin."""
    return identity.has(StaffRole.secretary, StaffRole.chair, group=slug)


# --- changes --------------------------------------------------------------------------------


def _clean_report(report: str) -> str:
    cleaned = report.strip()
    if not cleaned:
        raise FollowupError(
            "a report is needed",
            "Skriv en kort återrapport om vad som är gjort.",
            status=422,
            field="report",
        )
    if len(cleaned) > MAX_REPORT:
        raise FollowupError(
            "report too long",
            f"Återrapporten får vara högst {MAX_REPORT} tecken.",
            status=422,
            field="report",
        )
    return cleaned


def _locked_entry(
    session: Session, assignment_id: int, today: date, group_slug: str | None = None
) -> Entry:
    row = session.exec(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update()
    ).first()
    found = entries(session, today, assignment_ids=[assignment_id]) if row else []
    if not found or group_slug not in (None, found[0].group_slug):
        raise FollowupError(
            f"no assignment {assignment_id} with final minutes",
            "Uppdraget finns inte i uppföljningen.",
            status=404,
        )
    return found[0]


def _done(session: Session, entry: Entry, report: str, actor: str, now: datetime, via: str) -> None:
    task = entry.assignment
    if task.status == AssignmentStatus.done:
        raise FollowupError(
            f"assignment {entry.id} is already done",
            "Uppdraget är redan återrapporterat som klart.",
        )
    before = {"assignment": entry.id, "status": task.status.value, "report": task.report}
    task.status = AssignmentStatus.done
    task.report = report
    task.done_at = now
    session.add(task)
    repository.add_audit_event(
        session,
        case_id=task.case_id,
        actor=actor,
        action="assignment_done",
        before=before,
        after={
            "assignment": entry.id,
            "group": entry.group_slug,
            "status": task.status.value,
            "report": report,
            "via": via,
        },
        note=f"Uppdrag klart: {task.description[:200]}",
        at=now,
    )


def mark_done(
    engine: Engine,
    identity: Identity,
    assignment_id: int,
    *,
    report: str,
    group_slug: str | None = None,
    now: datetime | None = None,
) -> Assignment:
    """The group's secretary or chair reports an assignment done, with a short report
    (refused as not found when `group_slug` is given and is not the assignment's group)."""
    now = now or utcnow()
    cleaned = _clean_report(report)
    with unit_of_work(engine) as session:
        entry = _locked_entry(session, assignment_id, local_date(now), group_slug)
        if not may_follow_up(identity, entry.group_slug):
            raise FollowupError(
                f"{identity.email} may not follow up {entry.group_slug}",
                f"Du får inte ändra uppföljningen för {entry.group_name}.",
                status=403,
            )
        _done(session, entry, cleaned, identity.email, now, "register")
        return entry.assignment


def reopen(
    engine: Engine,
    identity: Identity,
    assignment_id: int,
    *,
    reason: str = "",
    group_slug: str | None = None,
    now: datetime | None = None,
) -> Assignment:
    """Open a done assignment again (its report stays, for the record)."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        entry = _locked_entry(session, assignment_id, local_date(now), group_slug)
        if not may_follow_up(identity, entry.group_slug):
            raise FollowupError(
                f"{identity.email} may not follow up {entry.group_slug}",
                f"Du får inte ändra uppföljningen för {entry.group_name}.",
                status=403,
            )
        task = entry.assignment
        if task.status != AssignmentStatus.done:
            raise FollowupError(
                f"assignment {assignment_id} is not done", "Uppdraget är inte markerat som klart."
            )
        before = {
            "assignment": assignment_id,
            "status": task.status.value,
            "report": task.report,
            "done_at": task.done_at.isoformat() if task.done_at else None,
        }
        task.status = AssignmentStatus.open
        task.done_at = None
        session.add(task)
        repository.add_audit_event(
            session,
            case_id=task.case_id,
            actor=identity.email,
            action="assignment_reopened",
            before=before,
            after={"assignment": assignment_id, "group": entry.group_slug, "status": "open"},
            note=reason.strip()[:500] or "Uppdraget öppnades igen.",
            at=now,
        )
        return task


# --- the owner's private link ---------------------------------------------------------------


def create_owner_link(
    session: Session,
    assignment: Assignment,
    *,
    meeting_id: int,
    now: datetime,
    public_url: str | None = None,
    days: int = LINK_DAYS,
) -> str:
    """A fresh private link for the owner to report `assignment` done (stored as a hash in
    the caller's transaction); its full address.

    The token starts with the assignment's id ("17.<random>"); as the whole token is
    hashed, the id cannot be changed without the link failing.
    """
    assert assignment.id is not None
    token = f"{assignment.id}.{secrets.token_urlsafe(32)}"
    session.add(
        AccessLink(
            token_hash=access.token_hash(token),
            purpose=AccessPurpose.assignment,
            case_id=assignment.case_id,
            meeting_id=meeting_id,
            member_id=assignment.owner_member_id,
            created_at=now,
            expires_at=access.end_of_day(local_date(now) + timedelta(days=days)),
        )
    )
    base = (get_settings().public_url if public_url is None else public_url).rstrip("/")
    return f"{base}{OWNER_PATH}{token}"


def assignment_for_token(session: Session, token: str, *, now: datetime) -> Entry:
    """The assignment behind an owner's link. Raises `access.LinkNotFound` (also for a
    draft, or one whose link does not fit) or `access.LinkExpired`."""
    link = access.link_for_token(session, token, AccessPurpose.assignment, now=now)
    number, _, _ = token.partition(".")
    if not number.isdigit():
        raise access.LinkNotFound("no such link")
    found = entries(session, local_date(now), assignment_ids=[int(number)])
    if not found or not hmac.compare_digest(str(found[0].meeting_id), str(link.meeting_id)):
        raise access.LinkNotFound("no such link")
    return found[0]


@dataclass(frozen=True)
class OwnerForm:
    entry: Entry
    today: date


def owner_form(engine: Engine, token: str, *, now: datetime | None = None) -> OwnerForm:
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        return OwnerForm(assignment_for_token(session, token, now=now), local_date(now))


def mark_done_by_link(
    engine: Engine, token: str, *, report: str, now: datetime | None = None
) -> Assignment:
    """The owner reports the assignment done through their private link."""
    now = now or utcnow()
    cleaned = _clean_report(report)
    with unit_of_work(engine) as session:
        entry = assignment_for_token(session, token, now=now)
        locked = _locked_entry(session, entry.id, local_date(now))
        task = locked.assignment
        actor = f"owner:{task.owner_name}"[:200]
        _done(session, locked, cleaned, actor, now, "owner_link")
        return task


# --- CSV for Swedish Excel ------------------------------------------------------------------

CSV_COLUMNS = (
    "Grupp",
    "Beslutsdatum",
    "Punkt",
    "Ärende",
    "Uppdrag",
    "Ansvarig",
    "Sista dag",
    "Återrapporteras vid möte",
    "Status",
    "Dagar sedan beslut",
    "Arbetsdagar försenat",
    "Klart datum",
    "Dagar från beslut till klart",
    "Återrapport",
)
# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """Text that a spreadsheet shows as text: a leading formula character gets a "'"."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_text(found: Iterable[Entry], today: date) -> str:
    """The register as CSV for Swedish Excel: a UTF-8 byte order mark, ";" between cells,
    quoted where needed, and no cell that could run as a formula."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in found:
        task = entry.assignment
        done_at = local_date(task.done_at).isoformat() if task.done_at else ""
        days = entry.days_to_execution
        overdue = entry.overdue_working_days(today) if entry.state != FollowupState.done else 0
        text_cells = [
            entry.group_name,
            entry.decided_on.isoformat(),
            entry.item_title,
            entry.case_reference,
            task.description,
            task.owner_name,
            entry.due.isoformat(),
            entry.due_meeting_date.isoformat() if entry.due_meeting_date else "",
            entry.state_label,
        ]
        writer.writerow(
            [
                *(safe_cell(cell) for cell in text_cells),
                entry.age_days(today) if entry.state != FollowupState.done else "",
                overdue,
                done_at,
                "" if days is None else days,
                safe_cell(task.report),
            ]
        )
    return out.getvalue()
