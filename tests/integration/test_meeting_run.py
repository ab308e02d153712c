"""Running a meeting through the services, on SQLite and PostgreSQL: attendance, quorum,
decisions and their gating, assignments, feedback and the approval of minutes."""

from __future__ import annotations

from datetime import date

import pytest
from lsvo_2021_06_04 import attendance
from sqlalchemy import Engine
from sqlmodel import col, select

from casework import meeting_run, repository
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.meeting_run import (
    AssignmentInput,
    DecisionInput,
    InvalidInput,
    MeetingRunError,
    MinutesFinal,
    NotAllowed,
    NotQuorate,
    RecipientInput,
)
from casework.model import (
    AgendaItem,
    AgendaSection,
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Decision,
    Meeting,
    Member,
    Minutes,
    Outcome,
    QuorumChoice,
    QuorumRule,
    StaffRole,
)

MAY_7 = date(2021, 5, 7)
JUNE_4 = date(2021, 6, 4)
SEPT_3 = date(2021, 9, 3)


def person(email: str, *roles: tuple[StaffRole, str | None]) -> Identity:
    return Identity(0, email, "", frozenset(roles))


SECRETARY = person("sekreterare@example.se", (StaffRole.secretary, "lsvo"))
BEREDNING = person("beredning@example.se", (StaffRole.beredning, None))
ALDRE_CHAIR = person("ordf-aldre@example.se", (StaffRole.chair, "sg-aldre"))


@pytest.fixture
def world(seeded_engine: Engine) -> dict[str, int]:
    """Three LSVO meetings and one of another group; ids by name."""
    with unit_of_work(seeded_engine) as session:
        lsvo = repository.get_group(session, slug="lsvo")
        aldre = repository.get_group(session, slug="sg-aldre")
        assert lsvo is not None and lsvo.id is not None and aldre is not None and aldre.id
        rows = {
            "may": Meeting(group_id=lsvo.id, date=MAY_7, starts_at="13:00"),
            "june": Meeting(group_id=lsvo.id, date=JUNE_4, starts_at="13:00", place="Teams"),
            "sept": Meeting(group_id=lsvo.id, date=SEPT_3, starts_at="08:15"),
            "aldre": Meeting(group_id=aldre.id, date=SEPT_3),
        }
        session.add_all(rows.values())
        session.flush()
        ids = {key: m.id for key, m in rows.items() if m.id is not None}
        for member, _, _ in repository.list_group_members(session, group_slug="lsvo"):
            assert member.id is not None
            ids[member.name] = member.id
        return ids


def lsvo_2021_06_04(engine: Engine, world: dict[str, int]) -> meeting_run.QuorumStatus:
    present, absent = attendance()
    return meeting_run.record_attendance(
        engine,
        SECRETARY,
        world["june"],
        [world[n] for n in present],
        [world[n] for n in absent],
    )


def everyone(engine: Engine, world: dict[str, int], meeting: str) -> None:
    present, absent = attendance()
    ids = [world[n] for n in present + absent]
    meeting_run.record_attendance(engine, SECRETARY, world[meeting], ids, [])


def item(engine: Engine, meeting_id: int, title: str) -> int:
    with unit_of_work(engine) as session:
        row = session.exec(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting_id, AgendaItem.title == title)
        ).first()
        if row is None:
            row = AgendaItem(meeting_id=meeting_id, section=AgendaSection.case, title=title)
            session.add(row)
            session.flush()
        assert row.id is not None
        return row.id


def events(engine: Engine, action: str) -> list[AuditEvent]:
    with unit_of_work(engine) as session:
        return list(
            session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
            ).all()
        )


def finalise(engine: Engine, meeting_id: int, version: int = 1) -> int:
    """A Minutes row, as finalising would leave it."""
    with unit_of_work(engine) as session:
        row = Minutes(
            meeting_id=meeting_id,
            version=version,
            first_paragraph=113,
            last_paragraph=123,
            finalised_by="sekreterare@example.se",
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def decided(*clauses: str, **kw: object) -> DecisionInput:
    return DecisionInput(outcome=Outcome.decided, clauses=clauses, **kw)  # type: ignore[arg-type]


def test_the_attendance_of_2021_06_04_is_not_quorate(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    status = lsvo_2021_06_04(seeded_engine, world)
    region, municipalities = status.sides
    assert (region.seats, region.present, region.quorate) == (6, 6, True)
    assert (municipalities.seats, municipalities.present, municipalities.quorate) == (14, 7, False)
    assert not status.quorate
    with unit_of_work(seeded_engine) as session:
        stored = meeting_run.meeting_quorum(session, world["june"])
        assert stored == status
        assert world["Bodil Sundlöf"] in meeting_run.present_ids(session, world["june"])
        openings = session.exec(
            select(AgendaItem.title).where(
                AgendaItem.meeting_id == world["june"],
                AgendaItem.section == AgendaSection.opening,
            )
        ).all()
        assert "Föregående sammanträdesprotokoll" in openings
    [event] = events(seeded_engine, "attendance_recorded")
    assert event.after is not None and event.after["quorum"]["quorate"] is False
    assert event.note == "Mötet är inte beslutsmässigt: för få närvarande från kommunerna."


def test_attendance_is_replaced_and_only_members_may_be_marked(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    lsvo_2021_06_04(seeded_engine, world)
    status = meeting_run.record_attendance(
        seeded_engine, SECRETARY, world["june"], [world["Kjell Ivarsson"]], []
    )
    assert [s.present for s in status.sides] == [1, 0]
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.present_ids(session, world["june"]) == {world["Kjell Ivarsson"]}
        stranger = Member(name="Utomstående", organisation_id=1)
        session.add(stranger)
        session.flush()
        stranger_id = stranger.id
    assert stranger_id is not None
    with pytest.raises(InvalidInput) as refused:
        meeting_run.record_attendance(seeded_engine, SECRETARY, world["june"], [stranger_id], [])
    assert "Bara ledamöter" in refused.value.errors["present"]
    kjell = world["Kjell Ivarsson"]
    with pytest.raises(InvalidInput):
        meeting_run.record_attendance(seeded_engine, SECRETARY, world["june"], [kjell], [kjell])
    with pytest.raises(NotAllowed):
        meeting_run.record_attendance(seeded_engine, ALDRE_CHAIR, world["june"], [kjell], [])


def test_guests_never_count(seeded_engine: Engine, world: dict[str, int]) -> None:
    lsvo_2021_06_04(seeded_engine, world)
    guest = meeting_run.add_guest(
        seeded_engine,
        SECRETARY,
        world["june"],
        name="Kristina Borén",
        organisation="Region Blekinge",
        function="processledare",
    )
    assert guest.id is not None
    run = meeting_run.load_run(seeded_engine, world["june"])
    assert [g.guest_name for g in run.guests] == ["Kristina Borén"]
    assert not run.quorum.quorate
    with pytest.raises(InvalidInput) as refused:
        meeting_run.add_guest(seeded_engine, SECRETARY, world["june"], name="  ")
    assert refused.value.errors == {"guest_name": "Skriv gästens namn."}
    # A guest survives a new attendance list and is removed on its own.
    lsvo_2021_06_04(seeded_engine, world)
    assert len(meeting_run.load_run(seeded_engine, world["june"]).guests) == 1
    meeting_run.remove_guest(seeded_engine, SECRETARY, world["june"], guest.id)
    assert meeting_run.load_run(seeded_engine, world["june"]).guests == []
    assert len(events(seeded_engine, "guest_removed")) == 1


def test_deciding_needs_quorum_or_the_explicit_choice(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    lsvo_2021_06_04(seeded_engine, world)
    item_id = item(seeded_engine, world["june"], "Samsjuklighet")
    with pytest.raises(NotQuorate) as refused:
        meeting_run.record_decision(
            seeded_engine, SECRETARY, world["june"], item_id, decided("godkänna projektplanen")
        )
    assert "Kommunerna: 7 av 14 närvarande, minst 8 behövs" in refused.value.errors["quorum"]
    for outcome in (Outcome.referred_back, Outcome.escalated):
        with pytest.raises(NotQuorate):
            meeting_run.record_decision(
                seeded_engine, SECRETARY, world["june"], item_id, DecisionInput(outcome=outcome)
            )
    with unit_of_work(seeded_engine) as session:
        assert meeting_run.decisions_of(session, world["june"]) == {}

    noted = meeting_run.record_decision(
        seeded_engine, SECRETARY, world["june"], item_id, DecisionInput(outcome=Outcome.noted)
    )
    assert noted.clauses == ["lägga informationen till protokollet"]
    assert noted.quorum == QuorumChoice.quorate

    chosen = meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        decided("Att godkänna  projektplanen", quorum=QuorumChoice.without_quorum),
    )
    assert chosen.id == noted.id
    assert chosen.outcome == Outcome.decided
    assert chosen.clauses == ["godkänna projektplanen"]
    assert chosen.quorum == QuorumChoice.without_quorum
    [event] = events(seeded_engine, "decided_without_quorum")
    assert event.after is not None and event.after["item"] == item_id
    assert "Kommunerna: 7 av 14" in event.note
    assert len(events(seeded_engine, "decision_recorded")) == 2


def test_a_quorate_meeting_decides_without_a_choice(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    present, absent = attendance()
    meeting_run.record_attendance(
        seeded_engine,
        SECRETARY,
        world["june"],
        [world[n] for n in [*present, "Gunilla Råberg"]],
        [world[n] for n in absent if n != "Gunilla Råberg"],
    )
    item_id = item(seeded_engine, world["june"], "FoU-avtal 2022-")
    decision = meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        decided(
            "godkänna avtalet",
            "",
            quorum=QuorumChoice.without_quorum,
            recipients=[
                RecipientInput("FoU Blekinge", "fou@example.se"),
                RecipientInput("Samverkansgrupperna"),
                RecipientInput("", ""),
            ],
        ),
    )
    assert decision.quorum == QuorumChoice.quorate
    assert decision.clauses == ["godkänna avtalet"]
    assert decision.recipients == [
        {"name": "FoU Blekinge", "address": "fou@example.se"},
        {"name": "Samverkansgrupperna", "address": ""},
    ]
    assert events(seeded_engine, "decided_without_quorum") == []


def test_input_is_checked_field_by_field(seeded_engine: Engine, world: dict[str, int]) -> None:
    item_id = item(seeded_engine, world["june"], "Provtagning skolan")
    with pytest.raises(InvalidInput) as refused:
        meeting_run.record_decision(
            seeded_engine,
            SECRETARY,
            world["june"],
            item_id,
            DecisionInput(
                outcome=Outcome.decided,
                clauses=["  ", "att"],
                recipients=[RecipientInput("", "x@example.se"), RecipientInput("A", "inte en")],
                assignments=[
                    AssignmentInput("", "", due_date=None),
                    AssignmentInput(
                        "Återrapportera", "Kjell", due_date=SEPT_3, due_meeting_id=world["sept"]
                    ),
                    AssignmentInput("Återrapportera", "Kjell", due_meeting_id=world["aldre"]),
                ],
            ),
        )
    assert refused.value.errors == {
        "clauses": "Skriv minst en att-sats för beslutet.",
        "recipients.0.name": "Skriv mottagarens namn.",
        "recipients.1.address": (
            "Ange en e-postadress (namn@exempel.se) eller en adress av formen tjänst://…, "
            "eller lämna fältet tomt."
        ),
        "assignments.0.description": "Beskriv uppdraget.",
        "assignments.0.owner_name": "Skriv vem som har uppdraget.",
        "assignments.0.due": "Ange antingen ett datum eller ett möte att återrapportera till.",
        "assignments.1.due": "Ange antingen ett datum eller ett möte att återrapportera till.",
        "assignments.2.due": "Välj ett senare möte med LSVO – Ledningssamverkan vård och omsorg.",
    }


def test_deferral_goes_to_a_later_meeting_of_the_same_group(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    lsvo_2021_06_04(seeded_engine, world)
    item_id = item(seeded_engine, world["june"], "Kvinnofridssatsningen")
    for target in (None, world["may"], world["june"], world["aldre"], 99_999):
        with pytest.raises(InvalidInput) as refused:
            meeting_run.record_decision(
                seeded_engine,
                SECRETARY,
                world["june"],
                item_id,
                DecisionInput(outcome=Outcome.deferred, deferred_to_meeting_id=target),
            )
        assert list(refused.value.errors) == ["deferred_to_meeting_id"]
    decision = meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        DecisionInput(outcome=Outcome.deferred, deferred_to_meeting_id=world["sept"]),
    )
    assert decision.deferred_to_meeting_id == world["sept"]
    # Another outcome clears the deferral.
    noted = meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        DecisionInput(outcome=Outcome.noted, deferred_to_meeting_id=world["sept"]),
    )
    assert noted.deferred_to_meeting_id is None


def test_assignments_are_replaced_with_the_decision(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    everyone(seeded_engine, world, "june")
    item_id = item(seeded_engine, world["june"], "Samsjuklighet")
    kjell = world["Kjell Ivarsson"]
    first = meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        decided(
            "ge Kjell Ivarsson i uppdrag att ta fram en plan",
            assignments=[
                AssignmentInput(
                    "Ta fram en plan", "Kjell Ivarsson", kjell, due_meeting_id=world["sept"]
                ),
                AssignmentInput("Boka lokal", "Carina Andersson", due_date=date(2021, 8, 1)),
            ],
        ),
    )
    meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        decided(
            "ge Kjell Ivarsson i uppdrag att ta fram en plan",
            assignments=[
                AssignmentInput(
                    "Ta fram en plan", "Kjell Ivarsson", kjell, due_meeting_id=world["sept"]
                )
            ],
        ),
    )
    with unit_of_work(seeded_engine) as session:
        rows = session.exec(select(Assignment).where(Assignment.decision_id == first.id)).all()
        assert [(a.description, a.owner_member_id, a.due_meeting_id) for a in rows] == [
            ("Ta fram en plan", kjell, world["sept"])
        ]
        assert rows[0].status == AssignmentStatus.open


def test_everything_is_frozen_once_the_meeting_has_minutes(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    lsvo_2021_06_04(seeded_engine, world)
    item_id = item(seeded_engine, world["june"], "Samsjuklighet")
    meeting_run.record_decision(
        seeded_engine, SECRETARY, world["june"], item_id, DecisionInput(outcome=Outcome.noted)
    )
    finalise(seeded_engine, world["june"])
    kjell = world["Kjell Ivarsson"]
    attempts = [
        lambda: meeting_run.record_attendance(seeded_engine, SECRETARY, world["june"], [kjell], []),
        lambda: meeting_run.add_guest(seeded_engine, SECRETARY, world["june"], name="Gäst"),
        lambda: meeting_run.record_decision(
            seeded_engine, SECRETARY, world["june"], item_id, DecisionInput(outcome=Outcome.noted)
        ),
    ]
    for attempt in attempts:
        with pytest.raises(MinutesFinal) as refused:
            attempt()
        assert refused.value.message_sv.startswith("Protokollet är fastställt")
    assert meeting_run.load_run(seeded_engine, world["june"]).frozen
    assert len(events(seeded_engine, "decision_recorded")) == 1


def test_the_next_meeting_gives_feedback_and_approves_the_minutes(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    everyone(seeded_engine, world, "june")
    item_id = item(seeded_engine, world["june"], "Samsjuklighet")
    meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        decided(
            "ge Kjell Ivarsson i uppdrag att ta fram en plan",
            assignments=[
                AssignmentInput("Ta fram en plan", "Kjell Ivarsson", due_meeting_id=world["sept"]),
                AssignmentInput("Boka lokal", "Carina Andersson", due_date=date(2021, 8, 1)),
            ],
        ),
    )
    minutes_id = finalise(seeded_engine, world["june"])
    meeting_run.record_attendance(seeded_engine, SECRETARY, world["sept"], [], [])
    with unit_of_work(seeded_engine) as session:
        previous = meeting_run.previous_minutes(session, world["sept"])
        assert meeting_run.previous_minutes(session, world["june"]) is None
    assert previous is not None and previous.minutes.id == minutes_id
    assert [o.assignment.description for o in previous.open_assignments] == [
        "Ta fram en plan",
        "Boka lokal",
    ]
    assert previous.item_id == item(
        seeded_engine, world["sept"], "Föregående sammanträdesprotokoll"
    )
    plan = previous.open_assignments[0].assignment
    assert plan.id is not None
    meeting_run.record_feedback(
        seeded_engine, SECRETARY, world["sept"], plan.id, report="Planen är klar.", done=True
    )
    with unit_of_work(seeded_engine) as session:
        after = meeting_run.previous_minutes(session, world["sept"])
    assert after is not None
    assert [o.assignment.description for o in after.open_assignments] == ["Boka lokal"]
    assert after.feedback_text() == (
        "Återkoppling protokoll 2021-06-04:\nSamsjuklighet: Planen är klar."
    )

    with pytest.raises(MeetingRunError):
        meeting_run.approve_minutes(
            seeded_engine, SECRETARY, minutes_id, at_meeting_id=world["may"]
        )
    with pytest.raises(NotAllowed):
        meeting_run.approve_minutes(seeded_engine, ALDRE_CHAIR, minutes_id, at_meeting_id=None)
    approved = meeting_run.approve_minutes(
        seeded_engine, SECRETARY, minutes_id, at_meeting_id=world["sept"]
    )
    assert approved.approved_at is not None
    assert approved.approved_by == "sekreterare@example.se"
    assert approved.approved_at_meeting_id == world["sept"]
    with unit_of_work(seeded_engine) as session:
        decision = session.exec(
            select(Decision).where(Decision.agenda_item_id == previous.item_id)
        ).one()
    assert decision.outcome == Outcome.decided
    assert decision.clauses == ["godkänna för 2021-06-04 upprättat sammanträdesprotokoll"]
    # Nobody was marked present in September: the approval records the lack of quorum.
    assert decision.quorum == QuorumChoice.without_quorum
    [lacking] = events(seeded_engine, "decided_without_quorum")
    assert lacking.note.startswith("Protokollet justerades trots att mötet inte var")
    with pytest.raises(MeetingRunError) as twice:
        meeting_run.approve_minutes(seeded_engine, SECRETARY, minutes_id, at_meeting_id=None)
    assert twice.value.message_sv == "Protokollet är redan justerat."
    [event] = events(seeded_engine, "minutes_approved")
    assert event.after is not None and event.after["at_meeting_id"] == world["sept"]


def test_minutes_are_signed_by_the_secretary_or_the_chair(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    first = finalise(seeded_engine, world["june"])
    latest = finalise(seeded_engine, world["june"], version=2)
    with pytest.raises(MeetingRunError) as old:
        meeting_run.approve_minutes(seeded_engine, SECRETARY, first, at_meeting_id=None)
    assert "version 2" in old.value.message_sv
    with pytest.raises(NotAllowed):
        meeting_run.approve_minutes(seeded_engine, BEREDNING, latest, at_meeting_id=None)
    signed = meeting_run.approve_minutes(seeded_engine, SECRETARY, latest, at_meeting_id=None)
    assert signed.approved_at is not None and signed.approved_at_meeting_id is None


def test_the_group_setting_counts_each_organisation(
    seeded_engine: Engine, world: dict[str, int]
) -> None:
    with unit_of_work(seeded_engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None
        group.quorum_rule = QuorumRule.per_organisation
        session.add(group)
    status = lsvo_2021_06_04(seeded_engine, world)
    assert status.sides[0].key == "region-blekinge"
    assert {s.key for s in status.sides if not s.quorate} == {
        "karlshamn",
        "karlskrona",
        "olofstrom",
        "solvesborg",
    }
    assert "Karlskrona kommun: 2 av 4 närvarande, minst 3 behövs" in status.explanations


def test_feedback_and_guests_are_checked(seeded_engine: Engine, world: dict[str, int]) -> None:
    everyone(seeded_engine, world, "june")
    item_id = item(seeded_engine, world["june"], "Samsjuklighet")
    meeting_run.record_decision(
        seeded_engine,
        SECRETARY,
        world["june"],
        item_id,
        decided(
            "ge Carina Andersson i uppdrag att boka lokal",
            assignments=[AssignmentInput("Boka lokal", "Carina Andersson", due_date=SEPT_3)],
        ),
    )
    with unit_of_work(seeded_engine) as session:
        task_id = session.exec(select(Assignment.id)).one()
    assert task_id is not None
    with pytest.raises(meeting_run.NotFound):
        meeting_run.record_feedback(
            seeded_engine, SECRETARY, world["sept"], 99_999, report="", done=True
        )
    with pytest.raises(NotAllowed):
        meeting_run.record_feedback(
            seeded_engine, ALDRE_CHAIR, world["sept"], task_id, report="Klart", done=True
        )
    finalise(seeded_engine, world["sept"])
    with pytest.raises(MinutesFinal):
        meeting_run.record_feedback(
            seeded_engine, SECRETARY, world["sept"], task_id, report="Klart", done=True
        )
    with pytest.raises(meeting_run.NotFound):
        meeting_run.remove_guest(seeded_engine, SECRETARY, world["june"], 99_999)
    june_minutes = finalise(seeded_engine, world["june"])
    with pytest.raises(MeetingRunError) as elsewhere:
        meeting_run.approve_minutes(
            seeded_engine, BEREDNING, june_minutes, at_meeting_id=world["aldre"]
        )
    assert "senare möte med LSVO" in elsewhere.value.message_sv
    with unit_of_work(seeded_engine) as session:
        minutes = session.get(Minutes, june_minutes)
        assert minutes is not None and minutes.approved_at is None
