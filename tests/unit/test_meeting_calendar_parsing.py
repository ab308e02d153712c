"""The meeting calendar's pure parts: checking a meeting, reading import files, writing feeds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from casework import meeting_calendar as mc
from casework.calendar import LAST_SUPPORTED_YEAR, STOCKHOLM, DeadlineRule, deadlines_for
from casework.model import Group, GroupLevel, Meeting

GOOD_CSV = (
    "datum;start;slut;plats;videolänk\n"
    "2027-02-12;09:00;12:00;Regionhuset, Karlskrona;\n"
    "2027-03-12;9.00;12.00;;https://teams.example.se/l/meetup/abc\n"
    "\n"
    "2027-06-18;13:15;15:00;Rådhuset;https://teams.example.se/l/meetup/def\n"
)


def problems_of(text: str) -> list[mc.RowProblem]:
    rows, problems = mc.parse_csv(text)
    return sorted([*problems, *mc.check_rows(rows).problems], key=lambda p: p.line)


# --- one meeting ---------------------------------------------------------------------------


def test_a_good_meeting_is_normalised() -> None:
    data = mc.check_meeting("2027-02-12", "9:00", "12.30", "  Regionhuset   Karlskrona ")
    assert data == mc.MeetingData(date(2027, 2, 12), "09:00", "12:30", "Regionhuset Karlskrona")


def test_every_problem_of_a_meeting_is_reported_in_swedish() -> None:
    with pytest.raises(mc.MeetingInvalid) as caught:
        mc.check_meeting("12/2 2027", "nio", "25:00", "", "ftp://example.se/x")
    fields = [p.field for p in caught.value.problems]
    assert fields == ["date", "starts_at", "ends_at", "video_link"]
    assert "ÅÅÅÅ-MM-DD" in caught.value.problems[0].message_sv
    assert "TT:MM" in caught.value.problems[1].message_sv
    assert "https://" in caught.value.problems[3].message_sv


@pytest.mark.parametrize(
    ("start", "end"), [("12:00", "09:00"), ("10:00", "10:00")], ids=["before", "equal"]
)
def test_the_end_must_come_after_the_start(start: str, end: str) -> None:
    with pytest.raises(mc.MeetingInvalid) as caught:
        mc.check_meeting("2027-02-12", start, end, "Regionhuset")
    assert [p.field for p in caught.value.problems] == ["ends_at"]
    assert "efter" in caught.value.problems[0].message_sv


def test_a_place_or_a_video_link_is_required() -> None:
    with pytest.raises(mc.MeetingInvalid) as caught:
        mc.check_meeting("2027-02-12", "09:00", "10:00", " ", "")
    assert [p.message_sv for p in caught.value.problems] == ["Ange en plats eller en videolänk."]
    link_only = mc.check_meeting("2027-02-12", "09:00", "10:00", "", "https://meet.example.se/x")
    assert link_only.video_link == "https://meet.example.se/x"


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "https://", "https://exa mple.se", "www.example.se", "mailto:a@b.se"],
)
def test_only_web_addresses_are_video_links(link: str) -> None:
    with pytest.raises(mc.MeetingInvalid) as caught:
        mc.check_meeting("2027-02-12", "09:00", "10:00", "Regionhuset", link)
    assert [p.field for p in caught.value.problems] == ["video_link"]


def test_a_date_outside_the_holiday_calendar_is_refused() -> None:
    with pytest.raises(mc.MeetingInvalid) as caught:
        mc.check_meeting(f"{LAST_SUPPORTED_YEAR + 1}-02-12", "09:00", "10:00", "Regionhuset")
    assert caught.value.problems[0].field == "date"
    assert "mellan åren" in caught.value.problems[0].message_sv


def test_a_date_that_does_not_exist_is_refused() -> None:
    with pytest.raises(mc.MeetingInvalid) as caught:
        mc.check_meeting("2027-02-30", "09:00", "10:00", "Regionhuset")
    assert caught.value.problems[0].message_sv == "”2027-02-30” finns inte i kalendern."


# --- CSV files -----------------------------------------------------------------------------


def test_a_good_csv_file() -> None:
    rows, problems = mc.parse_csv(GOOD_CSV)
    assert problems == []
    assert [r.line for r in rows] == [2, 3, 5]
    checked = mc.check_rows(rows)
    assert checked.problems == ()
    assert checked.warnings == ()
    assert [r.meeting for r in checked.rows] == [
        mc.MeetingData(date(2027, 2, 12), "09:00", "12:00", "Regionhuset, Karlskrona"),
        mc.MeetingData(
            date(2027, 3, 12), "09:00", "12:00", "", "https://teams.example.se/l/meetup/abc"
        ),
        mc.MeetingData(
            date(2027, 6, 18), "13:15", "15:00", "Rådhuset", "https://teams.example.se/l/meetup/def"
        ),
    ]


def test_comma_and_semicolon_files_read_the_same() -> None:
    comma = (
        "Datum,Start,Slut,Plats,Videolänk\n"
        '2027-02-12,09:00,12:00,"Regionhuset, Karlskrona",\n'
        "2027-03-12,9.00,12.00,,https://teams.example.se/l/meetup/abc\n"
        "\n"
        "2027-06-18,13:15,15:00,Rådhuset,https://teams.example.se/l/meetup/def\n"
    )
    assert mc.parse_csv(comma) == mc.parse_csv(GOOD_CSV)


def test_the_video_column_is_optional_and_a_byte_order_mark_is_ignored() -> None:
    content = "\ufeffdatum;start;slut;plats\r\n2027-02-12;09:00;12:00;Regionhuset\r\n"
    rows, problems = mc.parse_calendar_file("moten.csv", content.encode())
    assert problems == []
    assert rows == [mc.RawRow(2, "2027-02-12", "09:00", "12:00", "Regionhuset", "")]


def test_a_spreadsheet_file_in_windows_1252_is_read() -> None:
    content = "datum;start;slut;plats\n2027-02-12;09:00;12:00;Rådhuset Sölvesborg\n"
    rows, _ = mc.parse_calendar_file("moten.csv", content.encode("cp1252"))
    assert rows[0].place == "Rådhuset Sölvesborg"


def test_every_bad_line_is_reported_with_its_number() -> None:
    text = (
        "datum;start;slut;plats\n"
        "2027-02-12;09:00;12:00;Regionhuset\n"  # 2: good
        "2027-02-31;09:00;12:00;Regionhuset\n"  # 3: no such date
        "2027-03-12;12:00;09:00;Regionhuset\n"  # 4: ends before it starts
        "2027-02-12;10:00;11:00;Rådhuset\n"  # 5: the date of line 2 again
        "2027-04-09;09:00;12:00\n"  # 6: a column short
        "2027-05-07;09:00;12:00;\n"  # 7: neither place nor link
        "2027-06-04;09:00;12:00;Regionhuset\n"  # 8: good
    )
    problems = problems_of(text)
    assert [p.line for p in problems] == [3, 4, 5, 6, 7]
    assert [p.text_sv for p in problems] == [
        "Rad 3: ”2027-02-31” finns inte i kalendern.",
        "Rad 4: Mötet måste sluta (09:00) efter att det börjar (12:00).",
        "Rad 5: Datumet 2027-02-12 finns redan på rad 2.",
        "Rad 6: Raden har 3 kolumner men rubrikraden har 4.",
        "Rad 7: Ange en plats eller en videolänk.",
    ]
    assert str(problems[0]) == "line 3: '2027-02-31' is not a date in the calendar"


def test_a_meeting_on_a_holiday_is_allowed_with_a_warning() -> None:
    # 2027-01-06 is Trettondedag jul, 2027-02-13 a Saturday.
    rows, _ = mc.parse_csv(
        "datum;start;slut;plats\n"
        "2027-01-06;09:00;12:00;Regionhuset\n"
        "2027-02-13;09:00;12:00;Regionhuset\n"
        "2027-02-12;09:00;12:00;Regionhuset\n"
    )
    checked = mc.check_rows(rows)
    assert checked.problems == ()
    assert len(checked.rows) == 3
    assert [w.line for w in checked.warnings] == [2, 3]
    assert "helgdag" in checked.warnings[0].text_sv


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "date;start;end;place\n2027-02-12;09:00;12:00;Regionhuset\n",
        "datum;start;plats\n2027-02-12;09:00;Regionhuset\n",
        "datum;start;slut;plats;plats\n",
        "datum;start;slut;plats;rum\n",
    ],
    ids=["empty", "blank", "english", "no-end", "twice", "unknown"],
)
def test_a_wrong_header_rejects_the_file(text: str) -> None:
    with pytest.raises(mc.CalendarFileError) as caught:
        mc.parse_csv(text)
    assert caught.value.message_sv


def test_an_oversized_file_is_refused_before_it_is_read() -> None:
    content = b"datum;start;slut;plats\n" + b"2027-02-12;09:00;12:00;Regionhuset\n" * 8000
    with pytest.raises(mc.CalendarFileError) as caught:
        mc.parse_calendar_file("moten.csv", content)
    assert "kB" in caught.value.message_sv


# --- iCalendar files -----------------------------------------------------------------------


ICS_IN = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Exempel//SV
BEGIN:VEVENT
UID:a@example.se
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Stockholm:20270212T090000
DTEND;TZID=Europe/Stockholm:20270212T120000
SUMMARY:LSVO
LOCATION:Regionhuset\\, Karlskrona
END:VEVENT
BEGIN:VEVENT
UID:b@example.se
DTSTAMP:20260101T000000Z
DTSTART:20270611T070000Z
DURATION:PT2H
SUMMARY:LSVO
LOCATION:https://teams.example.se/l/meetup/abc
END:VEVENT
BEGIN:VEVENT
UID:c@example.se
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20270301
SUMMARY:Heldag
END:VEVENT
BEGIN:VEVENT
UID:d@example.se
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Stockholm:20270305T090000
DTEND;TZID=Europe/Stockholm:20270305T100000
RRULE:FREQ=MONTHLY;COUNT=10
LOCATION:Rådhuset
END:VEVENT
END:VCALENDAR
"""


def test_an_ics_file_gives_rows_in_stockholm_time_and_problems_with_line_numbers() -> None:
    rows, problems = mc.parse_calendar_file("moten.ics", ICS_IN.encode())
    assert rows == [
        mc.RawRow(4, "2027-02-12", "09:00", "12:00", "Regionhuset, Karlskrona", ""),
        # 07:00 UTC on a June day is 09:00 summer time; a link as location is the video link.
        mc.RawRow(12, "2027-06-11", "09:00", "11:00", "", "https://teams.example.se/l/meetup/abc"),
    ]
    assert [p.line for p in problems] == [20, 26]
    assert "starttid" in problems[0].message_sv
    assert "Återkommande" in problems[1].message_sv


def test_a_file_that_is_not_a_calendar_is_refused() -> None:
    with pytest.raises(mc.CalendarFileError):
        mc.parse_calendar_file("moten.ics", b"BEGIN:VCALENDAR\nthis is not\n")


# --- writing feeds -------------------------------------------------------------------------


def group(slug: str, name: str, id_: int, **offsets: int) -> Group:
    return Group(id=id_, slug=slug, name=name, level=GroupLevel.tactical, **offsets)


def view(meeting: Meeting, owner: Group) -> mc.MeetingView:
    rule = DeadlineRule(owner.agenda_offset_days, owner.submission_offset_days)
    return mc.MeetingView(meeting, owner, deadlines_for(owner.slug, meeting.date, rule))


def events_of(content: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(content)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_a_feed_has_stockholm_times_in_winter_and_summer_and_its_deadlines() -> None:
    lsvo = group("lsvo", "LSVO", 1)
    winter = Meeting(
        id=7,
        group_id=1,
        date=date(2027, 2, 12),
        starts_at="09:00",
        ends_at="12:00",
        place="Regionhuset",
    )
    summer = Meeting(
        id=8,
        group_id=1,
        date=date(2026, 6, 26),
        starts_at="13:15",
        ends_at="15:00",
        video_link="https://teams.example.se/l/meetup/abc",
    )
    content = mc.calendar_ics("LSVO", [view(winter, lsvo), view(summer, lsvo)])
    calendar = icalendar.Calendar.from_ical(content)
    zones = calendar.walk("VTIMEZONE")
    assert [str(z["tzid"]) for z in zones] == ["Europe/Stockholm"]
    events = events_of(content)
    assert set(events) == {
        "meeting-7@samverkan",
        "meeting-7-submission@samverkan",
        "meeting-7-agenda@samverkan",
        "meeting-8@samverkan",
        "meeting-8-submission@samverkan",
        "meeting-8-agenda@samverkan",
    }
    start = events["meeting-7@samverkan"].decoded("dtstart")
    assert start == datetime(2027, 2, 12, 9, tzinfo=STOCKHOLM)
    assert start.utcoffset() == timedelta(hours=1)
    assert events["meeting-7@samverkan"]["dtstart"].params["TZID"] == "Europe/Stockholm"
    summer_start = events["meeting-8@samverkan"].decoded("dtstart")
    assert summer_start.astimezone(UTC) == datetime(2026, 6, 26, 11, 15, tzinfo=UTC)
    assert events["meeting-8@samverkan"].decoded("dtend").astimezone(UTC).hour == 13
    assert str(events["meeting-8@samverkan"]["url"]) == "https://teams.example.se/l/meetup/abc"
    assert str(events["meeting-8@samverkan"]["location"]) == "Videomöte"
    assert str(events["meeting-7@samverkan"]["summary"]) == "LSVO"
    description = str(events["meeting-8@samverkan"]["description"])
    # Midsommarafton moves the agenda to Thursday 06-18 and the submissions to 06-11.
    assert "Sista dag för anmälan av ärenden: torsdag 11 juni 2026." in description
    assert "Dagordningen skickas ut: torsdag 18 juni 2026." in description
    assert events["meeting-8-agenda@samverkan"].decoded("dtstart") == date(2026, 6, 18)
    assert str(events["meeting-8-submission@samverkan"]["summary"]) == (
        "Sista dag för anmälan av ärenden – LSVO"
    )


def test_the_feed_uses_the_groups_own_offsets() -> None:
    slow = group("ikf", "IKF", 2, agenda_offset_days=14, submission_offset_days=7)
    meeting = Meeting(
        id=3, group_id=2, date=date(2027, 3, 12), starts_at="09:00", ends_at="10:00", place="X"
    )
    events = events_of(mc.calendar_ics("IKF", [view(meeting, slow)]))
    assert events["meeting-3-agenda@samverkan"].decoded("dtstart") == date(2027, 2, 26)
    assert events["meeting-3-submission@samverkan"].decoded("dtstart") == date(2027, 2, 19)


def test_a_meeting_without_a_time_is_an_all_day_event() -> None:
    lsvo = group("lsvo", "LSVO", 1)
    meeting = Meeting(id=9, group_id=1, date=date(2027, 4, 9), place="Regionhuset")
    event = events_of(mc.calendar_ics("LSVO", [view(meeting, lsvo)]))["meeting-9@samverkan"]
    assert event.decoded("dtstart") == date(2027, 4, 9)


def test_an_exported_feed_imports_again_as_the_same_meetings() -> None:
    lsvo = group("lsvo", "LSVO", 1)
    meeting = Meeting(
        id=7,
        group_id=1,
        date=date(2027, 2, 12),
        starts_at="09:00",
        ends_at="12:00",
        place="Regionhuset; sal 1",
        video_link="https://teams.example.se/l/meetup/abc",
    )
    content = mc.calendar_ics("LSVO", [view(meeting, lsvo)])
    rows, problems = mc.parse_calendar_file("lsvo.ics", content)
    assert problems == []
    checked = mc.check_rows(rows)
    assert [r.meeting for r in checked.rows] == [
        mc.MeetingData(
            date(2027, 2, 12),
            "09:00",
            "12:00",
            "Regionhuset; sal 1",
            "https://teams.example.se/l/meetup/abc",
        )
    ]
