"""Assignments enter the follow-up once the minutes are final: LSVO's meeting of
2023-05-12 (built through the real use cases) gave one, due at the meeting of 2023-06-16."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import _staff
from minutes_world import JUNE_16, MAY_12, SECRETARY, at, build
from sqlalchemy import Engine
from sqlmodel import Session, select

from casework import followup
from casework.minutes import finalise_minutes
from casework.model import Notification, StaffRole
from casework.sweep import ASSIGNMENT_KINDS, SweepConfig, sweep

CONFIG = SweepConfig(public_url="https://samverkan.example.se")


def test_a_draft_decision_is_not_followed_up_until_the_minutes_are_final(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    _staff(seeded_engine, "ordforande@example.se", StaffRole.chair, "lsvo")
    # 2023-06-09 is five working days before the meeting of 2023-06-16.
    assert followup.register(seeded_engine, date(2023, 6, 9)) == []
    assert sweep(seeded_engine, at(date(2023, 6, 9)), CONFIG, ASSIGNMENT_KINDS).events == {}

    finalise_minutes(
        seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=at(MAY_12, 16)
    )
    (entry,) = followup.register(seeded_engine, date(2023, 6, 9))
    assert entry.assignment.description == "Sammankalla arbetsgruppen för Barnahus"
    assert (entry.decided_on, entry.due, entry.due_meeting_date) == (MAY_12, JUNE_16, JUNE_16)
    assert entry.state == followup.FollowupState.due_soon
    assert entry.group_slug == "lsvo"

    # The owner has no address on file: the event is acted on, with no message to send.
    report = sweep(seeded_engine, at(date(2023, 6, 9)), CONFIG, ASSIGNMENT_KINDS)
    assert report.events == {"assignment_reminder": 1}
    assert report.messages == {"assignment_reminder": 0}
    # Ten working days after 2023-06-16 (Midsummer Eve is not one) is 2023-07-03.
    early = sweep(seeded_engine, at(date(2023, 6, 30)), CONFIG, ASSIGNMENT_KINDS)
    assert early.events == {"assignment_overdue": 1}
    late = sweep(seeded_engine, at(date(2023, 7, 3)), CONFIG, ASSIGNMENT_KINDS)
    assert late.events == {"assignment_overdue_chair": 1}
    with Session(seeded_engine) as session:
        sent = {
            n.recipient_address
            for n in session.exec(
                select(Notification).where(Notification.kind == "assignment_overdue_chair")
            ).all()
        }
    assert sent == {"ordforande@example.se"}
