"""The deadline sweep on SQLite and PostgreSQL: who is written to, when, and only once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from sweep_world import (
    World,
    add_case,
    add_group,
    add_meeting,
    add_member,
    approve_agenda,
    attach,
    build_world,
    meeting,
    outbox,
    place_on_agenda,
    sent,
    sweep_keys,
)

import casework.sweep as sweep_module
from casework import accounts
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import AuditEvent, Role, StaffRole
from casework.sweep import EventKind, SweepConfig, sweep

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONFIG = SweepConfig(public_url="https://samverkan.example.se")
MAY = date(2023, 5, 12)


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=STOCKHOLM)


@pytest.fixture
def world(migrated_engine: Engine) -> World:
    return build_world(migrated_engine)


def _many_cases_without_documents(world: World, count: int) -> int:
    may = add_meeting(world.engine, world.lsvo, MAY)
    for number in range(count):
        case = add_case(world.engine, f"Ärende {number}", submitter=f"s{number}@example.se")
        place_on_agenda(world.engine, may, case, position=number)
    return may


def test_reminders_go_only_to_who_still_has_to_act(world: World) -> None:
    engine = world.engine
    may = add_meeting(engine, world.lsvo, MAY)
    missing = add_case(engine, "Saknar underlag", presenter="Bo Berg")
    unknown_presenter = add_case(engine, "Okänd föredragande", presenter="Någon Annan")
    done = add_case(engine, "Klart", submitter="klar@example.se", presenter="Bo Berg")
    withdrawn = add_case(engine, "Återkallat", submitter="borta@example.se")
    informed = add_case(engine, "För kännedom", submitter="info@example.se")
    for position, case in enumerate([missing, unknown_presenter, done, withdrawn], start=1):
        place_on_agenda(engine, may, case, position)
    place_on_agenda(engine, may, informed, 5)
    attach(engine, done)
    with unit_of_work(engine) as session:
        from casework.model import AgendaItem, Case

        case_row = session.get(Case, withdrawn)
        assert case_row is not None
        case_row.status = State.withdrawn
        item = session.exec(select(AgendaItem).where(AgendaItem.case_id == informed)).one()
        item.for_information = True

    report = sweep(engine, local("2023-04-26T10:00"), CONFIG)

    assert report.events == {EventKind.submission_reminder: 2}
    assert sent(engine) == {
        (f"submission_reminder:{may}:{missing}", "anna@example.se"),
        (f"submission_reminder:{may}:{missing}", "bo@example.se"),
        (f"submission_reminder:{may}:{unknown_presenter}", "anna@example.se"),
    }


def test_reminders_wait_for_working_hours(world: World) -> None:
    engine = world.engine
    _many_cases_without_documents(world, 1)
    # After working hours on Tue 04-25: the reminder waits for Wednesday morning.
    first = sweep(engine, local("2023-04-25T17:30"), CONFIG)
    assert first.total_messages == 1
    (row,) = outbox(engine)
    assert row.not_before == local("2023-04-26T08:00").astimezone(UTC)
    assert row.recipient_name == "Anna Anmälare"


def test_a_weekend_message_waits_for_monday(world: World) -> None:
    engine = world.engine
    may = add_meeting(engine, world.lsvo, MAY)
    sweep(engine, local("2023-04-29T11:00"), CONFIG)  # Saturday: submissions close
    assert meeting(engine, may).submissions_closed_at == local("2023-04-29T11:00")
    with Session(engine) as session:
        (audit,) = session.exec(select(AuditEvent)).all()
    assert audit.action == "close_submissions"
    assert audit.after == {"meeting_id": may, "group": "lsvo", "date": "2023-05-12"}
    approve_agenda(engine, may, local("2023-05-01T12:00"))
    sweep(engine, local("2023-05-06T10:00"), CONFIG)  # Saturday after the agenda's due day
    rows = outbox(engine)
    assert {n.kind for n in rows} == {"agenda_sent"}
    assert {n.not_before for n in rows} == {local("2023-05-08T08:00").astimezone(UTC)}


def test_working_hours_are_configurable(world: World) -> None:
    engine = world.engine
    _many_cases_without_documents(world, 1)
    sweep(engine, local("2023-04-25T07:30"), SweepConfig(working_hours_start=7))
    (row,) = outbox(engine)
    assert row.not_before == local("2023-04-25T07:30").astimezone(UTC)


def test_sweeping_twice_acts_once(world: World) -> None:
    engine = world.engine
    may = _many_cases_without_documents(world, 7)
    small_batches = SweepConfig(batch_size=3)
    first = sweep(engine, local("2023-04-26T10:00"), small_batches)
    second = sweep(engine, local("2023-04-26T10:00"), small_batches)
    third = sweep(engine, local("2023-04-28T16:00"), small_batches)
    assert first.events == {EventKind.submission_reminder: 7}
    assert second.total_events == third.total_events == 0
    keys = Counter(n.event_key for n in outbox(engine))
    assert len(keys) == 7 and set(keys.values()) == {1}
    assert len(sweep_keys(engine)) == 7
    assert all(key.startswith(f"submission_reminder:{may}:") for key in keys)


class SimulatedCrash(BaseException):
    """The process dies: nothing after this point runs, nothing uncommitted survives."""


def _fail_on_call(monkeypatch: pytest.MonkeyPatch, number: int, error: BaseException) -> None:
    real = sweep_module.enqueue
    calls = Counter[str]()

    def enqueue(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == number:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "enqueue", enqueue)


def test_a_crash_mid_batch_loses_the_batch_and_the_next_sweep_acts_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = world.engine
    _many_cases_without_documents(world, 7)
    config = SweepConfig(batch_size=3)
    now = local("2023-04-26T10:00")
    # The fifth event is in the second batch: the first batch is committed, the second
    # rolled back with its claimed keys.
    _fail_on_call(monkeypatch, 5, SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        sweep(engine, now, config)
    assert len(sweep_keys(engine)) == 3
    assert len(outbox(engine)) == 3
    monkeypatch.undo()

    report = sweep(engine, now, config)
    assert report.events == {EventKind.submission_reminder: 4}
    assert sweep(engine, now, config).total_events == 0
    keys = Counter(n.event_key for n in outbox(engine))
    assert len(keys) == 7 and set(keys.values()) == {1}


def test_an_event_that_fails_holds_back_only_itself(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = world.engine
    _many_cases_without_documents(world, 4)
    now = local("2023-04-26T10:00")
    # The batch fails on its second event; one by one, the second event fails again.
    _fail_on_call(monkeypatch, 2, RuntimeError("mall saknas"))
    first = sweep(engine, now, CONFIG)
    assert first.total_events == 4  # 4 acted on one by one (the 2nd call failed once)
    assert first.failed == {}
    monkeypatch.undo()

    calls = Counter[str]()
    real = sweep_module.enqueue

    def broken_for_one(*args: Any, **kwargs: Any) -> Any:
        if kwargs["recipients"][0].address == "s9@example.se":
            calls["failed"] += 1
            raise RuntimeError("trasig mall")
        return real(*args, **kwargs)

    may = meeting(engine, first_meeting_id(engine)).id
    assert may is not None
    for number in (8, 9):
        case = add_case(engine, f"Ärende {number}", submitter=f"s{number}@example.se")
        place_on_agenda(engine, may, case, position=number)
    monkeypatch.setattr(sweep_module, "enqueue", broken_for_one)
    second = sweep(engine, now, CONFIG)
    assert second.total_events == 1
    (failed_key,) = second.failed
    assert "trasig mall" in second.failed[failed_key]
    monkeypatch.undo()
    third = sweep(engine, now, CONFIG)
    assert third.total_events == 1 and not third.failed
    assert len(Counter(n.event_key for n in outbox(engine))) == 6


def first_meeting_id(engine: Engine) -> int:
    from casework.model import Meeting

    with Session(engine) as session:
        found = session.exec(select(Meeting.id).order_by(col(Meeting.id))).first()
    assert found is not None
    return found


def test_two_sweeps_at_once_act_once(world: World) -> None:
    engine = world.engine
    _many_cases_without_documents(world, 40)
    now = local("2023-04-26T10:00")
    config = SweepConfig(batch_size=5)
    start = threading.Barrier(2)
    reports: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            reports.append(sweep(engine, now, config).total_events)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(reports) == 40
    keys = Counter(n.event_key for n in outbox(engine))
    assert len(keys) == 40 and set(keys.values()) == {1}


def test_stale_triage_reminds_beredning_then_its_chair(world: World) -> None:
    engine = world.engine
    friday = datetime(2026, 3, 6, 15, 0, tzinfo=STOCKHOLM)
    waiting = add_case(engine, "Väntar", status=State.submitted, created_at=friday)
    triaging = add_case(engine, "Bereds", status=State.in_triage, created_at=friday)
    routed = add_case(engine, "Fördelat", status=State.routed, created_at=friday)
    recent = add_case(
        engine,
        "Nytt",
        status=State.submitted,
        created_at=datetime(2026, 3, 9, 8, 0, tzinfo=STOCKHOLM),
    )
    accounts.create_user(
        engine,
        email="ordf@example.se",
        password="ett långt lösenord 2026",
        role=StaffRole.chair,
        group="beredningsgruppen",
    )
    beredning = {"beredare@example.se", "britta@example.se", "bertil@example.se"}
    chair = {"britta@example.se", "ordf@example.se"}

    # Fri 03-13: five working days have passed; not more than five.
    assert sweep(engine, local("2026-03-13T16:00"), CONFIG).total_events == 0
    # Mon 03-16: six.
    report = sweep(engine, local("2026-03-16T09:00"), CONFIG)
    assert report.events == {EventKind.stale_triage: 2}
    assert sent(engine) == {
        (f"stale_triage:{case}", address) for case in (waiting, triaging) for address in beredning
    }
    row = next(n for n in outbox(engine) if n.case_id == waiting)
    assert "6 arbetsdagar" in row.subject
    assert f"https://samverkan.example.se/arenden/{waiting}" in row.body_text
    # Tue 03-17: the recent case has waited six too; nothing is repeated.
    report = sweep(engine, local("2026-03-17T09:00"), CONFIG)
    assert report.events == {EventKind.stale_triage: 1}
    assert {n.case_id for n in outbox(engine)} == {waiting, triaging, recent}
    assert routed not in {n.case_id for n in outbox(engine)}
    # Mon 03-23: eleven working days (more than 2 × 5): the chair.
    report = sweep(engine, local("2026-03-23T09:00"), CONFIG)
    assert report.events == {EventKind.stale_triage_chair: 2}
    assert sent(engine, "stale_triage_chair") == {
        (f"stale_triage_chair:{case}", address) for case in (waiting, triaging) for address in chair
    }


def test_groups_with_other_offsets_are_swept_on_their_own_dates(world: World) -> None:
    engine = world.engine
    with unit_of_work(engine) as session:
        slow = add_group(session, "sg-aldre", "Samverkansgrupp att åldras", agenda=14)
        add_member(session, world.organisation, slow, "Åsa Äldre", "asa@example.se", Role.member)
    lsvo_meeting = add_meeting(engine, world.lsvo, MAY)
    slow_meeting = add_meeting(engine, slow, MAY)
    approve_agenda(engine, lsvo_meeting, local("2023-04-20T10:00"))
    approve_agenda(engine, slow_meeting, local("2023-04-20T10:00"))
    # sg-aldre's agenda is due Fri 04-28, LSVO's Fri 05-05.
    report = sweep(engine, local("2023-04-28T09:00"), CONFIG, kinds=[EventKind.agenda_sent])
    assert report.events == {EventKind.agenda_sent: 1}
    assert sent(engine) == {(f"agenda_sent:{slow_meeting}", "asa@example.se")}
    report = sweep(engine, local("2023-05-05T09:00"), CONFIG, kinds=[EventKind.agenda_sent])
    assert report.events == {EventKind.agenda_sent: 1}
    assert meeting(engine, lsvo_meeting).agenda_sent_at == local("2023-05-05T09:00")


def test_a_naive_time_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        sweep(world.engine, datetime(2023, 4, 26, 10, 0), CONFIG)


def test_messages_escape_what_people_typed_in_html(world: World) -> None:
    engine = world.engine
    created = datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM)
    add_case(engine, "<script>alert(1)</script>", status=State.submitted, created_at=created)
    sweep(engine, local("2026-03-16T09:00"), CONFIG)
    rows = outbox(engine)
    assert rows and all("<script>" not in n.body_html for n in rows)
    assert all("&lt;script&gt;" in n.body_html for n in rows)
    assert all("<script>alert(1)</script>" in n.body_text for n in rows)
