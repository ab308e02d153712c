"""Assignment reminders in the deadline sweep: before the due date, overdue, and to the
group's chair when long overdue; each once, in working hours, final minutes only."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from followup_world import add_assignment, assignment
from sqlalchemy import Engine
from sweep_world import World, add_member, build_world, outbox, sent, sweep_keys

from casework import followup
from casework.db import unit_of_work
from casework.model import Member, Role
from casework.sweep import ASSIGNMENT_KINDS, EventKind, SweepConfig, sweep

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONFIG = SweepConfig(public_url="https://samverkan.example.se")
DECIDED = date(2026, 4, 24)
# Due Wednesday 20 May 2026. Ascension Day (Thursday 14 May) is a holiday, so five working
# days before is Tuesday 12 May; ten working days after is Wednesday 3 June.
DUE = date(2026, 5, 20)


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=STOCKHOLM)


@pytest.fixture
def world(migrated_engine: Engine) -> World:
    return build_world(migrated_engine)


def run(world: World, iso: str) -> dict[str, int]:
    return sweep(world.engine, local(iso), CONFIG, kinds=ASSIGNMENT_KINDS).events


def test_the_owner_is_reminded_once_from_five_working_days_before(world: World) -> None:
    task = add_assignment(world.engine, world.lsvo, DECIDED, due_date=DUE)
    assert run(world, "2026-05-11T10:00") == {}
    assert run(world, "2026-05-12T10:00") == {"assignment_reminder": 1}
    assert run(world, "2026-05-12T10:15") == {}
    assert run(world, "2026-05-19T10:00") == {}
    assert sent(world.engine, "assignment_reminder") == {
        (f"assignment_reminder:{task}", "olle@example.se")
    }
    (message,) = outbox(world.engine)
    assert "20 maj 2026" in message.subject
    assert "Ta fram en rutin" in message.body_text
    link = re.search(r"https://samverkan\.example\.se/uppdrag/(\S+)", message.body_text)
    assert link is not None
    assert link.group(1).startswith(f"{task}.")
    assert link.group(0) in message.body_html


def test_a_sweep_outside_working_hours_holds_the_message_until_they_begin(world: World) -> None:
    add_assignment(world.engine, world.lsvo, DECIDED, due_date=DUE)
    assert run(world, "2026-05-12T05:30") == {"assignment_reminder": 1}
    (message,) = outbox(world.engine)
    assert message.not_before == local("2026-05-12T08:00").astimezone(UTC)
    # Overdue on Thursday 21 May after 17:00: held to Friday 08:00.
    assert run(world, "2026-05-21T18:30") == {"assignment_overdue": 1}
    overdue = [n for n in outbox(world.engine) if n.kind == "assignment_overdue"]
    assert [n.not_before for n in overdue] == [local("2026-05-22T08:00").astimezone(UTC)]


def test_overdue_the_day_after_the_due_date_and_the_chair_after_ten_working_days(
    world: World,
) -> None:
    task = add_assignment(world.engine, world.lsvo, DECIDED, due_date=DUE)
    assert run(world, "2026-05-20T16:00") == {"assignment_reminder": 1}
    assert run(world, "2026-05-21T09:00") == {"assignment_overdue": 1}
    assert run(world, "2026-05-21T09:30") == {}
    assert run(world, "2026-06-02T09:00") == {}
    assert run(world, "2026-06-03T09:00") == {"assignment_overdue_chair": 1}
    assert run(world, "2026-06-04T09:00") == {}
    assert sent(world.engine, "assignment_overdue_chair") == {
        (f"assignment_overdue_chair:{task}", "cecilia@example.se")
    }
    chair = next(n for n in outbox(world.engine) if n.kind == "assignment_overdue_chair")
    assert "10 arbetsdagar" in chair.subject
    assert "https://samverkan.example.se/uppfoljning/lsvo" in chair.body_text
    assert "/uppdrag/" not in chair.body_text  # the chair uses the register, not the link
    assert sweep_keys(world.engine) == {
        f"assignment_reminder:{task}",
        f"assignment_overdue:{task}",
        f"assignment_overdue_chair:{task}",
    }


def test_a_long_overdue_assignment_found_late_gets_both_messages_at_once(world: World) -> None:
    add_assignment(world.engine, world.lsvo, DECIDED, due_date=DUE)
    assert run(world, "2026-06-10T09:00") == {
        "assignment_overdue": 1,
        "assignment_overdue_chair": 1,
    }


def test_drafts_and_done_assignments_get_no_reminders(world: World) -> None:
    add_assignment(world.engine, world.lsvo, date(2026, 4, 10), due_date=DUE, final=False)
    add_assignment(
        world.engine,
        world.lsvo,
        DECIDED,
        due_date=DUE,
        done_at=datetime(2026, 5, 4, 12, tzinfo=UTC),
    )
    assert run(world, "2026-05-12T10:00") == {}
    assert run(world, "2026-06-10T10:00") == {}
    assert outbox(world.engine) == []


def test_done_before_the_due_date_stops_later_reminders(world: World) -> None:
    task = add_assignment(world.engine, world.lsvo, DECIDED, due_date=DUE)
    assert run(world, "2026-05-12T10:00") == {"assignment_reminder": 1}
    (message,) = outbox(world.engine)
    link = re.search(r"/uppdrag/(\S+)", message.body_text)
    assert link is not None
    followup.mark_done_by_link(
        world.engine, link.group(1), report="Rutinen är antagen.", now=local("2026-05-13T10:00")
    )
    assert assignment(world.engine, task).report == "Rutinen är antagen."
    assert run(world, "2026-06-10T10:00") == {}


def test_a_due_meeting_sets_the_due_date_and_a_member_is_reached_everywhere(
    world: World,
) -> None:
    with unit_of_work(world.engine) as session:
        bo = add_member(session, world.organisation, world.lsvo, "Olle Ledamot", None, Role.member)
        member = session.get(Member, bo)
        assert member is not None
        member.email = "olle.ledamot@example.se"
        member.notification_addresses = ["ntfy://ntfy.example.se/olle"]
        session.add(member)
    task = add_assignment(
        world.engine,
        world.lsvo,
        DECIDED,
        due_meeting=DUE,
        owner_member_id=bo,
        owner_address="olle.ledamot@example.se",
    )
    assert run(world, "2026-05-12T10:00") == {"assignment_reminder": 1}
    assert sent(world.engine, "assignment_reminder") == {
        (f"assignment_reminder:{task}", "olle.ledamot@example.se"),
        (f"assignment_reminder:{task}", "ntfy://ntfy.example.se/olle"),
    }
    bodies = [n.body_text for n in outbox(world.engine)]
    links = {link for body in bodies for link in re.findall(r"/uppdrag/\S+", body)}
    assert len(links) == 1  # one link, shared by the owner's addresses
    assert all("till mötet i LSVO den dagen" in body for body in bodies)


def test_the_settings_choose_the_lead_and_the_escalation(world: World) -> None:
    add_assignment(world.engine, world.lsvo, DECIDED, due_date=DUE)
    config = SweepConfig(
        public_url="https://samverkan.example.se",
        assignment_reminder_days=2,
        assignment_escalation_days=3,
    )
    kinds = ASSIGNMENT_KINDS
    assert sweep(world.engine, local("2026-05-15T10:00"), config, kinds).events == {}
    assert sweep(world.engine, local("2026-05-18T10:00"), config, kinds).events == {
        EventKind.assignment_reminder.value: 1
    }
    assert sweep(world.engine, local("2026-05-22T10:00"), config, kinds).events == {
        EventKind.assignment_overdue.value: 1
    }
    assert sweep(world.engine, local("2026-05-25T10:00"), config, kinds).events == {
        EventKind.assignment_overdue_chair.value: 1
    }


def test_two_sweeps_at_once_remind_each_owner_once(world: World) -> None:
    for number in range(12):
        add_assignment(
            world.engine, world.lsvo, DECIDED, due_date=DUE, owner_address=f"o{number}@example.se"
        )
    now = local("2026-05-21T10:00")
    config = SweepConfig(public_url="https://samverkan.example.se", batch_size=5)
    start = threading.Barrier(2)
    reports: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            start.wait()
            reports.append(sweep(world.engine, now, config, ASSIGNMENT_KINDS).events)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.get("assignment_overdue", 0) for r in reports) == 12
    keys = Counter(n.event_key for n in outbox(world.engine))
    assert len(keys) == 12 and set(keys.values()) == {1}
