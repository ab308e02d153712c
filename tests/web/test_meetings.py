"""The meeting pages: roles, CSRF, placing a case, the builder, the agenda page and PDF."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import select

import rules
from casework import repository, services
from casework.calendar import STOCKHOLM, submission_due
from casework.db import unit_of_work
from casework.lifecycle import Action, State
from casework.model import (
    AgendaItem,
    AuditEvent,
    Case,
    CaseCreate,
    Meeting,
    StaffRole,
)

RULES = rules.load_rules()
TODAY = datetime.now(STOCKHOLM).date()
FIRST = TODAY + timedelta(days=40)
SECOND = TODAY + timedelta(days=75)


def post(client: TestClient, path: str, **form: str) -> Response:
    return client.post(path, data={"csrf_token": csrf(client), **form}, follow_redirects=False)


@pytest.fixture
def lsvo_meetings(seeded_engine: Engine) -> list[int]:
    with unit_of_work(seeded_engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        rows = [
            Meeting(group_id=group.id, date=d, starts_at="09:00", place="Regionhuset, Karlskrona")
            for d in (FIRST, SECOND)
        ]
        session.add_all(rows)
        session.flush()
        return [m.id for m in rows if m.id is not None]


@pytest.fixture
def secretary(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")


def routed(
    engine: Engine, *, title: str = "Länsgemensam rutin", submitted: datetime | None = None
) -> Case:
    data = CaseCreate(
        title=title,
        county_wide=True,
        kind=("beslut",),
        presenter="Anna Andersson",
        proposed_decision="att fastställa rutinen",
        submitter_name="Anna Andersson",
        submitter_email="anna@example.se",
    )
    case = services.submit_case(engine, data, actor="anna", rules=RULES, now=submitted).case
    assert case.id is not None
    return services.transition(
        engine, case.id, Action.route, actor="beredning", destination="lsvo", now=submitted
    )


def stored(engine: Engine, case_id: int) -> Case:
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id)
        assert case is not None
        return case


def test_the_case_page_offers_the_proposed_meeting_and_places_the_case(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser, lsvo_meetings: list[int]
) -> None:
    first, _ = lsvo_meetings
    case = routed(seeded_engine)
    sign_in(client, secretary)
    page = client.get(f"/arenden/{case.id}")
    assert page.status_code == 200
    assert "Sätt upp på möte" in page.text
    assert f'value="{first}" checked' in page.text

    response = post(client, f"/arenden/{case.id}/mote", meeting_id=str(first))
    assert response.status_code == 303
    assert response.headers["location"] == f"/arenden/{case.id}?klart=schedule"
    placed = stored(seeded_engine, case.id or 0)
    assert (placed.status, placed.meeting_id) == (State.scheduled, first)
    assert "satts upp på mötets dagordning" in client.get(response.headers["location"]).text


def test_placing_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser, lsvo_meetings: list[int]
) -> None:
    case = routed(seeded_engine)
    sign_in(client, secretary)
    response = client.post(
        f"/arenden/{case.id}/mote",
        data={"meeting_id": str(lsvo_meetings[0])},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert stored(seeded_engine, case.id or 0).status == State.routed


def test_an_override_without_a_reason_is_refused_with_a_swedish_message(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser, lsvo_meetings: list[int]
) -> None:
    first, second = lsvo_meetings
    late = datetime.combine(
        submission_due(FIRST) + timedelta(days=1), datetime.min.time(), STOCKHOLM
    )
    case = routed(seeded_engine, submitted=late)
    sign_in(client, secretary)
    page = client.get(f"/arenden/{case.id}")
    assert f'value="{second}" checked' in page.text
    assert "kom in efter sista dag för anmälan" in page.text

    refused = post(client, f"/arenden/{case.id}/mote", meeting_id=str(first), reason=" ")
    assert refused.status_code == 422
    assert "Ange skälet till att det ändå tas upp där." in refused.text
    assert stored(seeded_engine, case.id or 0).status == State.routed

    done = post(client, f"/arenden/{case.id}/mote", meeting_id=str(first), reason="Brådskande")
    assert done.status_code == 303
    with unit_of_work(seeded_engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "schedule")
        ).one()
    assert event.note == "Brådskande"
    assert event.actor == "sekreterare@example.se"


def test_wrong_roles_get_403(
    client: TestClient,
    seeded_engine: Engine,
    member: StaffUser,
    lsvo_meetings: list[int],
) -> None:
    first, _ = lsvo_meetings
    case = routed(seeded_engine)
    aldre = _staff(seeded_engine, "aldre@example.se", StaffRole.chair, "sg-aldre")
    sign_in(client, member)
    assert client.get(f"/moten/{first}").status_code == 403
    assert client.get("/moten").status_code == 403
    assert post(client, f"/arenden/{case.id}/mote", meeting_id=str(first)).status_code == 403
    # A member may read the agenda.
    assert client.get(f"/moten/{first}/dagordning").status_code == 200
    client.cookies.clear()
    sign_in(client, aldre)
    assert client.get(f"/moten/{first}").status_code == 403
    assert post(client, f"/arenden/{case.id}/mote", meeting_id=str(first)).status_code == 403
    assert post(client, f"/moten/{first}/godkann").status_code == 403
    assert stored(seeded_engine, case.id or 0).status == State.routed
    assert "Sätt upp på möte" not in client.get(f"/arenden/{case.id}").text


def test_signed_out_visitors_are_sent_to_sign_in(
    client: TestClient, lsvo_meetings: list[int]
) -> None:
    response = client.get(f"/moten/{lsvo_meetings[0]}/dagordning.pdf", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/logga-in")


def test_the_builder_moves_items_adds_other_business_and_beredning_approves(
    client: TestClient,
    seeded_engine: Engine,
    secretary: StaffUser,
    beredning: StaffUser,
    lsvo_meetings: list[int],
) -> None:
    first, _ = lsvo_meetings
    for title in ("Första", "Andra"):
        case = routed(seeded_engine, title=title)
        sign_in(client, secretary)
        assert post(client, f"/arenden/{case.id}/mote", meeting_id=str(first)).status_code == 303
    listing = client.get("/moten")
    assert f'href="/moten/{first}"' in listing.text
    with unit_of_work(seeded_engine) as session:
        second_item = session.exec(
            select(AgendaItem).where(AgendaItem.meeting_id == first, AgendaItem.title == "Andra")
        ).one()
    moved = post(client, f"/moten/{first}/punkter/{second_item.id}/flytta", riktning="upp")
    assert moved.status_code == 303
    page = client.get(moved.headers["location"])
    assert page.text.index("3. Andra (B)") < page.text.index("4. Första (B)")

    bad = post(client, f"/moten/{first}/ovriga-fragor", title="", kind="Q")
    assert bad.status_code == 422
    assert "Skriv en rubrik för punkten." in bad.text
    added = post(client, f"/moten/{first}/ovriga-fragor", title="Rapport från PSVO", kind="I")
    assert added.status_code == 303
    assert "a/ Rapport från PSVO (I)" in client.get(f"/moten/{first}").text

    assert post(client, f"/moten/{first}/godkann").status_code == 403  # LSVO: beredning only
    client.cookies.clear()
    sign_in(client, beredning)
    approved = post(client, f"/moten/{first}/godkann")
    assert approved.status_code == 303
    with unit_of_work(seeded_engine) as session:
        meeting = session.get(Meeting, first)
        assert meeting is not None and meeting.agenda_approved_by == "beredning@example.se"
    assert "Godkänd" in client.get(f"/moten/{first}").text


def test_the_agenda_page_escapes_titles_and_the_pdf_lists_the_items(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser, lsvo_meetings: list[int]
) -> None:
    first, _ = lsvo_meetings
    case = routed(seeded_engine, title="<script>alert(1)</script> Rutin")
    assert case.id is not None
    services.attach_file(
        seeded_engine,
        case.id,
        filename="underlag.pdf",
        content_type="application/pdf",
        content=b"%PDF-1.4 test",
        actor="anna",
        data_dir=client.app.state.settings.data_dir,
    )
    sign_in(client, secretary)
    assert post(client, f"/arenden/{case.id}/mote", meeting_id=str(first)).status_code == 303
    page = client.get(f"/moten/{first}/dagordning")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Rutin" in page.text
    assert "Kallelse och dagordning" in page.text
    assert "underlag.pdf" in page.text
    assert "Övriga frågor" in page.text

    pdf = client.get(f"/moten/{first}/dagordning.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Kallelse och dagordning" in text
    assert "1. Godkännande av dagordningen (B)" in text
    assert "3. <script>alert(1)</script> Rutin (B)" in text
    assert "Underlag: underlag.pdf" in text
    assert text.rstrip().index("4. Övriga frågor") > text.index("3. <script>")
