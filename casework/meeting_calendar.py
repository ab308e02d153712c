"""The meeting calendar: meetings added, edited, cancelled and imported; iCalendar feeds.

The parsing and formatting functions are pure; the use cases each run in one transaction
and leave an audit event per meeting they change (with no case: `case_id` is None).

A meeting on a weekend or a public holiday is allowed (a group may choose to meet then),
but the import reports it as a warning so that a mistyped date is noticed.
"""

from __future__ import annotations

import csv
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

import icalendar
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from casework import repository
from casework.calendar import (
    FIRST_SUPPORTED_YEAR,
    LAST_SUPPORTED_YEAR,
    STOCKHOLM,
    Deadlines,
    deadlines_for,
    is_working_day,
    long_date,
)
from casework.db import unit_of_work
from casework.lifecycle import CaseworkError
from casework.model import (
    AgendaItem,
    Case,
    Group,
    Meeting,
    Member,
    Membership,
    Notification,
    SweepEvent,
    utcnow,
)
from casework.services import GroupNotFound

__all__ = [
    "MAX_IMPORT_BYTES",
    "CalendarFileError",
    "CheckedRows",
    "FieldProblem",
    "GroupCalendar",
    "ImportRejected",
    "ImportRow",
    "ImportSummary",
    "MeetingCalendarError",
    "MeetingConflict",
    "MeetingData",
    "MeetingInvalid",
    "MeetingNotFound",
    "MeetingView",
    "MemberNotFound",
    "RawRow",
    "RowProblem",
    "add_meeting",
    "calendar_ics",
    "cancel_meeting",
    "check_meeting",
    "check_rows",
    "edit_meeting",
    "feed_token_hash",
    "get_meeting",
    "group_calendar",
    "group_feed",
    "import_year",
    "issue_feed_token",
    "member_feed",
    "parse_calendar_file",
    "parse_csv",
    "parse_ics",
    "upcoming",
]

# An import file holds a year of dates: a few kilobytes. Anything much larger is a mistake.
MAX_IMPORT_BYTES = 256 * 1024
MAX_IMPORT_ROWS = 400
PRODID = "-//Samverkan Blekinge//samverkan//SV"
UID_DOMAIN = "samverkan"
# How far back a feed reaches: last year's meetings stay in people's calendars.
FEED_HISTORY = timedelta(days=366)
SUBMISSION_SUMMARY = "Sista dag för anmälan av ärenden"
AGENDA_SUMMARY = "Dagordningen skickas ut"

_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CSV_COLUMNS = ("datum", "start", "slut", "plats")
CSV_OPTIONAL = ("videolänk",)
_COLUMN_ALIASES = {"videolank": "videolänk", "video": "videolänk", "länk": "videolänk"}


class MeetingCalendarError(CaseworkError):
    """A meeting-calendar request that cannot be carried out; `message_sv` is for the UI."""

    def __init__(self, message: str, message_sv: str) -> None:
        self.message_sv = message_sv
        super().__init__(message)


class MeetingNotFound(MeetingCalendarError):
    def __init__(self, meeting_id: int) -> None:
        self.meeting_id = meeting_id
        super().__init__(f"no meeting with id {meeting_id}", "Mötet finns inte.")


class MemberNotFound(MeetingCalendarError):
    def __init__(self, email: str) -> None:
        super().__init__(
            f"no member has the e-mail address {email!r}",
            "Ingen ledamot har den e-postadressen.",
        )


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of a meeting, in English and in Swedish."""

    field: str
    message: str
    message_sv: str


class MeetingInvalid(MeetingCalendarError):
    """A meeting's data does not pass validation; `problems` has one entry per field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "; ".join(f"{p.field}: {p.message}" for p in problems),
            " ".join(p.message_sv for p in problems),
        )


class MeetingConflict(MeetingCalendarError):
    """The group already meets that day, or the meeting has things that depend on it."""


@dataclass(frozen=True)
class RowProblem:
    """A bad line of an import file (or a warning about a good one)."""

    line: int
    message: str
    message_sv: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"

    @property
    def text_sv(self) -> str:
        return f"Rad {self.line}: {self.message_sv}"


class CalendarFileError(MeetingCalendarError):
    """An import file that cannot be read at all (wrong header, not a calendar …)."""

    def __init__(self, message: str, message_sv: str, *, line: int = 1) -> None:
        self.line = line
        super().__init__(message, message_sv)

    @property
    def problem(self) -> RowProblem:
        return RowProblem(self.line, str(self), self.message_sv)


class ImportRejected(MeetingCalendarError):
    """An import with bad rows: nothing was stored; `problems` lists every bad row."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"{len(problems)} bad row(s), nothing imported",
            f"{len(problems)} rader har fel. Inget har importerats.",
        )


# --- one meeting's data --------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingData:
    """A meeting's checked data: the date, "HH:MM" times, a place and/or a video link."""

    date: date
    starts_at: str
    ends_at: str
    place: str = ""
    video_link: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "date": self.date.isoformat(),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "place": self.place,
            "video_link": self.video_link,
        }


def _time(value: str) -> str | None:
    """ "9:00", "09.00" → "09:00"; None when it is not a time of day."""
    found = _TIME.match(value.strip())
    return f"{int(found[1]):02d}:{found[2]}" if found else None


def _is_web_url(value: str) -> bool:
    if any(c.isspace() for c in value) or len(value) > 500:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_meeting(
    day: str | date, starts_at: str, ends_at: str, place: str = "", video_link: str = ""
) -> MeetingData:
    """The meeting's data, checked and normalised; `MeetingInvalid` lists every problem."""
    problems: list[FieldProblem] = []
    checked_date: date | None = None
    if isinstance(day, date):
        checked_date = day
    elif not _DATE.match(day.strip()):
        problems.append(
            FieldProblem(
                "date",
                f"{day!r} is not a date: use YYYY-MM-DD, e.g. 2027-02-12",
                f"”{day}” är inget datum: skriv ÅÅÅÅ-MM-DD, till exempel 2027-02-12.",
            )
        )
    else:
        try:
            checked_date = date.fromisoformat(day.strip())
        except ValueError:
            problems.append(
                FieldProblem(
                    "date",
                    f"{day!r} is not a date in the calendar",
                    f"”{day}” finns inte i kalendern.",
                )
            )
    if checked_date is not None and not (
        FIRST_SUPPORTED_YEAR <= checked_date.year <= LAST_SUPPORTED_YEAR
    ):
        problems.append(
            FieldProblem(
                "date",
                f"{checked_date} is outside the supported years "
                f"{FIRST_SUPPORTED_YEAR}-{LAST_SUPPORTED_YEAR}",
                f"Datumet måste ligga mellan åren {FIRST_SUPPORTED_YEAR} och "
                f"{LAST_SUPPORTED_YEAR}.",
            )
        )
        checked_date = None
    start = _time(starts_at)
    end = _time(ends_at)
    if start is None:
        problems.append(
            FieldProblem(
                "starts_at",
                f"start time {starts_at!r} is not a time: use HH:MM, e.g. 09:00",
                f"Starttiden ”{starts_at}” är ingen tid: skriv TT:MM, till exempel 09:00.",
            )
        )
    if end is None:
        problems.append(
            FieldProblem(
                "ends_at",
                f"end time {ends_at!r} is not a time: use HH:MM, e.g. 12:00",
                f"Sluttiden ”{ends_at}” är ingen tid: skriv TT:MM, till exempel 12:00.",
            )
        )
    if start is not None and end is not None and end <= start:
        problems.append(
            FieldProblem(
                "ends_at",
                f"the meeting ends ({end}) before it starts ({start})",
                f"Mötet måste sluta ({end}) efter att det börjar ({start}).",
            )
        )
    place = " ".join(place.split())
    video_link = video_link.strip()
    if len(place) > 300:
        problems.append(
            FieldProblem(
                "place",
                "the place has more than 300 characters",
                "Platsen får vara högst 300 tecken.",
            )
        )
    if video_link and not _is_web_url(video_link):
        problems.append(
            FieldProblem(
                "video_link",
                f"video link {video_link!r} is not an http(s) address",
                "Videolänken måste vara en webbadress som börjar med https:// eller http://.",
            )
        )
    if not place and not video_link:
        problems.append(
            FieldProblem(
                "place",
                "give a place or a video link",
                "Ange en plats eller en videolänk.",
            )
        )
    if problems or checked_date is None or start is None or end is None:
        raise MeetingInvalid(problems)
    return MeetingData(checked_date, start, end, place, video_link)


# --- import files --------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRow:
    """One meeting as the file gives it, with the line it starts on."""

    line: int
    date: str
    starts_at: str
    ends_at: str
    place: str = ""
    video_link: str = ""


@dataclass(frozen=True)
class ImportRow:
    line: int
    meeting: MeetingData


@dataclass(frozen=True)
class CheckedRows:
    rows: tuple[ImportRow, ...]
    problems: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]


def check_rows(raw: Iterable[RawRow]) -> CheckedRows:
    """Every row checked: its problems, a repeated date, and warnings for non-working days."""
    rows: list[ImportRow] = []
    problems: list[RowProblem] = []
    warnings: list[RowProblem] = []
    first_line: dict[date, int] = {}
    for row in raw:
        try:
            meeting = check_meeting(row.date, row.starts_at, row.ends_at, row.place, row.video_link)
        except MeetingInvalid as exc:
            problems.extend(RowProblem(row.line, p.message, p.message_sv) for p in exc.problems)
            continue
        earlier = first_line.get(meeting.date)
        if earlier is not None:
            problems.append(
                RowProblem(
                    row.line,
                    f"{meeting.date} is already on line {earlier}",
                    f"Datumet {meeting.date} finns redan på rad {earlier}.",
                )
            )
            continue
        first_line[meeting.date] = row.line
        if not is_working_day(meeting.date):
            warnings.append(
                RowProblem(
                    row.line,
                    f"{meeting.date} is a weekend day or a public holiday",
                    f"{meeting.date} är en helgdag eller en lördag/söndag.",
                )
            )
        rows.append(ImportRow(row.line, meeting))
    return CheckedRows(tuple(rows), tuple(problems), tuple(warnings))


def _decode(content: bytes) -> str:
    # Spreadsheets save CSV as UTF-8 (often with a byte-order mark) or as Windows-1252.
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def parse_csv(text: str) -> tuple[list[RawRow], list[RowProblem]]:
    """Rows of a CSV file with the header `datum;start;slut;plats[;videolänk]` (`;` or `,`).

    A line with the wrong number of columns is a problem, not a row.
    """
    lines = text.splitlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise CalendarFileError("the file is empty", "Filen är tom.")
    header_line = lines[header_index]
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(lines[header_index:], delimiter=delimiter)
    header = [_column_name(c) for c in next(reader)]
    expected = ", ".join((*CSV_COLUMNS, *CSV_OPTIONAL))
    unknown = [c for c in header if c not in CSV_COLUMNS and c not in CSV_OPTIONAL]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise CalendarFileError(
            f"the header must name the columns {expected} (the last is optional), "
            f"separated by ';' or ','; got {header_line.strip()!r}",
            "Första raden ska ha kolumnerna datum;start;slut;plats och valfritt "
            "videolänk, åtskilda med semikolon eller komma.",
            line=header_index + 1,
        )
    rows: list[RawRow] = []
    problems: list[RowProblem] = []
    for cells in reader:
        number = header_index + reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                RowProblem(
                    number,
                    f"{len(cells)} column(s), the header has {len(header)}",
                    f"Raden har {len(cells)} kolumner men rubrikraden har {len(header)}.",
                )
            )
            continue
        values = dict(zip(header, (c.strip() for c in cells), strict=True))
        rows.append(
            RawRow(
                number,
                values["datum"],
                values["start"],
                values["slut"],
                values["plats"],
                values.get("videolänk", ""),
            )
        )
    return rows, problems


def _column_name(cell: str) -> str:
    name = cell.strip().lower()
    return _COLUMN_ALIASES.get(name, name)


def _vevent_lines(text: str) -> list[int]:
    """The line number of each BEGIN:VEVENT, in order."""
    return [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip().upper() == "BEGIN:VEVENT"
    ]


def _local(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=STOCKHOLM)
        return value.astimezone(STOCKHOLM)
    return None


def _is_deadline_event(uid: str) -> bool:
    return uid.endswith((f"-submission@{UID_DOMAIN}", f"-agenda@{UID_DOMAIN}"))


def parse_ics(text: str) -> tuple[list[RawRow], list[RowProblem]]:
    """The VEVENTs of an iCalendar file as rows; events that cannot be rows are problems.

    The deadline events of this application's own feeds are skipped, so an exported
    feed can be imported again.
    """
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise CalendarFileError(
            f"not a readable iCalendar file: {exc}",
            "Filen gick inte att läsa som en iCalendar-fil (.ics).",
        ) from None
    starts = _vevent_lines(text)
    rows: list[RawRow] = []
    problems: list[RowProblem] = []
    for index, event in enumerate(calendar.walk("VEVENT")):
        number = starts[index] if index < len(starts) else 0
        if _is_deadline_event(str(event.get("uid", ""))):
            continue
        if event.get("rrule") is not None:
            problems.append(
                RowProblem(
                    number,
                    "a repeating event (RRULE): list each meeting date as its own event",
                    "Återkommande händelser stöds inte: ange varje mötesdatum för sig.",
                )
            )
            continue
        try:
            start_value = event.decoded("dtstart") if "dtstart" in event else None
            end_value = event.decoded("dtend") if "dtend" in event else None
            duration = event.decoded("duration") if "duration" in event else None
        except (ValueError, TypeError):
            start_value = end_value = duration = None
        start = _local(start_value)
        if start is None:
            problems.append(
                RowProblem(
                    number,
                    "the event has no start time (an all-day event?)",
                    "Händelsen saknar starttid (heldagshändelse?).",
                )
            )
            continue
        end = _local(end_value)
        if end is None and isinstance(duration, timedelta):
            end = start + duration
        location = str(event.get("location", "")).strip()
        url = str(event.get("url", "")).strip()
        if not url and _is_web_url(location):
            location, url = "", location
        rows.append(
            RawRow(
                number,
                start.date().isoformat(),
                start.strftime("%H:%M"),
                end.strftime("%H:%M") if end is not None and end.date() == start.date() else "",
                location,
                url,
            )
        )
    if not rows and not problems:
        raise CalendarFileError(
            "the iCalendar file has no events", "Kalenderfilen innehåller inga möten."
        )
    return rows, problems


def parse_calendar_file(filename: str, content: bytes) -> tuple[list[RawRow], list[RowProblem]]:
    """An uploaded CSV or .ics file as rows, plus the problems found while reading it."""
    if len(content) > MAX_IMPORT_BYTES:
        raise CalendarFileError(
            f"the file is larger than {MAX_IMPORT_BYTES // 1024} kB",
            f"Filen är större än {MAX_IMPORT_BYTES // 1024} kB.",
        )
    text = _decode(content)
    if filename.lower().endswith(".ics") or text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        rows, problems = parse_ics(text)
    else:
        rows, problems = parse_csv(text)
    if len(rows) > MAX_IMPORT_ROWS:
        raise CalendarFileError(
            f"the file has {len(rows)} meetings; at most {MAX_IMPORT_ROWS} can be imported at once",
            f"Filen har {len(rows)} möten; högst {MAX_IMPORT_ROWS} kan importeras åt gången.",
        )
    return rows, problems


# --- deadlines and views -------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingView:
    """A meeting with its group and its two deadlines."""

    meeting: Meeting
    group: Group
    deadlines: Deadlines

    @property
    def id(self) -> int:
        assert self.meeting.id is not None
        return self.meeting.id


@dataclass(frozen=True)
class GroupCalendar:
    group: Group
    meetings: list[MeetingView] = field(default_factory=list)


def _view(meeting: Meeting, group: Group) -> MeetingView:
    return MeetingView(meeting, group, deadlines_for(group.slug, meeting.date, group.deadline_rule))


def _group_or_fail(session: Session, slug: str) -> Group:
    group = repository.get_group(session, slug=slug)
    if group is None:
        raise GroupNotFound(slug, [g.slug for g in repository.list_groups(session)])
    return group


def upcoming(engine: Engine, *, today: date) -> list[GroupCalendar]:
    """Every group's meetings from `today` on, earliest first, in the groups' order."""
    with unit_of_work(engine) as session:
        return [
            GroupCalendar(
                group,
                [
                    _view(m, group)
                    for m in repository.list_meetings(
                        session, group_slug=group.slug, on_or_after=today
                    )
                ],
            )
            for group in repository.list_groups(session)
        ]


def group_calendar(engine: Engine, slug: str, *, on_or_after: date) -> GroupCalendar:
    """One group's meetings from a date on."""
    with unit_of_work(engine) as session:
        group = _group_or_fail(session, slug)
        meetings = repository.list_meetings(session, group_slug=slug, on_or_after=on_or_after)
        return GroupCalendar(group, [_view(m, group) for m in meetings])


def get_meeting(engine: Engine, meeting_id: int) -> MeetingView:
    with unit_of_work(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise MeetingNotFound(meeting_id)
        group = session.get(Group, meeting.group_id)
        assert group is not None
        return _view(meeting, group)


# --- use cases -----------------------------------------------------------------------------


def _snapshot(meeting: Meeting, group: Group) -> dict[str, Any]:
    return {
        "meeting_id": meeting.id,
        "group": group.slug,
        "date": meeting.date.isoformat(),
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "place": meeting.place,
        "video_link": meeting.video_link,
    }


def _meeting_on(session: Session, group: Group, day: date) -> Meeting | None:
    statement = select(Meeting).where(Meeting.group_id == group.id, Meeting.date == day)
    return session.exec(statement).first()


def _taken(group_name: str, day: date) -> MeetingConflict:
    return MeetingConflict(
        f"{group_name} already has a meeting on {day}",
        f"{group_name} har redan ett möte {day}.",
    )


def _apply(meeting: Meeting, data: MeetingData) -> None:
    meeting.date = data.date
    meeting.starts_at = data.starts_at
    meeting.ends_at = data.ends_at
    meeting.place = data.place
    meeting.video_link = data.video_link


def _same(meeting: Meeting, data: MeetingData) -> bool:
    return (
        meeting.date == data.date
        and meeting.starts_at == data.starts_at
        and meeting.ends_at == data.ends_at
        and meeting.place == data.place
        and meeting.video_link == data.video_link
    )


def add_meeting(engine: Engine, group_slug: str, data: MeetingData, *, actor: str) -> MeetingView:
    """A new meeting of the group; `MeetingConflict` if the group already meets that day."""
    try:
        with unit_of_work(engine) as session:
            group = _group_or_fail(session, group_slug)
            if _meeting_on(session, group, data.date) is not None:
                raise _taken(group.name, data.date)
            assert group.id is not None
            meeting = Meeting(group_id=group.id, date=data.date)
            _apply(meeting, data)
            session.add(meeting)
            session.flush()
            repository.add_audit_event(
                session,
                case_id=None,
                actor=actor,
                action="add_meeting",
                after=_snapshot(meeting, group),
            )
            return _view(meeting, group)
    except IntegrityError:
        # Someone else added the same date between the check and the insert.
        raise _taken(group_slug, data.date) from None


def edit_meeting(engine: Engine, meeting_id: int, data: MeetingData, *, actor: str) -> MeetingView:
    """New date, times, place or link for a meeting; the same group, one meeting a day."""
    try:
        with unit_of_work(engine) as session:
            meeting = session.get(Meeting, meeting_id, with_for_update=True)
            if meeting is None:
                raise MeetingNotFound(meeting_id)
            group = session.get(Group, meeting.group_id)
            assert group is not None
            if _same(meeting, data):
                return _view(meeting, group)
            other = _meeting_on(session, group, data.date)
            if other is not None and other.id != meeting.id:
                raise _taken(group.name, data.date)
            before = _snapshot(meeting, group)
            _apply(meeting, data)
            session.add(meeting)
            session.flush()
            repository.add_audit_event(
                session,
                case_id=None,
                actor=actor,
                action="edit_meeting",
                before=before,
                after=_snapshot(meeting, group),
            )
            return _view(meeting, group)
    except IntegrityError:
        raise MeetingConflict(
            f"the group already has a meeting on {data.date}",
            f"Gruppen har redan ett möte {data.date}.",
        ) from None


def _count(session: Session, column: Any, meeting_id: int) -> int:
    return int(session.exec(select(func.count()).where(column == meeting_id)).one())


def cancel_meeting(engine: Engine, meeting_id: int, *, actor: str) -> MeetingView:
    """Remove a meeting that nothing depends on yet: no agenda, cases or messages about it."""
    with unit_of_work(engine) as session:
        meeting = session.get(Meeting, meeting_id, with_for_update=True)
        if meeting is None:
            raise MeetingNotFound(meeting_id)
        group = session.get(Group, meeting.group_id)
        assert group is not None
        view = _view(meeting, group)
        items = _count(session, col(AgendaItem.meeting_id), meeting_id)
        cases = _count(session, col(Case.meeting_id), meeting_id)
        if items or cases:
            raise MeetingConflict(
                f"the meeting on {meeting.date} has {items} agenda item(s) and {cases} "
                "case(s) placed on it: move them to another meeting first",
                f"Mötet {meeting.date} kan inte ställas in: det har {items} punkter på "
                f"dagordningen och {cases} ärenden placerade på sig. Flytta dem till ett "
                "annat möte först.",
            )
        messages = _count(session, col(Notification.meeting_id), meeting_id) + _count(
            session, col(SweepEvent.meeting_id), meeting_id
        )
        if messages:
            raise MeetingConflict(
                f"reminders or notices about the meeting on {meeting.date} have already "
                "been queued or sent: change its date instead of cancelling it",
                f"Mötet {meeting.date} kan inte ställas in: påminnelser eller kallelser om "
                "mötet har redan skapats. Ändra mötet i stället.",
            )
        repository.add_audit_event(
            session,
            case_id=None,
            actor=actor,
            action="cancel_meeting",
            before=_snapshot(meeting, group),
        )
        session.delete(meeting)
        session.flush()
        return view


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int
    warnings: tuple[RowProblem, ...] = ()

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"

    @property
    def text_sv(self) -> str:
        return f"{self.added} nya möten, {self.updated} ändrade, {self.unchanged} oförändrade."


def import_year(
    engine: Engine,
    group_slug: str,
    rows: Sequence[RawRow],
    actor: str,
    *,
    problems: Sequence[RowProblem] = (),
) -> ImportSummary:
    """Store a file's meetings for the group, all or nothing.

    Every row is checked first; any bad row (or a problem found while reading the file,
    passed in `problems`) rejects the whole import with `ImportRejected`. A date the group
    already meets on updates that meeting, so importing the same file again changes nothing.
    """
    checked = check_rows(rows)
    found = [*problems, *checked.problems]
    if found:
        raise ImportRejected(sorted(found, key=lambda p: p.line))
    added = updated = unchanged = 0
    try:
        with unit_of_work(engine) as session:
            group = _group_or_fail(session, group_slug)
            assert group.id is not None
            for row in checked.rows:
                meeting = _meeting_on(session, group, row.meeting.date)
                if meeting is not None and _same(meeting, row.meeting):
                    unchanged += 1
                    continue
                before = _snapshot(meeting, group) if meeting is not None else None
                if meeting is None:
                    meeting = Meeting(group_id=group.id, date=row.meeting.date)
                    added += 1
                else:
                    updated += 1
                _apply(meeting, row.meeting)
                session.add(meeting)
                session.flush()
                repository.add_audit_event(
                    session,
                    case_id=None,
                    actor=actor,
                    action="edit_meeting" if before else "add_meeting",
                    before=before,
                    after=_snapshot(meeting, group),
                    note=f"import, line {row.line}",
                )
    except IntegrityError:
        raise MeetingConflict(
            "another change to the group's meetings came in during the import: import again",
            "Någon annan ändrade gruppens möten under importen. Importera filen igen.",
        ) from None
    return ImportSummary(added, updated, unchanged, checked.warnings)


# --- iCalendar feeds -----------------------------------------------------------------------


def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_feed_token(engine: Engine, email: str, *, actor: str) -> str:
    """A new private feed token for the member with this e-mail address (the old one stops)."""
    address = email.strip().lower()
    with unit_of_work(engine) as session:
        statement = select(Member).where(func.lower(col(Member.email)) == address)
        member = session.exec(statement.order_by(col(Member.id))).first()
        if member is None or not address:
            raise MemberNotFound(email)
        token = secrets.token_urlsafe(32)
        rotated = member.calendar_token_hash is not None
        member.calendar_token_hash = feed_token_hash(token)
        session.add(member)
        repository.add_audit_event(
            session,
            case_id=None,
            actor=actor,
            action="issue_calendar_feed",
            after={"member_id": member.id, "rotated": rotated},
        )
        return token


def _vtimezone() -> icalendar.Timezone:
    """Europe/Stockholm as the EU rules give it: summer time from the last Sunday of March."""
    zone = icalendar.Timezone()
    zone.add("tzid", "Europe/Stockholm")
    for kind, name, start, offset_from, offset_to, month in (
        (icalendar.TimezoneStandard, "CET", datetime(1996, 10, 27, 3), 2, 1, 10),
        (icalendar.TimezoneDaylight, "CEST", datetime(1981, 3, 29, 2), 1, 2, 3),
    ):
        part = kind()
        part.add("tzname", name)
        part.add("dtstart", start)
        part.add("tzoffsetfrom", timedelta(hours=offset_from))
        part.add("tzoffsetto", timedelta(hours=offset_to))
        part.add("rrule", {"freq": "yearly", "bymonth": month, "byday": "-1su"})
        zone.add_component(part)
    return zone


def _moment(day: date, hhmm: str) -> datetime:
    hours, minutes = (int(p) for p in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=STOCKHOLM)


def _place_text(meeting: Meeting) -> str:
    return meeting.place or ("Videomöte" if meeting.video_link else "")


def _events(view: MeetingView, stamp: datetime) -> list[icalendar.Event]:
    meeting, group, deadlines = view.meeting, view.group, view.deadlines
    event = icalendar.Event()
    event.add("uid", f"meeting-{meeting.id}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    if meeting.starts_at:
        event.add("dtstart", _moment(meeting.date, meeting.starts_at))
        if meeting.ends_at:
            event.add("dtend", _moment(meeting.date, meeting.ends_at))
    else:
        event.add("dtstart", meeting.date)
        event.add("dtend", meeting.date + timedelta(days=1))
    event.add("summary", group.name)
    if _place_text(meeting):
        event.add("location", _place_text(meeting))
    if meeting.video_link:
        event.add("url", meeting.video_link)
    lines = [
        f"{SUBMISSION_SUMMARY}: {long_date(deadlines.submission_due)}.",
        f"{AGENDA_SUMMARY}: {long_date(deadlines.agenda_due)}.",
    ]
    if meeting.video_link:
        lines.append(f"Videolänk: {meeting.video_link}")
    event.add("description", "\n".join(lines))
    result = [event]
    for suffix, summary, day in (
        ("submission", SUBMISSION_SUMMARY, deadlines.submission_due),
        ("agenda", AGENDA_SUMMARY, deadlines.agenda_due),
    ):
        deadline = icalendar.Event()
        deadline.add("uid", f"meeting-{meeting.id}-{suffix}@{UID_DOMAIN}")
        deadline.add("dtstamp", stamp)
        deadline.add("dtstart", day)
        deadline.add("dtend", day + timedelta(days=1))
        deadline.add("summary", f"{summary} – {group.name}")
        deadline.add("description", f"Inför mötet {long_date(meeting.date)}.")
        deadline.add("transp", "TRANSPARENT")
        result.append(deadline)
    return result


def calendar_ics(name: str, views: Iterable[MeetingView], *, now: datetime | None = None) -> bytes:
    """The meetings (and their deadlines) as an iCalendar file."""
    stamp = (now or utcnow()).astimezone(UTC)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", "Europe/Stockholm")
    calendar.add_component(_vtimezone())
    for view in sorted(views, key=lambda v: (v.meeting.date, v.meeting.starts_at, v.group.id)):
        for event in _events(view, stamp):
            calendar.add_component(event)
    return bytes(calendar.to_ical())


def _since(today: date | None) -> date:
    return (today or datetime.now(STOCKHOLM).date()) - FEED_HISTORY


def group_feed(engine: Engine, slug: str, *, today: date | None = None) -> bytes:
    """The group's feed: its meetings from a year back on. Public: it names no members."""
    found = group_calendar(engine, slug, on_or_after=_since(today))
    return calendar_ics(f"{found.group.name} – möten", found.meetings)


def member_feed(engine: Engine, token: str, *, today: date | None = None) -> bytes | None:
    """The meetings of every group the token's member sits in; None for an unknown token."""
    digest = feed_token_hash(token)
    with unit_of_work(engine) as session:
        member = session.exec(select(Member).where(Member.calendar_token_hash == digest)).first()
        if member is None:
            return None
        statement = (
            select(Group)
            .join(Membership, col(Membership.group_id) == col(Group.id))
            .where(Membership.member_id == member.id)
            .order_by(col(Group.id))
        )
        groups = list(session.exec(statement).all())
        since = _since(today)
        views = [
            _view(m, g)
            for g in groups
            for m in repository.list_meetings(session, group_slug=g.slug, on_or_after=since)
        ]
    return calendar_ics("Mina möten – Samverkan Blekinge", views)
