"""The demo data of `samverkan serve --demo`: realistic meetings, and nothing added twice."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

import rules
from casework import accounts, demo, repository
from casework.calendar import is_working_day
from casework.db import unit_of_work
from casework.model import StaffRole

FRIDAY = 4


@pytest.mark.parametrize("after", [date(2026, 1, 1), date(2026, 6, 30), date(2027, 12, 31)])
@pytest.mark.parametrize("pattern", demo.MEETING_PATTERNS, ids=lambda p: p.group)
def test_a_year_of_meetings_looks_like_a_real_calendar(
    pattern: demo.MeetingPattern, after: date
) -> None:
    dates = demo.meeting_dates(pattern, after=after)
    assert 8 <= len(dates) <= 10
    assert all(after < d <= after + timedelta(days=365) for d in dates)
    assert all(is_working_day(d) for d in dates)
    assert not [d for d in dates if d.month == 7]
    assert len({(d.year, d.month) for d in dates}) == len(dates)
    if pattern.group == "lsvo":
        assert {d.weekday() for d in dates} == {FRIDAY}
    else:
        assert FRIDAY not in {d.weekday() for d in dates}


def test_a_meeting_on_a_holiday_moves_a_week() -> None:
    # The first Thursday of May 2027 is Kristi himmelsfärds dag.
    aldre = next(p for p in demo.MEETING_PATTERNS if p.group == "sg-aldre")
    assert date(2027, 5, 13) in demo.meeting_dates(aldre, after=date(2027, 1, 1))


def test_demo_data_is_added_once(seeded_engine: Engine) -> None:
    rule_set = rules.load_rules()
    today = date(2026, 11, 23)

    first = demo.prepare(seeded_engine, rules=rule_set, today=today)

    assert first.password is not None
    assert len(first.password) >= accounts.MIN_PASSWORD_LENGTH
    identity = accounts.authenticate(seeded_engine, email=demo.DEMO_EMAIL, password=first.password)
    assert identity is not None
    assert identity.has(StaffRole.beredning)
    assert set(first.meetings) == {"lsvo", "sg-barn-unga", "sg-vuxna", "sg-aldre"}
    assert [r.split("-")[-1] for r in first.references] == [f"{n:04d}" for n in range(1, 8)]

    again = demo.prepare(seeded_engine, rules=rule_set, today=today)

    assert again.password is None
    assert again.meetings == {}
    assert again.references == []
    assert accounts.authenticate(seeded_engine, email=demo.DEMO_EMAIL, password=first.password)
    with unit_of_work(seeded_engine) as session:
        assert repository.count_cases(session) == 7
        lsvo = repository.list_meetings(session, group_slug="lsvo", on_or_after=today)
    assert [m.date for m in lsvo] == first.meetings["lsvo"]
    assert {(m.starts_at, m.place) for m in lsvo} == {("09:00", demo.REGIONHUSET)}


def test_the_demo_cases_go_where_the_minutes_sent_them(seeded_engine: Engine) -> None:
    demo.prepare(seeded_engine, rules=rules.load_rules(), today=date(2026, 11, 23))
    expected = {}
    with demo.EXAMPLES.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            expected[record["case"]["title"]] = record["expected"]["destination"]
    with unit_of_work(seeded_engine) as session:
        cases = repository.list_cases(session)
    assert len(cases) == len(demo.DEMO_SUBMISSIONS)
    for case in cases:
        assert case.destination == expected[case.title], case.title
        assert case.submitter_email.endswith(".example")
