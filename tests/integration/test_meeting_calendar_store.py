"""The meeting calendar's use cases on SQLite and PostgreSQL: changes, imports and feeds."""

from __future__ import annotations

from datetime import date

import icalendar
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from casework import meeting_calendar as mc
from casework import services
from casework.db import unit_of_work
from casework.model import (
    AgendaItem,
    AuditEvent,
    Group,
    Meeting,
    Member,
    Membership,
    Notification,
    Role,
)

ACTOR = "sekreterare@example.se"
FEBRUARY = mc.MeetingData(date(2027, 2, 12), "09:00", "12:00", "Regionhuset")


def meetings_of(engine: Engine, slug: str) -> list[Meeting]:
    with unit_of_work(engine) as session:
        statement = (
            select(Meeting)
            .join(Group, col(Group.id) == col(Meeting.group_id))
            .where(Group.slug == slug)
            .order_by(col(Meeting.date))
        )
        return list(session.exec(statement).all())


def audit(engine: Engine) -> list[AuditEvent]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def csv_rows(text: str) -> list[mc.RawRow]:
    rows, problems = mc.parse_csv(text)
    assert problems == []
    return rows


YEAR = (
    "datum;start;slut;plats;videolänk\n"
    "2027-02-12;09:00;12:00;Regionhuset;\n"
    "2027-03-12;09:00;12:00;Regionhuset;\n"
    "2027-04-09;09:00;12:00;;https://teams.example.se/l/meetup/abc\n"
)


# --- add, edit, cancel ---------------------------------------------------------------------


def test_add_edit_and_cancel_a_meeting_each_leave_an_audit_event(seeded_engine: Engine) -> None:
    added = mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    assert added.deadlines.agenda_due == date(2027, 2, 5)
    assert added.deadlines.submission_due == date(2027, 1, 29)
    moved = mc.check_meeting("2027-02-19", "10:00", "12:00", "", "https://meet.example.se/x")
    edited = mc.edit_meeting(seeded_engine, added.id, moved, actor=ACTOR)
    assert edited.meeting.date == date(2027, 2, 19)
    assert edited.deadlines.agenda_due == date(2027, 2, 12)
    [stored] = meetings_of(seeded_engine, "lsvo")
    assert (stored.place, stored.video_link) == ("", "https://meet.example.se/x")
    mc.cancel_meeting(seeded_engine, added.id, actor=ACTOR)
    assert meetings_of(seeded_engine, "lsvo") == []
    events = audit(seeded_engine)
    assert [e.action for e in events] == ["add_meeting", "edit_meeting", "cancel_meeting"]
    assert all(e.case_id is None and e.actor == ACTOR for e in events)
    assert events[0].after is not None and events[0].after["date"] == "2027-02-12"
    assert events[0].after["group"] == "lsvo"
    assert events[1].before is not None and events[1].before["date"] == "2027-02-12"
    assert events[1].after is not None and events[1].after["date"] == "2027-02-19"
    assert events[2].before is not None and events[2].before["meeting_id"] == added.id


def test_saving_a_meeting_unchanged_writes_no_audit_event(seeded_engine: Engine) -> None:
    added = mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    mc.edit_meeting(seeded_engine, added.id, FEBRUARY, actor=ACTOR)
    assert [e.action for e in audit(seeded_engine)] == ["add_meeting"]


def test_one_meeting_per_group_and_day(seeded_engine: Engine) -> None:
    mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    with pytest.raises(mc.MeetingConflict) as caught:
        mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    assert "har redan ett möte 2027-02-12" in caught.value.message_sv
    # Another group may meet the same day.
    mc.add_meeting(seeded_engine, "sg-aldre", FEBRUARY, actor=ACTOR)
    march = mc.add_meeting(
        seeded_engine, "lsvo", mc.check_meeting("2027-03-12", "9:00", "12:00", "R"), actor=ACTOR
    )
    with pytest.raises(mc.MeetingConflict):
        mc.edit_meeting(seeded_engine, march.id, FEBRUARY, actor=ACTOR)
    assert [m.date for m in meetings_of(seeded_engine, "lsvo")] == [
        date(2027, 2, 12),
        date(2027, 3, 12),
    ]
    assert [e.action for e in audit(seeded_engine)].count("edit_meeting") == 0


def test_unknown_group_and_meeting(seeded_engine: Engine) -> None:
    with pytest.raises(services.GroupNotFound):
        mc.add_meeting(seeded_engine, "lsv", FEBRUARY, actor=ACTOR)
    with pytest.raises(mc.MeetingNotFound):
        mc.edit_meeting(seeded_engine, 999, FEBRUARY, actor=ACTOR)
    with pytest.raises(mc.MeetingNotFound):
        mc.cancel_meeting(seeded_engine, 999, actor=ACTOR)


def test_a_meeting_with_an_agenda_cannot_be_cancelled(seeded_engine: Engine) -> None:
    added = mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    with unit_of_work(seeded_engine) as session:
        session.add(AgendaItem(meeting_id=added.id, title="Övriga frågor", section="other"))
    with pytest.raises(mc.MeetingConflict) as caught:
        mc.cancel_meeting(seeded_engine, added.id, actor=ACTOR)
    assert "1 punkter på dagordningen" in caught.value.message_sv
    assert len(meetings_of(seeded_engine, "lsvo")) == 1
    assert [e.action for e in audit(seeded_engine)] == ["add_meeting"]


def test_a_meeting_with_queued_messages_cannot_be_cancelled(seeded_engine: Engine) -> None:
    added = mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    with unit_of_work(seeded_engine) as session:
        session.add(
            Notification(
                kind="reminder",
                recipient_address="mailto://a@example.se",
                meeting_id=added.id,
                subject="Påminnelse",
                body_text="…",
            )
        )
    with pytest.raises(mc.MeetingConflict) as caught:
        mc.cancel_meeting(seeded_engine, added.id, actor=ACTOR)
    assert "påminnelser" in caught.value.message_sv
    assert len(meetings_of(seeded_engine, "lsvo")) == 1


# --- import --------------------------------------------------------------------------------


def test_import_adds_then_changes_nothing_when_run_again(seeded_engine: Engine) -> None:
    first = mc.import_year(seeded_engine, "lsvo", csv_rows(YEAR), ACTOR)
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    again = mc.import_year(seeded_engine, "lsvo", csv_rows(YEAR), ACTOR)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert str(again) == "0 added, 0 updated, 3 unchanged"
    stored = meetings_of(seeded_engine, "lsvo")
    assert [(m.date, m.starts_at, m.ends_at, m.place, m.video_link) for m in stored] == [
        (date(2027, 2, 12), "09:00", "12:00", "Regionhuset", ""),
        (date(2027, 3, 12), "09:00", "12:00", "Regionhuset", ""),
        (date(2027, 4, 9), "09:00", "12:00", "", "https://teams.example.se/l/meetup/abc"),
    ]
    events = audit(seeded_engine)
    assert [e.action for e in events] == ["add_meeting"] * 3
    assert events[0].note == "import, line 2"


def test_import_updates_the_dates_that_exist(seeded_engine: Engine) -> None:
    existing = mc.add_meeting(seeded_engine, "lsvo", FEBRUARY, actor=ACTOR)
    changed = YEAR.replace("2027-02-12;09:00;12:00;Regionhuset", "2027-02-12;13:00;15:00;Rådhuset")
    summary = mc.import_year(seeded_engine, "lsvo", csv_rows(changed), ACTOR)
    assert (summary.added, summary.updated, summary.unchanged) == (2, 1, 0)
    stored = meetings_of(seeded_engine, "lsvo")
    assert stored[0].id == existing.id
    assert (stored[0].starts_at, stored[0].place) == ("13:00", "Rådhuset")
    update = [e for e in audit(seeded_engine) if e.action == "edit_meeting"]
    assert len(update) == 1 and update[0].before is not None
    assert update[0].before["place"] == "Regionhuset"


def test_import_is_all_or_nothing(seeded_engine: Engine) -> None:
    bad = YEAR + "2027-05-07;12:00;09:00;Regionhuset;\n2027-02-12;09:00;12:00;Rådhuset;\n"
    with pytest.raises(mc.ImportRejected) as caught:
        mc.import_year(seeded_engine, "lsvo", csv_rows(bad), ACTOR)
    assert [p.line for p in caught.value.problems] == [5, 6]
    assert meetings_of(seeded_engine, "lsvo") == []
    assert audit(seeded_engine) == []


def test_problems_found_while_reading_reject_the_import(seeded_engine: Engine) -> None:
    rows, problems = mc.parse_csv(YEAR + "2027-05-07;09:00\n")
    assert [p.line for p in problems] == [5]
    with pytest.raises(mc.ImportRejected):
        mc.import_year(seeded_engine, "lsvo", rows, ACTOR, problems=problems)
    assert meetings_of(seeded_engine, "lsvo") == []


def test_import_into_an_unknown_group_stores_nothing(seeded_engine: Engine) -> None:
    with pytest.raises(services.GroupNotFound):
        mc.import_year(seeded_engine, "sg-aldr", csv_rows(YEAR), ACTOR)
    assert audit(seeded_engine) == []


# --- feeds ---------------------------------------------------------------------------------


def uids(content: bytes) -> set[str]:
    return {str(e["uid"]) for e in icalendar.Calendar.from_ical(content).walk("VEVENT")}


def test_the_group_feed_is_stable_and_names_no_members(seeded_engine: Engine) -> None:
    mc.import_year(seeded_engine, "lsvo", csv_rows(YEAR), ACTOR)
    first = mc.group_feed(seeded_engine, "lsvo", today=date(2027, 1, 1))
    second = mc.group_feed(seeded_engine, "lsvo", today=date(2027, 1, 1))
    ids = [m.id for m in meetings_of(seeded_engine, "lsvo")]
    assert uids(first) == uids(second)
    assert {f"meeting-{i}@samverkan" for i in ids} <= uids(first)
    assert len(uids(first)) == 9
    with unit_of_work(seeded_engine) as session:
        names = [m.name for m in session.exec(select(Member)).all()]
    text = first.decode()
    assert names and not any(name in text for name in names)
    # A year later the February meeting has dropped out of the feed.
    later = mc.group_feed(seeded_engine, "lsvo", today=date(2028, 3, 1))
    assert f"meeting-{ids[0]}@samverkan" not in uids(later)


def test_a_member_feed_holds_exactly_the_members_groups(seeded_engine: Engine) -> None:
    mc.import_year(seeded_engine, "lsvo", csv_rows(YEAR), ACTOR)
    mc.import_year(seeded_engine, "sg-aldre", csv_rows(YEAR), ACTOR)
    mc.import_year(seeded_engine, "sg-vuxna", csv_rows(YEAR), ACTOR)
    with unit_of_work(seeded_engine) as session:
        lsvo = session.exec(select(Group).where(Group.slug == "lsvo")).one()
        aldre = session.exec(select(Group).where(Group.slug == "sg-aldre")).one()
        seat = session.exec(select(Membership).where(Membership.group_id == lsvo.id)).first()
        assert seat is not None
        member = session.get(Member, seat.member_id)
        assert member is not None
        member.email = "Anna.Andersson@Example.se"
        session.add(Membership(member_id=seat.member_id, group_id=aldre.id, role=Role.member))
    token = mc.issue_feed_token(seeded_engine, "anna.andersson@example.se", actor="test")
    content = mc.member_feed(seeded_engine, token, today=date(2027, 1, 1))
    assert content is not None
    expected = {
        f"meeting-{m.id}@samverkan"
        for slug in ("lsvo", "sg-aldre")
        for m in meetings_of(seeded_engine, slug)
    }
    meeting_uids = {
        u for u in uids(content) if not u.endswith(("-submission@samverkan", "-agenda@samverkan"))
    }
    assert meeting_uids == expected
    with unit_of_work(seeded_engine) as session:
        stored = session.get(Member, seat.member_id)
        assert stored is not None
        assert stored.calendar_token_hash == mc.feed_token_hash(token)
        assert token not in str(stored.calendar_token_hash)
    # A new token replaces the old one.
    newer = mc.issue_feed_token(seeded_engine, "anna.andersson@example.se", actor="test")
    assert mc.member_feed(seeded_engine, token) is None
    assert mc.member_feed(seeded_engine, newer) is not None
    assert [e.action for e in audit(seeded_engine)][-2:] == ["issue_calendar_feed"] * 2


def test_unknown_tokens_and_members(seeded_engine: Engine) -> None:
    assert mc.member_feed(seeded_engine, "not-a-token") is None
    with pytest.raises(mc.MemberNotFound):
        mc.issue_feed_token(seeded_engine, "ingen@example.se", actor="test")
    with pytest.raises(mc.MemberNotFound):
        mc.issue_feed_token(seeded_engine, "  ", actor="test")
