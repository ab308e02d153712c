"""The JSON API on SQLite and PostgreSQL: submissions, idempotency, staff access, triage."""

from __future__ import annotations

import json
import threading
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import served
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import SQLModel, select

from casework import queue, services
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import AuditEvent, Case, IdempotencyRecord, StaffRole
from casework.settings import Settings
from casework.web.api import QueueStatus, TriageAction
from casework.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "casework" / "demo" / "routing.jsonl"
SUBMITTER = {
    "submitter_name": "Anna Andersson",
    "submitter_email": "anna.andersson@example.se",
    "submitter_organisation": "Ronneby kommun",
}
SUBMITTER_ACTOR = "anmälare:anna.andersson@example.se"


def submission(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Trygg och säker utskrivning",
        "description": "Rutinen för utskrivning till hemsjukvården behöver ses över.",
        "kind": "I/D",
        "target_groups": ["aldre"],
        **SUBMITTER,
        "presenter": "Anna Andersson",
        "proposed_decision": "att lägga informationen till protokollet",
    }
    body.update(changes)
    return body


def count(engine: Engine, table: type[SQLModel]) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def submit(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/cases", json=submission(**changes))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def audit_actions(engine: Engine, case_id: int) -> list[tuple[str, str]]:
    with unit_of_work(engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
        ).all()
        return [(e.action, e.actor) for e in events]


# --- submitting -------------------------------------------------------------------------------


def test_submission_answers_201_with_the_routing_result_and_a_private_link(
    client: TestClient, seeded_engine: Engine
) -> None:
    response = client.post("/api/cases", json=submission())

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "reference",
        "status",
        "destination",
        "requires_endorsement",
        "explanation",
        "status_url",
    }
    assert body["reference"].startswith("SB-") and body["reference"].endswith("-0001")
    assert body["status"] == "submitted"
    assert body["destination"] == "sg-aldre"
    assert body["requires_endorsement"] is False
    assert body["explanation"]
    assert body["status_url"].startswith("https://testserver/s/")
    assert len(body["status_url"].rsplit("/", 1)[1]) >= 40
    assert response.headers["location"] == body["status_url"]
    assert response.headers["cache-control"] == "no-store"
    assert "idempotent-replayed" not in response.headers
    with unit_of_work(seeded_engine) as session:
        case = session.get(Case, body["id"])
        assert case is not None
        assert case.reference == body["reference"]
        assert case.submitter_email == SUBMITTER["submitter_email"]
    assert audit_actions(seeded_engine, body["id"]) == [("submit", SUBMITTER_ACTOR)]


def test_submissions_route_like_the_minutes(client: TestClient) -> None:
    examples = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    assert len(examples) >= 10
    for example in examples:
        response = client.post("/api/cases", json={**example["case"], **SUBMITTER})
        assert response.status_code == 201, (example["id"], response.text)
        body = response.json()
        expected = example["expected"]
        assert body["destination"] == expected["destination"], example["id"]
        assert body["requires_endorsement"] is expected.get("requires_endorsement", False)


@pytest.mark.parametrize(
    ("changes", "field", "error_type"),
    [
        ({"title": None}, "title", "missing"),
        ({"title": "   "}, "title", "string_too_short"),
        ({"kind": "X"}, "kind", "value_error"),
        ({"submitter_email": "inte en adress"}, "submitter_email", "string_pattern_mismatch"),
        ({"colour": "blue"}, "colour", "extra_forbidden"),
        ({"target_groups": ["pensionärer"]}, "target_groups", "literal_error"),
        ({"escalated_from": "sg-okand"}, "escalated_from", "unknown_group"),
        ({"description": "ett nul\x00tecken"}, "description", "invalid_characters"),
    ],
)
def test_invalid_submissions_get_field_errors(
    client: TestClient,
    seeded_engine: Engine,
    changes: dict[str, Any],
    field: str,
    error_type: str,
) -> None:
    body = submission(**changes)
    if changes.get("title", "") is None:
        del body["title"]
    response = client.post("/api/cases", json=body)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][:2] == ["body", field] and e["type"] == error_type for e in errors), errors
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)
    assert count(seeded_engine, Case) == 0


@pytest.mark.parametrize(
    "field", ["title", "description", "presenter", "proposed_decision", "submitter_name"]
)
@pytest.mark.parametrize("number", ["19811218-9876", "811218-9876", "8112189876", "19811278-9873"])
def test_an_identity_number_in_free_text_is_refused_without_echoing_it(
    client: TestClient, seeded_engine: Engine, field: str, number: str
) -> None:
    response = client.post("/api/cases", json=submission(**{field: f"Gäller {number} i Ronneby"}))

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["type"] == "personal_identity_number"
    assert number[-4:] not in response.text
    assert "XXXX" in error["msg"]
    assert "a case must not identify individuals" in error["msg"]
    assert count(seeded_engine, Case) == 0


def test_the_longest_allowed_fields_are_stored(client: TestClient, seeded_engine: Engine) -> None:
    email = f"{'a' * 64}@{'b' * 178}.example.se"
    assert len(email) == 254
    body = submit(
        client,
        title="T" * 300,
        submitter_name="N" * 200,
        submitter_email=email,
        submitter_organisation="O" * 200,
        presenter="P" * 300,
        escalated_from=None,
    )
    with unit_of_work(seeded_engine) as session:
        case = session.get(Case, body["id"])
        assert case is not None
        assert case.submitter_email == email
    [(action, actor)] = audit_actions(seeded_engine, body["id"])
    assert action == "submit"
    assert actor == f"anmälare:{email}"[:200]


def test_numbers_that_are_not_identity_numbers_are_accepted(client: TestClient) -> None:
    # A wrong check digit, and a diarienummer.
    submit(client, description="Se 19811218-9875 och dnr 2023/1234-5.")


# --- idempotency ------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_result(
    client: TestClient, seeded_engine: Engine
) -> None:
    headers = {"Idempotency-Key": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    first = client.post("/api/cases", json=submission(), headers=headers)
    # The same submission, written differently: compared after validation.
    retry = client.post(
        "/api/cases",
        json=submission(title="  Trygg och säker utskrivning ", kind="information/diskussion"),
        headers=headers,
    )

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == first.json()["status_url"]
    assert count(seeded_engine, Case) == 1
    assert count(seeded_engine, IdempotencyRecord) == 1
    assert count(seeded_engine, AuditEvent) == 1
    # Another key is another case.
    other = client.post("/api/cases", json=submission(), headers={"Idempotency-Key": "other"})
    assert other.json()["reference"] != first.json()["reference"]


def test_the_same_key_with_another_submission_is_refused(
    client: TestClient, seeded_engine: Engine
) -> None:
    headers = {"Idempotency-Key": "nyckel-1"}
    first = client.post("/api/cases", json=submission(), headers=headers)
    second = client.post("/api/cases", json=submission(title="Ett annat ärende"), headers=headers)

    assert first.status_code == 201
    assert second.status_code == 422
    [error] = second.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert error["type"] == "idempotency_key_reused"
    assert "different submission" in error["msg"]
    assert count(seeded_engine, Case) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "nyckel\tmed tab", "åäö"])
def test_a_malformed_idempotency_key_is_refused(client: TestClient, key: str) -> None:
    response = client.post(
        "/api/cases", json=submission(), headers={"Idempotency-Key": key.encode("utf-8")}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


@pytest.fixture
def live_server(web_app: FastAPI) -> Iterator[str]:
    """The application served by uvicorn on a free loopback port, in a thread."""
    with served(web_app) as url:
        yield url


def test_concurrent_requests_with_one_key_store_one_case(
    live_server: str, seeded_engine: Engine
) -> None:
    threads = 10
    start = threading.Barrier(threads)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            with httpx.Client(base_url=live_server, timeout=30) as http:
                start.wait()
                responses.append(
                    http.post(
                        "/api/cases",
                        json=submission(),
                        headers={"Idempotency-Key": "samtidig-nyckel"},
                    )
                )
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=post) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert [r.status_code for r in responses] == [201] * threads
    assert (
        len({(r.json()["id"], r.json()["reference"], r.json()["status_url"]) for r in responses})
        == 1
    )
    assert count(seeded_engine, Case) == 1
    assert count(seeded_engine, IdempotencyRecord) == 1


def test_a_key_stored_by_a_concurrent_submission_is_replayed_after_the_conflict(
    client: TestClient, seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, made certain: the key is stored between the check and the insert."""
    headers = {"Idempotency-Key": "kapplopning"}
    first = client.post("/api/cases", json=submission(), headers=headers).json()
    earlier = services._earlier_submission
    calls: list[str] = []

    def missed_once(engine: Engine, key: str, request_hash: str) -> services.Submitted | None:
        calls.append(key)
        return None if len(calls) == 1 else earlier(engine, key, request_hash)

    monkeypatch.setattr(services, "_earlier_submission", missed_once)
    retry = client.post("/api/cases", json=submission(), headers=headers)

    assert len(calls) == 2  # the check, then the re-read after the unique-key conflict
    assert retry.status_code == 201
    assert retry.json() == first
    assert count(seeded_engine, Case) == 1
    # The failed transaction gave its reference number back.
    assert client.post("/api/cases", json=submission()).json()["reference"].endswith("-0002")


# --- rate limit -------------------------------------------------------------------------------


def test_anonymous_submissions_are_rate_limited_but_staff_tokens_are_not(
    seeded_engine: Engine, web_settings: Settings, beredning: Any
) -> None:
    settings = web_settings.model_copy(update={"submissions_per_minute": 2})
    app = create_app(engine=seeded_engine, settings=settings)
    with TestClient(app, base_url="https://testserver") as client:
        assert [client.post("/api/cases", json=submission()).status_code for _ in range(2)] == [
            201,
            201,
        ]
        limited = client.post("/api/cases", json=submission())
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "60"
        assert "wait a minute" in limited.json()["detail"]

        staff = [
            client.post("/api/cases", json=submission(), headers=beredning.headers).status_code
            for _ in range(4)
        ]
        assert staff == [201] * 4
        bad_token = client.post(
            "/api/cases", json=submission(), headers={"Authorization": "Bearer fel"}
        )
        assert bad_token.status_code == 401
    assert count(seeded_engine, Case) == 6
    with unit_of_work(seeded_engine) as session:
        actors = session.exec(select(AuditEvent.actor).where(AuditEvent.action == "submit")).all()
    assert sorted(set(actors)) == [SUBMITTER_ACTOR, "beredning@example.se"]


# --- staff: reading ---------------------------------------------------------------------------


def test_reading_a_case_needs_a_valid_staff_token(client: TestClient, member: Any) -> None:
    case = submit(client)
    url = f"/api/cases/{case['id']}"

    missing = client.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {"detail": "staff only: send Authorization: Bearer <token>"}
    for header in ("Bearer not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "):
        refused = client.get(url, headers={"Authorization": header})
        assert refused.status_code == 401, header
        assert refused.headers["www-authenticate"] == "Bearer"

    response = client.get(url, headers=member.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == case["id"]
    assert body["reference"] == case["reference"]
    assert body["kind"] == ["information", "diskussion"]
    assert body["target_groups"] == ["aldre"]
    assert body["status"] == "submitted"
    assert body["attachments"] == []
    assert [e["action"] for e in body["audit_events"]] == ["submit"]
    assert "access_token_hash" not in body


def test_an_unknown_case_is_404_json(client: TestClient, member: Any) -> None:
    response = client.get("/api/cases/4711", headers=member.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "no case with id 4711"}
    assert client.get("/api/cases/0", headers=member.headers).status_code == 422
    assert client.get(f"/api/cases/{2**40}", headers=member.headers).status_code == 422


# --- staff: triage ----------------------------------------------------------------------------


def triage(client: TestClient, case_id: int, who: Any, **body: Any) -> httpx.Response:
    return client.post(f"/api/cases/{case_id}/triage", json=body, headers=who.headers)


def test_triage_needs_the_beredning_role(client: TestClient, member: Any, beredning: Any) -> None:
    case = submit(client)
    url = f"/api/cases/{case['id']}/triage"

    assert client.post(url, json={"action": "accept"}).status_code == 401
    bad = client.post(url, json={"action": "accept"}, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401
    forbidden = triage(client, case["id"], member, action="accept")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "needs one of the roles: beredning"}
    assert triage(client, case["id"], beredning, action="accept").status_code == 200


def test_an_admin_may_triage(client: TestClient, seeded_engine: Engine) -> None:
    from casework import accounts

    accounts.create_user(
        seeded_engine, email="admin@example.se", password="x" * 12, role=StaffRole.admin
    )
    token = accounts.issue_api_token(seeded_engine, email="admin@example.se")
    case = submit(client)
    response = client.post(
        f"/api/cases/{case['id']}/triage",
        json={"action": "withdraw"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"


def test_accept_routes_to_the_suggested_destination(
    client: TestClient, seeded_engine: Engine, beredning: Any
) -> None:
    case = submit(client, target_groups=["aldre", "vuxna"], description="")
    assert case["destination"] == "beredningsgruppen"

    response = triage(client, case["id"], beredning, action="accept", lead_group="sg-aldre")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "routed"
    assert body["destination"] == "beredningsgruppen"
    assert body["lead_group"] == "sg-aldre"
    assert [(e["action"], e["actor"]) for e in body["audit_events"]] == [
        ("submit", SUBMITTER_ACTOR),
        ("route", "beredning@example.se"),
    ]
    assert audit_actions(seeded_engine, case["id"])[-1] == ("route", "beredning@example.se")


def test_reroute_moves_the_case_and_records_the_reason(client: TestClient, beredning: Any) -> None:
    case = submit(client)
    first = triage(
        client, case["id"], beredning, action="reroute", destination="lsvo", reason="Länsgemensamt"
    )
    assert first.status_code == 200
    assert first.json()["status"] == "routed"
    assert first.json()["destination"] == "lsvo"

    # Once routed, a reroute is the lifecycle's own reroute action.
    again = triage(
        client, case["id"], beredning, action="reroute", destination="ikf", reason="Bara kommuner"
    )
    assert again.status_code == 200
    events = again.json()["audit_events"]
    assert [e["action"] for e in events] == ["submit", "route", "reroute"]
    assert events[1]["note"] == "Länsgemensamt"
    assert events[2]["before"] == {"status": "routed", "destination": "lsvo"}
    assert events[2]["after"] == {"status": "routed", "destination": "ikf"}


def test_return_and_withdraw(client: TestClient, beredning: Any) -> None:
    returned = submit(client)
    response = triage(client, returned["id"], beredning, action="return", reason="Underlag saknas.")
    assert response.status_code == 200
    assert response.json()["status"] == "returned"
    assert response.json()["audit_events"][-1]["action"] == "return_for_completion"
    assert response.json()["audit_events"][-1]["note"] == "Underlag saknas."

    withdrawn = submit(client)
    response = triage(client, withdrawn["id"], beredning, action="withdraw")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert response.json()["audit_events"][-1]["action"] == "withdraw"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "reroute", "destination": "lsvo"}, "reason"),
        ({"action": "reroute", "destination": "nowhere", "reason": "x"}, "destination"),
        ({"action": "reroute", "reason": "x"}, "destination"),
        ({"action": "return"}, "reason"),
        ({"action": "return", "reason": "   "}, "reason"),
        ({"action": "accept", "destination": "lsvo"}, "destination"),
        ({"action": "accept", "lead_group": "lsvo"}, "lead_group"),
        ({"action": "withdraw", "lead_group": "sg-vuxna"}, "lead_group"),
    ],
)
def test_triage_input_errors_name_the_field(
    client: TestClient, seeded_engine: Engine, beredning: Any, body: dict[str, Any], field: str
) -> None:
    case = submit(client)
    response = triage(client, case["id"], beredning, **body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["type"] == "triage"
    assert error["msg"]
    assert audit_actions(seeded_engine, case["id"]) == [("submit", SUBMITTER_ACTOR)]


def test_an_unknown_action_or_field_is_a_validation_error(
    client: TestClient, beredning: Any
) -> None:
    case = submit(client)
    unknown = triage(client, case["id"], beredning, action="decide")
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "action"]
    extra = triage(client, case["id"], beredning, action="accept", priority="high")
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["body", "priority"]


def test_the_documented_actions_are_the_services_actions() -> None:
    assert typing.get_args(TriageAction) == services.TRIAGE_ACTIONS


def test_an_action_the_state_does_not_allow_is_409(client: TestClient, beredning: Any) -> None:
    case = submit(client)
    assert triage(client, case["id"], beredning, action="withdraw").status_code == 200

    response = triage(client, case["id"], beredning, action="accept")

    assert response.status_code == 409
    assert "withdrawn" in response.json()["detail"]


def test_a_case_changed_meanwhile_is_409(
    client: TestClient, beredning: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = submit(client)

    def changed(*args: Any, **kwargs: Any) -> None:
        raise services.CaseChanged(case["id"], State.submitted, State.routed)

    monkeypatch.setattr(services, "triage", changed)
    response = triage(client, case["id"], beredning, action="accept")

    assert response.status_code == 409
    assert "reload" in response.json()["detail"]


def test_triage_with_a_stale_version_is_409(client: TestClient, beredning: Any) -> None:
    case = submit(client)
    read = client.get(f"/api/cases/{case['id']}", headers=beredning.headers).json()
    assert triage(client, case["id"], beredning, action="accept").status_code == 200

    stale = triage(
        client, case["id"], beredning, action="withdraw", expected_updated_at=read["updated_at"]
    )
    assert stale.status_code == 409
    assert "reload" in stale.json()["detail"]

    current = client.get(f"/api/cases/{case['id']}", headers=beredning.headers).json()
    fresh = triage(
        client, case["id"], beredning, action="withdraw", expected_updated_at=current["updated_at"]
    )
    assert fresh.status_code == 200
    assert fresh.json()["status"] == "withdrawn"

    naive = triage(
        client, case["id"], beredning, action="withdraw", expected_updated_at="2026-01-01T00:00:00"
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["body", "expected_updated_at"]


def test_triage_of_an_unknown_case_is_404(client: TestClient, beredning: Any) -> None:
    response = triage(client, 4711, beredning, action="withdraw")
    assert response.status_code == 404
    assert response.json() == {"detail": "no case with id 4711"}


# --- staff: the triage queue ------------------------------------------------------------------


def test_the_queue_needs_the_beredning_role(
    client: TestClient, member: Any, beredning: Any
) -> None:
    unauthorised = client.get("/api/queue")
    assert unauthorised.status_code == 401
    assert unauthorised.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/queue", headers={"Authorization": "Bearer x"}).status_code == 401
    assert client.get("/api/queue", headers=member.headers).status_code == 403
    assert client.get("/api/queue", headers=beredning.headers).status_code == 200


def test_the_queue_lists_the_waiting_cases_with_their_deadline(
    client: TestClient, beredning: Any
) -> None:
    older = submit(client, title="Demensvården i länet", target_groups=[])
    newer = submit(client, title="Elevhälsan i grundskolan", target_groups=["barn_unga"])
    withdrawn = submit(client, title="Återtaget ärende")
    assert triage(client, withdrawn["id"], beredning, action="withdraw").status_code == 200

    response = client.get("/api/queue", headers=beredning.headers)

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"], body["pages"], body["per_page"]) == (2, 1, 1, 25)
    assert [item["case"]["id"] for item in body["items"]] == [older["id"], newer["id"]]
    first = body["items"][0]
    assert first["case"]["reference"] == older["reference"]
    assert first["case"]["destination"] == "sg-aldre"
    assert first["destination_name"]
    assert first["working_days_waiting"] >= 0
    assert first["urgency"] in {u.value for u in queue.Urgency}
    assert set(first) == {
        "case",
        "destination_name",
        "working_days_waiting",
        "target_meeting",
        "next_deadline",
        "urgency",
    }


def test_the_queue_filters_and_pages(client: TestClient, beredning: Any) -> None:
    for n in range(3):
        submit(client, title=f"Demensvården {n}", target_groups=[])
    school = submit(client, title="Elevhälsan i grundskolan", target_groups=["barn_unga"])
    withdrawn = submit(client, title="Återtaget ärende")
    triage(client, withdrawn["id"], beredning, action="withdraw")

    def ids(**params: Any) -> list[int]:
        response = client.get("/api/queue", params=params, headers=beredning.headers)
        assert response.status_code == 200, response.text
        return [item["case"]["id"] for item in response.json()["items"]]

    assert ids(destination="sg-barn-unga") == [school["id"]]
    assert ids(target_group="barn_unga") == [school["id"]]
    assert ids(q="GRUNDSKOLAN") == [school["id"]]
    assert ids(q=school["reference"]) == [school["id"]]
    assert ids(status="withdrawn") == [withdrawn["id"]]
    assert len(ids(per_page=2)) == 2
    last = client.get("/api/queue", params={"per_page": 2, "page": 99}, headers=beredning.headers)
    assert (last.json()["page"], last.json()["pages"], len(last.json()["items"])) == (2, 2, 2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "decided"}, "status"),
        ({"destination": "okänd"}, "destination"),
        ({"target_group": "pensionärer"}, "target_group"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": queue.MAX_PER_PAGE + 1}, "per_page"),
        ({"page": 0}, "page"),
        ({"q": "x" * 201}, "q"),
        ({"q": "nul\x00"}, "q"),
    ],
)
def test_invalid_queue_filters_are_field_errors(
    client: TestClient, beredning: Any, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/queue", params=params, headers=beredning.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_the_documented_queue_statuses_are_the_queues() -> None:
    assert typing.get_args(QueueStatus) == tuple(s.value for s in queue.FILTER_STATUSES)


# --- documentation ----------------------------------------------------------------------------


def test_every_api_operation_is_documented(web_app: FastAPI) -> None:
    schema = web_app.openapi()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/")
        for method, operation in methods.items()
    ]
    assert {(path, method) for path, method, _ in operations} >= {
        ("/api/cases", "post"),
        ("/api/cases/{case_id}", "get"),
        ("/api/cases/{case_id}/triage", "post"),
        ("/api/queue", "get"),
    }
    for path, method, operation in operations:
        assert operation.get("summary") and operation.get("description"), (path, method)
        assert "422" in operation["responses"], (path, method)
        assert "staffToken" in schema["components"]["securitySchemes"]
        assert {"staffToken": []} in operation["security"], (path, method)
