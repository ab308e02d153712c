"""The triage queue: the cases waiting for the preparation group, most urgent first.

Filtering, counting, ordering and paging all happen in SQL, on SQLite and PostgreSQL
alike. The one thing SQL cannot compute is a submission deadline, because deadlines move
back over Swedish holidays: those are computed in Python, per meeting (a group has 8–10 a
year), and handed to the query as a CASE expression mapping (destination, submission
time) to the deadline of the meeting the case is aimed at. So the query still orders and
pages by deadline over every matching case, not only over one page.

A case is aimed at its destination's first meeting whose submission deadline it met
(`calendar.landing_meeting`), judged on when it was submitted; when the preparation group
has not acted before that deadline the case is overdue.

"Days waiting" are Swedish working days (`calendar.working_days_between`) from the
submission's date in Europe/Stockholm up to `today`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from casework.calendar import (
    STOCKHOLM,
    DeadlineRule,
    deadlines_for,
    local_date,
    working_days_between,
)
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import Case, Group, Meeting
from rules.facts import TARGET_GROUPS, TargetGroup

__all__ = [
    "DEFAULT_PER_PAGE",
    "DUE_SOON_WORKING_DAYS",
    "FILTER_STATUSES",
    "MAX_PER_PAGE",
    "WAITING",
    "QueueFilters",
    "QueuePage",
    "QueueRow",
    "Urgency",
    "list_queue",
    "urgency_of",
]

WAITING: tuple[State, ...] = (State.submitted, State.in_triage)
# The statuses a queue can be filtered on besides "waiting".
FILTER_STATUSES: tuple[State, ...] = (*WAITING, State.routed, State.returned, State.withdrawn)
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 200
# A deadline at most this many working days away is "due soon".
DUE_SOON_WORKING_DAYS = 3


class Urgency(StrEnum):
    """How pressing a case's next deadline is, as of `today`."""

    overdue = "overdue"  # the submission deadline of its meeting has passed
    due_soon = "due_soon"  # at most DUE_SOON_WORKING_DAYS working days left
    normal = "normal"
    no_deadline = "no_deadline"  # its destination has no meeting planned


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """What to show: `status` None means waiting (submitted or in triage)."""

    status: State | None = None
    destination: str | None = None
    target_group: TargetGroup | None = None
    q: str = ""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def __post_init__(self) -> None:
        if self.page < 1:
            raise ValueError(f"page must be 1 or more, not {self.page}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, not {self.per_page}")
        if self.target_group is not None and self.target_group not in TARGET_GROUPS:
            raise ValueError(f"unknown target group {self.target_group!r}")

    @property
    def statuses(self) -> tuple[State, ...]:
        return WAITING if self.status is None else (self.status,)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A case in the queue with what the preparation group needs to judge it."""

    case: Case
    destination_name: str
    explanation: str
    working_days_waiting: int
    target_meeting: date | None
    next_deadline: date | None
    urgency: Urgency


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the queue; `page` is clamped to the last page."""

    rows: tuple[QueueRow, ...]
    total: int
    page: int
    pages: int
    per_page: int
    filters: QueueFilters = field(default_factory=QueueFilters)


@dataclass(frozen=True, slots=True)
class _MeetingDeadline:
    group: str
    meeting: date
    submission_due: date
    # The first instant that misses the deadline: midnight after it, Stockholm time, in UTC.
    cutoff: datetime


def list_queue(
    engine: Engine,
    filters: QueueFilters,
    *,
    rule_destinations: Mapping[str, str],
    today: date,
) -> QueuePage:
    """A page of the queue: earliest next deadline first, then the oldest submission.

    `rule_destinations` maps destination slugs to their Swedish names (the rule set's
    `destinations`); `today` is the date in Europe/Stockholm.
    """
    conditions = _conditions(filters)
    with unit_of_work(engine, write=False) as session:
        _prepare(session)
        total = session.exec(select(sa.func.count()).select_from(Case).where(*conditions)).one()
        pages = max(1, math.ceil(total / filters.per_page))
        page = min(filters.page, pages)
        if total == 0:
            return QueuePage((), 0, page, pages, filters.per_page, filters)
        oldest = session.exec(select(sa.func.min(col(Case.created_at))).where(*conditions)).one()
        schedule = _schedule(session.exec(_meetings_since(oldest)).all())
        deadline = _deadline_expression(schedule).label("next_deadline")
        statement = (
            select(Case, deadline)
            .where(*conditions)
            .order_by(deadline.asc().nulls_last(), col(Case.created_at), col(Case.id))
            .offset((page - 1) * filters.per_page)
            .limit(filters.per_page)
        )
        found = session.exec(statement).all()
    meetings = {(d.group, d.submission_due): d.meeting for d in schedule}
    rows = tuple(
        QueueRow(
            case=case,
            destination_name=rule_destinations.get(case.destination, case.destination),
            explanation=case.routing_explanation,
            working_days_waiting=max(0, working_days_between(local_date(case.created_at), today)),
            target_meeting=meetings.get((case.destination, due)) if due else None,
            next_deadline=due,
            urgency=urgency_of(due, today),
        )
        for case, due in found
    )
    return QueuePage(rows, total, page, pages, filters.per_page, filters)


def urgency_of(deadline: date | None, today: date) -> Urgency:
    if deadline is None:
        return Urgency.no_deadline
    if deadline < today:
        return Urgency.overdue
    if working_days_between(today, deadline) <= DUE_SOON_WORKING_DAYS:
        return Urgency.due_soon
    return Urgency.normal


def _conditions(filters: QueueFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Case.status).in_(filters.statuses)]
    if filters.destination:
        conditions.append(col(Case.destination) == filters.destination)
    if filters.target_group:
        # Both columns are JSON lists of plain slugs, so the quoted slug is an exact element.
        token = f'%"{filters.target_group}"%'
        conditions.append(
            sa.or_(
                sa.cast(col(Case.target_groups), sa.Text).like(token),
                sa.cast(col(Case.routed_groups), sa.Text).like(token),
            )
        )
    query = filters.q.strip().lower()
    if query:
        conditions.append(
            sa.or_(
                *(
                    UnicodeLower(column).contains(query, autoescape=True)
                    for column in (col(Case.reference), col(Case.title), col(Case.description))
                )
            )
        )
    return conditions


def _meetings_since(moment: datetime) -> Any:
    """Every meeting that a case submitted at `moment` or later could be aimed at."""
    return (
        select(
            col(Group.slug),
            col(Group.agenda_offset_days),
            col(Group.submission_offset_days),
            col(Meeting.date),
        )
        .join(Group, col(Group.id) == col(Meeting.group_id))
        .where(col(Meeting.date) >= local_date(moment))
    )


def _schedule(meetings: Sequence[tuple[str, int, int, date]]) -> list[_MeetingDeadline]:
    """The meetings' submission deadlines, per group, earliest first."""
    schedule = []
    for slug, agenda_offset, submission_offset, day in meetings:
        due = deadlines_for(slug, day, DeadlineRule(agenda_offset, submission_offset))
        cutoff = datetime.combine(due.submission_due + timedelta(days=1), time(), STOCKHOLM)
        schedule.append(_MeetingDeadline(slug, day, due.submission_due, cutoff.astimezone(UTC)))
    return sorted(schedule, key=lambda d: (d.group, d.cutoff))


def _deadline_expression(schedule: Sequence[_MeetingDeadline]) -> ColumnElement[date]:
    """The submission deadline of the meeting each case is aimed at, or NULL.

    Within a group the WHENs are ordered by deadline, so the first one a case meets is
    its meeting's (submission deadlines rise with the meeting date).
    """
    if not schedule:
        return sa.cast(sa.null(), sa.Date)
    return sa.case(
        *(
            (
                sa.and_(col(Case.destination) == d.group, col(Case.created_at) < d.cutoff),
                sa.literal(d.submission_due, sa.Date),
            )
            for d in schedule
        ),
        else_=sa.cast(sa.null(), sa.Date),
    )


class UnicodeLower(FunctionElement[str]):
    """lower(text) for every alphabet; SQLite's own lower() folds only ASCII, not Å, Ä, Ö."""

    type = sa.String()
    name = "unicode_lower"
    inherit_cache = True


_SQLITE_LOWER = "samverkan_lower"


def _python_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _prepare(session: Session) -> None:
    """Give this transaction's SQLite connection a Unicode-aware lower() (a no-op elsewhere)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.create_function(_SQLITE_LOWER, 1, _python_lower, deterministic=True)


@compiles(UnicodeLower)
def _unicode_lower_default(element: UnicodeLower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(UnicodeLower, "sqlite")
def _unicode_lower_sqlite(element: UnicodeLower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{_SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"
