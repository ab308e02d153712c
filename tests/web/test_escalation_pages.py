"""The pages of escalation: a member answers for their organisation through the private
link or signed in; the decision form shows who has backed a resource-requiring case and
refuses a decision before all have; the submitter's status page follows the chain."""

from __future__ import annotations

import re
from datetime import timedelta

from conftest import _staff, csrf, sign_in
from escalation_world import (
    LSVO_MARCH,
    LSVO_SECRETARY,
    SG_SECRETARY,
    SUBMITTER,
    VUXNA_MEETING,
    World,
    answer_token,
    at,
    build,
    everyone_present,
    hold,
    item_of,
    messages,
    submit,
)
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import select

from casework import agenda, meeting_run, org_requests
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.meeting_run import DecisionInput
from casework.model import (
    Case,
    Outcome,
    RequestPurpose,
    RequestResponse,
    StaffRole,
)

ESCALATE = DecisionInput(Outcome.escalated, clauses=["lyfta frågan vidare"])


def post(client: TestClient, path: str, data: dict[str, object]) -> Response:
    return client.post(path, data={"csrf_token": csrf(client), **data}, follow_redirects=False)


def text_of(response: Response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


def escalated_twice(engine: Engine) -> tuple[World, int, int]:
    """A case sg-vuxna and then LSVO could not agree on: (world, original, linked case)."""
    world = build(engine)
    original = submit(
        engine,
        title="Gemensam rutin för samsjuklighet",
        description="Vuxna med samsjuklighet.",
        target_groups=["vuxna"],
        now=at(VUXNA_MEETING - timedelta(days=18)),
    )
    agenda.schedule_case(
        engine, original, world.meetings["vuxna"], actor=SG_SECRETARY,
        now=at(VUXNA_MEETING - timedelta(days=17)),
    )  # fmt: skip
    hold(engine, SG_SECRETARY, world.meetings["vuxna"], at(VUXNA_MEETING), {original: ESCALATE})
    with unit_of_work(engine, write=False) as session:
        child = session.exec(select(Case).where(Case.parent_case_id == original)).one()
    assert child.id is not None
    agenda.schedule_case(
        engine, child.id, world.meetings["march"], actor=LSVO_SECRETARY,
        now=at(LSVO_MARCH - timedelta(days=10)),
    )  # fmt: skip
    hold(engine, LSVO_SECRETARY, world.meetings["march"], at(LSVO_MARCH), {child.id: ESCALATE})
    return world, original, child.id


def test_a_member_answers_through_the_private_link(client: TestClient, seeded_engine: Engine):
    world, _original, child = escalated_twice(seeded_engine)
    member_id, _email = world.answerer["ronneby"]
    token = answer_token(messages(seeded_engine, "organisation_request", case_id=child), member_id)

    page = client.get(f"/svar/{token}")
    assert page.status_code == 200
    text = text_of(page)
    assert "Svara för Ronneby kommun" in text
    assert "Har inte svarat" in text and "Region Blekinge" in text
    request_id = re.search(r'name="request_id" value="(\d+)"', page.text)
    assert request_id is not None

    # A comment answer without a comment is refused, with what was typed kept.
    refused = post(client, f"/svar/{token}", {"request_id": request_id.group(1),
                                              "response": "comment", "comment": " "})  # fmt: skip
    assert refused.status_code == 409
    assert "Skriv kommentaren." in text_of(refused)

    done = post(client, f"/svar/{token}", {"request_id": request_id.group(1),
                "response": "does_not_back", "comment": "För dyrt i år."})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == f"/svar/{token}?sparat=1"
    lines = org_requests.load_lines(seeded_engine, child, RequestPurpose.position)
    ronneby = next(line for line in lines if line.organisation.slug == "ronneby")
    assert ronneby.request.response == RequestResponse.does_not_back
    assert ronneby.request.comment == "För dyrt i år."
    assert "Svaret är sparat." in text_of(client.get(f"/svar/{token}?sparat=1"))

    # Another organisation's request cannot be answered through this link.
    other = next(line for line in lines if line.organisation.slug == "karlskrona")
    wrong = post(client, f"/svar/{token}", {"request_id": str(other.request.id),
                                            "response": "backs"})  # fmt: skip
    assert wrong.status_code == 403
    assert client.get("/svar/" + "x" * 43).status_code == 404


def test_a_signed_in_member_answers_for_their_organisation(
    client: TestClient, seeded_engine: Engine
):
    world, _original, child = escalated_twice(seeded_engine)
    _member_id, email = world.answerer["karlskrona"]
    user = _staff(seeded_engine, email, StaffRole.member)
    sign_in(client, user)
    page = client.get(f"/arenden/{child}/organisationer")
    assert page.status_code == 200
    assert "Svara för Karlskrona kommun" in text_of(page)
    lines = org_requests.load_lines(seeded_engine, child, RequestPurpose.position)
    own = next(line for line in lines if line.organisation.slug == "karlskrona")
    other = next(line for line in lines if line.organisation.slug == "karlshamn")
    done = post(client, f"/arenden/{child}/organisationer/{own.request.id}", {"response": "backs"})
    assert done.status_code == 303
    refused = post(
        client, f"/arenden/{child}/organisationer/{other.request.id}", {"response": "backs"}
    )
    assert refused.status_code == 403
    assert "Bara en företrädare för Karlshamns kommun" in text_of(refused)
    lines = org_requests.load_lines(seeded_engine, child, RequestPurpose.position)
    assert [line.organisation.slug for line in lines if line.answered] == ["karlskrona"]


def test_the_status_page_follows_the_chain(client: TestClient, seeded_engine: Engine):
    _world, original, child = escalated_twice(seeded_engine)
    note = next(
        m
        for m in messages(seeded_engine, "linked_case_raised", case_id=original)
        if m.recipient_address == SUBMITTER[1]
    )
    link = re.search(r"/s/([A-Za-z0-9_-]+)", note.body_text)
    assert link is not None
    with unit_of_work(seeded_engine, write=False) as session:
        child_case = session.get(Case, child)
        assert child_case is not None
        child_reference = child_case.reference
    page = text_of(client.get(f"/s/{link.group(1)}"))
    assert (
        f"Frågan är lyft till LSVO – Ledningssamverkan vård och omsorg som ärende {child_reference}"
        in page
    )
    assert "Samverkansgrupp mitt i livet, mötet 2026-02-20, § 4: Lyfts vidare" in page
    assert "att lyfta frågan vidare" in page
    assert f"Lyft vidare som {child_reference}" in page
    assert "Region Blekinge (ställningstagande): har inte svarat än" in page


def test_the_decision_form_shows_and_enforces_the_backing(
    client: TestClient, seeded_engine: Engine
):
    world = build(seeded_engine)
    march = world.meetings["march"]
    case_id = submit(
        seeded_engine, title="Gemensam finansiering", description="Resurser.",
        requests_resources=True, now=at(VUXNA_MEETING - timedelta(days=10)),
    )  # fmt: skip
    agenda.schedule_case(seeded_engine, case_id, march, actor=LSVO_SECRETARY, now=at(VUXNA_MEETING))
    everyone_present(seeded_engine, LSVO_SECRETARY, march, at(LSVO_MARCH))
    lines = org_requests.load_lines(seeded_engine, case_id, RequestPurpose.backing)
    region = lines[0]
    org_requests.respond_as_staff(
        seeded_engine,
        Identity(0, world.answerer["region-blekinge"][1], "", frozenset()),
        region.request.id or 0,
        response="backs",
        now=at(LSVO_MARCH - timedelta(days=3)),
    )
    secretary = _staff(seeded_engine, LSVO_SECRETARY.email, StaffRole.secretary, "lsvo")
    sign_in(client, secretary)
    item_id = item_of(seeded_engine, march, case_id)
    form = text_of(client.get(f"/moten/{march}/punkt/{item_id}"))
    assert "Förankring" in form
    assert "Region Blekinge: Står bakom" in form
    assert "Karlskrona kommun: har inte svarat" in form
    sitting = text_of(client.get(f"/moten/{march}/sammantrade"))
    assert "Olofströms kommun: har inte svarat" in sitting
    refused = post(
        client, f"/moten/{march}/punkt/{item_id}",
        {"outcome": "decided", "clause": ["tillsätta resursen"]},
    )  # fmt: skip
    assert refused.status_code == 422
    assert (
        "Har inte svarat: Karlskrona kommun, Ronneby kommun, Karlshamns kommun, "
        "Sölvesborgs kommun, Olofströms kommun." in text_of(refused)
    )


def test_finalising_on_the_minutes_page_lifts_the_case_to_lsvo(
    client: TestClient, seeded_engine: Engine
):
    world = build(seeded_engine)
    original = submit(
        seeded_engine, title="Samsjuklighet", description="Vuxna.", target_groups=["vuxna"],
        now=at(VUXNA_MEETING - timedelta(days=18)),
    )  # fmt: skip
    vuxna = world.meetings["vuxna"]
    agenda.schedule_case(
        seeded_engine, original, vuxna, actor=SG_SECRETARY,
        now=at(VUXNA_MEETING - timedelta(days=17)),
    )  # fmt: skip
    everyone_present(seeded_engine, SG_SECRETARY, vuxna, at(VUXNA_MEETING))
    for line in agenda.load_agenda(seeded_engine, vuxna).lines:
        for entry in (line, *line.sub_items):
            if entry.item_id is None:
                continue
            data = ESCALATE if entry.case_id == original else DecisionInput(Outcome.noted)
            meeting_run.record_decision(
                seeded_engine, SG_SECRETARY, vuxna, entry.item_id, data, now=at(VUXNA_MEETING)
            )
    secretary = _staff(seeded_engine, SG_SECRETARY.email, StaffRole.secretary, "sg-vuxna")
    sign_in(client, secretary)
    done = post(client, f"/moten/{vuxna}/protokoll/faststall", {})
    assert done.status_code == 303, text_of(done)
    with unit_of_work(seeded_engine, write=False) as session:
        child = session.exec(select(Case).where(Case.parent_case_id == original)).one()
    assert child.destination == "lsvo" and child.escalated_from == "sg-vuxna"
    page = text_of(client.get(f"/arenden/{child.id}"))
    assert "Lyft från Samverkansgrupp" in page
    assert "Ärendet som detta lyftes från" in page
