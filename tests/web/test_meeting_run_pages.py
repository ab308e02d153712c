"""The pages of a meeting being held: attendance and live quorum, decisions, feedback on the
previous minutes and their approval; roles, CSRF, and errors shown with what was typed."""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from lsvo_2021_06_04 import attendance
from sqlalchemy import Engine
from sqlmodel import select

from casework import meeting_run, repository
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.meeting_run import AssignmentInput, DecisionInput
from casework.model import (
    AgendaItem,
    AgendaSection,
    Assignment,
    AssignmentStatus,
    Attendance,
    Decision,
    Meeting,
    Minutes,
    Outcome,
    QuorumChoice,
    StaffRole,
)

MAY_7 = date(2021, 5, 7)
JUNE_4 = date(2021, 6, 4)
SEPT_3 = date(2021, 9, 3)
SECRETARY_ID = Identity(0, "sekreterare@example.se", "", frozenset({(StaffRole.secretary, "lsvo")}))


def post(client: TestClient, path: str, data: dict[str, object] | None = None) -> Response:
    return client.post(
        path, data={"csrf_token": csrf(client), **(data or {})}, follow_redirects=False
    )


def text_of(response: Response) -> str:
    """The page's text without tags, spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


@pytest.fixture
def secretary(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")


@pytest.fixture
def world(seeded_engine: Engine) -> dict[str, int]:
    with unit_of_work(seeded_engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        rows = {
            key: Meeting(group_id=group.id, date=day, starts_at="13:00", place="Teams")
            for key, day in (("may", MAY_7), ("june", JUNE_4), ("sept", SEPT_3))
        }
        session.add_all(rows.values())
        session.flush()
        ids = {key: m.id for key, m in rows.items() if m.id is not None}
        for member, _, _ in repository.list_group_members(session, group_slug="lsvo"):
            assert member.id is not None
            ids[member.name] = member.id
        return ids


@pytest.fixture
def signed_in(client: TestClient, secretary: StaffUser) -> TestClient:
    sign_in(client, secretary)
    return client


def mark_2021_06_04(client: TestClient, world: dict[str, int]) -> Response:
    present, absent = attendance()
    return post(
        client,
        f"/moten/{world['june']}/narvaro",
        {
            "ledamot": [world[n] for n in (*present, *absent, "Mats Wennstig")],
            "narvarande": [world[n] for n in present],
        },
    )


def item_id(engine: Engine, meeting_id: int, title: str) -> int:
    with unit_of_work(engine) as session:
        row = session.exec(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting_id, AgendaItem.title == title)
        ).first()
        if row is None:
            row = AgendaItem(meeting_id=meeting_id, section=AgendaSection.case, title=title)
            session.add(row)
            session.flush()
        assert row.id is not None
        return row.id


def test_the_meeting_page_links_to_the_sitting(
    signed_in: TestClient, world: dict[str, int]
) -> None:
    page = signed_in.get(f"/moten/{world['june']}")
    assert f'href="/moten/{world["june"]}/sammantrade"' in page.text
    sitting = signed_in.get(f"/moten/{world['june']}/sammantrade")
    assert sitting.status_code == 200
    body = text_of(sitting)
    assert "Bodil Sundlöf (ordförande, räknas inte)" in body
    assert "Mats Wennstig (sekreterare, räknas inte)" in body
    assert "Regionen: 0 av 6 närvarande, minst 4 behövs" in body
    assert 'id="narvaro"' in sitting.text and "meeting_run.js" in sitting.text
    assert "visas här när närvaron har sparats första gången" in body
    assert signed_in.get("/static/meeting_run.js").status_code == 200
    assert signed_in.get("/moten/99999/sammantrade").status_code == 404


def test_attendance_of_2021_06_04_shows_the_municipalities_short(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    saved = mark_2021_06_04(signed_in, world)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/moten/{world['june']}/sammantrade?klart=narvaro"
    body = text_of(signed_in.get(saved.headers["location"]))
    assert "Närvaron är sparad." in body
    assert "Kommunerna: 7 av 14 närvarande, minst 8 behövs" in body
    assert "Regionen: 6 av 6 närvarande, minst 4 behövs" in body
    assert "Mötet är inte beslutsmässigt" in body
    with unit_of_work(seeded_engine) as session:
        rows = session.exec(select(Attendance).where(Attendance.meeting_id == world["june"])).all()
        assert sum(r.present for r in rows) == 14
        assert sum(not r.present for r in rows) == 8  # the 7 absent and the secretary
    # The openings are stored, so each item links to its decision form.
    openings = item_id(seeded_engine, world["june"], "Föregående sammanträdesprotokoll")
    # An item of another meeting is not found under this one.
    assert signed_in.get(f"/moten/{world['may']}/punkt/{openings}").status_code == 404
    assert (
        f"/moten/{world['june']}/punkt/{openings}"
        in signed_in.get(f"/moten/{world['june']}/sammantrade").text
    )


def test_the_live_quorum_counts_without_storing(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    present, _ = attendance()
    ids = [world[n] for n in (*present, "Gunilla Råberg")]
    fragment = signed_in.get(
        f"/moten/{world['june']}/narvaro/beslutsmassighet", params={"narvarande": ids}
    )
    assert fragment.status_code == 200
    assert "Kommunerna: 8 av 14 närvarande, minst 8 behövs" in text_of(fragment)
    assert "Mötet är beslutsmässigt." in text_of(fragment)
    assert "<html" not in fragment.text
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.present_ids(session, world["june"]) == set()


def test_another_groups_secretary_is_refused(
    client: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    other = _staff(seeded_engine, "sekr-aldre@example.se", StaffRole.secretary, "sg-aldre")
    sign_in(client, other)
    assert client.get(f"/moten/{world['june']}/sammantrade").status_code == 403
    assert client.get(f"/moten/{world['june']}/narvaro/beslutsmassighet").status_code == 403
    assert mark_2021_06_04(client, world).status_code == 403
    item = item_id(seeded_engine, world["june"], "Samsjuklighet")
    assert client.get(f"/moten/{world['june']}/punkt/{item}").status_code == 403
    refused = post(client, f"/moten/{world['june']}/punkt/{item}", {"outcome": "noted"})
    assert refused.status_code == 403
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.decisions_of(session, world["june"]) == {}


def test_forms_need_the_csrf_token(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    response = signed_in.post(
        f"/moten/{world['june']}/narvaro",
        data={"ledamot": [world["Kjell Ivarsson"]], "narvarande": [world["Kjell Ivarsson"]]},
        follow_redirects=False,
    )
    assert response.status_code == 403
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.present_ids(session, world["june"]) == set()


def test_deciding_without_quorum_needs_the_box_and_keeps_what_was_typed(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    mark_2021_06_04(signed_in, world)
    item = item_id(seeded_engine, world["june"], "Samsjuklighet")
    path = f"/moten/{world['june']}/punkt/{item}"
    form = signed_in.get(path)
    assert form.status_code == 200
    assert 'name="without_quorum"' in form.text
    assert '<option value="lägga informationen till protokollet">' in form.text
    typed = {
        "outcome": "decided",
        "clause": ["godkänna projektplanen", ""],
        "text": "Projektplanen presenterades.",
        "recipient_name": ["Samordningsgrupp UPH"],
        "recipient_address": ["uph@example.se"],
    }
    refused = post(signed_in, path, typed)
    assert refused.status_code == 422
    body = text_of(refused)
    assert "Mötet är inte beslutsmässigt" in body
    assert 'aria-describedby="quorum-fel"' in refused.text
    assert 'value="godkänna projektplanen"' in refused.text
    assert "Projektplanen presenterades." in refused.text
    assert 'value="uph@example.se"' in refused.text
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.decisions_of(session, world["june"]) == {}

    saved = post(signed_in, path, {**typed, "without_quorum": "1"})
    assert saved.status_code == 303, saved.text
    with unit_of_work(seeded_engine) as session:
        decision = meeting_run.decisions_of(session, world["june"])[item]
    assert decision.quorum == QuorumChoice.without_quorum
    assert decision.recipients == [{"name": "Samordningsgrupp UPH", "address": "uph@example.se"}]
    sitting = text_of(signed_in.get(f"/moten/{world['june']}/sammantrade"))
    assert "(beslutat utan beslutsmässighet)" in sitting
    assert "att godkänna projektplanen" in sitting


def test_errors_are_shown_next_to_their_fields(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    item = item_id(seeded_engine, world["june"], "Kvinnofridssatsningen")
    path = f"/moten/{world['june']}/punkt/{item}"
    refused = post(
        signed_in,
        path,
        {
            "outcome": "deferred",
            "task_description": ["", "Ta fram underlag"],
            "task_owner": ["", ""],
            "task_member": ["", ""],
            "task_due_date": ["", "den 1 sept"],
            "task_due_meeting": ["", ""],
        },
    )
    assert refused.status_code == 422
    assert 'id="deferred_to-fel"' in refused.text
    assert 'id="task-due-0-fel"' in refused.text  # the typed row is the first one shown
    assert "Skriv datumet som ÅÅÅÅ-MM-DD." in refused.text
    assert 'value="Ta fram underlag"' in refused.text
    assert 'value="den 1 sept"' in refused.text
    assert 'id="outcome-deferred" name="outcome" value="deferred" checked' in refused.text

    again = post(
        signed_in,
        path,
        {
            "outcome": "deferred",
            "deferred_to": str(world["sept"]),
            "task_description": ["Ta fram underlag"],
            "task_owner": [""],
            "task_member": [""],
            "task_due_date": ["2021-09-01"],
            "task_due_meeting": [""],
        },
    )
    assert again.status_code == 422
    assert 'id="task-owner-0-fel"' in again.text
    assert "Skriv vem som har uppdraget." in again.text
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.decisions_of(session, world["june"]) == {}


def test_more_rows_stores_nothing(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    item = item_id(seeded_engine, world["june"], "Samsjuklighet")
    path = f"/moten/{world['june']}/punkt/{item}"
    before = signed_in.get(path).text.count('name="clause"')
    more = post(signed_in, path, {"outcome": "noted", "clause": ["a", "b", "c"], "action": "fler"})
    assert more.status_code == 200
    assert before == 3
    # The three typed clauses, the one empty row always offered, and one more.
    assert more.text.count('name="clause"') == 5
    assert 'value="b"' in more.text
    assert more.text.count('name="task_description"') == 2
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.decisions_of(session, world["june"]) == {}


def test_a_noted_item_is_stored_and_frozen_with_the_minutes(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    item = item_id(seeded_engine, world["june"], "Länsdialoger")
    path = f"/moten/{world['june']}/punkt/{item}"
    assert post(signed_in, path, {"outcome": "noted"}).status_code == 303
    with unit_of_work(seeded_engine) as session:
        decision = meeting_run.decisions_of(session, world["june"])[item]
        assert decision.clauses == ["lägga informationen till protokollet"]
        session.add(Minutes(meeting_id=world["june"], first_paragraph=113, last_paragraph=123))
    frozen = post(signed_in, path, {"outcome": "decided", "clause": ["godkänna"]})
    assert frozen.status_code == 409
    assert "Protokollet är fastställt" in text_of(frozen)
    refused = mark_2021_06_04(signed_in, world)
    assert refused.status_code == 409
    assert "Protokollet är fastställt" in text_of(refused)
    with unit_of_work(seeded_engine) as session:
        assert session.get(Decision, decision.id).outcome == Outcome.noted  # type: ignore[union-attr]


def test_guests_are_added_with_errors_kept(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    refused = post(
        signed_in, f"/moten/{world['june']}/gaster", {"guest_organisation": "Region Blekinge"}
    )
    assert refused.status_code == 422
    assert 'id="guest_name-fel"' in refused.text
    assert 'value="Region Blekinge"' in refused.text
    added = post(
        signed_in,
        f"/moten/{world['june']}/gaster",
        {"guest_name": "Kristina Borén", "guest_function": "processledare"},
    )
    assert added.status_code == 303
    assert "Kristina Borén, processledare" in text_of(signed_in.get(added.headers["location"]))


def test_previous_minutes_feedback_and_approval_at_the_next_meeting(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    present, absent = attendance()
    meeting_run.record_attendance(
        seeded_engine, SECRETARY_ID, world["june"], [world[n] for n in present + absent], []
    )
    samsjuklighet = item_id(seeded_engine, world["june"], "Samsjuklighet")
    meeting_run.record_decision(
        seeded_engine,
        SECRETARY_ID,
        world["june"],
        samsjuklighet,
        DecisionInput(
            outcome=Outcome.decided,
            clauses=["ge Kjell Ivarsson i uppdrag att ta fram en plan"],
            assignments=[
                AssignmentInput("Ta fram en plan", "Kjell Ivarsson", due_meeting_id=world["sept"])
            ],
        ),
    )
    with unit_of_work(seeded_engine) as session:
        minutes = Minutes(meeting_id=world["june"], first_paragraph=113, last_paragraph=123)
        session.add(minutes)
        session.flush()
        minutes_id = minutes.id
        task = session.exec(select(Assignment)).one()
    meeting_run.record_attendance(seeded_engine, SECRETARY_ID, world["sept"], [], [])
    previous_item = item_id(seeded_engine, world["sept"], "Föregående sammanträdesprotokoll")
    path = f"/moten/{world['sept']}/punkt/{previous_item}"
    page = signed_in.get(path)
    body = text_of(page)
    assert "Protokoll 2021-06-04 (version 1, paragraf 113–123): inte justerat." in body
    assert "Samsjuklighet: Ta fram en plan – Kjell Ivarsson" in body

    reported = post(
        signed_in,
        f"/moten/{world['sept']}/uppdrag/{task.id}",
        {"item_id": str(previous_item), "report": "Planen är klar.", "done": "1"},
    )
    assert reported.status_code == 303
    page = signed_in.get(reported.headers["location"])
    assert "Inga öppna uppdrag från protokollet." in text_of(page)
    assert "Återkoppling protokoll 2021-06-04:\nSamsjuklighet: Planen är klar." in page.text

    approved = post(
        signed_in,
        f"/moten/{world['sept']}/justera",
        {"minutes_id": str(minutes_id), "item_id": str(previous_item)},
    )
    assert approved.status_code == 303
    assert "justerat" in text_of(signed_in.get(approved.headers["location"]))
    twice = post(
        signed_in,
        f"/moten/{world['sept']}/justera",
        {"minutes_id": str(minutes_id), "item_id": str(previous_item)},
    )
    assert twice.status_code == 409
    assert "Protokollet är redan justerat." in text_of(twice)
    with unit_of_work(seeded_engine) as session:
        stored = session.get(Minutes, minutes_id)
        assert stored is not None and stored.approved_at_meeting_id == world["sept"]
        assert session.get(Assignment, task.id).status == AssignmentStatus.done  # type: ignore[union-attr]
        decision = meeting_run.decisions_of(session, world["sept"])[previous_item]
    assert decision.clauses == ["godkänna för 2021-06-04 upprättat sammanträdesprotokoll"]
    # After the approval the form still offers the feedback as the item's text.
    after = signed_in.get(path)
    assert "Återkoppling protokoll 2021-06-04:\nSamsjuklighet: Planen är klar." in after.text
    assert 'value="godkänna för 2021-06-04 upprättat sammanträdesprotokoll"' in after.text


def test_the_secretary_signs_the_minutes_on_the_sitting_page(
    signed_in: TestClient, seeded_engine: Engine, world: dict[str, int]
) -> None:
    with unit_of_work(seeded_engine) as session:
        minutes = Minutes(meeting_id=world["may"], first_paragraph=100, last_paragraph=112)
        session.add(minutes)
        session.flush()
        minutes_id = minutes.id
    page = signed_in.get(f"/moten/{world['may']}/sammantrade")
    assert "Justera protokollet genom underskrift" in page.text
    wrong = post(signed_in, f"/moten/{world['june']}/justering", {"minutes_id": str(minutes_id)})
    assert wrong.status_code == 404
    signed = post(signed_in, f"/moten/{world['may']}/justering", {"minutes_id": str(minutes_id)})
    assert signed.status_code == 303
    body = text_of(signed_in.get(signed.headers["location"]))
    assert "Protokollet är justerat." in body
    assert "justerades" in body and "sekreterare@example.se" in body
