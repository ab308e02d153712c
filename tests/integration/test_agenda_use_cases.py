"""Placing cases on meetings and building agendas, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

import rules
from casework import agenda, repository, services
from casework.accounts import Identity
from casework.agenda import AgendaError, NotAllowed, OverrideNeedsReason
from casework.calendar import STOCKHOLM, submission_due
from casework.db import unit_of_work
from casework.lifecycle import Action, IllegalTransition, State
from casework.model import (
    AgendaItem,
    AgendaSection,
    AuditEvent,
    Case,
    CaseCreate,
    Meeting,
    Notification,
    StaffRole,
)

RULES = rules.load_rules()
MAY_12 = date(2023, 5, 12)
JUNE_16 = date(2023, 6, 16)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


def person(email: str, *roles: tuple[StaffRole, str | None]) -> Identity:
    return Identity(0, email, "", frozenset(roles))


LSVO_SECRETARY = person("sekreterare@example.se", (StaffRole.secretary, "lsvo"))
BEREDNING = person("beredning@example.se", (StaffRole.beredning, None))
ALDRE_CHAIR = person("ordf-aldre@example.se", (StaffRole.chair, "sg-aldre"))
ADMIN = person("admin@example.se", (StaffRole.admin, None))


def meetings(engine: Engine, group: str, *days: date) -> list[int]:
    with unit_of_work(engine) as session:
        found = repository.get_group(session, slug=group)
        assert found is not None and found.id is not None
        rows = [
            Meeting(group_id=found.id, date=d, starts_at="09:00", place="Regionhuset") for d in days
        ]
        session.add_all(rows)
        session.flush()
        return [m.id for m in rows if m.id is not None]


def routed_case(
    engine: Engine,
    submitted: datetime,
    *,
    destination: str = "lsvo",
    lead_group: str | None = None,
    title: str = "Länsgemensam rutin för utskrivning",
    **facts: object,
) -> Case:
    data = CaseCreate.model_validate(
        {
            "title": title,
            "kind": ["beslut"],
            "county_wide": True,
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna@example.se",
            "presenter": "Anna Andersson, Karlskrona kommun",
            "proposed_decision": "att fastställa rutinen",
            **facts,
        }
    )
    case = services.submit_case(
        engine, data, actor="anna@example.se", rules=RULES, now=submitted
    ).case
    assert case.id is not None
    return services.transition(
        engine,
        case.id,
        Action.route,
        actor="beredning@example.se",
        destination=destination,
        lead_group=lead_group,
        now=submitted,
    )


def audit(engine: Engine, action: str) -> list[AuditEvent]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def outbox(engine: Engine) -> list[Notification]:
    """The messages about scheduling (the receipt and the routing message come before)."""
    kinds = ("case_scheduled", "case_moved_late")
    with unit_of_work(engine) as session:
        query = select(Notification).where(col(Notification.kind).in_(kinds))
        return list(session.exec(query).all())


def items(engine: Engine, meeting_id: int) -> list[AgendaItem]:
    with unit_of_work(engine) as session:
        rows = session.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)).all()
        return agenda.ordered(list(rows))


def test_an_on_time_case_is_proposed_and_scheduled_with_a_message(seeded_engine: Engine) -> None:
    may, _june = meetings(seeded_engine, "lsvo", MAY_12, JUNE_16)
    case = routed_case(seeded_engine, at(date(2023, 4, 28), 20))
    assert case.id is not None
    proposed = agenda.proposed_meeting(seeded_engine, case.id, today=date(2023, 5, 2))
    assert proposed is not None and proposed.id == may

    done = agenda.schedule_case(
        seeded_engine, case.id, may, actor=LSVO_SECRETARY, now=at(date(2023, 5, 2))
    )
    assert not done.late and not done.override
    with unit_of_work(seeded_engine) as session:
        stored = repository.get_case(session, case_id=case.id)
        assert stored is not None
        assert (stored.status, stored.meeting_id) == (State.scheduled, may)
    rows = items(seeded_engine, may)
    assert [(i.section, i.title, i.kind) for i in rows] == [
        (AgendaSection.opening, "Godkännande av dagordningen", "B"),
        (AgendaSection.opening, "Föregående sammanträdesprotokoll", "B"),
        (AgendaSection.case, "Länsgemensam rutin för utskrivning", "B"),
    ]
    assert rows[2].presenter == "Anna Andersson, Karlskrona kommun"
    assert rows[2].proposed_decision == "att fastställa rutinen"
    (message,) = outbox(seeded_engine)
    assert (message.kind, message.recipient_address, message.meeting_id) == (
        "case_scheduled",
        "anna@example.se",
        may,
    )
    assert "fredag 12 maj 2023" in message.body_text
    (event,) = audit(seeded_engine, "schedule")
    assert event.before == {"status": "routed", "meeting_id": None}
    assert event.after is not None and event.after["meeting_id"] == may
    assert event.after["override"] is False


def test_a_late_case_goes_to_the_following_meeting_and_the_submitter_is_told(
    seeded_engine: Engine,
) -> None:
    may, june = meetings(seeded_engine, "lsvo", MAY_12, JUNE_16)
    case = routed_case(seeded_engine, at(date(2023, 4, 29)))
    assert case.id is not None
    options = agenda.placement_options(seeded_engine, case.id, today=date(2023, 5, 2))
    assert options.proposal is not None and options.proposal.late
    assert [(c.meeting.id, c.missed, c.proposed) for c in options.choices] == [
        (may, True, False),
        (june, False, True),
    ]
    done = agenda.schedule_case(
        seeded_engine, case.id, june, actor=LSVO_SECRETARY, now=at(date(2023, 5, 2))
    )
    assert done.late and not done.override
    (message,) = outbox(seeded_engine)
    assert message.kind == "case_moved_late"
    assert message.recipient_address == "anna@example.se"
    assert "fredag 16 juni 2023" in message.body_text
    assert "fredag 28 april 2023" in message.body_text  # the deadline it missed
    assert "2023-06-16" in message.subject


def test_an_override_onto_a_missed_meeting_needs_a_reason_and_is_audited(
    seeded_engine: Engine,
) -> None:
    may, _ = meetings(seeded_engine, "lsvo", MAY_12, JUNE_16)
    case = routed_case(seeded_engine, at(date(2023, 5, 3)))
    assert case.id is not None
    for reason in (None, "   "):
        with pytest.raises(OverrideNeedsReason) as refused:
            agenda.schedule_case(
                seeded_engine,
                case.id,
                may,
                actor=LSVO_SECRETARY,
                reason=reason,
                now=at(date(2023, 5, 4)),
            )
        assert refused.value.field == "reason"
    assert audit(seeded_engine, "schedule") == []
    assert outbox(seeded_engine) == []
    assert items(seeded_engine, may) == []

    done = agenda.schedule_case(
        seeded_engine,
        case.id,
        may,
        actor=LSVO_SECRETARY,
        reason="Brådskande: avtalet löper ut i maj",
        now=at(date(2023, 5, 4)),
    )
    assert done.override and not done.late
    (event,) = audit(seeded_engine, "schedule")
    assert event.note == "Brådskande: avtalet löper ut i maj"
    assert event.after is not None and event.after["override"] is True
    assert [m.kind for m in outbox(seeded_engine)] == ["case_scheduled"]


def test_wrong_group_past_meeting_sent_agenda_and_wrong_role_are_refused(
    seeded_engine: Engine,
) -> None:
    (aldre,) = meetings(seeded_engine, "sg-aldre", date(2023, 5, 24))
    may, june = meetings(seeded_engine, "lsvo", MAY_12, JUNE_16)
    case = routed_case(seeded_engine, at(date(2023, 4, 3)))
    assert case.id is not None
    with pytest.raises(AgendaError, match="goes on the agenda of lsvo"):
        agenda.schedule_case(seeded_engine, case.id, aldre, actor=ADMIN, now=at(date(2023, 4, 4)))
    with pytest.raises(AgendaError, match="already taken place"):
        agenda.schedule_case(seeded_engine, case.id, may, actor=ADMIN, now=at(date(2023, 5, 13)))
    with pytest.raises(NotAllowed):
        agenda.schedule_case(
            seeded_engine, case.id, may, actor=ALDRE_CHAIR, now=at(date(2023, 4, 4))
        )
    with unit_of_work(seeded_engine) as session:
        meeting = session.get(Meeting, may)
        assert meeting is not None
        meeting.agenda_sent_at = at(date(2023, 5, 5))
        session.add(meeting)
    with pytest.raises(AgendaError, match="has been sent"):
        agenda.schedule_case(seeded_engine, case.id, may, actor=BEREDNING, now=at(date(2023, 5, 6)))
    # beredningsgruppen may place cases on LSVO's agenda.
    agenda.schedule_case(seeded_engine, case.id, june, actor=BEREDNING, now=at(date(2023, 5, 6)))
    assert audit(seeded_engine, "schedule")[0].actor == "beredning@example.se"


def test_a_case_that_is_not_routed_cannot_be_scheduled(seeded_engine: Engine) -> None:
    (may,) = meetings(seeded_engine, "lsvo", MAY_12)
    data = CaseCreate(
        title="Ny fråga", county_wide=True, submitter_name="A", submitter_email="a@example.se"
    )
    case = services.submit_case(
        seeded_engine, data, actor="a", rules=RULES, now=at(date(2023, 4, 3))
    ).case
    assert case.id is not None
    with pytest.raises(IllegalTransition):
        agenda.schedule_case(seeded_engine, case.id, may, actor=ADMIN, now=at(date(2023, 4, 4)))


def test_moving_a_scheduled_case_takes_it_off_the_first_meeting(seeded_engine: Engine) -> None:
    may, june = meetings(seeded_engine, "lsvo", MAY_12, JUNE_16)
    case = routed_case(seeded_engine, at(date(2023, 4, 3)))
    assert case.id is not None
    now = at(date(2023, 4, 4))
    agenda.schedule_case(seeded_engine, case.id, may, actor=ADMIN, now=now)
    agenda.schedule_case(seeded_engine, case.id, june, actor=ADMIN, now=now)
    assert [i.case_id for i in items(seeded_engine, may) if i.case_id] == []
    assert [i.case_id for i in items(seeded_engine, june) if i.case_id] == [case.id]
    assert len(audit(seeded_engine, "schedule")) == 2


def test_a_case_with_a_lead_group_is_information_on_the_other_groups_agenda(
    seeded_engine: Engine,
) -> None:
    (aldre,) = meetings(seeded_engine, "sg-aldre", date(2023, 5, 24))
    vuxna_early, vuxna = meetings(seeded_engine, "sg-vuxna", date(2023, 5, 10), date(2023, 5, 31))
    case = routed_case(
        seeded_engine,
        at(date(2023, 4, 27)),
        destination="beredningsgruppen",
        lead_group="sg-aldre",
        county_wide=False,
        target_groups=["vuxna", "aldre"],
        title="Samordnad individuell plan",
    )
    assert case.id is not None and case.routed_groups == ["vuxna", "aldre"]
    done = agenda.schedule_case(
        seeded_engine, case.id, aldre, actor=ALDRE_CHAIR, now=at(date(2023, 4, 28))
    )
    # sg-vuxna's meeting on 05-10 had submissions due 04-26: the case lands on 05-31.
    assert done.information_on == [vuxna]
    assert items(seeded_engine, vuxna_early) == []
    info = [i for i in items(seeded_engine, vuxna) if i.case_id]
    assert [(i.title, i.kind, i.for_information) for i in info] == [
        ("Samordnad individuell plan", "I", True)
    ]
    assert [i.title for i in items(seeded_engine, vuxna) if i.section == AgendaSection.opening][
        -1
    ] == "Protokoll LSVO:s ledningsgrupp"

    # Taking the case off its lead group's agenda drops the information item too.
    own = next(i for i in items(seeded_engine, aldre) if i.case_id == case.id)
    assert own.id is not None
    agenda.remove_item(seeded_engine, aldre, own.id, actor=ALDRE_CHAIR, now=at(date(2023, 4, 29)))
    assert [i for i in items(seeded_engine, vuxna) if i.case_id] == []
    with unit_of_work(seeded_engine) as session:
        stored = repository.get_case(session, case_id=case.id)
        assert stored is not None
        assert (stored.status, stored.meeting_id) == (State.routed, None)
    (event,) = audit(seeded_engine, "unschedule")
    assert event.before == {"status": "scheduled", "meeting_id": aldre}


def test_reordering_renumbers_and_clears_an_approval(seeded_engine: Engine) -> None:
    (may,) = meetings(seeded_engine, "lsvo", MAY_12)
    now = at(date(2023, 4, 4))
    first = routed_case(seeded_engine, at(date(2023, 4, 3)), title="Första")
    second = routed_case(seeded_engine, at(date(2023, 4, 3)), title="Andra")
    for case in (first, second):
        assert case.id is not None
        agenda.schedule_case(seeded_engine, case.id, may, actor=ADMIN, now=now)
    with pytest.raises(NotAllowed):
        agenda.approve_agenda(seeded_engine, may, actor=LSVO_SECRETARY, now=now)
    approved = agenda.approve_agenda(seeded_engine, may, actor=BEREDNING, now=now)
    assert approved.agenda_approved_by == "beredning@example.se"
    (event,) = audit(seeded_engine, "agenda_approved")
    assert event.case_id is None and event.after is not None and event.after["meeting_id"] == may

    cases = [i for i in items(seeded_engine, may) if i.section == AgendaSection.case]
    assert [(i.title, i.position) for i in cases] == [("Första", 1), ("Andra", 2)]
    assert cases[1].id is not None
    agenda.move_item(seeded_engine, may, cases[1].id, "up", actor=LSVO_SECRETARY, now=now)
    cases = [i for i in items(seeded_engine, may) if i.section == AgendaSection.case]
    assert [(i.title, i.position) for i in cases] == [("Andra", 1), ("Första", 2)]
    with unit_of_work(seeded_engine) as session:
        meeting = session.get(Meeting, may)
        assert meeting is not None and meeting.agenda_approved_at is None
    assert len(audit(seeded_engine, "agenda_approval_cleared")) == 1
    assert len(audit(seeded_engine, "agenda_reordered")) == 1


def test_other_business_can_be_added_after_sending_until_the_meeting_day_ends(
    seeded_engine: Engine,
) -> None:
    (may,) = meetings(seeded_engine, "lsvo", MAY_12)
    agenda.approve_agenda(seeded_engine, may, actor=BEREDNING, now=at(date(2023, 5, 4)))
    with unit_of_work(seeded_engine) as session:
        meeting = session.get(Meeting, may)
        assert meeting is not None
        meeting.agenda_sent_at = at(date(2023, 5, 5))
        session.add(meeting)
    added = agenda.add_other_item(
        seeded_engine,
        may,
        title="  Rapport  från PSVO ",
        kind="i",
        presenter="Carina Andersson",
        actor=LSVO_SECRETARY,
        now=at(date(2023, 5, 12), 23),
    )
    assert (added.title, added.kind, added.section) == ("Rapport från PSVO", "I", "other")
    with pytest.raises(AgendaError, match="is over"):
        agenda.add_other_item(
            seeded_engine, may, title="För sent", actor=LSVO_SECRETARY, now=at(date(2023, 5, 13), 0)
        )
    with pytest.raises(AgendaError) as bad_kind:
        agenda.add_other_item(
            seeded_engine, may, title="X", kind="Q", actor=LSVO_SECRETARY, now=at(date(2023, 5, 12))
        )
    assert bad_kind.value.field == "kind"
    read = agenda.load_agenda(seeded_engine, may)
    assert read.meeting.agenda_approved_at is not None  # Övriga frågor keep the approval
    assert read.lines[-1].title == "Övriga frågor"
    assert [s.heading for s in read.lines[-1].sub_items] == ["a/ Rapport från PSVO (I)"]


def test_reading_an_unbuilt_agenda_shows_the_openings_without_storing_them(
    seeded_engine: Engine,
) -> None:
    (aldre,) = meetings(seeded_engine, "sg-aldre", date(2023, 5, 24))
    read = agenda.load_agenda(seeded_engine, aldre)
    assert not read.built
    assert [line.heading for line in read.lines] == [
        "1. Godkännande av dagordningen (B)",
        "2. Föregående sammanträdesprotokoll (B)",
        "3. Protokoll LSVO:s ledningsgrupp (I)",
        "4. Övriga frågor",
    ]
    assert items(seeded_engine, aldre) == []
    assert agenda.build_agenda(seeded_engine, aldre, actor=ALDRE_CHAIR) is True
    assert agenda.build_agenda(seeded_engine, aldre, actor=ALDRE_CHAIR) is False
    assert len(items(seeded_engine, aldre)) == 3
    assert len(audit(seeded_engine, "agenda_built")) == 1


def test_the_demo_places_cases_on_lsvos_next_meeting(seeded_engine: Engine) -> None:
    from casework import demo

    today = datetime.now(STOCKHOLM).date()
    result = demo.prepare(seeded_engine, rules=RULES, today=today)
    with unit_of_work(seeded_engine) as session:
        scheduled = repository.list_cases(session, status=State.scheduled)
    assert 1 <= len(scheduled) <= 2
    assert {c.reference for c in scheduled} <= set(result.references)
    meeting_id = scheduled[0].meeting_id
    assert meeting_id is not None
    read = agenda.load_agenda(seeded_engine, meeting_id)
    assert read.group.slug == "lsvo"
    assert read.case_count == len(scheduled)
    on_time = [d for d in result.meetings["lsvo"] if submission_due(d) >= today]
    assert read.meeting.date == on_time[0]
