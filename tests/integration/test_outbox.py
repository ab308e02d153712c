"""Message rendering and the outbox writer."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from casework.calendar import CalendarError, next_working_moment
from casework.db import unit_of_work
from casework.model import Notification, NotificationStatus
from casework.outbox import Recipient, enqueue
from notifications.messages import (
    UnknownMessageKind,
    default_html,
    html_part,
    paragraphs,
    render,
    swedish_date,
)

ANNA = Recipient("Anna Andersson", "anna@example.se")


def test_a_message_has_subject_text_and_html_with_links() -> None:
    message = render("test", {"recipient": ANNA, "public_url": "https://samverkan.example.se"})
    assert message.subject == "Provmeddelande från Samverkan Blekinge"
    assert message.text.startswith("Hej Anna Andersson\n")
    assert "anna@example.se" in message.text
    assert '<a href="https://samverkan.example.se">' in message.html
    assert message.html.startswith("<!doctype html>")


def test_html_escapes_what_people_typed() -> None:
    evil = Recipient("<script>alert(1)</script>", "x@example.se")
    message = render("test", {"recipient": evil, "public_url": "https://a.se"})
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>" in message.text  # plain text is not HTML


def test_paragraphs_keep_lines_apart_and_link_addresses() -> None:
    text = (
        "\n\nFörsta raden <b>\r\nandra: https://a.se/s/x?a=1&b='2' slut\u2028tredje\n\n\n"
        "Nytt stycke http://b.se\n \n\nsista"
    )
    assert str(paragraphs(text)) == (
        "<p>Första raden &lt;b&gt;<br>\n"
        'andra: <a href="https://a.se/s/x?a=1&amp;b=&#39;2&#39;">'
        "https://a.se/s/x?a=1&amp;b=&#39;2&#39;</a> slut<br>\n"
        "tredje</p>\n"
        '<p><br>\nNytt stycke <a href="http://b.se">http://b.se</a><br>\n </p>\n'
        "<p>sista</p>"
    )
    assert str(paragraphs("ingen länk & inget annat")) == "<p>ingen länk &amp; inget annat</p>"


def test_a_kind_without_html_of_its_own_stores_none_and_gets_the_default() -> None:
    message = render("test", {"recipient": ANNA, "public_url": "https://a.se"})
    assert message.own_html == ""
    assert message.html == default_html(message.subject, message.text)
    assert html_part(message.subject, message.text, "") == message.html
    assert f"<title>{message.subject}</title>" in message.html
    assert html_part(message.subject, message.text, "<p>egen</p>") == "<p>egen</p>"
    case = SimpleNamespace(
        reference="SB-2026-0001", title="Ett ärende", created_at=dt.date(2026, 6, 1)
    )
    with_own = render(
        "stale_triage",
        {"recipient": ANNA, "case": case, "case_url": "https://a.se/s/x", "waited": 5},
    )
    assert '<a href="https://a.se/s/x">' in with_own.own_html
    assert with_own.html == with_own.own_html


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("test", {"recipient": ANNA})


def test_an_unknown_kind_names_the_kind() -> None:
    with pytest.raises(UnknownMessageKind, match="no-such-kind"):
        render("no-such-kind", {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2026, 6, 26), "fredag 26 juni 2026"),
        (datetime(2026, 1, 5, 8, 30, tzinfo=UTC), "måndag 5 januari 2026 kl. 09:30"),
        ("annat", "annat"),
    ],
)
def test_swedish_dates(value: object, expected: str) -> None:
    assert swedish_date(value) == expected


def test_enqueue_writes_one_row_per_distinct_address(migrated_engine: Engine) -> None:
    at = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    with unit_of_work(migrated_engine) as session:
        rows = enqueue(
            session,
            kind="test",
            recipients=[ANNA, Recipient("Anna igen", "ANNA@example.se"), Recipient("Ingen", " ")],
            context={"public_url": "https://a.se"},
            event_key="test:1",
            not_before=at,
        )
    with unit_of_work(migrated_engine) as session:
        stored = session.exec(select(Notification)).all()
    assert [n.id for n in stored] == rows
    assert [(n.recipient_address, n.event_key, n.status) for n in stored] == [
        ("anna@example.se", "test:1", NotificationStatus.pending)
    ]
    assert stored[0].not_before == at
    assert stored[0].subject == "Provmeddelande från Samverkan Blekinge"
    # The kind has no HTML template: the drain makes the default HTML when it sends.
    assert stored[0].body_html == ""


def test_enqueue_rolls_back_with_the_change_that_caused_it(migrated_engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(migrated_engine) as session:
        enqueue(session, kind="test", recipients=[ANNA], context={"public_url": "https://a.se"})
        raise RuntimeError("the change failed")
    with unit_of_work(migrated_engine) as session:
        assert session.exec(select(Notification)).all() == []


STHLM = dt.timezone(dt.timedelta(hours=1))  # CET, no summer time in these dates


@pytest.mark.parametrize(
    ("moment", "expected_local"),
    [
        # Inside working hours on a Monday: unchanged.
        (datetime(2026, 3, 2, 10, 0, tzinfo=STHLM), datetime(2026, 3, 2, 10, 0, tzinfo=STHLM)),
        # Before 08: the same day at 08.
        (datetime(2026, 3, 2, 6, 59, tzinfo=STHLM), datetime(2026, 3, 2, 8, 0, tzinfo=STHLM)),
        # At 17 and after: the next working day at 08.
        (datetime(2026, 3, 2, 17, 0, tzinfo=STHLM), datetime(2026, 3, 3, 8, 0, tzinfo=STHLM)),
        # Friday evening: Monday at 08.
        (datetime(2026, 3, 6, 18, 0, tzinfo=STHLM), datetime(2026, 3, 9, 8, 0, tzinfo=STHLM)),
        # Saturday noon: Monday at 08.
        (datetime(2026, 3, 7, 12, 0, tzinfo=STHLM), datetime(2026, 3, 9, 8, 0, tzinfo=STHLM)),
        # Nyårsafton (de facto holiday) and Nyårsdagen: Friday 2 January 2026 at 08.
        (datetime(2025, 12, 31, 9, 0, tzinfo=STHLM), datetime(2026, 1, 2, 8, 0, tzinfo=STHLM)),
    ],
)
def test_next_working_moment(moment: datetime, expected_local: datetime) -> None:
    result = next_working_moment(moment)
    assert result.tzinfo is UTC
    assert result == expected_local


def test_next_working_moment_in_summer_time_uses_stockholm_hours() -> None:
    # 05:30 UTC on Monday 1 June 2026 is 07:30 in Stockholm (CEST): wait until 08:00 = 06:00 UTC.
    assert next_working_moment(datetime(2026, 6, 1, 5, 30, tzinfo=UTC)) == datetime(
        2026, 6, 1, 6, 0, tzinfo=UTC
    )


def test_next_working_moment_refuses_naive_times_and_empty_hours() -> None:
    with pytest.raises(CalendarError, match="time zone"):
        next_working_moment(datetime(2026, 3, 2, 10, 0))
    with pytest.raises(CalendarError, match="working hours"):
        next_working_moment(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 17, 8)
