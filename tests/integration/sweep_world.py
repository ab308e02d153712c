"""A small world for the sweep tests: groups, people, meetings and cases on agendas.

`place_on_agenda` is the one place where a test puts a case on a meeting; it writes the
rows directly and can later call the agenda service instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import accounts
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import (
    AgendaItem,
    AgendaSection,
    Attachment,
    Case,
    Group,
    GroupLevel,
    Meeting,
    Member,
    Membership,
    Notification,
    Organisation,
    OrganisationKind,
    Role,
    StaffRole,
    SweepEvent,
)

_numbers = itertools.count(1)


@dataclass(frozen=True)
class World:
    engine: Engine
    lsvo: int
    beredningsgruppen: int
    organisation: int


def build_world(engine: Engine) -> World:
    """LSVO with a chair, a secretary, two members (one without e-mail) and a staff
    secretary; beredningsgruppen with a chair and a member; one staff beredning user."""
    with unit_of_work(engine) as session:
        org = Organisation(
            slug="region-blekinge", name="Region Blekinge", kind=OrganisationKind.region
        )
        session.add(org)
        session.flush()
        assert org.id is not None
        lsvo = add_group(session, "lsvo", "LSVO")
        beredning = add_group(session, "beredningsgruppen", "Beredningsgruppen")
        add_member(session, org.id, lsvo, "Cecilia Ordförande", "cecilia@example.se", Role.chair)
        add_member(session, org.id, lsvo, "Sara Sekreterare", "sara@example.se", Role.secretary)
        add_member(session, org.id, lsvo, "Bo Berg", "bo@example.se", Role.member)
        add_member(session, org.id, lsvo, "Utan Adress", None, Role.member)
        add_member(session, org.id, beredning, "Britta Ordf", "britta@example.se", Role.chair)
        add_member(session, org.id, beredning, "Bertil Bered", "bertil@example.se", Role.member)
        world = World(engine, lsvo, beredning, org.id)
    accounts.create_user(
        engine,
        email="kansli@example.se",
        password="ett långt lösenord 2026",
        role=StaffRole.secretary,
        group="lsvo",
        name="Kansliet",
    )
    accounts.create_user(
        engine,
        email="beredare@example.se",
        password="ett långt lösenord 2026",
        role=StaffRole.beredning,
        name="Beredaren",
    )
    return world


def add_group(session: Session, slug: str, name: str, agenda: int = 7, submission: int = 7) -> int:
    group = Group(
        slug=slug,
        name=name,
        level=GroupLevel.strategic,
        agenda_offset_days=agenda,
        submission_offset_days=submission,
    )
    session.add(group)
    session.flush()
    assert group.id is not None
    return group.id


def add_member(
    session: Session, org: int, group: int, name: str, email: str | None, role: Role
) -> int:
    member = Member(name=name, organisation_id=org, email=email)
    session.add(member)
    session.flush()
    assert member.id is not None
    session.add(Membership(member_id=member.id, group_id=group, role=role))
    return member.id


def add_meeting(engine: Engine, group: int, day: date) -> int:
    with unit_of_work(engine) as session:
        meeting = Meeting(group_id=group, date=day, starts_at="09:00", ends_at="12:00")
        meeting.place = "Regionhuset, Karlskrona"
        session.add(meeting)
        session.flush()
        assert meeting.id is not None
        return meeting.id


def add_case(
    engine: Engine,
    title: str,
    *,
    submitter: str = "anna@example.se",
    presenter: str = "",
    status: State = State.scheduled,
    created_at: datetime | None = None,
    kind: str = "B",
) -> int:
    with unit_of_work(engine) as session:
        case = Case(
            reference=f"SB-2023-{next(_numbers):04d}",
            title=title,
            kind=kind,
            submitter_name="Anna Anmälare",
            submitter_email=submitter,
            presenter=presenter,
            status=status,
            destination="lsvo",
            created_at=created_at or datetime(2023, 4, 1, tzinfo=UTC),
        )
        session.add(case)
        session.flush()
        assert case.id is not None
        return case.id


def place_on_agenda(engine: Engine, meeting_id: int, case_id: int, position: int) -> None:
    """Put a case on a meeting's agenda (the one place the tests do this)."""
    with unit_of_work(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.meeting_id = meeting_id
        case.status = State.scheduled
        session.add(case)
        session.add(
            AgendaItem(
                meeting_id=meeting_id,
                section=AgendaSection.case,
                position=position,
                case_id=case_id,
                title=case.title,
                kind=case.kind,
                presenter=case.presenter,
                proposed_decision=case.proposed_decision,
            )
        )


def add_opening_items(engine: Engine, meeting_id: int, titles: Iterable[str]) -> None:
    with unit_of_work(engine) as session:
        for position, title in enumerate(titles, start=1):
            session.add(
                AgendaItem(
                    meeting_id=meeting_id,
                    section=AgendaSection.opening,
                    position=position,
                    title=title,
                )
            )


def attach(engine: Engine, case_id: int) -> None:
    with unit_of_work(engine) as session:
        session.add(
            Attachment(
                case_id=case_id,
                filename="underlag.pdf",
                content_type="application/pdf",
                size=1,
                sha256="0" * 64,
                storage_path="ab/" + "0" * 64,
            )
        )


def approve_agenda(engine: Engine, meeting_id: int, at: datetime) -> None:
    with unit_of_work(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.agenda_approved_at = at
        meeting.agenda_approved_by = "sara@example.se"
        session.add(meeting)


def outbox(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        statement = select(Notification).order_by(col(Notification.id))
        return list(session.exec(statement).all())


def sent(engine: Engine, kind: str | None = None) -> set[tuple[str, str]]:
    """(event key, address) of every outbox row (of `kind`)."""
    return {
        (n.event_key or "", n.recipient_address)
        for n in outbox(engine)
        if kind is None or n.kind == kind
    }


def sweep_keys(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(SweepEvent.key)).all())


def meeting(engine: Engine, meeting_id: int) -> Meeting:
    with Session(engine) as session:
        found = session.get(Meeting, meeting_id)
        assert found is not None
        return found
