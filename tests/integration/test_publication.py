"""What the public sees of the bodies, read from the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import publication_world as w
import pytest
from sqlalchemy import Engine

from casework import publication as pub

TODAY = date(w.NEXT_YEAR, 1, 10)
NOW = datetime(w.NEXT_YEAR, 1, 10, 12, 0, tzinfo=UTC)
A = "{http://www.w3.org/2005/Atom}"


def test_the_bodies_are_the_groups_that_hold_meetings(seeded_engine: Engine) -> None:
    w.build(seeded_engine)
    assert [b.slug for b in pub.all_bodies(seeded_engine, today=TODAY)] == ["lsvo", "sg-aldre"]
    with pytest.raises(pub.BodyNotFound):
        pub.body_page(seeded_engine, "beredningsgruppen", today=TODAY)
    with pytest.raises(pub.BodyNotFound):
        pub.body_page(seeded_engine, "finns-inte", today=TODAY)


def test_a_body_page_holds_only_what_is_published(seeded_engine: Engine) -> None:
    w.build(seeded_engine)
    body = pub.body_page(seeded_engine, "lsvo", today=TODAY)
    assert [u.meeting.date for u in body.upcoming] == [w.UNSENT, w.UPCOMING]
    assert [u.agenda_published for u in body.upcoming] == [False, True]
    # Sent agendas only, newest first, numbered as the agenda service numbers them.
    assert [a.day for a in body.agendas] == [w.UPCOMING, w.JUNE, w.MAY]
    may = body.agenda_on(w.MAY)
    assert may is not None and may.sent_at == w.MAY_SENT
    headings = [line.heading for line in may.agenda.lines]
    assert headings[:2] == [
        "1. Godkännande av dagordningen (B)",
        "2. Föregående sammanträdesprotokoll (B)",
    ]
    assert headings[2] == f"3. {w.HOSTILE} (B)"
    assert headings[-1] == "5. Övriga frågor"
    assert may.title(body.group) == "Dagordning LSVO 12 maj 2023"
    # Approved minutes only: June's are finalised but not approved.
    assert [m.day for m in body.minutes] == [w.MAY]
    published = body.minutes[0]
    assert published.current.version == 2
    assert published.current.reason == w.HOSTILE_REASON
    assert [v.version for v in published.earlier] == [1]
    assert published.approved_at == w.MAY_APPROVED_V2
    assert published.current.paragraphs == "§ 23–41"
    assert published.title(body.group) == "Protokoll LSVO 12 maj 2023"
    assert body.updated == w.UPCOMING_SENT


def test_single_items_are_found_or_refused(seeded_engine: Engine) -> None:
    w.build(seeded_engine)
    group, agenda = pub.published_agenda(seeded_engine, "lsvo", w.MAY)
    assert group.slug == "lsvo" and agenda.day == w.MAY
    for day in (w.UNSENT, date(2023, 1, 1)):
        with pytest.raises(pub.NotPublished) as refused:
            pub.published_agenda(seeded_engine, "lsvo", day)
        assert refused.value.message_sv == "Dagordningen är inte publicerad."
    _, minutes = pub.published_minutes(seeded_engine, "lsvo", w.MAY)
    assert minutes.version(1) is not None and minutes.version(3) is None
    with pytest.raises(pub.NotPublished):
        pub.published_minutes(seeded_engine, "lsvo", w.JUNE)
    with pytest.raises(pub.BodyNotFound):
        pub.published_agenda(seeded_engine, "beredningsgruppen", w.MAY)


def test_an_unapproved_newer_version_leaves_the_approved_one_shown(seeded_engine: Engine) -> None:
    world = w.build(seeded_engine)
    from casework.db import unit_of_work

    with unit_of_work(seeded_engine) as session:
        w.minutes(
            session,
            world.may,
            version=3,
            approved_at=None,
            reason="Ny rättelse",
            content=w.unapproved(w.document(w.MAY, world.may, 3, "Ny rättelse")),
        )
    _, minutes = pub.published_minutes(seeded_engine, "lsvo", w.MAY)
    assert minutes.current.version == 2


def test_the_atom_feed_parses_and_has_what_atom_requires(seeded_engine: Engine) -> None:
    w.build(seeded_engine)
    body = pub.body_page(seeded_engine, "lsvo", today=TODAY)
    links = pub.WebLinks("https://samverkan.example.se")
    feed = ET.fromstring(pub.atom_feed(body, links, now=NOW))
    assert feed.tag == f"{A}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "sv"
    assert feed.findtext(f"{A}id") == pub.feed_id("lsvo")
    assert feed.findtext(f"{A}title", "").startswith("LSVO – Ledningssamverkan")
    assert feed.findtext(f"{A}updated") == "2027-03-05T08:00:00Z".replace("2027", str(w.NEXT_YEAR))
    assert feed.findtext(f"{A}author/{A}name") == "Samverkan Blekinge"
    rels = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert rels == {
        "self": "https://samverkan.example.se/organ/lsvo/atom.xml",
        "alternate": "https://samverkan.example.se/organ/lsvo",
    }
    entries = feed.findall(f"{A}entry")
    titles = [e.findtext(f"{A}title") for e in entries]
    # Newest first: the upcoming agenda, v2 of May's minutes, June's agenda, May's agenda.
    assert titles == [
        f"Dagordning LSVO 12 mars {w.NEXT_YEAR}",
        "Protokoll LSVO 12 maj 2023",
        "Dagordning LSVO 9 juni 2023",
        "Dagordning LSVO 12 maj 2023",
    ]
    for entry in entries:
        for required in ("id", "title", "updated", "summary"):
            assert entry.findtext(f"{A}{required}"), required
        assert entry.findtext(f"{A}id", "").startswith("urn:uuid:")
        alternate = [x for x in entry.findall(f"{A}link") if x.get("rel") == "alternate"]
        assert len(alternate) == 1 and alternate[0].get("type") == "text/html"
    ids = [e.findtext(f"{A}id") for e in entries]
    assert len(set(ids)) == 4
    minutes = entries[1]
    assert minutes.findtext(f"{A}id") == pub.entry_id("lsvo", w.MAY, pub.MINUTES)
    assert minutes.findtext(f"{A}updated") == "2023-06-20T12:30:00Z"
    assert minutes.findtext(f"{A}published") == "2023-06-09T10:00:00Z"
    hrefs = {x.get("rel"): x.get("href") for x in minutes.findall(f"{A}link")}
    assert hrefs == {
        "alternate": "https://samverkan.example.se/organ/lsvo/protokoll/2023-05-12",
        "enclosure": "https://samverkan.example.se/organ/lsvo/protokoll/2023-05-12.pdf",
    }
    assert w.HOSTILE_REASON in minutes.findtext(f"{A}summary", "")
    may_agenda = entries[3]
    assert may_agenda.findtext(f"{A}updated") == "2023-05-05T08:00:00Z"
    # The agenda's summary names its items; the XML library escaped the markup in them.
    assert w.HOSTILE in may_agenda.findtext(f"{A}summary", "")


def test_entry_ids_depend_on_body_day_and_kind_only() -> None:
    first = pub.entry_id("lsvo", w.MAY, pub.AGENDA)
    assert first == pub.entry_id("lsvo", w.MAY, pub.AGENDA)
    assert first != pub.entry_id("lsvo", w.MAY, pub.MINUTES)
    assert first != pub.entry_id("sg-aldre", w.MAY, pub.AGENDA)
    assert first != pub.entry_id("lsvo", w.JUNE, pub.AGENDA)


def test_a_feed_without_entries_is_still_valid(seeded_engine: Engine) -> None:
    w.build(seeded_engine)
    body = pub.body_page(seeded_engine, "sg-aldre", today=TODAY)
    feed = ET.fromstring(pub.atom_feed(body, pub.ExportLinks("../"), now=NOW))
    assert feed.findtext(f"{A}updated") == f"{w.NEXT_YEAR}-01-10T12:00:00Z"
    assert feed.findall(f"{A}entry") == []
    assert {x.get("href") for x in feed.findall(f"{A}link")} == {
        "../sg-aldre/atom.xml",
        "../sg-aldre/index.html",
    }


def test_names_and_dates_in_titles() -> None:
    from casework.model import Group, GroupLevel

    group = Group(slug="sg-aldre", name="Samverkansgrupp att åldras", level=GroupLevel.tactical)
    assert pub.short_name(group) == "Samverkansgrupp att åldras"
    assert pub.day_text(date(2024, 12, 1)) == "1 december 2024"
    assert pub.parse_day("2023-05-12") == w.MAY
    for bad in ("2023-5-12", "2023-02-30", "x" * 10, "2023-05-12.html"):
        assert pub.parse_day(bad) is None


def test_the_list_counts_what_each_body_published(seeded_engine: Engine) -> None:
    w.build(seeded_engine)
    summaries = pub.body_summaries(seeded_engine, today=TODAY)
    assert [(s.slug, s.agendas, s.minutes) for s in summaries] == [
        ("lsvo", 3, 1),
        ("sg-aldre", 0, 0),
    ]
    lsvo = summaries[0]
    assert lsvo.next_meeting is not None and lsvo.next_meeting.date == w.UNSENT
    later = pub.body_summaries(seeded_engine, today=date(w.NEXT_YEAR + 1, 1, 1))
    assert [s.next_meeting for s in later] == [None, None]
