"""The minutes pages: the draft, finalising, the versions, a new version and the PDF."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from minutes_world import CASES, World, build, decide
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import col, select

from casework.db import unit_of_work
from casework.model import Decision, Minutes, Notification, StaffRole


def post(client: TestClient, path: str, **form: str) -> Response:
    return client.post(path, data={"csrf_token": csrf(client), **form}, follow_redirects=False)


@pytest.fixture
def world(seeded_engine: Engine) -> World:
    return build(seeded_engine)


@pytest.fixture
def secretary(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")


def versions(engine: Engine, meeting_id: int) -> list[Minutes]:
    with unit_of_work(engine) as session:
        query = select(Minutes).where(Minutes.meeting_id == meeting_id)
        return list(session.exec(query.order_by(col(Minutes.version))).all())


def test_the_draft_lists_what_is_missing_and_finalising_waits_for_it(
    client: TestClient, seeded_engine: Engine, world: World, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    with unit_of_work(seeded_engine) as session:
        decision = session.exec(
            select(Decision).where(Decision.agenda_item_id == world.items[56])
        ).one()
        session.delete(decision)
    meeting_page = client.get(f"/moten/{world.meeting_id}")
    assert f'href="/moten/{world.meeting_id}/protokoll"' in meeting_page.text

    page = client.get(f"/moten/{world.meeting_id}/protokoll")
    assert page.status_code == 200
    assert "Utkast" in page.text and "Fastställ protokollet" in page.text
    assert f'href="/moten/{world.meeting_id}/punkt/{world.items[56]}"' in page.text
    assert "Inget beslut är registrerat" in page.text
    assert page.text.count("Ändra text och beslut<") == 15  # a link at every item
    assert "Paragraferna numreras när protokollet fastställs." in page.text

    refused = post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    assert refused.status_code == 409
    assert "saknar beslut" in refused.text and "Prator" in refused.text
    assert versions(seeded_engine, world.meeting_id) == []

    decide(seeded_engine, world.meeting_id, world.items[56], CASES[56])
    done = post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    assert done.status_code == 303
    assert done.headers["location"] == f"/moten/{world.meeting_id}/protokoll?klart=faststallt"
    final = client.get(done.headers["location"])
    assert "Protokollet är fastställt och skickat till mottagarna." in final.text
    assert "Inte justerat än" in final.text
    assert "Version 1" in final.text and "§50 - §60" in final.text
    assert "Ändra text och beslut<" not in final.text  # frozen: a new version instead
    assert f'action="/moten/{world.meeting_id}/protokoll/faststall"' not in final.text
    (row,) = versions(seeded_engine, world.meeting_id)
    assert row.finalised_by == secretary.email
    with unit_of_work(seeded_engine) as session:
        kinds = {n.kind for n in session.exec(select(Notification)).all()}
    assert {"minutes_paragraphs", "case_outcome"} <= kinds

    again = post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    assert again.status_code == 409 and "redan fastställt" in again.text


def test_the_pdf_is_the_draft_then_the_final_minutes(
    client: TestClient, world: World, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    draft = client.get(f"/moten/{world.meeting_id}/protokoll.pdf")
    assert draft.status_code == 200 and draft.headers["content-type"] == "application/pdf"
    assert "protokoll-utkast-lsvo-2023-05-12.pdf" in draft.headers["content-disposition"]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(draft.content)).pages)
    assert "Utkast" in text and "§ 50" not in text
    post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    final = client.get(f"/moten/{world.meeting_id}/protokoll.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(final.content)).pages)
    assert "§ 50" in text and "§ 60" in text and "Utkast" not in text


def test_a_new_version_keeps_the_old_one_viewable(
    client: TestClient, seeded_engine: Engine, world: World, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    field = f"text-{world.items[54]}"
    page = client.get(f"/moten/{world.meeting_id}/protokoll")
    assert f'name="{field}"' in page.text and 'name="reason"' in page.text

    no_reason = post(
        client,
        f"/moten/{world.meeting_id}/protokoll/ny-version",
        **{field: "Ny text", "reason": ""},
    )
    assert no_reason.status_code == 422
    assert "Ange skälet till den nya versionen." in no_reason.text
    assert "Ny text" in no_reason.text  # what was typed is kept

    saved = post(
        client,
        f"/moten/{world.meeting_id}/protokoll/ny-version",
        **{field: "Ett förslag till uppdragsbeskrivning har tagits fram.", "reason": "Rättad text"},
    )
    assert saved.status_code == 303
    latest = client.get(saved.headers["location"])
    assert "En ny version av protokollet är sparad." in latest.text
    assert "Ett förslag till uppdragsbeskrivning har tagits fram." in latest.text
    assert f'href="/moten/{world.meeting_id}/protokoll/v1"' in latest.text
    first = client.get(f"/moten/{world.meeting_id}/protokoll/v1")
    assert first.status_code == 200
    assert "Ett förslag till uppdragsbeskrivning har tagits fram." not in first.text
    assert "Till den senaste versionen" in first.text
    assert f'action="/moten/{world.meeting_id}/protokoll/ny-version"' not in first.text
    assert client.get(f"/moten/{world.meeting_id}/protokoll/v3").status_code == 404
    old_pdf = client.get(f"/moten/{world.meeting_id}/protokoll.pdf?version=1")
    assert old_pdf.status_code == 200
    assert [m.version for m in versions(seeded_engine, world.meeting_id)] == [1, 2]


def test_the_approval_is_shown(
    client: TestClient, seeded_engine: Engine, world: World, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    with unit_of_work(seeded_engine) as session:
        row = session.exec(select(Minutes).where(Minutes.meeting_id == world.meeting_id)).one()
        row.approved_at = datetime(2023, 6, 16, 9, tzinfo=UTC)
        row.approved_by = "ordforande@example.se"
        session.add(row)
    page = client.get(f"/moten/{world.meeting_id}/protokoll")
    assert "Justerat 2023-06-16 11:00 av ordforande@example.se" in page.text


def test_who_may_finalise(client: TestClient, seeded_engine: Engine, world: World) -> None:
    other = _staff(seeded_engine, "aldre@example.se", StaffRole.secretary, "sg-aldre")
    sign_in(client, other)
    assert client.get(f"/moten/{world.meeting_id}/protokoll").status_code == 200
    refused = post(client, f"/moten/{world.meeting_id}/protokoll/faststall")
    assert refused.status_code == 403
    assert "Protokollet för LSVO" in refused.text
    no_token = client.post(
        f"/moten/{world.meeting_id}/protokoll/faststall", data={}, follow_redirects=False
    )
    assert no_token.status_code == 403
    assert versions(seeded_engine, world.meeting_id) == []
    assert client.get("/moten/9999/protokoll").status_code == 404


def test_signed_out_people_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get(f"/moten/{world.meeting_id}/protokoll", follow_redirects=False)
    assert response.status_code in (303, 401)
