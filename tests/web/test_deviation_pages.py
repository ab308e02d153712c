"""The deviation form, the API, the groups' handling pages and the statistics page."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import col, select

from casework.calendar import STOCKHOLM
from casework.db import unit_of_work
from casework.model import AuditEvent, Case, StaffRole
from casework.settings import Settings
from casework.web.app import create_app


def today() -> date:
    """Today in Stockholm, when asked: a run may pass midnight."""
    return datetime.now(STOCKHOLM).date()


PERSONNUMMER = "19121212-1212"  # the Swedish Tax Agency's test number: valid check digit


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "description": "Informationen om hjälpmedel följde inte med vid utskrivningen.",
        "place": "Ortopedkliniken, Karlshamn",
        "organisations": ["region-blekinge", "karlshamn"],
        "occurred_on": today().isoformat(),
        "kind": "hjalpmedel",
        "target_group": "aldre",
        "recurring": "nej",
        "submitter_name": "Anna Andersson",
        "submitter_email": "anna@example.se",
        "submitter_organisation": "Karlshamns kommun",
    }
    data.update(changes)
    return data


def post(client: TestClient, path: str, data: dict[str, Any]) -> Response:
    return client.post(path, data={"csrf_token": csrf(client), **data}, follow_redirects=False)


def deviation_cases(engine: Engine) -> list[Case]:
    with unit_of_work(engine, write=False) as session:
        query = select(Case).where(col(Case.deviation).is_(True)).order_by(col(Case.id))
        return list(session.exec(query).all())


def test_the_form_works_without_javascript_and_warns_about_personal_data(
    client: TestClient,
) -> None:
    page = client.get("/avvikelse")
    assert page.status_code == 200
    assert "<script" not in page.text
    assert "Inga personuppgifter" in page.text
    assert 'method="post" action="/avvikelse"' in page.text
    for slug in ("region-blekinge", "karlskrona", "ronneby", "karlshamn", "solvesborg",
                 "olofstrom"):  # fmt: skip
        assert f'id="organisations-{slug}"' in page.text
    assert "Samordnad individuell plan (SIP)" in page.text
    assert f'max="{today().isoformat()}"' in page.text


def test_a_valid_deviation_is_stored_routed_and_has_a_receipt(
    client: TestClient, seeded_engine: Engine
) -> None:
    occurred_on = today()
    response = post(client, "/avvikelse", form(occurred_on=occurred_on.isoformat()))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/s/")
    receipt = client.get(response.headers["location"])
    assert receipt.status_code == 200
    [case] = deviation_cases(seeded_engine)
    assert case.reference in receipt.text
    assert (case.destination, case.deviation_kind) == ("sg-aldre", "hjalpmedel")
    assert case.deviation_organisations == ["region-blekinge", "karlshamn"]
    assert case.deviation_date == occurred_on


def test_an_invalid_deviation_shows_errors_next_to_the_fields_and_keeps_the_input(
    client: TestClient, seeded_engine: Engine
) -> None:
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = post(
        client, "/avvikelse", form(place="", organisations=[], occurred_on=tomorrow, kind="")
    )
    assert response.status_code == 422
    text = response.text
    assert "Det finns 4 fel i formuläret" in text
    assert re.search(r'id="place-fel".*?Skriv var det hände', text, re.S)
    assert re.search(r'id="organisations-fel".*?Välj minst en organisation', text, re.S)
    assert re.search(r'id="occurred_on-fel".*?inte vara i framtiden', text, re.S)
    assert re.search(r'id="kind-fel".*?Välj vilket slag', text, re.S)
    assert "Informationen om hjälpmedel följde inte med" in text
    assert f'value="{tomorrow}"' in text
    assert re.search(r'id="target_group-aldre"[^>]*checked', text)
    assert deviation_cases(seeded_engine) == []


def test_a_personal_identity_number_is_refused_next_to_the_field(
    client: TestClient, seeded_engine: Engine
) -> None:
    response = post(
        client, "/avvikelse", form(description=f"Patienten {PERSONNUMMER} fick fel hjälpmedel.")
    )
    assert response.status_code == 422
    assert re.search(r'id="description-fel".*?personnummer', response.text, re.S)
    assert PERSONNUMMER not in response.text.replace(f"Patienten {PERSONNUMMER}", "")
    assert deviation_cases(seeded_engine) == []


def test_a_recurring_deviation_goes_to_lsvo_through_the_form(
    client: TestClient, seeded_engine: Engine
) -> None:
    assert post(client, "/avvikelse", form(recurring="ja")).status_code == 303
    [case] = deviation_cases(seeded_engine)
    assert (case.destination, case.routing_rule) == ("lsvo", "avvikelse-generell")


def api_body(**changes: Any) -> dict[str, Any]:
    body = form(recurring=False, **changes)
    return body


def test_the_api_takes_a_deviation(client: TestClient, seeded_engine: Engine) -> None:
    response = client.post("/api/deviations", json=api_body(target_group="vuxna"))
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["destination"] == "sg-vuxna"
    assert receipt["status_url"] == response.headers["location"]
    [case] = deviation_cases(seeded_engine)
    assert case.reference == receipt["reference"] and case.deviation_kind == "hjalpmedel"

    refused = client.post(
        "/api/deviations", json=api_body(place=f"Hemma hos {PERSONNUMMER.replace('-', '')}")
    )
    assert refused.status_code == 422
    [detail] = refused.json()["detail"]
    assert detail["loc"] == ["body", "place"]
    assert detail["type"] == "personal_identity_number"
    assert "a deviation must not identify individuals" in detail["msg"]
    future = client.post(
        "/api/deviations", json=api_body(occurred_on=(today() + timedelta(days=2)).isoformat())
    )
    assert future.status_code == 422
    unknown = client.post("/api/deviations", json=api_body(kind="okänt", organisations=["x"]))
    assert unknown.status_code == 422
    assert len(deviation_cases(seeded_engine)) == 1

    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/deviations"]["post"]
    assert set(operation["responses"]) >= {"201", "422"}


@pytest.fixture
def secretary(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "sekr.aldre@example.se", StaffRole.secretary, "sg-aldre")


def test_the_group_clusters_its_deviations_and_hands_them_to_lsvo(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    links = []
    for changes in (
        {},
        {"organisations": ["karlshamn"], "place": "Hemtjänsten, Karlshamn"},
        {"kind": "sip", "organisations": ["ronneby"], "description": "SIP hölls inte."},
    ):
        reported = post(client, "/avvikelse", form(**changes))
        assert reported.status_code == 303
        links.append(reported.headers["location"].split("?")[0])
    first, second, third = deviation_cases(seeded_engine)

    assert client.get("/avvikelser", follow_redirects=False).status_code in (303, 307)
    sign_in(client, secretary)
    listing = client.get("/avvikelser")
    assert listing.status_code == 200
    assert all(c.reference in listing.text for c in (first, second, third))
    filtered = client.get("/avvikelser", params={"slag": "sip"})
    assert third.reference in filtered.text and first.reference not in filtered.text
    by_org = client.get("/avvikelser", params={"organisation": "karlshamn"})
    assert first.reference in by_org.text and third.reference not in by_org.text

    created = post(client, "/avvikelser/kluster",
                   {"grupp": "sg-aldre", "title": "Hjälpmedel vid utskrivning",
                    "case_id": [str(first.id)]})  # fmt: skip
    assert created.status_code == 303
    cluster_url = created.headers["location"].split("?")[0]
    page = client.get(cluster_url)
    suggestions = page.text.split("Förslag på liknande avvikelser")[1].split("<h2")[0]
    assert second.reference in suggestions and third.reference not in suggestions
    assert f"Samma slag som {first.reference}, Hjälpmedel, och samma organisation" in suggestions

    assert post(client, f"{cluster_url}/lagg-till", {"case_id": str(second.id)}).status_code == 303
    handed = post(client, f"{cluster_url}/lamna-till-lsvo", {})
    assert handed.status_code == 303
    after = client.get(handed.headers["location"])
    assert "Lämnad till LSVO" in after.text
    again = post(client, f"{cluster_url}/lamna-till-lsvo", {})
    assert again.status_code == 422
    assert "redan lämnade" in again.text

    with unit_of_work(seeded_engine, write=False) as session:
        lsvo = session.exec(
            select(Case).where(col(Case.deviation_cluster_id).is_not(None),
                               col(Case.deviation_date).is_(None))
        ).all()  # fmt: skip
        assert len(lsvo) == 1 and lsvo[0].destination == "lsvo" and lsvo[0].recurring
        for deviation in (first, second):
            actions = session.exec(
                select(AuditEvent.action).where(AuditEvent.case_id == deviation.id)
            ).all()
            assert "deviation_handed_over" in actions
    assert lsvo[0].reference in after.text
    # The reporter's own page tells that the deviation went on to LSVO.
    client.cookies.clear()
    assert "lämnades till LSVO" in client.get(links[0]).text
    assert "lämnades till LSVO" not in client.get(links[2]).text


def test_a_secretary_of_another_group_cannot_see_its_deviations(
    client: TestClient, seeded_engine: Engine
) -> None:
    other = _staff(seeded_engine, "sekr.vuxna@example.se", StaffRole.secretary, "sg-vuxna")
    sign_in(client, other)
    assert client.get("/avvikelser", params={"grupp": "sg-aldre"}).status_code == 403
    assert client.get("/avvikelser").status_code == 200


def test_statistics_show_a_chart_with_a_bar_per_count_and_a_csv(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    this_day = today()
    last_month = (this_day.replace(day=1) - timedelta(days=1)).replace(day=3)
    for changes in (
        {"occurred_on": this_day.isoformat()},
        {"occurred_on": this_day.isoformat(), "kind": "sip", "organisations": ["ronneby"]},
        {"occurred_on": last_month.isoformat(), "organisations": ["ronneby"]},
    ):
        assert post(client, "/avvikelse", form(**changes)).status_code == 303
    sign_in(client, secretary)
    params = {"grupp": "sg-aldre", "fran": f"{last_month:%Y-%m}", "till": f"{this_day:%Y-%m}"}
    page = client.get("/avvikelser/statistik", params=params)
    assert page.status_code == 200
    assert "<script" not in page.text
    kind_chart, org_chart = re.findall(r"<svg.*?</svg>", page.text, re.S)
    # Kinds: last month hjälpmedel; this month hjälpmedel and SIP → three segments.
    assert kind_chart.count('class="bar"') == 3
    # Organisations: last month Ronneby; this month region, Karlshamn, Ronneby → four.
    assert org_chart.count('class="bar"') == 4
    assert 'role="img"' in kind_chart and "<title" in kind_chart and "<desc" in kind_chart
    assert 'id="tabell-slag"' in page.text

    csv = client.get("/avvikelser/statistik.csv", params=params)
    assert csv.status_code == 200
    assert csv.content.startswith(b"\xef\xbb\xbf")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == f"Indelning;Kategori;{last_month:%Y-%m};{this_day:%Y-%m};Totalt"
    assert "Slag;Hjälpmedel;1;1;2" in lines
    assert "Slag;Samordnad individuell plan (SIP);0;1;1" in lines
    assert "Organisation;Ronneby kommun;1;1;2" in lines


def test_too_many_deviations_from_one_client_are_refused(
    seeded_engine: Engine, web_settings: Settings
) -> None:
    """The form and the API share the anonymous submission limit; a refused report stores
    nothing, and a staff token is not limited."""
    settings = web_settings.model_copy(update={"submissions_per_minute": 2})
    app = create_app(engine=seeded_engine, settings=settings)
    with TestClient(app, base_url="https://testserver") as client:
        assert post(client, "/avvikelse", form()).status_code == 303
        assert client.post("/api/deviations", json=api_body()).status_code == 201
        refused = post(client, "/avvikelse", form())
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert client.post("/api/deviations", json=api_body()).status_code == 429
    assert len(deviation_cases(seeded_engine)) == 2
