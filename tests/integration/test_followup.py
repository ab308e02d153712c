"""The follow-up register: states on working days, the auditors' figures, marking done
(by staff and through the owner's link), reopening, and the CSV for Excel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from followup_world import add_assignment, assignment
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from sweep_world import World, add_group, build_world

from casework import access, followup
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.followup import FollowupState
from casework.model import AssignmentStatus, AuditEvent, Group, StaffRole

STOCKHOLM = ZoneInfo("Europe/Stockholm")
DECIDED = date(2026, 4, 24)
SECRETARY = Identity(1, "kansli@example.se", "Kansliet", frozenset({(StaffRole.secretary, "lsvo")}))
OTHER = Identity(2, "annan@example.se", "Annan", frozenset({(StaffRole.secretary, "sg-barn")}))


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=STOCKHOLM)


@pytest.fixture
def world(migrated_engine: Engine) -> World:
    return build_world(migrated_engine)


@pytest.mark.parametrize(
    ("due", "today", "state"),
    [
        # Due Wednesday 20 May 2026; Ascension Day (14 May) does not count.
        (date(2026, 5, 20), date(2026, 5, 11), FollowupState.open),
        (date(2026, 5, 20), date(2026, 5, 12), FollowupState.due_soon),
        (date(2026, 5, 20), date(2026, 5, 20), FollowupState.due_soon),
        (date(2026, 5, 20), date(2026, 5, 21), FollowupState.overdue),
        # Due Friday 15 May: five working days before is Thursday 7 May.
        (date(2026, 5, 15), date(2026, 5, 6), FollowupState.open),
        (date(2026, 5, 15), date(2026, 5, 7), FollowupState.due_soon),
        # Due on a Friday, overdue on the Saturday after.
        (date(2026, 5, 15), date(2026, 5, 16), FollowupState.overdue),
        # Due Monday 4 January 2027: Christmas Eve to Boxing Day and New Year's Eve and
        # Day do not count, so five working days before is Tuesday 22 December.
        (date(2027, 1, 4), date(2026, 12, 21), FollowupState.open),
        (date(2027, 1, 4), date(2026, 12, 22), FollowupState.due_soon),
        (date(2027, 1, 4), date(2026, 12, 31), FollowupState.due_soon),
    ],
)
def test_states_on_working_days(due: date, today: date, state: FollowupState) -> None:
    assert followup.state_of(AssignmentStatus.open, due, today) == state
    assert followup.state_of(AssignmentStatus.done, due, today) == FollowupState.done


def test_escalation_counts_working_days_after_the_due_date() -> None:
    # Ten working days after Wednesday 20 May 2026 is Wednesday 3 June.
    assert followup.escalation_cutoff(date(2026, 6, 3)) == date(2026, 5, 20)
    assert followup.escalation_cutoff(date(2026, 6, 2)) == date(2026, 5, 19)
    assert followup.latest_due_soon(date(2026, 5, 12)) == date(2026, 5, 20)


def test_the_register_holds_final_minutes_only_oldest_unexecuted_first(world: World) -> None:
    engine = world.engine
    late = add_assignment(engine, world.lsvo, date(2026, 3, 6), due_date=date(2026, 4, 1))
    soon = add_assignment(engine, world.lsvo, DECIDED, due_meeting=date(2026, 5, 20))
    done = add_assignment(
        engine,
        world.lsvo,
        date(2026, 2, 6),
        due_date=date(2026, 3, 1),
        done_at=datetime(2026, 2, 20, 12, tzinfo=UTC),
    )
    add_assignment(engine, world.lsvo, date(2026, 5, 8), due_date=date(2026, 6, 1), final=False)
    today = date(2026, 5, 13)
    found = followup.register(engine, today)
    assert [(e.id, e.state) for e in found] == [
        (late, FollowupState.overdue),
        (soon, FollowupState.due_soon),
        (done, FollowupState.done),
    ]
    assert found[1].due == date(2026, 5, 20)
    assert found[1].due_meeting_date == date(2026, 5, 20)
    assert found[0].age_days(today) == 68
    overdue = followup.register(engine, today, states=[FollowupState.overdue])
    assert [e.id for e in overdue] == [late]


def test_figures_on_a_known_set(world: World) -> None:
    engine = world.engine
    with unit_of_work(engine) as session:
        sg = add_group(session, "sg-vuxna", "Samverkansgrupp vuxna")
    feb = date(2026, 2, 6)
    for days in (10, 20, 24, 30):
        done_on = date.fromordinal(feb.toordinal() + days)
        add_assignment(
            engine,
            world.lsvo,
            feb,
            due_date=date(2026, 3, 31),
            done_at=datetime(done_on.year, done_on.month, done_on.day, 12, tzinfo=UTC),
        )
    oldest = add_assignment(
        engine, world.lsvo, date(2026, 1, 9), due_date=date(2026, 4, 1), description="Äldst"
    )
    add_assignment(engine, world.lsvo, DECIDED, due_date=date(2026, 9, 1), description="Nyare")
    add_assignment(engine, world.lsvo, date(2026, 5, 8), due_date=date(2026, 6, 1), final=False)
    add_assignment(engine, sg, DECIDED, due_date=date(2026, 5, 4), description="Vuxna")
    today = date(2026, 5, 13)
    with Session(engine) as session:
        groups = list(session.exec(select(Group).order_by(col(Group.id))).all())
    by_slug = {f.slug: f for f in followup.figures(followup.register(engine, today), groups)}
    lsvo = by_slug["lsvo"]
    assert (lsvo.open, lsvo.due_soon, lsvo.overdue, lsvo.done) == (2, 0, 1, 4)
    assert sorted(lsvo.days_to_execution) == [10, 20, 24, 30]
    assert lsvo.median_days == 22.0
    assert lsvo.mean_days == 21.0
    assert lsvo.median_label == "22"
    assert lsvo.oldest[0].id == oldest
    assert [e.assignment.description for e in lsvo.oldest] == ["Äldst", "Nyare"]
    vuxna = by_slug["sg-vuxna"]
    assert (vuxna.open, vuxna.overdue, vuxna.done, vuxna.median_days) == (1, 1, 0, None)
    assert by_slug["beredningsgruppen"].total == 0


def _audit(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_the_secretary_marks_done_and_reopens_audited(world: World) -> None:
    engine = world.engine
    task = add_assignment(engine, world.lsvo, DECIDED, due_date=date(2026, 5, 20))
    with pytest.raises(followup.FollowupError) as empty:
        followup.mark_done(engine, SECRETARY, task, report="  ")
    assert (empty.value.status, empty.value.field) == (422, "report")
    with pytest.raises(followup.FollowupError) as other:
        followup.mark_done(engine, OTHER, task, report="Klart")
    assert other.value.status == 403
    assert assignment(engine, task).status == AssignmentStatus.open

    now = local("2026-05-18T14:00")
    followup.mark_done(engine, SECRETARY, task, report=" Rutinen är antagen. ", now=now)
    done = assignment(engine, task)
    assert (done.status, done.report, done.done_at) == (
        AssignmentStatus.done,
        "Rutinen är antagen.",
        now.astimezone(UTC),
    )
    (event,) = _audit(engine, "assignment_done")
    assert event.actor == "kansli@example.se"
    assert event.after is not None and event.after["via"] == "register"
    with pytest.raises(followup.FollowupError) as again:
        followup.mark_done(engine, SECRETARY, task, report="Igen")
    assert again.value.status == 409

    followup.reopen(engine, SECRETARY, task, reason="Rutinen är inte antagen ännu")
    reopened = assignment(engine, task)
    assert (reopened.status, reopened.done_at) == (AssignmentStatus.open, None)
    (event,) = _audit(engine, "assignment_reopened")
    assert event.note == "Rutinen är inte antagen ännu"
    with pytest.raises(followup.FollowupError):
        followup.reopen(engine, SECRETARY, task)


def test_a_draft_cannot_be_marked_done_in_the_register(world: World) -> None:
    task = add_assignment(world.engine, world.lsvo, DECIDED, due_date=date(2026, 6, 1), final=False)
    with pytest.raises(followup.FollowupError) as refused:
        followup.mark_done(world.engine, SECRETARY, task, report="Klart")
    assert refused.value.status == 404


def _link(engine: Engine, task: int, now: datetime) -> str:
    with unit_of_work(engine) as session:
        (entry,) = followup.entries(session, now.date(), assignment_ids=[task])
        url = followup.create_owner_link(
            session, entry.assignment, meeting_id=entry.meeting_id, now=now, public_url="https://x"
        )
    return url.removeprefix("https://x/uppdrag/")


def test_the_owner_reports_done_through_their_link(world: World) -> None:
    engine = world.engine
    task = add_assignment(engine, world.lsvo, DECIDED, due_date=date(2026, 5, 20))
    other = add_assignment(engine, world.lsvo, DECIDED, due_date=date(2026, 5, 20))
    now = local("2026-05-12T10:00")
    token = _link(engine, task, now)
    number, _, secret = token.partition(".")
    assert number == str(task)
    # Another assignment's id with this link's secret, and a made-up token: refused.
    for wrong in (f"{other}.{secret}", f"{task}.{secret[:-1]}x", "x" * 43, "kort"):
        with pytest.raises(access.LinkNotFound):
            followup.mark_done_by_link(engine, wrong, report="Klart", now=now)
    # Sixty days after the message the link has expired.
    with pytest.raises(access.LinkExpired):
        followup.mark_done_by_link(engine, token, report="Klart", now=local("2026-07-13T10:00"))
    with pytest.raises(followup.FollowupError):
        followup.mark_done_by_link(engine, token, report="", now=now)
    assert assignment(engine, task).status == AssignmentStatus.open

    followup.mark_done_by_link(engine, token, report="Rutinen är antagen.", now=now)
    done = assignment(engine, task)
    assert (done.status, done.report) == (AssignmentStatus.done, "Rutinen är antagen.")
    assert assignment(engine, other).status == AssignmentStatus.open
    (event,) = _audit(engine, "assignment_done")
    assert event.actor == "owner:Olle Ägare"
    assert event.after is not None and event.after["via"] == "owner_link"
    form = followup.owner_form(engine, token, now=now)
    assert form.entry.state == FollowupState.done


def test_the_csv_reads_back_for_swedish_excel(world: World) -> None:
    engine = world.engine
    add_assignment(
        engine,
        world.lsvo,
        date(2026, 3, 6),
        due_date=date(2026, 4, 1),
        description='Utred "samordning"; skriv\nen rapport',
        owner_name="@Olle",
    )
    add_assignment(
        engine,
        world.lsvo,
        date(2026, 2, 6),
        due_date=date(2026, 3, 1),
        description="=SUMMA(A1:A9)",
        done_at=datetime(2026, 2, 26, 12, tzinfo=UTC),
    )
    today = date(2026, 5, 13)
    text = followup.csv_text(followup.register(engine, today), today)
    assert text.startswith("\ufeffGrupp;Beslutsdatum;")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    header, first, second = rows
    assert header == list(followup.CSV_COLUMNS)
    record = dict(zip(header, first, strict=True))
    assert record["Uppdrag"] == 'Utred "samordning"; skriv\nen rapport'
    assert record["Ansvarig"] == "'@Olle"
    assert record["Status"] == "Försenat"
    assert record["Dagar sedan beslut"] == "68"
    assert record["Arbetsdagar försenat"] == "27"  # Good Friday, Easter Monday, 1 May
    done = dict(zip(header, second, strict=True))
    assert done["Uppdrag"] == "'=SUMMA(A1:A9)"
    assert done["Klart datum"] == "2026-02-26"
    assert done["Dagar från beslut till klart"] == "20"
    assert done["Återrapport"] == "Klart enligt plan"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
