"""A member's own choice of messages: kinds, digest, and other addresses."""

from __future__ import annotations

from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from casework.db import unit_of_work
from casework.model import AuditEvent, Member, StaffRole


def _member_account(engine: Engine) -> tuple[StaffUser, int]:
    with unit_of_work(engine) as session:
        member = session.exec(select(Member).order_by(col(Member.id))).first()
        assert member is not None and member.id is not None
        member.email = "Ledamot@Example.se"
        session.add(member)
        member_id = member.id
    return _staff(engine, "ledamot@example.se", StaffRole.member), member_id


def _member(engine: Engine, member_id: int) -> Member:
    with unit_of_work(engine) as session:
        found = session.get(Member, member_id)
        assert found is not None
        return found


def test_a_member_chooses_kinds_a_digest_and_a_teams_address(
    client: TestClient, seeded_engine: Engine
) -> None:
    user, member_id = _member_account(seeded_engine)
    sign_in(client, user)
    page = client.get("/mina-meddelanden")
    assert page.status_code == 200
    assert "Kallelse och dagordning till mötena (kommer alltid)" in page.text
    response = client.post(
        "/mina-meddelanden",
        data={
            "csrf_token": csrf(client),
            "kinds": ["documents_reminder"],
            "delivery": "sammanfattning",
            "addresses": "msteams://hemlig-token@kanal/\n",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    member = _member(seeded_engine, member_id)
    assert member.notification_kinds == ["agenda_sent", "documents_reminder"]
    assert member.digest is True
    assert member.notification_addresses == ["msteams://hemlig-token@kanal/"]
    with unit_of_work(seeded_engine) as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "notification_preferences")
        ).all()
    assert "hemlig-token" not in str(event.after)
    saved = client.get(response.headers["location"])
    assert "Dina val är sparade." in saved.text


def test_choosing_every_kind_stores_all(client: TestClient, seeded_engine: Engine) -> None:
    from casework.outbox import MEMBER_MESSAGE_KINDS

    user, member_id = _member_account(seeded_engine)
    sign_in(client, user)
    client.post(
        "/mina-meddelanden",
        data={"csrf_token": csrf(client), "kinds": list(MEMBER_MESSAGE_KINDS)},
    )
    assert _member(seeded_engine, member_id).notification_kinds is None


def test_an_address_that_is_not_a_url_is_refused_and_kept(
    client: TestClient, seeded_engine: Engine
) -> None:
    user, member_id = _member_account(seeded_engine)
    sign_in(client, user)
    response = client.post(
        "/mina-meddelanden",
        data={"csrf_token": csrf(client), "kinds": ["documents_reminder"], "addresses": "kanalen"},
    )
    assert response.status_code == 422
    assert "”kanalen” är ingen adress av formen tjänst://…" in response.text
    assert ">kanalen</textarea>" in response.text
    assert _member(seeded_engine, member_id).notification_addresses == []


def test_an_account_without_a_seat_is_told_so(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    sign_in(client, beredning)
    assert "inte kopplat till någon ledamot" in client.get("/mina-meddelanden").text
    response = client.post("/mina-meddelanden", data={"csrf_token": csrf(client)})
    assert response.status_code == 404


def test_saving_needs_the_csrf_token(client: TestClient, seeded_engine: Engine) -> None:
    user, member_id = _member_account(seeded_engine)
    sign_in(client, user)
    response = client.post(
        "/mina-meddelanden", data={"csrf_token": "fel", "delivery": "sammanfattning"}
    )
    assert response.status_code == 403
    assert _member(seeded_engine, member_id).digest is False
