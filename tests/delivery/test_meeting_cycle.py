"""A whole LSVO meeting cycle through the real use cases, under a frozen clock.

Submission, triage, placing on the agenda, a late submission moved to the next meeting,
the sweep's reminders, beredningsgruppen's approval, the agenda sent, the reminder to
read the documents; every outbox message is checked, and the agenda is then delivered to
a real SMTP server with the agenda PDF, rendered at sending, attached.

LSVO meets Fri 2023-05-12 (submissions due 04-28, agenda due 05-05) and Fri 2023-06-09
(submissions due 05-26, agenda due 06-02).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import col, select

from casework import accounts, agenda, services
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.meeting_calendar import MeetingData, add_meeting
from casework.model import (
    CaseCreate,
    Group,
    Member,
    Membership,
    Notification,
    Role,
    StaffRole,
)
from casework.sweep import SweepConfig, sweep
from delivery.conftest import Clock, SmtpServer
from notifications.delivery import AppriseSender
from notifications.drain import drain
from rules import load_rules

STOCKHOLM = ZoneInfo("Europe/Stockholm")
RULES = load_rules()
PASSWORD = "ett långt lösenord 2026"


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=STOCKHOLM)


def identity(engine: Engine, email: str, role: StaffRole, group: str | None = None) -> Identity:
    accounts.create_user(engine, email=email, password=PASSWORD, role=role, group=group)
    found = accounts.authenticate(engine, email=email, password=PASSWORD)
    assert found is not None
    return found


def give_lsvo_members_addresses(engine: Engine, count: int) -> dict[str, tuple[str, Role]]:
    """E-mail addresses for the first `count` seated LSVO members: name → address, role."""
    with unit_of_work(engine) as session:
        lsvo = session.exec(select(Group).where(Group.slug == "lsvo")).one()
        members = session.exec(
            select(Member, Membership.role)
            .join(Membership, col(Membership.member_id) == col(Member.id))
            .where(Membership.group_id == lsvo.id)
            .order_by(col(Member.id))
        ).all()
        named = {}
        for number, (member, role) in enumerate(members[:count]):
            member.email = f"ledamot{number}@example.se"
            session.add(member)
            named[member.name] = (member.email, role)
        return named


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen = 0

    def new(self) -> list[Notification]:
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(Notification).order_by(col(Notification.id))).all()
        fresh = list(rows[self.seen :])
        self.seen = len(rows)
        return fresh

    def kinds(self) -> list[tuple[str, str]]:
        return sorted((n.kind, n.recipient_address) for n in self.new())


def submit(engine: Engine, title: str, at: str, presenter: str = "") -> int:
    data = CaseCreate.model_validate(
        {
            "title": title,
            "kind": "beslut",
            "county_wide": True,
            "presenter": presenter,
            "proposed_decision": "att godkänna riktlinjen",
            "submitter_name": "Anna Anmälare",
            "submitter_email": "anna@example.se",
        }
    )
    submitted = services.submit_case(engine, data, actor="anna", rules=RULES, now=local(at))
    assert submitted.case.destination == "lsvo"
    assert submitted.case.id is not None
    return submitted.case.id


def test_a_whole_lsvo_meeting_cycle(
    seeded_engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    engine = seeded_engine
    members = give_lsvo_members_addresses(engine, 3)
    presenter = next(iter(members))
    member_addresses = {address for address, _role in members.values()}
    seated_secretaries = {a for a, role in members.values() if role == Role.secretary}
    secretary = identity(engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")
    beredning = identity(engine, "beredning@example.se", StaffRole.beredning)
    for day in (date(2023, 5, 12), date(2023, 6, 9)):
        add_meeting(
            engine,
            "lsvo",
            MeetingData(day, "09:00", "12:00", place="Regionhuset, Karlskrona"),
            actor="sekreterare@example.se",
        )
    config = SweepConfig(public_url="https://samverkan.example.se")
    box = Outbox(engine)

    # Submitted on time for May, accepted by beredningsgruppen, placed on the May agenda.
    on_time = submit(
        engine, "Länsgemensam riktlinje för trygg utskrivning", "2023-04-17T10:00", presenter
    )
    services.triage(
        engine, on_time, "accept", actor="beredning@example.se",
        destinations=list(RULES.destinations), now=local("2023-04-17T11:00"),
    )  # fmt: skip
    may = agenda.proposed_meeting(engine, on_time, today=date(2023, 4, 17))
    assert may is not None and may.date == date(2023, 5, 12) and may.id is not None
    placed = agenda.schedule_case(
        engine, on_time, may.id, actor=secretary, now=local("2023-04-18T09:00")
    )
    assert not placed.late
    assert box.kinds() == [
        ("case_received", "anna@example.se"),
        ("case_routed", "anna@example.se"),
        ("case_scheduled", "anna@example.se"),
    ]

    # Three working days before the deadline: the submitter and the presenter, whose
    # documents are missing; held back until working hours begin.
    sweep(engine, local("2023-04-25T06:30"), config)
    reminders = box.new()
    assert sorted((n.kind, n.recipient_address) for n in reminders) == [
        ("submission_reminder", "anna@example.se"),
        ("submission_reminder", members[presenter][0]),
    ]
    assert {n.not_before for n in reminders} == {local("2023-04-25T08:00").astimezone(UTC)}
    services.attach_file(
        engine, on_time, filename="riktlinje.pdf", content_type="application/pdf",
        content=b"%PDF-1.4\n% riktlinje\n", actor="anna", data_dir=tmp_path,
    )  # fmt: skip

    # Submissions close the day after the deadline; a case submitted then is late.
    sweep(engine, local("2023-04-29T00:10"), config)
    assert box.new() == []
    late = submit(engine, "Länsgemensamt avtal om hjälpmedel", "2023-05-02T10:00")
    services.triage(
        engine, late, "accept", actor="beredning@example.se",
        destinations=list(RULES.destinations), now=local("2023-05-02T11:00"),
    )  # fmt: skip
    june = agenda.proposed_meeting(engine, late, today=date(2023, 5, 2))
    assert june is not None and june.date == date(2023, 6, 9) and june.id is not None
    with pytest.raises(agenda.OverrideNeedsReason):
        agenda.schedule_case(engine, late, may.id, actor=secretary, now=local("2023-05-02T12:00"))
    moved = agenda.schedule_case(
        engine, late, june.id, actor=secretary, now=local("2023-05-02T12:00")
    )
    assert moved.late
    told = [n for n in box.new() if n.kind == "case_moved_late"]
    assert [n.recipient_address for n in told] == ["anna@example.se"]
    assert "9 juni 2023" in told[0].body_text

    # The secretary's reminder to finish the agenda, two working days before it is due.
    sweep(engine, local("2023-05-03T09:00"), config)
    assert box.kinds() == sorted(
        ("agenda_reminder", a) for a in {"sekreterare@example.se", *seated_secretaries}
    )

    # For LSVO, beredningsgruppen approves the agenda; the secretary cannot.
    with pytest.raises(agenda.NotAllowed):
        agenda.approve_agenda(engine, may.id, actor=secretary, now=local("2023-05-04T14:00"))
    agenda.approve_agenda(engine, may.id, actor=beredning, now=local("2023-05-04T15:00"))

    # On its due day the agenda goes to every member, with the agenda as a PDF.
    sweep(engine, local("2023-05-05T08:15"), config)
    sent = box.new()
    assert {(n.kind, n.recipient_address) for n in sent} == {
        ("agenda_sent", address) for address in member_addresses
    }
    [attachment] = sent[0].attachments
    assert attachment["filename"] == "dagordning-lsvo-2023-05-12.pdf"

    # Two working days before the meeting: read the documents.
    sweep(engine, local("2023-05-10T09:00"), config)
    assert box.kinds() == sorted(("documents_reminder", a) for a in member_addresses)
    sweep(engine, local("2023-05-10T09:30"), config)
    assert box.new() == []

    # Delivered: each member's agenda arrives with the PDF attached.
    sender = AppriseSender(smtp_url=smtp_server.url())
    report = drain(engine, sender, data_dir=tmp_path, clock=Clock(local("2023-05-12T08:00")))
    assert report.dead == 0 and report.retried == 0
    agendas = [
        mail for mail in smtp_server.wait_for(report.sent) if "Dagordning" in mail["Subject"]
    ]
    assert {str(mail["To"]) for mail in agendas} == member_addresses
    for mail in agendas:
        [pdf] = list(mail.iter_attachments())
        assert pdf.get_filename() == "dagordning-lsvo-2023-05-12.pdf"
        pdf_text = "\n".join(
            page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages
        )
        assert "Länsgemensam riktlinje för trygg utskrivning" in pdf_text
        assert "riktlinje.pdf" in pdf_text
        assert "Övriga frågor" in pdf_text
        assert "hjälpmedel" not in pdf_text  # the late case is on June's agenda
