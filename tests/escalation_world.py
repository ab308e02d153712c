"""A seeded database for escalation: e-mail addresses for every member, a samverkansgrupp
(sg-vuxna) with seats of both sides, and meetings of sg-vuxna and LSVO in 2026; helpers
to run a meeting through the real services (attendance, decision, minutes)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import col, select

import rules
from casework import agenda, meeting_run, minutes, repository, services
from casework.accounts import Identity
from casework.calendar import STOCKHOLM
from casework.db import unit_of_work
from casework.lifecycle import Action
from casework.meeting_run import AssignmentInput, DecisionInput
from casework.model import (
    AgendaItem,
    CaseCreate,
    Meeting,
    Member,
    Membership,
    Notification,
    Organisation,
    Outcome,
    Role,
    StaffRole,
)

RULES = rules.load_rules()
VUXNA_MEETING = date(2026, 2, 20)
LSVO_MARCH = date(2026, 3, 13)
LSVO_MAY = date(2026, 5, 8)
LSVO_JUNE = date(2026, 6, 12)

SG_SECRETARY = Identity(
    0, "sekreterare.vuxna@example.se", "", frozenset({(StaffRole.secretary, "sg-vuxna")})
)
LSVO_SECRETARY = Identity(
    0, "sekreterare.lsvo@example.se", "", frozenset({(StaffRole.secretary, "lsvo")})
)
SUBMITTER = ("Sara Sjöberg", "sara.sjoberg@example.se")

# sg-vuxna's seats: (name, organisation, role, function).
VUXNA_SEATS = (
    ("Vera Vuxen", "region-blekinge", Role.chair, "ordförande"),
    ("Sixten Skrivare", "region-blekinge", Role.secretary, "sekreterare"),
    ("Rita Regional", "region-blekinge", Role.member, "verksamhetschef vuxenpsykiatri"),
    ("Karl Kommunal", "karlskrona", Role.member, "socialchef"),
    ("Rune Ronneby", "ronneby", Role.member, "socialchef"),
)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=STOCKHOLM)


def email_of(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]+", ".", plain.lower()).strip(".") + "@example.se"


@dataclass
class World:
    meetings: dict[str, int] = field(default_factory=dict)
    organisations: dict[str, int] = field(default_factory=dict)
    # An answering member per organisation slug: (member id, e-mail).
    answerer: dict[str, tuple[int, str]] = field(default_factory=dict)


def build(engine: Engine) -> World:
    """Addresses for the seeded members, sg-vuxna's seats and the meetings of 2026."""
    world = World()
    with unit_of_work(engine) as session:
        organisations = {o.slug: o for o in session.exec(select(Organisation)).all()}
        world.organisations = {slug: o.id for slug, o in organisations.items() if o.id}
        for member in session.exec(select(Member).order_by(col(Member.id))).all():
            member.email = email_of(member.name)
            session.add(member)
        vuxna = repository.get_group(session, slug="sg-vuxna")
        lsvo = repository.get_group(session, slug="lsvo")
        assert vuxna is not None and vuxna.id and lsvo is not None and lsvo.id
        for name, organisation, role, function in VUXNA_SEATS:
            member = Member(
                name=name,
                organisation_id=world.organisations[organisation],
                function=function,
                email=email_of(name),
            )
            session.add(member)
            session.flush()
            assert member.id is not None
            session.add(
                Membership(
                    member_id=member.id,
                    group_id=vuxna.id,
                    role=role,
                    decision_mandate=role == Role.member,
                )
            )
        rows = {
            "vuxna": Meeting(group_id=vuxna.id, date=VUXNA_MEETING, starts_at="09:00"),
            "march": Meeting(group_id=lsvo.id, date=LSVO_MARCH, starts_at="08:15"),
            "may": Meeting(group_id=lsvo.id, date=LSVO_MAY, starts_at="08:15"),
            "june": Meeting(group_id=lsvo.id, date=LSVO_JUNE, starts_at="08:15"),
        }
        session.add_all(rows.values())
        session.flush()
        world.meetings = {k: m.id for k, m in rows.items() if m.id is not None}
        for member in session.exec(select(Member).order_by(col(Member.id))).all():
            slug = next(s for s, i in world.organisations.items() if i == member.organisation_id)
            if slug not in world.answerer and member.id is not None and member.email:
                world.answerer[slug] = (member.id, member.email)
    return world


def submit(engine: Engine, *, title: str, description: str, now: datetime, **facts: object) -> int:
    data = CaseCreate.model_validate(
        {
            "title": title,
            "description": description,
            "kind": ["beslut"],
            "submitter_name": SUBMITTER[0],
            "submitter_email": SUBMITTER[1],
            "proposed_decision": "att införa en gemensam rutin",
            **facts,
        }
    )
    case = services.submit_case(engine, data, actor=SUBMITTER[1], rules=RULES, now=now).case
    assert case.id is not None
    services.transition(engine, case.id, Action.route, actor="beredning@example.se", now=now)
    return case.id


def item_of(engine: Engine, meeting_id: int, case_id: int) -> int:
    with unit_of_work(engine, write=False) as session:
        item = session.exec(
            select(AgendaItem).where(
                AgendaItem.meeting_id == meeting_id, AgendaItem.case_id == case_id
            )
        ).one()
        assert item.id is not None
        return item.id


def everyone_present(engine: Engine, identity: Identity, meeting_id: int, now: datetime) -> None:
    with unit_of_work(engine, write=False) as session:
        group = meeting_run.group_of(session, meeting_id)
        members = [m.member_id for m in meeting_run.group_members(session, group)]
    status = meeting_run.record_attendance(engine, identity, meeting_id, members, [], now=now)
    assert status.quorate, status.explanations


def hold(
    engine: Engine,
    identity: Identity,
    meeting_id: int,
    now: datetime,
    decisions: dict[int, DecisionInput],
) -> None:
    """Hold a meeting: everyone present, the opening items approved, each case's item
    decided as given (by case id), and the minutes finalised that afternoon."""
    everyone_present(engine, identity, meeting_id, now)
    read = agenda.load_agenda(engine, meeting_id)
    for line in read.lines:
        for entry in (line, *line.sub_items):
            if entry.item_id is None:
                continue
            if entry.case_id in decisions:
                data = decisions[entry.case_id]
            else:
                data = DecisionInput(Outcome.decided, clauses=["godkänna"])
            meeting_run.record_decision(engine, identity, meeting_id, entry.item_id, data, now=now)
    minutes.finalise_minutes(engine, identity, meeting_id, now=now.replace(hour=15), rules=RULES)


def messages(engine: Engine, kind: str, *, case_id: int | None = None) -> list[Notification]:
    with unit_of_work(engine, write=False) as session:
        statement = select(Notification).where(Notification.kind == kind)
        if case_id is not None:
            statement = statement.where(Notification.case_id == case_id)
        return list(session.exec(statement.order_by(col(Notification.id))).all())


def answer_token(notes: Sequence[Notification], member_id: int) -> str:
    """The private answer link's token in the latest message to a member."""
    for note in reversed(notes):
        if note.member_id == member_id:
            found = re.search(r"/svar/([A-Za-z0-9_-]+)", note.body_text)
            if found:
                return found.group(1)
    raise AssertionError(f"no answer link to member {member_id}")


def assignment(owner: str, address: str, due: date) -> AssignmentInput:
    return AssignmentInput(
        description="Ta fram den gemensamma rutinen", owner_name=owner, owner_address=address,
        due_date=due,
    )  # fmt: skip
