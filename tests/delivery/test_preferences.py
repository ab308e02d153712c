"""Members' choices: which kinds of message they get, and a daily digest instead of each one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import Engine
from sqlmodel import col, select

from casework.db import unit_of_work
from casework.model import Member, Notification
from casework.outbox import Recipient, enqueue, member_recipients
from delivery.conftest import Clock, SmtpServer
from notifications.delivery import AppriseSender
from notifications.drain import drain

# Monday 2 March 2026, 10:00 in Stockholm.
MONDAY_MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _member(engine: Engine, **changes: object) -> Member:
    with unit_of_work(engine) as session:
        member = session.exec(select(Member).order_by(col(Member.id))).first()
        assert member is not None
        member.email = "ledamot@example.se"
        member.notification_addresses = []
        for name, value in changes.items():
            setattr(member, name, value)
        session.add(member)
        return member


def _withdrawn(engine: Engine, member: Member, title: str) -> list[Notification]:
    case = SimpleNamespace(reference="SB-2026-0001", title=title)
    with unit_of_work(engine) as session:
        ids = enqueue(
            session,
            kind="case_withdrawn",
            recipients=member_recipients(member),
            context={"case": case, "note": "", "case_url": "https://samverkan.example.se/s/x"},
            not_before=MONDAY_MORNING,
        )
        query = select(Notification).where(col(Notification.id).in_(ids))
        return list(session.exec(query.order_by(col(Notification.id))).all())


def test_a_member_gets_only_the_kinds_they_chose(seeded_engine: Engine) -> None:
    member = _member(seeded_engine, notification_kinds=["case_routed"])
    assert _withdrawn(seeded_engine, member, "Ärende") == []
    with unit_of_work(seeded_engine) as session:
        sent = enqueue(
            session,
            kind="test",
            recipients=[Recipient(member.name, "ledamot@example.se", member.id)],
            context={},
        )
    assert sent == []


def test_the_agenda_cannot_be_opted_out_of() -> None:
    from casework.outbox import Preferences

    assert Preferences(frozenset(), digest=False).wants("agenda_sent")
    assert not Preferences(frozenset(), digest=False).wants("case_routed")
    assert Preferences(None, digest=False).wants("case_routed")


def test_every_address_of_a_member_gets_the_message(seeded_engine: Engine) -> None:
    member = _member(seeded_engine, notification_addresses=["json://127.0.0.1:9/hook"])
    rows = _withdrawn(seeded_engine, member, "Ärende")
    assert [r.recipient_address for r in rows] == ["ledamot@example.se", "json://127.0.0.1:9/hook"]
    assert all(r.member_id == member.id for r in rows)


def test_digest_messages_wait_for_the_morning_and_arrive_as_one(
    seeded_engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    member = _member(seeded_engine, digest=True)
    rows = [
        row
        for title in ("Första ärendet", "Andra ärendet", "Tredje ärendet")
        for row in _withdrawn(seeded_engine, member, title)
    ]
    # Monday 10:00 is past the 07:00 digest: they wait for Tuesday 07:00 in Stockholm.
    assert {row.not_before for row in rows} == {datetime(2026, 3, 3, 6, 0, tzinfo=UTC)}
    assert all(row.digest for row in rows)
    sender = AppriseSender(smtp_url=smtp_server.url())
    clock = Clock(MONDAY_MORNING)
    assert drain(seeded_engine, sender, data_dir=tmp_path, clock=clock).claimed == 0
    clock.now = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    report = drain(seeded_engine, sender, data_dir=tmp_path, clock=clock)
    assert report.sent == 3
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Sammanfattning från Samverkan Blekinge: 3 meddelanden"
    text = mail.get_body(("plain", "html")).get_content()
    for title in ("Första ärendet", "Andra ärendet", "Tredje ärendet"):
        assert title in text
