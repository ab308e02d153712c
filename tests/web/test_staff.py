"""The staff pages: sign-in and sign-out, the case page and its triage actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import STAFF_PASSWORD, StaffUser, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

import rules
from casework import accounts, repository, services
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import AuditEvent, Case, CaseCreate, StaffRole
from casework.settings import Settings
from casework.web.deps import SESSION_COOKIE
from casework.web.staff import SignInThrottle, page_numbers, safe_next

RULES = rules.load_rules()


def submit(engine: Engine, title: str = "Trygg och säker utskrivning", **fields: Any) -> Case:
    data = CaseCreate(
        title=title,
        description=fields.pop("description", "Rutinen för utskrivning från slutenvården."),
        submitter_name="Anna Andersson",
        submitter_email="anna@example.se",
        **fields,
    )
    return services.submit_case(engine, data, actor="anna@example.se", rules=RULES).case


def reload(engine: Engine, case_id: int) -> tuple[Case, list[AuditEvent]]:
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id)
        assert case is not None
        return case, repository.list_audit_events(session, case_id=case_id)


def triage(client: TestClient, case: Case, **form: str) -> Response:
    return client.post(
        f"/arenden/{case.id}/triage",
        data={"csrf_token": csrf(client), **form},
        follow_redirects=False,
    )


# --- sign-in ---------------------------------------------------------------------------


def test_sign_in_sets_a_secure_httponly_lax_session_cookie(
    client: TestClient, beredning: StaffUser
) -> None:
    response = sign_in(client, beredning)

    assert response.headers["location"] == "/beredning"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    assert client.get("/beredning").status_code == 200


def test_the_session_cookie_is_not_secure_when_settings_say_so(
    seeded_engine: Engine, web_settings: Settings, beredning: StaffUser
) -> None:
    from casework.web.app import create_app

    settings = web_settings.model_copy(update={"secure_cookies": False})
    app = create_app(engine=seeded_engine, settings=settings)
    with TestClient(app, base_url="http://testserver") as plain:
        response = sign_in(plain, beredning)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "secure" not in cookie


def test_sign_in_returns_to_a_page_on_this_site(client: TestClient, beredning: StaffUser) -> None:
    response = sign_in(client, beredning, next_path="/arenden/1?klart=accept")
    assert response.headers["location"] == "/arenden/1?klart=accept"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "evil.example",
        "javascript:alert(1)",
        "/\nLocation: https://evil.example",
    ],
)
def test_sign_in_refuses_to_redirect_off_the_site(
    client: TestClient, beredning: StaffUser, target: str
) -> None:
    assert sign_in(client, beredning, next_path=target).headers["location"] == "/beredning"


def test_the_sign_in_page_keeps_only_a_safe_next(client: TestClient) -> None:
    assert 'name="next" value="/arenden/7"' in client.get("/logga-in?next=/arenden/7").text
    assert "evil" not in client.get("/logga-in?next=//evil.example").text


def test_wrong_password_shows_an_error_and_keeps_the_email(
    client: TestClient, beredning: StaffUser
) -> None:
    response = client.post(
        "/logga-in",
        data={"email": beredning.email, "password": "fel lösenord!!", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "Fel e-postadress eller lösenord." in response.text
    assert f'value="{beredning.email}"' in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/beredning", follow_redirects=False).status_code == 303


def test_an_unknown_email_gets_the_same_answer(client: TestClient) -> None:
    response = client.post(
        "/logga-in",
        data={"email": "ingen@example.se", "password": STAFF_PASSWORD, "csrf_token": csrf(client)},
    )
    assert response.status_code == 400
    assert "Fel e-postadress eller lösenord." in response.text


def test_repeated_failures_are_throttled_even_with_the_right_password(
    client: TestClient, beredning: StaffUser
) -> None:
    token = csrf(client)
    for _ in range(5):
        wrong = {"email": beredning.email, "password": "x" * 12, "csrf_token": token}
        assert client.post("/logga-in", data=wrong).status_code == 400
    right = {"email": beredning.email, "password": beredning.password, "csrf_token": token}
    response = client.post("/logga-in", data=right, follow_redirects=False)
    assert response.status_code == 429
    assert "För många misslyckade inloggningar" in response.text


def test_the_throttle_forgets_old_failures_and_a_success(migrated_engine: Engine) -> None:
    throttle = SignInThrottle(migrated_engine, failures=2, window_seconds=60)
    key = ("a@example.se", "127.0.0.1")

    def at(seconds: float) -> datetime:
        return datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(seconds=seconds)

    throttle.failed(key, now=at(0))
    throttle.failed(key, now=at(1))
    assert throttle.blocked(key, now=at(2))
    assert not throttle.blocked(key, now=at(61.5))
    throttle.failed(key, now=at(70))
    throttle.succeeded(key)
    throttle.failed(key, now=at(71))
    assert not throttle.blocked(key, now=at(72))
    assert not throttle.blocked(("b@example.se", "127.0.0.1"), now=at(2))


def test_sign_in_without_the_csrf_token_is_refused(
    client: TestClient, beredning: StaffUser
) -> None:
    csrf(client)
    response = client.post(
        "/logga-in",
        data={"email": beredning.email, "password": beredning.password},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_sign_out_ends_the_session(client: TestClient, beredning: StaffUser) -> None:
    sign_in(client, beredning)
    old = client.cookies.get(SESSION_COOKIE)
    assert old

    response = client.post("/logga-ut", data={"csrf_token": csrf(client)}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    client.cookies.set(SESSION_COOKIE, old, domain="testserver")
    answer = client.get("/beredning", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/logga-in")


def test_sign_out_needs_the_csrf_token(client: TestClient, beredning: StaffUser) -> None:
    sign_in(client, beredning)
    assert client.post("/logga-ut", follow_redirects=False).status_code == 403
    assert client.get("/beredning").status_code == 200


@pytest.mark.parametrize(
    ("target", "safe"),
    [("/beredning", True), ("/arenden/3?klart=accept", True), ("", False), ("//x", False)],
)
def test_safe_next(target: str, safe: bool) -> None:
    assert (safe_next(target) == target) is safe


def test_page_numbers_show_the_ends_and_the_neighbourhood() -> None:
    assert page_numbers(1, 1) == [1]
    assert page_numbers(5, 10) == [1, None, 3, 4, 5, 6, 7, None, 10]
    assert page_numbers(1, 4) == [1, 2, 3, 4]


# --- who may see what ------------------------------------------------------------------


def test_the_queue_sends_anonymous_visitors_to_sign_in(client: TestClient) -> None:
    response = client.get("/beredning", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/logga-in?next=/beredning"


def test_the_queue_is_for_the_preparation_group(client: TestClient, member: StaffUser) -> None:
    sign_in(client, member)
    response = client.get("/beredning")
    assert response.status_code == 403
    assert "behörighet" in response.text


def test_an_admin_sees_the_queue_and_the_triage_forms(
    client: TestClient, seeded_engine: Engine
) -> None:
    accounts.create_user(
        seeded_engine, email="admin@example.se", password=STAFF_PASSWORD, role=StaffRole.admin
    )
    case = submit(seeded_engine)
    sign_in(client, StaffUser("admin@example.se", STAFF_PASSWORD, ""))
    assert client.get("/beredning").status_code == 200
    assert "Godta förslaget" in client.get(f"/arenden/{case.id}").text


def test_a_member_reads_a_case_but_cannot_triage_it(
    client: TestClient, seeded_engine: Engine, member: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, member)
    page = client.get(f"/arenden/{case.id}")
    assert page.status_code == 200
    assert case.reference in page.text
    assert "Godta förslaget" not in page.text

    response = triage(client, case, action="accept")

    assert response.status_code == 403
    assert reload(seeded_engine, case.id or 0)[0].status is State.submitted


def test_the_case_page_needs_sign_in(client: TestClient, seeded_engine: Engine) -> None:
    case = submit(seeded_engine)
    response = client.get(f"/arenden/{case.id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/logga-in?next=/arenden/{case.id}"


def test_an_unknown_case_is_a_404_page(client: TestClient, beredning: StaffUser) -> None:
    sign_in(client, beredning)
    response = client.get("/arenden/999999")
    assert response.status_code == 404
    assert "Det finns inget ärende med det numret." in response.text


def test_triage_is_never_a_get(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    assert client.get(f"/arenden/{case.id}/triage?action=accept").status_code == 405
    assert reload(seeded_engine, case.id or 0)[0].status is State.submitted


# --- the case page ---------------------------------------------------------------------


def test_the_case_page_shows_the_case_routing_and_audit_trail(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(
        seeded_engine,
        kind="B",
        presenter="Bo Berg, Region Blekinge",
        proposed_decision="att anta rutinen",
    )
    sign_in(client, beredning)

    page = client.get(f"/arenden/{case.id}").text

    for shown in (
        case.reference,
        case.title,
        "Rutinen för utskrivning från slutenvården.",
        "Beslut (B)",
        "Bo Berg, Region Blekinge",
        "att anta rutinen",
        "anna@example.se",
        "Samverkansgrupp Äldre (att åldras)",
        "regel malgrupp-aldre",
        "Anmälan registrerad",
        "Inkommet",
    ):
        assert shown in page, shown


def test_accepting_routes_the_case_and_audits_who_did_it(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)

    response = triage(client, case, action="accept")

    assert response.status_code == 303
    assert response.headers["location"] == f"/arenden/{case.id}?klart=accept"
    stored, events = reload(seeded_engine, case.id or 0)
    assert stored.status is State.routed
    assert stored.destination == "sg-aldre"
    last = events[-1]
    assert (last.actor, last.action) == (beredning.email, "route")
    assert last.before == {"status": "submitted", "destination": "sg-aldre"}
    assert last.after == {"status": "routed", "destination": "sg-aldre"}

    page = client.get(response.headers["location"]).text
    assert "Ärendet har fördelats till Samverkansgrupp Äldre (att åldras)." in page
    assert "Inkommet → Fördelat" in page
    assert beredning.email in page


def test_rerouting_moves_the_case_and_keeps_the_reason(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)

    response = triage(
        client, case, action="reroute", destination="lsvo", reason="Länsgemensam rutin."
    )

    assert response.status_code == 303
    stored, events = reload(seeded_engine, case.id or 0)
    assert (stored.status, stored.destination) == (State.routed, "lsvo")
    assert (events[-1].actor, events[-1].action, events[-1].note) == (
        beredning.email,
        "route",
        "Länsgemensam rutin.",
    )
    page = client.get(response.headers["location"]).text
    assert "Ärendet har fördelats till LSVO – Ledningssamverkan vård och omsorg." in page
    assert "Länsgemensam rutin." in page


@pytest.mark.parametrize(
    ("action", "reason", "status", "audited", "message"),
    [
        (
            "return",
            "Bifoga underlaget.",
            State.returned,
            "return_for_completion",
            "återsänts till anmälaren",
        ),
        ("withdraw", "Dubblett av SB-2026-0001.", State.withdrawn, "withdraw", "återtagits"),
        ("withdraw", "", State.withdrawn, "withdraw", "återtagits"),
    ],
)
def test_returning_and_withdrawing(
    client: TestClient,
    seeded_engine: Engine,
    beredning: StaffUser,
    action: str,
    reason: str,
    status: State,
    audited: str,
    message: str,
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)

    response = triage(client, case, action=action, reason=reason)

    assert response.status_code == 303
    stored, events = reload(seeded_engine, case.id or 0)
    assert stored.status is status
    assert (events[-1].actor, events[-1].action, events[-1].note) == (
        beredning.email,
        audited,
        reason,
    )
    assert message in client.get(response.headers["location"]).text


def test_rerouting_without_a_reason_changes_nothing_and_says_why(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)

    response = triage(client, case, action="reroute", destination="ikf", reason="   ")

    assert response.status_code == 422
    assert "Ange varför ärendet fördelas om." in response.text
    assert 'href="#reroute-reason"' in response.text
    assert '<option value="ikf" selected>' in response.text
    stored, events = reload(seeded_engine, case.id or 0)
    assert (stored.status, stored.destination) == (State.submitted, "sg-aldre")
    assert [e.action for e in events] == ["submit"]


def test_rerouting_without_a_destination_keeps_the_typed_reason(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)

    response = triage(client, case, action="reroute", reason="Skäl <b>som</b> skrevs")

    assert response.status_code == 422
    assert "Välj vart ärendet ska fördelas." in response.text
    assert "Skäl &lt;b&gt;som&lt;/b&gt; skrevs</textarea>" in response.text
    assert reload(seeded_engine, case.id or 0)[0].status is State.submitted


def test_returning_without_a_message_is_refused(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    response = triage(client, case, action="return")
    assert response.status_code == 422
    assert "Skriv vad anmälaren behöver komplettera." in response.text
    assert reload(seeded_engine, case.id or 0)[0].status is State.submitted


def test_an_unknown_action_is_refused(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    response = triage(client, case, action="close")
    assert response.status_code == 422
    assert "Okänd åtgärd." in response.text


@pytest.mark.parametrize("token", [None, "not-the-cookie"])
def test_triage_without_the_csrf_token_changes_nothing(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser, token: str | None
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    form = {"action": "withdraw", "reason": "x"}
    if token:
        form["csrf_token"] = token

    response = client.post(f"/arenden/{case.id}/triage", data=form, follow_redirects=False)

    assert response.status_code == 403
    stored, events = reload(seeded_engine, case.id or 0)
    assert stored.status is State.submitted
    assert len(events) == 1


def test_an_action_the_status_does_not_allow_is_a_conflict(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    assert triage(client, case, action="withdraw").status_code == 303

    response = triage(client, case, action="accept")

    assert response.status_code == 409
    assert "Åtgärden ”Godta förslaget” går inte att använda" in response.text
    assert "”Återtaget”" in response.text
    stored, events = reload(seeded_engine, case.id or 0)
    assert stored.status is State.withdrawn
    assert [e.action for e in events] == ["submit", "withdraw"]


def test_acting_on_an_outdated_page_is_a_conflict(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    version = case.updated_at.isoformat()
    services.transition(seeded_engine, case.id or 0, "route", actor="someone@example.se")

    response = triage(
        client, case, action="reroute", destination="lsvo", reason="Fel grupp.", version=version
    )

    assert response.status_code == 409
    assert "Ärendet har ändrats av någon annan – ladda om sidan." in response.text
    stored, events = reload(seeded_engine, case.id or 0)
    assert stored.destination == "sg-aldre"
    assert len(events) == 2


def test_the_forms_carry_the_version_of_the_case_they_show(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    page = client.get(f"/arenden/{case.id}").text
    assert f'name="version" value="{case.updated_at.isoformat()}"' in page
    assert (
        triage(client, case, action="accept", version=case.updated_at.isoformat()).status_code
        == 303
    )


def test_a_case_touching_several_groups_gets_a_lead_group(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(
        seeded_engine,
        title="Samordnad individuell plan",
        description="Gäller både barn och unga och vuxna med psykisk ohälsa.",
        target_groups=["barn_unga", "vuxna"],
    )
    assert case.destination == "beredningsgruppen"
    sign_in(client, beredning)
    page = client.get(f"/arenden/{case.id}").text
    assert 'id="accept-lead_group"' in page
    assert (
        '<option value="sg-aldre"'
        not in page.split('id="accept-lead_group"')[1].split("</select>")[0]
    )

    refused = triage(client, case, action="accept", lead_group="sg-aldre")
    assert refused.status_code == 422
    assert "Välj en av grupperna som ärendet berör." in refused.text

    assert triage(client, case, action="accept", lead_group="sg-vuxna").status_code == 303
    stored, _ = reload(seeded_engine, case.id or 0)
    assert (stored.status, stored.lead_group) == (State.routed, "sg-vuxna")
    assert (
        "Ansvarig grupp: Samverkansgrupp Vuxna"
        in client.get(f"/arenden/{case.id}?klart=accept").text
    )


def test_a_case_with_one_group_has_no_lead_group_choice(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine)
    sign_in(client, beredning)
    assert "lead_group" not in client.get(f"/arenden/{case.id}").text
    assert triage(client, case, action="accept", lead_group="sg-vuxna").status_code == 422


def test_titles_are_escaped_on_the_queue_and_the_case_page(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine, title="<script>alert(1)</script>", description="<img src=x>")
    sign_in(client, beredning)
    for url in ("/beredning", f"/arenden/{case.id}"):
        page = client.get(url).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
        assert "<script>alert(1)" not in page, url
        assert "<img src=x>" not in page, url


# --- attachments -----------------------------------------------------------------------


def test_staff_download_attachments(
    client: TestClient,
    seeded_engine: Engine,
    web_settings: Settings,
    member: StaffUser,
) -> None:
    data = CaseCreate(
        title="Rutin för hemsjukvård",
        submitter_name="Anna",
        submitter_email="anna@example.se",
    )
    upload = services.Upload("underlag åäö.pdf", "application/pdf", b"%PDF-1.4 test")
    case = services.submit_case(
        seeded_engine,
        data,
        actor="anna@example.se",
        rules=RULES,
        attachments=[upload],
        data_dir=web_settings.data_dir,
    ).case
    with unit_of_work(seeded_engine) as session:
        attachment = repository.list_attachments(session, case_id=case.id or 0)[0]
    url = f"/arenden/{case.id}/bilagor/{attachment.id}"

    assert client.get(url, follow_redirects=False).status_code == 303
    sign_in(client, member)
    assert url in client.get(f"/arenden/{case.id}").text
    response = client.get(url)

    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 test"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert (
        "filename*=utf-8''underlag%20%C3%A5%C3%A4%C3%B6.pdf"
        in response.headers["content-disposition"]
    )
    other = submit(seeded_engine)
    assert client.get(f"/arenden/{other.id}/bilagor/{attachment.id}").status_code == 404
