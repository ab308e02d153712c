"""Swedish working days and meeting deadlines (pure: no I/O, no database).

A working day is Monday to Friday, except Swedish public holidays and the three de-facto
holidays that Swedish law treats like Sundays (Midsommarafton, Julafton, Nyårsafton), as
given by the `holidays` package (country SE, categories `public` and `de_facto`).

A deadline date means "by the end of that day, Europe/Stockholm time".
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from zoneinfo import ZoneInfo

import holidays
from holidays.countries.sweden import Sweden

__all__ = [
    "DEFAULT_RULE",
    "FIRST_SUPPORTED_YEAR",
    "LAST_SUPPORTED_YEAR",
    "STOCKHOLM",
    "CalendarError",
    "DeadlineRule",
    "DeadlineRuleError",
    "Deadlines",
    "add_working_days",
    "agenda_due",
    "deadlines_for",
    "is_working_day",
    "landing_meeting",
    "local_date",
    "long_date",
    "next_working_moment",
    "previous_working_day",
    "submission_due",
    "working_days_between",
]

STOCKHOLM = ZoneInfo("Europe/Stockholm")

# The de-facto category arrived in holidays 0.88; older versions file the three eves
# under bank/optional holidays, which would silently make them working days.
if "de_facto" not in Sweden.supported_categories:
    raise ImportError(
        f"holidays {version('holidays')} has no 'de_facto' category for Sweden "
        "(Midsommarafton, Julafton, Nyårsafton); install holidays>=0.88"
    )

# Outside these years the holidays package silently returns no holidays at all.
FIRST_SUPPORTED_YEAR: int = Sweden.start_year
LAST_SUPPORTED_YEAR: int = Sweden.end_year or 9999

_ONE_DAY = timedelta(days=1)


class CalendarError(ValueError):
    """Invalid input to a working-day or deadline calculation."""


class DeadlineRuleError(CalendarError):
    """A deadline rule has an unusable setting."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


# Per year: the non-working weekdays (as a set for lookups and sorted for range counts).
# Building a year with the holidays package takes tens of milliseconds, so each year is
# built once per process.
_NON_WORKING: dict[int, frozenset[date]] = {}
_NON_WORKING_SORTED: dict[int, tuple[date, ...]] = {}


def _load_year(year: int) -> frozenset[date]:
    if not FIRST_SUPPORTED_YEAR <= year <= LAST_SUPPORTED_YEAR:
        raise CalendarError(
            f"year {year} is outside the supported range "
            f"{FIRST_SUPPORTED_YEAR}-{LAST_SUPPORTED_YEAR} of the Swedish holiday calendar"
        )
    # include_sundays defaults to True before holidays 0.107 (every Sunday is a
    # "söndag" holiday); weekends are excluded separately, so only weekdays are kept.
    calendar = holidays.country_holidays(
        "SE",
        years=year,
        categories=("public", "de_facto"),
        include_sundays=False,
    )
    days: list[date] = sorted(d for d in calendar if d.weekday() < 5)
    _NON_WORKING_SORTED[year] = tuple(days)
    non_working = frozenset(days)
    _NON_WORKING[year] = non_working
    return non_working


def _holidays_in(year: int) -> frozenset[date]:
    found = _NON_WORKING.get(year)
    return found if found is not None else _load_year(year)


def _check_date(value: object, name: str = "d") -> None:
    if isinstance(value, datetime):
        raise CalendarError(f"{name} must be a date, not a datetime ({value.isoformat()})")
    if not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date, not {type(value).__name__}")


def _step(d: date, delta: timedelta) -> date:
    try:
        return d + delta
    except OverflowError:
        raise CalendarError(f"moving {delta.days} day(s) from {d} leaves the calendar") from None


def is_working_day(d: date) -> bool:
    """True if d is Monday to Friday and not a Swedish public or de-facto holiday."""
    if type(d) is not date:
        _check_date(d)
    return d.weekday() < 5 and d not in _holidays_in(d.year)


def previous_working_day(d: date) -> date:
    """The latest working day on or before d."""
    while not is_working_day(d):
        d = _step(d, -_ONE_DAY)
    return d


def add_working_days(d: date, n: int) -> date:
    """The n-th working day after d (before d when n < 0); d itself when n == 0.

    d need not be a working day: add_working_days(saturday, 1) is the following Monday
    (if that is a working day), add_working_days(saturday, -1) the Friday before.
    """
    if type(d) is not date:
        _check_date(d)
    step = _ONE_DAY if n > 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        d = _step(d, step)
        if is_working_day(d):
            remaining -= 1
    return d


def _weekdays_through(d: date) -> int:
    # Mondays to Fridays from 0001-01-01 (a Monday) up to and including d.
    days = d.toordinal()
    return days // 7 * 5 + min(days % 7, 5)


def _holidays_after_through(a: date, b: date) -> int:
    count = 0
    for year in range(a.year, b.year + 1):
        _holidays_in(year)
        days = _NON_WORKING_SORTED[year]
        count += bisect.bisect_right(days, b) - bisect.bisect_right(days, a)
    return count


def working_days_between(a: date, b: date) -> int:
    """The number of working days in (a, b]; negative, -(working days in (b, a]), if b < a.

    For a working day a, add_working_days(a, working_days_between(a, b)) is the latest
    working day on or before b.
    """
    _check_date(a, "a")
    _check_date(b, "b")
    if b < a:
        return -working_days_between(b, a)
    return _weekdays_through(b) - _weekdays_through(a) - _holidays_after_through(a, b)


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """A group's deadline offsets, in calendar days (the defaults are the domain's)."""

    agenda_offset_days: int = 7
    submission_offset_days: int = 7

    def __post_init__(self) -> None:
        for field in ("agenda_offset_days", "submission_offset_days"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DeadlineRuleError(field, value, "must be a whole number of days")
            if value < 0:
                raise DeadlineRuleError(field, value, "must be zero or more days")


DEFAULT_RULE = DeadlineRule()


def agenda_due(meeting_date: date, rule: DeadlineRule = DEFAULT_RULE) -> date:
    """Meeting date minus the agenda offset, moved back to a working day if needed."""
    _check_date(meeting_date, "meeting_date")
    return previous_working_day(_step(meeting_date, -timedelta(days=rule.agenda_offset_days)))


def submission_due(meeting_date: date, rule: DeadlineRule = DEFAULT_RULE) -> date:
    """The adjusted agenda due date minus the submission offset, moved back likewise.

    It counts from the agenda date after that date has been moved to a working day, so
    that submitters always get the full offset before the agenda is sent out: a meeting
    on Fri 2026-06-26 has its agenda due Thu 06-18 (06-19 is Midsommarafton) and its
    submissions due Thu 06-11, not Fri 06-12.
    """
    return _submission_due_from(agenda_due(meeting_date, rule), rule)


def _submission_due_from(agenda: date, rule: DeadlineRule) -> date:
    return previous_working_day(_step(agenda, -timedelta(days=rule.submission_offset_days)))


@dataclass(frozen=True, slots=True)
class Deadlines:
    """A meeting date and its two deadlines, for one group."""

    group: str
    meeting: date
    agenda_due: date
    submission_due: date

    def as_json(self) -> dict[str, str]:
        """The deadlines as a JSON-ready mapping of ISO 8601 date strings."""
        return {
            "group": self.group,
            "meeting": self.meeting.isoformat(),
            "agenda_due": self.agenda_due.isoformat(),
            "submission_due": self.submission_due.isoformat(),
        }


def deadlines_for(group: str, meeting_date: date, rule: DeadlineRule = DEFAULT_RULE) -> Deadlines:
    """The agenda and submission deadlines of group's meeting on meeting_date."""
    agenda = agenda_due(meeting_date, rule)
    return Deadlines(
        group=group,
        meeting=meeting_date,
        agenda_due=agenda,
        submission_due=_submission_due_from(agenda, rule),
    )


def landing_meeting(
    submitted_at: datetime,
    meetings: Sequence[date],
    rule: DeadlineRule = DEFAULT_RULE,
) -> date | None:
    """The earliest meeting whose submission deadline submitted_at meets, or None.

    A submission meets a deadline if it arrives by the end of the deadline day in
    Europe/Stockholm time, whatever time zone submitted_at carries. Naive datetimes are
    rejected because their time zone, and so their Swedish date, is unknown.
    """
    if not isinstance(submitted_at, datetime):
        raise TypeError(f"submitted_at must be a datetime, not {type(submitted_at).__name__}")
    if submitted_at.utcoffset() is None:
        raise CalendarError(
            f"submitted_at {submitted_at.isoformat()} has no time zone; "
            "pass an aware datetime (for example with tzinfo=ZoneInfo('Europe/Stockholm'))"
        )
    local_day = local_date(submitted_at)
    on_time = [m for m in meetings if local_day <= submission_due(m, rule)]
    return min(on_time, default=None)


def next_working_moment(moment: datetime, start_hour: int = 8, end_hour: int = 17) -> datetime:
    """`moment` if it falls in working hours (Europe/Stockholm), else the next start of them.

    Working hours run from start_hour up to, not including, end_hour on working days.
    The result is in UTC.
    """
    if moment.utcoffset() is None:
        raise CalendarError(f"moment {moment.isoformat()} has no time zone; pass an aware datetime")
    if not 0 <= start_hour < end_hour <= 24:
        raise CalendarError(
            f"working hours {start_hour}-{end_hour} are not a span within a day; "
            "give 0 <= start < end <= 24"
        )
    local = moment.astimezone(STOCKHOLM)
    day = local.date()
    if is_working_day(day) and start_hour <= local.hour < end_hour:
        return moment.astimezone(UTC)
    if not is_working_day(day) or local.hour >= end_hour:
        day = add_working_days(day, 1)
    start = datetime(day.year, day.month, day.day, start_hour, tzinfo=STOCKHOLM)
    return start.astimezone(UTC)


SWEDISH_MONTHS = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)  # fmt: skip
SWEDISH_WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")


def local_date(moment: datetime) -> date:
    """The Swedish calendar day of an aware moment."""
    return moment.astimezone(STOCKHOLM).date()


def long_date(day: date) -> str:
    """2026-06-26 → "fredag 26 juni 2026"."""
    return f"{SWEDISH_WEEKDAYS[day.weekday()]} {day.day} {SWEDISH_MONTHS[day.month - 1]} {day.year}"
