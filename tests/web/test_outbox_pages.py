"""The outbox pages: the secretary sees undelivered messages and sends them again."""

from __future__ import annotations

from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from casework.db import unit_of_work
from casework.model import AuditEvent, Notification, NotificationStatus, StaffRole
from casework.outbox import Recipient, enqueue


def _dead_message(engine: Engine, name: str = "Anna Andersson") -> int:
    with unit_of_work(engine) as session:
        [row_id] = enqueue(
            session,
            kind="test",
            recipients=[Recipient(name, "anna@example.se")],
            context={"public_url": "https://a.se"},
        )
        row = session.get(Notification, row_id)
        assert row is not None
        row.status = NotificationStatus.dead
        row.attempts = 5
        row.last_error = "Connection refused"
        session.add(row)
        return row_id


def _secretary(engine: Engine) -> StaffUser:
    return _staff(engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")


def test_the_secretary_sees_a_dead_message_and_sends_it_again(
    client: TestClient, seeded_engine: Engine
) -> None:
    message_id = _dead_message(seeded_engine)
    sign_in(client, _secretary(seeded_engine))
    listing = client.get("/utskick")
    assert listing.status_code == 200
    assert "Provmeddelande från Samverkan Blekinge" in listing.text
    assert "Connection refused" in listing.text
    assert "Kunde inte skickas (1)" in listing.text
    page = client.get(f"/utskick/{message_id}")
    assert "Skicka igen" in page.text
    response = client.post(
        f"/utskick/{message_id}/skicka-igen",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with unit_of_work(seeded_engine) as session:
        row = session.get(Notification, message_id)
        assert row is not None
        assert (row.status, row.attempts) == (NotificationStatus.pending, 0)
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "resend")).all()
        assert event.actor == "sekreterare@example.se"
    assert "skickas igen" in client.get(response.headers["location"]).text


def test_send_again_needs_the_csrf_token(client: TestClient, seeded_engine: Engine) -> None:
    message_id = _dead_message(seeded_engine)
    sign_in(client, _secretary(seeded_engine))
    response = client.post(f"/utskick/{message_id}/skicka-igen", data={"csrf_token": "fel"})
    assert response.status_code == 403
    with unit_of_work(seeded_engine) as session:
        row = session.get(Notification, message_id)
        assert row is not None and row.status == NotificationStatus.dead


def test_the_outbox_is_for_secretaries_and_chairs(
    client: TestClient, seeded_engine: Engine, member: StaffUser
) -> None:
    assert client.get("/utskick", follow_redirects=False).status_code in (302, 303, 401)
    sign_in(client, member)
    assert client.get("/utskick").status_code == 403


def test_names_in_messages_are_escaped(client: TestClient, seeded_engine: Engine) -> None:
    message_id = _dead_message(seeded_engine, name="<script>alert(1)</script>")
    sign_in(client, _secretary(seeded_engine))
    page = client.get(f"/utskick/{message_id}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_an_unknown_message_is_a_swedish_404(client: TestClient, seeded_engine: Engine) -> None:
    sign_in(client, _secretary(seeded_engine))
    response = client.get("/utskick/999999")
    assert response.status_code == 404
    assert "Meddelandet finns inte." in response.text
