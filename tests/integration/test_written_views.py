"""Written views: the agenda message gives each member a private link; through it they
leave views per item until the end of the meeting day; the views show on the agenda page.
SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from conftest import StaffUser, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from sweep_world import (
    World,
    add_case,
    add_meeting,
    add_opening_items,
    approve_agenda,
    build_world,
    outbox,
    place_on_agenda,
)

from casework import access, written_views
from casework.calendar import STOCKHOLM, agenda_due
from casework.db import unit_of_work
from casework.model import (
    AccessLink,
    AccessPurpose,
    AgendaItem,
    AuditEvent,
    Member,
    Minutes,
    WrittenView,
)
from casework.settings import Settings
from casework.sweep import EventKind, SweepConfig, sweep

CONFIG = SweepConfig(public_url="https://samverkan.example.se")
TODAY = datetime.now(STOCKHOLM).date()
MEETING_DAY = TODAY + timedelta(days=20)
LINK = re.compile(r"https://samverkan\.example\.se(/synpunkter/[A-Za-z0-9_-]{20,100})(?=\s|$)")
PERSONNUMMER = "19811218-9876"


@dataclass(frozen=True)
class Meeting:
    id: int
    items: dict[str, int]  # title → agenda item id


@pytest.fixture
def world(migrated_engine: Engine) -> World:
    return build_world(migrated_engine)


@pytest.fixture
def client(world: World, web_settings: Settings) -> Iterator[TestClient]:
    from casework.web.app import create_app

    app = create_app(engine=world.engine, settings=web_settings)
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def sent_meeting(world: World, day: date = MEETING_DAY) -> Meeting:
    """A meeting with an opening item and two cases, its agenda approved and sent."""
    engine = world.engine
    meeting_id = add_meeting(engine, world.lsvo, day)
    add_opening_items(engine, meeting_id, ["Mötets öppnande"])
    for position, title in enumerate(["Trygg utskrivning", "Psykiatrisk vård"], start=1):
        place_on_agenda(engine, meeting_id, add_case(engine, title), position)
    due = agenda_due(day)
    approve_agenda(engine, meeting_id, datetime.combine(due, datetime.min.time(), STOCKHOLM))
    when = datetime(due.year, due.month, due.day, 9, tzinfo=STOCKHOLM)
    report = sweep(engine, when, CONFIG, kinds=[EventKind.agenda_sent])
    assert report.events == {EventKind.agenda_sent: 1}
    with Session(engine) as session:
        rows = session.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)).all()
        return Meeting(meeting_id, {row.title: row.id or 0 for row in rows})


def member_id(engine: Engine, name: str) -> int:
    with Session(engine) as session:
        member = session.exec(select(Member).where(Member.name == name)).one()
        return member.id or 0


def views_link(engine: Engine, name: str) -> str:
    """The path of the written-views link in `name`'s agenda message."""
    (message,) = [m for m in outbox(engine) if m.kind == "agenda_sent" and m.recipient_name == name]
    found = LINK.findall(message.body_text)
    assert len(found) == 1, message.body_text
    assert f'href="https://samverkan.example.se{found[0]}"' in message.body_html
    return str(found[0])


def post(client: TestClient, path: str, **form: str) -> Response:
    return client.post(path, data={"csrf_token": csrf(client), **form}, follow_redirects=False)


def stored(engine: Engine) -> set[tuple[int, int, str]]:
    with Session(engine) as session:
        rows = session.exec(select(WrittenView)).all()
        return {(v.agenda_item_id, v.member_id, v.text) for v in rows}


def test_each_member_gets_an_own_link_valid_to_the_end_of_the_meeting_day(world: World) -> None:
    meeting = sent_meeting(world)
    bo, cecilia = (
        views_link(world.engine, "Bo Berg"),
        views_link(world.engine, "Cecilia Ordförande"),
    )
    assert bo != cecilia
    with Session(world.engine) as session:
        links = session.exec(select(AccessLink).order_by(col(AccessLink.id))).all()
    # One per member with an address (the chair, the secretary, Bo); none for "Utan Adress".
    assert len(links) == 3
    assert {link.purpose for link in links} == {AccessPurpose.written_views}
    assert {link.meeting_id for link in links} == {meeting.id}
    end = datetime.combine(MEETING_DAY + timedelta(days=1), datetime.min.time(), STOCKHOLM)
    assert {link.expires_at for link in links} == {end}
    by_member = {link.member_id: link.token_hash for link in links}
    assert by_member[member_id(world.engine, "Bo Berg")] == access.token_hash(bo.split("/")[-1])


def test_a_member_saves_and_updates_views_that_show_on_the_agenda_page(
    world: World, client: TestClient
) -> None:
    meeting = sent_meeting(world)
    path = views_link(world.engine, "Bo Berg")
    first, second = meeting.items["Trygg utskrivning"], meeting.items["Psykiatrisk vård"]
    page = client.get(path)
    assert page.status_code == 200
    assert "Skriftliga synpunkter" in page.text and "Bo Berg" in page.text
    for title in ("Mötets öppnande", "Trygg utskrivning", "Psykiatrisk vård"):
        assert title in page.text
    assert f'<label for="punkt-{first}">' in page.text
    assert 'name="csrf_token"' in page.text

    saved = post(client, path, **{f"punkt-{first}": "Vi stöder förslaget.", f"punkt-{second}": ""})
    assert saved.status_code == 303
    assert "Dina synpunkter är sparade" in client.get(saved.headers["location"]).text
    bo = member_id(world.engine, "Bo Berg")
    assert stored(world.engine) == {(first, bo, "Vi stöder förslaget.")}

    again = post(client, path, **{f"punkt-{first}": "Vi stöder förslaget med ändringar."})
    assert again.status_code == 303
    assert stored(world.engine) == {(first, bo, "Vi stöder förslaget med ändringar.")}
    assert "Vi stöder förslaget med ändringar." in client.get(path).text
    with Session(world.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "written_view")).all()
    assert [e.actor for e in events] == ["Bo Berg", "Bo Berg"]
    assert events[1].before == {"text": "Vi stöder förslaget."}
    assert events[1].case_id is not None

    # Cecilia writes too; the secretary sees both under the item, and who has written.
    post(client, views_link(world.engine, "Cecilia Ordförande"), **{f"punkt-{first}": "Nej."})
    with unit_of_work(world.engine, write=False) as session:
        views = written_views.views_by_item(session, meeting.id)
    assert list(views) == [first]
    assert [(v.member_name, v.organisation, v.text) for v in views[first]] == [
        ("Bo Berg", "Region Blekinge", "Vi stöder förslaget med ändringar."),
        ("Cecilia Ordförande", "Region Blekinge", "Nej."),
    ]
    sign_in(client, StaffUser("kansli@example.se", "ett långt lösenord 2026", ""))
    agenda_page = client.get(f"/moten/{meeting.id}/dagordning")
    assert agenda_page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", agenda_page.text))
    assert "Skriftliga synpunkter har lämnats av: Bo Berg, Region Blekinge" in text
    assert "Vi stöder förslaget med ändringar." in text
    # The views stand under their own item, before the next one.
    assert text.index("Trygg utskrivning") < text.index("Nej.") < text.index("Psykiatrisk vård")
    # The case's audit trail names the change.
    case_page = client.get(f"/arenden/{events[1].case_id}")
    assert case_page.status_code == 200
    assert "Skriftliga synpunkter lämnade" in case_page.text

    # Emptying a box removes the view.
    post(client, path, **{f"punkt-{first}": ""})
    assert stored(world.engine) == {(first, member_id(world.engine, "Cecilia Ordförande"), "Nej.")}


def test_a_personnummer_is_refused_next_to_its_item_and_nothing_is_saved(
    world: World, client: TestClient
) -> None:
    meeting = sent_meeting(world)
    path = views_link(world.engine, "Bo Berg")
    first, second = meeting.items["Trygg utskrivning"], meeting.items["Psykiatrisk vård"]
    refused = post(
        client,
        path,
        **{f"punkt-{first}": "Gäller inte enskilda.", f"punkt-{second}": f"Se {PERSONNUMMER}."},
    )
    assert refused.status_code == 422
    assert "verkar innehålla ett personnummer (19811218-XXXX)" in refused.text
    assert f'id="punkt-{second}-fel"' in refused.text
    assert "Gäller inte enskilda." in refused.text  # what was typed comes back
    assert stored(world.engine) == set()


def test_saving_needs_the_csrf_token(world: World, client: TestClient) -> None:
    meeting = sent_meeting(world)
    path = views_link(world.engine, "Bo Berg")
    client.get(path)
    response = client.post(
        path,
        data={"csrf_token": "fel", f"punkt-{meeting.items['Trygg utskrivning']}": "Text"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert stored(world.engine) == set()


def test_a_wrong_token_or_a_case_link_opens_nothing(world: World, client: TestClient) -> None:
    meeting = sent_meeting(world)
    path = views_link(world.engine, "Bo Berg")
    item = f"punkt-{meeting.items['Trygg utskrivning']}"
    for wrong in (path[:-1] + ("A" if path[-1] != "A" else "B"), "/synpunkter/kort"):
        page = client.get(wrong)
        assert page.status_code == 404
        assert "Vi hittar ingen sida med den länken" in page.text
        assert post(client, wrong, **{item: "Text"}).status_code == 404
    # A written-views token is not a case link, and a case link is not a written-views link.
    assert client.get(path.replace("/synpunkter/", "/s/")).status_code == 404
    with unit_of_work(world.engine) as session:
        url = access.create_link(session, AccessPurpose.case, case_id=1)
    assert client.get(f"/synpunkter/{url.rsplit('/', 1)[1]}").status_code == 404
    assert stored(world.engine) == set()


def test_after_the_meeting_day_the_link_is_refused(world: World, client: TestClient) -> None:
    meeting = sent_meeting(world)
    path = views_link(world.engine, "Bo Berg")
    token = path.rsplit("/", 1)[1]
    item = meeting.items["Trygg utskrivning"]
    # On the meeting day the link still works; the next morning it does not.
    late_evening = datetime(MEETING_DAY.year, MEETING_DAY.month, MEETING_DAY.day, 23, 30)
    late_evening = late_evening.replace(tzinfo=STOCKHOLM)
    assert written_views.save_views(world.engine, token, {item: "Sent"}, now=late_evening) == 1
    with pytest.raises(access.LinkExpired):
        written_views.save_views(
            world.engine, token, {item: "För sent"}, now=late_evening + timedelta(hours=1)
        )
    assert {text for _, _, text in stored(world.engine)} == {"Sent"}


def test_a_link_to_a_past_meeting_gives_a_swedish_page(world: World, client: TestClient) -> None:
    past = sent_meeting(world, TODAY - timedelta(days=2))
    expired = views_link(world.engine, "Bo Berg")
    item = f"punkt-{past.items['Trygg utskrivning']}"
    for response in (client.get(expired), post(client, expired, **{item: "Text"})):
        assert response.status_code == 410
        assert "Mötet har redan hållits" in response.text
    # A link without an end date is refused by the meeting's date all the same.
    with unit_of_work(world.engine) as session:
        url = access.create_link(
            session,
            AccessPurpose.written_views,
            meeting_id=past.id,
            member_id=member_id(world.engine, "Bo Berg"),
        )
    without_end = url[url.index("/synpunkter/") :]
    for response in (client.get(without_end), post(client, without_end, **{item: "Text"})):
        assert response.status_code == 410
        assert "Mötet har redan hållits" in response.text
    assert stored(world.engine) == set()


def test_once_the_minutes_are_final_no_views_are_taken(world: World, client: TestClient) -> None:
    meeting = sent_meeting(world)
    path = views_link(world.engine, "Bo Berg")
    item = f"punkt-{meeting.items['Trygg utskrivning']}"
    assert post(client, path, **{item: "I tid."}).status_code == 303
    with unit_of_work(world.engine) as session:
        session.add(Minutes(meeting_id=meeting.id, first_paragraph=1, last_paragraph=3))
    for response in (client.get(path), post(client, path, **{item: "För sent."})):
        assert response.status_code == 410
        assert "Protokollet från mötet är fastställt" in response.text
    assert {text for _, _, text in stored(world.engine)} == {"I tid."}
