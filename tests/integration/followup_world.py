"""Assignments for the follow-up tests: a decision at a meeting, with or without final
minutes, written directly (the meeting-run services are tested on their own)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from casework.db import unit_of_work
from casework.model import (
    AgendaItem,
    Assignment,
    AssignmentStatus,
    Decision,
    Meeting,
    Minutes,
    Outcome,
)


def meeting_on(session: Session, group: int, day: date) -> Meeting:
    found = session.exec(
        select(Meeting).where(Meeting.group_id == group, Meeting.date == day)
    ).first()
    if found is None:
        found = Meeting(group_id=group, date=day, starts_at="09:00", ends_at="12:00")
        session.add(found)
        session.flush()
    return found


def add_assignment(
    engine: Engine,
    group: int,
    decided_on: date,
    *,
    description: str = "Ta fram en rutin",
    owner_name: str = "Olle Ägare",
    owner_address: str = "olle@example.se",
    owner_member_id: int | None = None,
    due_date: date | None = None,
    due_meeting: date | None = None,
    final: bool = True,
    done_at: datetime | None = None,
    case_id: int | None = None,
    title: str = "Samordnad rutin",
) -> int:
    """An assignment given at the group's meeting on `decided_on` (its minutes final
    unless `final` is False); done at `done_at` when given."""
    with unit_of_work(engine) as session:
        meeting = meeting_on(session, group, decided_on)
        assert meeting.id is not None
        due_meeting_id = meeting_on(session, group, due_meeting).id if due_meeting else None
        item = AgendaItem(meeting_id=meeting.id, title=title, case_id=case_id)
        session.add(item)
        session.flush()
        assert item.id is not None
        decision = Decision(
            agenda_item_id=item.id,
            meeting_id=meeting.id,
            outcome=Outcome.decided,
            clauses=["ge uppdraget"],
        )
        session.add(decision)
        session.flush()
        assert decision.id is not None
        task = Assignment(
            decision_id=decision.id,
            group_id=group,
            case_id=case_id,
            description=description,
            owner_name=owner_name,
            owner_address=owner_address,
            owner_member_id=owner_member_id,
            due_date=due_date,
            due_meeting_id=due_meeting_id,
            status=AssignmentStatus.done if done_at else AssignmentStatus.open,
            report="Klart enligt plan" if done_at else "",
            done_at=done_at,
            created_at=datetime(decided_on.year, decided_on.month, decided_on.day, tzinfo=UTC),
        )
        session.add(task)
        if (
            final
            and session.exec(select(Minutes).where(Minutes.meeting_id == meeting.id)).first()
            is None
        ):
            session.add(
                Minutes(
                    meeting_id=meeting.id,
                    first_paragraph=1,
                    last_paragraph=1,
                    finalised_at=datetime(
                        decided_on.year, decided_on.month, decided_on.day, 15, tzinfo=UTC
                    ),
                )
            )
        session.flush()
        assert task.id is not None
        return task.id


def finalise(engine: Engine, group: int, day: date) -> None:
    """Final minutes for the group's meeting on `day`."""
    with unit_of_work(engine) as session:
        meeting = meeting_on(session, group, day)
        assert meeting.id is not None
        session.add(Minutes(meeting_id=meeting.id, first_paragraph=1, last_paragraph=1))


def assignment(engine: Engine, assignment_id: int) -> Assignment:
    with Session(engine) as session:
        found = session.get(Assignment, assignment_id)
        assert found is not None
        return found
