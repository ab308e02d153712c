"""Working days and deadlines.

The expected holiday dates below come from the Swedish calendar (Lag 1989:253 om allmänna
helgdagar, Semesterlagen 3 a § for the three eves) and an independent Easter computation,
not from the holidays package that casework.calendar uses.
"""

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.calendar import (
    DEFAULT_RULE,
    CalendarError,
    DeadlineRule,
    DeadlineRuleError,
    Deadlines,
    add_working_days,
    agenda_due,
    deadlines_for,
    is_working_day,
    landing_meeting,
    previous_working_day,
    submission_due,
    working_days_between,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def on(iso: str, weekday: int) -> date:
    """A date, checked against its weekday so that a typo in a test cannot go unnoticed."""
    d = date.fromisoformat(iso)
    assert d.weekday() == weekday, f"{iso} is not weekday {weekday}"
    return d


def stockholm(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=STOCKHOLM)


# --- An independent model of the Swedish working-day calendar (from 2005 on) -------------


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Meeus/Jones/Butcher algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def swedish_days_off(year: int) -> set[date]:
    """Public holidays and de-facto holidays since 2005 (Nationaldagen, no Annandag pingst)."""
    easter = easter_sunday(year)
    midsommarafton = next(
        date(year, 6, 19 + i) for i in range(7) if date(year, 6, 19 + i).weekday() == FRI
    )
    return {
        date(year, 1, 1),  # Nyårsdagen
        date(year, 1, 6),  # Trettondedag jul
        easter - timedelta(days=2),  # Långfredagen
        easter + timedelta(days=1),  # Annandag påsk
        date(year, 5, 1),  # Första maj
        easter + timedelta(days=39),  # Kristi himmelsfärdsdag
        date(year, 6, 6),  # Sveriges nationaldag
        midsommarafton,
        date(year, 12, 24),  # Julafton
        date(year, 12, 25),  # Juldagen
        date(year, 12, 26),  # Annandag jul
        date(year, 12, 31),  # Nyårsafton
    }  # Påskdagen, Pingstdagen, Midsommardagen, Alla helgons dag: always weekend days


def test_easter_model_matches_known_dates() -> None:
    assert easter_sunday(2024) == on("2024-03-31", SUN)
    assert easter_sunday(2025) == on("2025-04-20", SUN)
    assert easter_sunday(2026) == on("2026-04-05", SUN)
    assert easter_sunday(2038) == on("2038-04-25", SUN)


# --- Working days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (on("2024-03-29", FRI), "Långfredagen 2024"),
        (on("2024-04-01", MON), "Annandag påsk 2024"),
        (on("2024-05-09", THU), "Kristi himmelsfärdsdag 2024"),
        (on("2024-06-06", THU), "Nationaldagen 2024"),
        (on("2024-06-21", FRI), "Midsommarafton 2024"),
        (on("2025-01-06", MON), "Trettondedag jul 2025"),
        (on("2025-05-01", THU), "Första maj 2025"),
        (on("2025-05-29", THU), "Kristi himmelsfärdsdag 2025"),
        (on("2025-06-06", FRI), "Nationaldagen 2025"),
        (on("2025-06-20", FRI), "Midsommarafton 2025"),
        (on("2025-12-24", WED), "Julafton 2025"),
        (on("2025-12-25", THU), "Juldagen 2025"),
        (on("2025-12-26", FRI), "Annandag jul 2025"),
        (on("2025-12-31", WED), "Nyårsafton 2025"),
        (on("2026-01-01", THU), "Nyårsdagen 2026"),
        (on("2026-01-06", TUE), "Trettondedag jul 2026"),
        (on("2026-04-03", FRI), "Långfredagen 2026"),
        (on("2026-04-06", MON), "Annandag påsk 2026"),
        (on("2026-05-01", FRI), "Första maj 2026"),
        (on("2026-05-14", THU), "Kristi himmelsfärdsdag 2026"),
        (on("2026-06-19", FRI), "Midsommarafton 2026"),
        (on("2026-12-24", THU), "Julafton 2026"),
        (on("2026-12-25", FRI), "Juldagen 2026"),
        (on("2026-12-31", THU), "Nyårsafton 2026"),
    ],
)
def test_weekday_holidays_are_not_working_days(day: date, name: str) -> None:
    assert not is_working_day(day), name


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (on("2024-03-28", THU), "Skärtorsdagen"),
        (on("2024-04-02", TUE), "the day after Annandag påsk"),
        (on("2026-01-05", MON), "Trettondagsafton"),
        (on("2026-04-30", THU), "Valborgsmässoafton"),
        (on("2026-05-13", WED), "the day before Kristi himmelsfärdsdag"),
        (on("2026-05-15", FRI), "the day after Kristi himmelsfärdsdag"),
        (on("2026-05-25", MON), "Annandag pingst (no holiday since 2005)"),
        (on("2026-06-05", FRI), "the day before Nationaldagen"),
        (on("2026-06-18", THU), "the day before Midsommarafton"),
        (on("2026-10-30", FRI), "Allhelgonaafton"),
        (on("2026-12-23", WED), "the day before Julafton"),
        (on("2026-12-28", MON), "Monday between Christmas and New Year"),
        (on("2026-12-30", WED), "the day before Nyårsafton"),
        (on("2027-01-04", MON), "the first Monday of 2027"),
    ],
)
def test_ordinary_weekdays_are_working_days(day: date, name: str) -> None:
    assert is_working_day(day), name


def test_weekends_are_not_working_days() -> None:
    assert [is_working_day(on("2026-03-02", MON) + timedelta(days=i)) for i in range(7)] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_holidays_on_weekends_stay_non_working() -> None:
    assert not is_working_day(on("2026-06-06", SAT))  # Nationaldagen
    assert not is_working_day(on("2026-06-20", SAT))  # Midsommardagen
    assert not is_working_day(on("2026-04-05", SUN))  # Påskdagen
    assert not is_working_day(on("2026-05-24", SUN))  # Pingstdagen


def test_the_swedish_working_days_of_2026() -> None:
    # 261 weekdays, of which ten are holidays; (a, b] leaves out Nyårsdagen itself.
    assert working_days_between(date(2025, 12, 31), date(2026, 12, 31)) == 251
    assert working_days_between(date(2026, 1, 1), date(2026, 12, 31)) == 251


def test_previous_working_day() -> None:
    assert previous_working_day(on("2026-06-17", WED)) == on("2026-06-17", WED)
    assert previous_working_day(on("2026-06-21", SUN)) == on("2026-06-18", THU)
    assert previous_working_day(on("2026-04-06", MON)) == on("2026-04-02", THU)
    assert previous_working_day(on("2027-01-01", FRI)) == on("2026-12-30", WED)


def test_add_working_days_across_christmas_and_new_year() -> None:
    start = on("2025-12-23", TUE)
    assert add_working_days(start, 1) == on("2025-12-29", MON)
    assert add_working_days(start, 2) == on("2025-12-30", TUE)
    assert add_working_days(start, 3) == on("2026-01-02", FRI)
    assert add_working_days(start, 4) == on("2026-01-05", MON)
    assert add_working_days(start, 5) == on("2026-01-07", WED)
    assert add_working_days(on("2026-01-07", WED), -5) == start
    assert working_days_between(start, on("2026-01-07", WED)) == 5
    assert working_days_between(on("2026-01-07", WED), start) == -5


def test_add_working_days_from_a_non_working_day() -> None:
    assert add_working_days(on("2026-06-19", FRI), 0) == on("2026-06-19", FRI)
    assert add_working_days(on("2026-06-19", FRI), 1) == on("2026-06-22", MON)
    assert add_working_days(on("2026-06-19", FRI), -1) == on("2026-06-18", THU)


def test_dates_outside_the_holiday_calendar_are_refused() -> None:
    with pytest.raises(CalendarError, match="1950"):
        is_working_day(date(1950, 3, 1))
    with pytest.raises(CalendarError, match="2101"):
        add_working_days(date(2100, 12, 31), 1)
    with pytest.raises(CalendarError):
        add_working_days(date.max, 1)


def test_datetimes_are_not_dates() -> None:
    with pytest.raises(CalendarError, match="not a datetime"):
        is_working_day(datetime(2026, 6, 19, 12, tzinfo=UTC))
    with pytest.raises(CalendarError, match="not a datetime"):
        agenda_due(datetime(2026, 6, 26, 9, tzinfo=UTC))
    with pytest.raises(TypeError):
        is_working_day("2026-06-19")  # type: ignore[arg-type]


# --- Deadlines ---------------------------------------------------------------------------


def test_worked_example_lsvo_may_2023() -> None:
    meeting = on("2023-05-12", FRI)
    assert agenda_due(meeting) == on("2023-05-05", FRI)
    assert submission_due(meeting) == on("2023-04-28", FRI)


def test_worked_example_midsommarafton_2026() -> None:
    # Submissions count from the moved agenda date (Thu 06-18), not the unmoved 06-19.
    meeting = on("2026-06-26", FRI)
    assert agenda_due(meeting) == on("2026-06-18", THU)
    assert submission_due(meeting) == on("2026-06-11", THU)


@pytest.mark.parametrize(
    ("meeting", "agenda", "submissions"),
    [
        # Långfredagen 2026 → Skärtorsdagen.
        (on("2026-04-10", FRI), on("2026-04-02", THU), on("2026-03-26", THU)),
        # Annandag påsk and Långfredagen 2024.
        (on("2024-04-08", MON), on("2024-03-28", THU), on("2024-03-21", THU)),
        # Kristi himmelsfärdsdag 2026.
        (on("2026-05-21", THU), on("2026-05-13", WED), on("2026-05-06", WED)),
        # Nationaldagen 2025, then Kristi himmelsfärdsdag 2025 a week earlier.
        (on("2025-06-13", FRI), on("2025-06-05", THU), on("2025-05-28", WED)),
        # Annandag jul, juldagen, julafton 2025.
        (on("2026-01-02", FRI), on("2025-12-23", TUE), on("2025-12-16", TUE)),
        # Across the year boundary: Nyårsdagen, Nyårsafton, then back into 2026.
        (on("2027-01-08", FRI), on("2026-12-30", WED), on("2026-12-23", WED)),
        # Trettondedag jul 2027.
        (on("2027-01-13", WED), on("2027-01-05", TUE), on("2026-12-29", TUE)),
        # A weekend: a Sunday meeting minus seven days is a Sunday.
        (on("2026-03-15", SUN), on("2026-03-06", FRI), on("2026-02-27", FRI)),
    ],
)
def test_deadlines_move_back_over_holidays(meeting: date, agenda: date, submissions: date) -> None:
    assert agenda_due(meeting) == agenda
    assert submission_due(meeting) == submissions


def test_deadlines_with_custom_offsets() -> None:
    rule = DeadlineRule(agenda_offset_days=3, submission_offset_days=10)
    meeting = on("2026-06-22", MON)
    assert agenda_due(meeting, rule) == on("2026-06-18", THU)
    assert submission_due(meeting, rule) == on("2026-06-08", MON)
    same_day = DeadlineRule(agenda_offset_days=0, submission_offset_days=0)
    assert agenda_due(on("2026-06-26", FRI), same_day) == on("2026-06-26", FRI)
    assert submission_due(on("2026-06-19", FRI), same_day) == on("2026-06-18", THU)


def test_default_rule_is_the_domain_default() -> None:
    assert DeadlineRule() == DEFAULT_RULE
    assert (DEFAULT_RULE.agenda_offset_days, DEFAULT_RULE.submission_offset_days) == (7, 7)


def test_deadline_rule_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_RULE.agenda_offset_days = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"agenda_offset_days": -1}, "agenda_offset_days"),
        ({"submission_offset_days": -7}, "submission_offset_days"),
        ({"agenda_offset_days": 7.0}, "agenda_offset_days"),
        ({"submission_offset_days": True}, "submission_offset_days"),
        ({"agenda_offset_days": "7"}, "agenda_offset_days"),
    ],
)
def test_bad_deadline_rules_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(DeadlineRuleError) as raised:
        DeadlineRule(**kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert field in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_deadlines_result_as_json() -> None:
    result = deadlines_for("lsvo", on("2026-06-26", FRI))
    assert result == Deadlines(
        group="lsvo",
        meeting=date(2026, 6, 26),
        agenda_due=date(2026, 6, 18),
        submission_due=date(2026, 6, 11),
    )
    expected = {
        "group": "lsvo",
        "meeting": "2026-06-26",
        "agenda_due": "2026-06-18",
        "submission_due": "2026-06-11",
    }
    assert result.as_json() == expected
    assert json.loads(json.dumps(result.as_json())) == expected


def test_deadlines_for_uses_the_rule() -> None:
    rule = DeadlineRule(agenda_offset_days=14, submission_offset_days=14)
    result = deadlines_for("sg-karlskrona", on("2023-05-12", FRI), rule)
    assert result.agenda_due == on("2023-04-28", FRI)
    assert result.submission_due == on("2023-04-14", FRI)


# --- Which meeting a submission lands on -------------------------------------------------

# Submission deadlines: Thu 2026-04-30 (05-01 is Första maj), Thu 2026-06-11, Fri 2026-08-28.
MEETINGS = [on("2026-06-26", FRI), on("2026-09-11", FRI), on("2026-05-15", FRI)]


def test_landing_meeting_on_time() -> None:
    assert landing_meeting(stockholm("2026-04-20T09:00"), MEETINGS) == date(2026, 5, 15)


def test_landing_meeting_late_goes_to_the_next_meeting() -> None:
    assert landing_meeting(stockholm("2026-05-04T08:00"), MEETINGS) == date(2026, 6, 26)
    assert landing_meeting(stockholm("2026-06-12T08:00"), MEETINGS) == date(2026, 9, 11)


def test_landing_meeting_until_the_end_of_the_deadline_day_in_stockholm() -> None:
    assert landing_meeting(stockholm("2026-04-30T23:59:59.999999"), MEETINGS) == date(2026, 5, 15)
    assert landing_meeting(stockholm("2026-05-01T00:00"), MEETINGS) == date(2026, 6, 26)


def test_landing_meeting_converts_other_time_zones_to_stockholm() -> None:
    # 2026-04-30 is summer time in Stockholm (UTC+2).
    assert landing_meeting(datetime(2026, 4, 30, 21, 59, tzinfo=UTC), MEETINGS) == date(2026, 5, 15)
    assert landing_meeting(datetime(2026, 4, 30, 22, 0, tzinfo=UTC), MEETINGS) == date(2026, 6, 26)
    new_york = ZoneInfo("America/New_York")
    assert landing_meeting(datetime(2026, 4, 30, 17, 59, tzinfo=new_york), MEETINGS) == date(
        2026, 5, 15
    )
    assert landing_meeting(datetime(2026, 4, 30, 18, 0, tzinfo=new_york), MEETINGS) == date(
        2026, 6, 26
    )
    plus_ten = timezone(timedelta(hours=10))
    assert landing_meeting(datetime(2026, 5, 1, 7, 59, tzinfo=plus_ten), MEETINGS) == date(
        2026, 5, 15
    )


def test_landing_meeting_after_the_change_to_winter_time() -> None:
    # Summer time ends Sun 2026-10-25; the deadline Mon 10-26 ends at 23:00 UTC, not 22:00.
    meetings = [on("2026-11-09", MON), on("2026-12-04", FRI)]
    assert submission_due(meetings[0]) == on("2026-10-26", MON)
    assert landing_meeting(datetime(2026, 10, 26, 22, 30, tzinfo=UTC), meetings) == meetings[0]
    assert landing_meeting(datetime(2026, 10, 26, 22, 59, tzinfo=UTC), meetings) == meetings[0]
    assert landing_meeting(datetime(2026, 10, 26, 23, 0, tzinfo=UTC), meetings) == meetings[1]


def test_landing_meeting_before_the_change_to_summer_time() -> None:
    # Summer time starts Sun 2026-03-29; the deadline Thu 03-26 still ends at 23:00 UTC.
    meetings = [on("2026-04-10", FRI), on("2026-05-15", FRI)]
    assert submission_due(meetings[0]) == on("2026-03-26", THU)
    assert landing_meeting(datetime(2026, 3, 26, 22, 59, tzinfo=UTC), meetings) == meetings[0]
    assert landing_meeting(datetime(2026, 3, 26, 23, 0, tzinfo=UTC), meetings) == meetings[1]


def test_landing_meeting_none_when_every_deadline_has_passed() -> None:
    assert landing_meeting(stockholm("2026-08-29T08:00"), MEETINGS) is None
    assert landing_meeting(stockholm("2026-04-20T09:00"), []) is None


def test_landing_meeting_rejects_naive_datetimes() -> None:
    with pytest.raises(CalendarError, match="time zone"):
        landing_meeting(datetime(2026, 4, 20, 9, 0), MEETINGS)
    with pytest.raises(TypeError):
        landing_meeting(date(2026, 4, 20), MEETINGS)  # type: ignore[arg-type]


def test_landing_meeting_uses_the_rule() -> None:
    rule = DeadlineRule(agenda_offset_days=1, submission_offset_days=1)
    # Meeting Fri 05-15: agenda Thu 05-14 is Kristi himmelsfärdsdag → Wed 05-13, then Tue 05-12.
    assert landing_meeting(stockholm("2026-05-12T18:00"), MEETINGS, rule) == date(2026, 5, 15)
    assert landing_meeting(stockholm("2026-05-13T08:00"), MEETINGS, rule) == date(2026, 6, 26)


# --- Properties --------------------------------------------------------------------------

dates = st.dates(min_value=date(1956, 1, 1), max_value=date(2098, 12, 31))
recent_dates = st.dates(min_value=date(2005, 1, 1), max_value=date(2100, 12, 31))
offsets = st.integers(min_value=0, max_value=60)
rules = st.builds(DeadlineRule, agenda_offset_days=offsets, submission_offset_days=offsets)
# Building a year of holidays takes tens of milliseconds the first time.
slow_first_call = settings(deadline=None)


def no_working_day_in(after: date, through: date) -> bool:
    days = (through - after).days
    return not any(is_working_day(after + timedelta(days=i)) for i in range(1, days + 1))


def test_every_day_of_2020_to_2030_matches_the_swedish_calendar() -> None:
    day, mismatches = date(2020, 1, 1), []
    while day.year <= 2030:
        expected = day.weekday() < 5 and day not in swedish_days_off(day.year)
        if is_working_day(day) != expected:
            mismatches.append(day)
        day += timedelta(days=1)
    assert mismatches == []


@settings(deadline=None, max_examples=500)
@given(recent_dates)
def test_is_working_day_matches_the_swedish_calendar(d: date) -> None:
    expected = d.weekday() < 5 and d not in swedish_days_off(d.year)
    assert is_working_day(d) == expected


@slow_first_call
@given(dates, rules)
def test_agenda_due_is_the_latest_working_day_by_the_offset(
    meeting: date, rule: DeadlineRule
) -> None:
    latest = meeting - timedelta(days=rule.agenda_offset_days)
    due = agenda_due(meeting, rule)
    assert is_working_day(due)
    assert due <= latest
    assert no_working_day_in(due, latest)


@slow_first_call
@given(dates, rules)
def test_submission_due_is_the_latest_working_day_by_the_offset_from_the_agenda(
    meeting: date, rule: DeadlineRule
) -> None:
    latest = agenda_due(meeting, rule) - timedelta(days=rule.submission_offset_days)
    due = submission_due(meeting, rule)
    assert is_working_day(due)
    assert due <= latest
    assert no_working_day_in(due, latest)
    assert deadlines_for("g", meeting, rule).submission_due == due


@slow_first_call
@given(dates)
def test_previous_working_day_is_idempotent(d: date) -> None:
    once = previous_working_day(d)
    assert previous_working_day(once) == once
    assert once <= d
    assert is_working_day(once)
    assert no_working_day_in(once, d)


@slow_first_call
@given(dates, st.integers(min_value=-300, max_value=300))
def test_add_working_days_and_working_days_between_agree(d: date, n: int) -> None:
    start = previous_working_day(d)
    end = add_working_days(start, n)
    assert is_working_day(end) or n == 0
    assert working_days_between(start, end) == n
    assert add_working_days(end, -n) == start


@slow_first_call
@given(dates, st.integers(min_value=0, max_value=800))
def test_working_days_between_counts_working_days(a: date, span: int) -> None:
    b = a + timedelta(days=span)
    brute = sum(is_working_day(a + timedelta(days=i)) for i in range(1, span + 1))
    assert working_days_between(a, b) == brute
    assert working_days_between(b, a) == -brute


@slow_first_call
@given(
    st.datetimes(
        min_value=datetime(2005, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    st.lists(st.dates(min_value=date(2005, 1, 1), max_value=date(2099, 12, 31)), max_size=8),
    rules,
)
def test_landing_meeting_is_the_first_meeting_still_open(
    submitted_at: datetime, meetings: list[date], rule: DeadlineRule
) -> None:
    local_day = submitted_at.astimezone(STOCKHOLM).date()
    landed = landing_meeting(submitted_at, meetings, rule)
    open_meetings = [m for m in meetings if submission_due(m, rule) >= local_day]
    if landed is None:
        assert open_meetings == []
    else:
        assert landed in meetings
        assert submission_due(landed, rule) >= local_day
        assert all(m >= landed for m in open_meetings)
