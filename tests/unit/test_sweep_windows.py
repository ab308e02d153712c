"""Which meeting dates have an event due on a given day (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.calendar import DEFAULT_RULE, DeadlineRule, working_days_between
from casework.sweep import (
    CASE_KINDS,
    MEETING_KINDS,
    EventKind,
    SweepConfig,
    agenda_day,
    due_meeting_dates,
    event_key,
    event_window,
    stale_cutoff,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONFIG = SweepConfig()
LSVO_MEETING = date(2023, 5, 12)  # Friday; agenda due Fri 05-05, submissions due Fri 04-28
MIDSUMMER_MEETING = date(2026, 6, 26)  # agenda due Thu 06-18, submissions due Thu 06-11


def d(iso: str) -> date:
    return date.fromisoformat(iso)


@pytest.mark.parametrize(
    ("kind", "first", "last"),
    [
        # Three working days before the submission deadline, up to the deadline itself.
        (EventKind.submission_reminder, "2023-04-25", "2023-04-28"),
        # Submissions are open through the due day and close the day after.
        (EventKind.submissions_closed, "2023-04-29", "2023-05-12"),
        # Two working days before the agenda deadline.
        (EventKind.agenda_reminder, "2023-05-03", "2023-05-05"),
        (EventKind.agenda_sent, "2023-05-05", "2023-05-12"),
        (EventKind.agenda_not_approved, "2023-05-05", "2023-05-12"),
        # Two working days before the meeting, until the day before it.
        (EventKind.documents_reminder, "2023-05-10", "2023-05-11"),
    ],
)
def test_windows_of_the_lsvo_meeting_of_2023_05_12(kind: EventKind, first: str, last: str) -> None:
    assert event_window(kind, LSVO_MEETING, DEFAULT_RULE, CONFIG) == (d(first), d(last))


@pytest.mark.parametrize(
    ("kind", "first", "last"),
    [
        (EventKind.submission_reminder, "2026-06-08", "2026-06-11"),
        (EventKind.submissions_closed, "2026-06-12", "2026-06-26"),
        (EventKind.agenda_reminder, "2026-06-16", "2026-06-18"),
        (EventKind.agenda_sent, "2026-06-18", "2026-06-26"),
        # Midsommarafton (Fri 06-19) is not a working day: Thu 06-25 and Wed 06-24 are.
        (EventKind.documents_reminder, "2026-06-24", "2026-06-25"),
    ],
)
def test_windows_around_midsummer(kind: EventKind, first: str, last: str) -> None:
    assert event_window(kind, MIDSUMMER_MEETING, DEFAULT_RULE, CONFIG) == (d(first), d(last))


def test_the_reminder_lead_is_configurable() -> None:
    five = SweepConfig(submission_reminder_days=5)
    first, last = event_window(EventKind.submission_reminder, LSVO_MEETING, DEFAULT_RULE, five)
    assert (first, last) == (d("2023-04-21"), d("2023-04-28"))


def test_a_group_with_other_offsets_has_other_windows() -> None:
    rule = DeadlineRule(agenda_offset_days=14, submission_offset_days=7)
    # Agenda due Fri 04-28, submissions due Fri 04-21.
    assert event_window(EventKind.agenda_sent, LSVO_MEETING, rule, CONFIG)[0] == d("2023-04-28")
    assert event_window(EventKind.submissions_closed, LSVO_MEETING, rule, CONFIG)[0] == d(
        "2023-04-22"
    )


@pytest.mark.parametrize(
    ("kind", "day", "due"),
    [
        (EventKind.submission_reminder, "2023-04-24", False),
        (EventKind.submission_reminder, "2023-04-25", True),
        (EventKind.submission_reminder, "2023-04-28", True),
        (EventKind.submission_reminder, "2023-04-29", False),
        (EventKind.submissions_closed, "2023-04-28", False),
        (EventKind.submissions_closed, "2023-04-29", True),
        (EventKind.submissions_closed, "2023-05-13", False),
        (EventKind.agenda_reminder, "2023-05-02", False),
        (EventKind.agenda_reminder, "2023-05-03", True),
        (EventKind.agenda_sent, "2023-05-04", False),
        (EventKind.agenda_sent, "2023-05-05", True),
        (EventKind.documents_reminder, "2023-05-09", False),
        (EventKind.documents_reminder, "2023-05-10", True),
        (EventKind.documents_reminder, "2023-05-12", False),
    ],
)
def test_due_meeting_dates_contain_the_meeting_exactly_in_its_window(
    kind: EventKind, day: str, due: bool
) -> None:
    assert (LSVO_MEETING in due_meeting_dates(kind, d(day), DEFAULT_RULE, CONFIG)) is due


@settings(max_examples=60, deadline=None)
@given(
    today=st.dates(min_value=date(2022, 1, 1), max_value=date(2030, 12, 31)),
    kind=st.sampled_from(MEETING_KINDS),
    agenda_offset=st.integers(0, 21),
    submission_offset=st.integers(0, 21),
)
def test_due_meeting_dates_are_exactly_the_meetings_whose_window_holds_today(
    today: date, kind: EventKind, agenda_offset: int, submission_offset: int
) -> None:
    rule = DeadlineRule(agenda_offset, submission_offset)
    found = due_meeting_dates(kind, today, rule, CONFIG)
    # Brute force over a wide range of meeting dates, well past the function's horizon.
    for offset in range(-10, 120):
        meeting = today + timedelta(days=offset)
        first, last = event_window(kind, meeting, rule, CONFIG)
        assert (meeting in found) == (first <= today <= last), meeting


def test_stale_cutoff_counts_working_days_after_the_day_of_creation() -> None:
    # On Mon 2026-03-16 a case from Fri 03-06 has waited 6 working days (> 5), one from
    # Mon 03-09 five.
    assert stale_cutoff(d("2026-03-16"), 5) == d("2026-03-08")
    assert working_days_between(d("2026-03-06"), d("2026-03-16")) == 6
    assert working_days_between(d("2026-03-09"), d("2026-03-16")) == 5
    # Twice as long for the chair: created on or before Fri 02-27 (… through Sun 03-01).
    assert stale_cutoff(d("2026-03-16"), 10) == d("2026-03-01")
    assert working_days_between(d("2026-02-27"), d("2026-03-16")) == 11
    assert working_days_between(d("2026-03-02"), d("2026-03-16")) == 10


@settings(max_examples=60, deadline=None)
@given(
    today=st.dates(min_value=date(2022, 1, 1), max_value=date(2030, 12, 31)),
    days=st.integers(1, 30),
)
def test_stale_cutoff_is_the_latest_day_that_has_waited_long_enough(today: date, days: int) -> None:
    cutoff = stale_cutoff(today, days)
    assert working_days_between(cutoff, today) > days
    assert working_days_between(cutoff + timedelta(days=1), today) <= days


def test_the_agenda_day_begins_with_working_hours() -> None:
    early = datetime(2023, 5, 5, 7, 59, tzinfo=STOCKHOLM)
    assert agenda_day(early, CONFIG) == d("2023-05-04")
    assert agenda_day(early + timedelta(minutes=1), CONFIG) == d("2023-05-05")
    assert agenda_day(early.astimezone(UTC), SweepConfig(working_hours_start=7)) == d("2023-05-05")


def test_event_keys() -> None:
    assert event_key(EventKind.agenda_sent, 17) == "agenda_sent:17"
    assert event_key(EventKind.submission_reminder, 17, 342) == "submission_reminder:17:342"
    assert event_key(EventKind.stale_triage, case_id=342) == "stale_triage:342"
    assert set(MEETING_KINDS).isdisjoint(CASE_KINDS)


def test_a_config_rejects_zero_days() -> None:
    with pytest.raises(ValueError, match="stale_triage_days"):
        SweepConfig(stale_triage_days=0)


def test_the_config_comes_from_the_settings() -> None:
    from casework.settings import Settings

    settings = Settings(
        public_url="https://samverkan.example.se/",
        document_reminder_working_days=4,
        stale_triage_working_days=7,
        working_hours_start=9,
        working_hours_end=16,
    )
    config = SweepConfig.from_settings(settings)
    assert config.public_url == "https://samverkan.example.se"
    assert (config.submission_reminder_days, config.stale_triage_days) == (4, 7)
    assert (config.working_hours_start, config.working_hours_end) == (9, 16)
