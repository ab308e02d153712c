"""The whole chain with a frozen clock, on SQLite and PostgreSQL, through the services a
secretary and the sweep use: a case that sg-vuxna cannot agree on is lifted to LSVO as a
linked case; LSVO cannot agree either, so each organisation's own decision body takes a
position (one late, and reminded); the answers go back on LSVO's agenda; LSVO decides
with an assignment; its owner is reminded, LSVO's chair is told when it is long overdue,
and the owner reports it done. And a resource-requiring case stays blocked until all six
organisations back it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from escalation_world import (
    LSVO_MAY,
    LSVO_SECRETARY,
    SG_SECRETARY,
    SUBMITTER,
    VUXNA_MEETING,
    answer_token,
    assignment,
    at,
    build,
    hold,
    item_of,
    messages,
    submit,
)
from sqlalchemy import Engine
from sqlmodel import col, select

from casework import agenda, followup, meeting_run, org_requests, repository
from casework.accounts import Identity
from casework.calendar import add_working_days
from casework.chain import chain_of
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.meeting_run import DecisionInput, NotBacked
from casework.model import (
    AgendaItem,
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Case,
    OrganisationRequest,
    Outcome,
    RequestPurpose,
    RequestResponse,
    StaffRole,
)
from casework.sweep import ASSIGNMENT_KINDS, REQUEST_KINDS, EventKind, SweepConfig, sweep

CONFIG = SweepConfig(public_url="https://samverkan.example.se")
ASSIGNMENT_DUE = date(2026, 9, 30)
ESCALATE = DecisionInput(
    Outcome.escalated,
    clauses=["lyfta frågan till LSVO då gruppen inte kan enas"],
    text="Regionen och kommunerna har olika syn på finansieringen.",
)


def staff(email: str) -> Identity:
    return Identity(0, email, "", frozenset({(StaffRole.member, None)}))


def case_row(engine: Engine, case_id: int) -> Case:
    with unit_of_work(engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        assert case is not None
        return case


def actions(engine: Engine, case_id: int) -> list[str]:
    with unit_of_work(engine, write=False) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.id))
        ).all()
        return [r.action for r in rows]


def requests(engine: Engine, case_id: int, purpose: RequestPurpose) -> list[OrganisationRequest]:
    with unit_of_work(engine, write=False) as session:
        return list(
            session.exec(
                select(OrganisationRequest)
                .where(
                    OrganisationRequest.case_id == case_id,
                    OrganisationRequest.purpose == purpose,
                )
                .order_by(col(OrganisationRequest.id))
            ).all()
        )


def test_a_disagreement_runs_from_sg_vuxna_to_the_organisations_and_back(
    seeded_engine: Engine,
) -> None:
    engine = seeded_engine
    world = build(engine)
    slugs = {v: k for k, v in world.organisations.items()}

    # 1. A case in sg-vuxna, which cannot agree on it.
    original = submit(
        engine,
        title="Gemensam rutin för samsjuklighet",
        description="Vuxna med samsjuklighet faller mellan huvudmännen.",
        target_groups=["vuxna"],
        now=at(VUXNA_MEETING - timedelta(days=18)),
    )
    assert case_row(engine, original).destination == "sg-vuxna"
    agenda.schedule_case(
        engine, original, world.meetings["vuxna"], actor=SG_SECRETARY,
        now=at(VUXNA_MEETING - timedelta(days=17)),
    )  # fmt: skip
    hold(engine, SG_SECRETARY, world.meetings["vuxna"], at(VUXNA_MEETING), {original: ESCALATE})

    parent = case_row(engine, original)
    assert parent.status == State.escalated and parent.meeting_id is None
    with unit_of_work(engine, write=False) as session:
        children = session.exec(select(Case).where(Case.parent_case_id == original)).all()
    assert len(children) == 1
    child = children[0]
    assert child.id is not None
    assert child.escalated_from == "sg-vuxna"
    assert child.destination == "lsvo"
    assert child.routing_rule.startswith("oenighet-samverkansgrupp")
    assert child.status == State.routed
    assert child.reference != parent.reference
    assert "Vuxna med samsjuklighet faller mellan huvudmännen." in child.description
    assert "att lyfta frågan till LSVO då gruppen inte kan enas" in child.description
    assert "olika syn på finansieringen" in child.description
    assert f"/arenden/{original}" in child.description
    assert "linked_case_raised" in actions(engine, original)
    assert actions(engine, child.id)[:2] == ["submit", "route"]
    told = {m.recipient_address for m in messages(engine, "linked_case_raised")}
    assert SUBMITTER[1] in told
    assert {"vera.vuxen@example.se", "sixten.skrivare@example.se"} <= told
    # The meeting proposed for it is LSVO's next whose submission deadline it meets.
    proposed = agenda.proposed_meeting(engine, child.id, today=VUXNA_MEETING)
    assert proposed is not None and proposed.id == world.meetings["march"]
    submitter_note = next(
        m for m in messages(engine, "linked_case_raised") if m.recipient_address == SUBMITTER[1]
    )
    assert "13 mars 2026" in submitter_note.body_text and "/s/" in submitter_note.body_text

    # 2. LSVO cannot agree either: the case goes to each organisation's own decision body.
    march = proposed.date
    agenda.schedule_case(
        engine, child.id, proposed.id, actor=LSVO_SECRETARY, now=at(march - timedelta(days=10))
    )
    hold(engine, LSVO_SECRETARY, proposed.id, at(march), {child.id: ESCALATE})
    assert case_row(engine, child.id).status == State.escalated
    asked = requests(engine, child.id, RequestPurpose.position)
    assert len(asked) == 6
    assert {slugs[r.organisation_id] for r in asked} == set(world.organisations)
    due = add_working_days(march, 20)
    assert {r.due_date for r in asked} == {due}
    first_notes = messages(engine, "organisation_request", case_id=child.id)
    assert {n.member_id for n in first_notes} >= {mid for mid, _ in world.answerer.values()}
    assert all("/svar/" in n.body_text for n in first_notes)

    # 3. Five organisations answer in time: signed in, or through the private link.
    late = "olofstrom"
    by_org = {slugs[r.organisation_id]: r for r in asked}
    answers = {
        "region-blekinge": ("backs", ""),
        "karlskrona": ("backs", ""),
        "ronneby": ("does_not_back", "Kostnaden är för hög för oss i år."),
        "karlshamn": ("comment", "Vi behöver mer underlag om finansieringen."),
        "solvesborg": ("backs", ""),
    }
    for n, (slug, (response, comment)) in enumerate(answers.items()):
        member_id, email = world.answerer[slug]
        when = at(march + timedelta(days=7 + n))
        if n % 2:
            token = answer_token(first_notes, member_id)
            org_requests.respond_by_token(
                engine, token, by_org[slug].id or 0, response=response, comment=comment, now=when
            )
        else:
            org_requests.respond_as_staff(
                engine, staff(email), by_org[slug].id or 0, response=response, comment=comment,
                now=when,
            )  # fmt: skip
    # A member cannot answer for another organisation.
    with pytest.raises(org_requests.NotAllowed):
        org_requests.respond_as_staff(
            engine, staff(world.answerer["karlskrona"][1]), by_org[late].id or 0,
            response="backs", now=at(march + timedelta(days=14)),
        )  # fmt: skip
    assert case_row(engine, child.id).status == State.escalated

    # 4. The sweep reminds the late organisation before the due date, once, and again after.
    before_due = at(add_working_days(due, -2), 11)
    report = sweep(engine, before_due, CONFIG)
    assert report.events.get(EventKind.organisation_request_reminder.value) == 1
    assert sweep(engine, before_due + timedelta(hours=1), CONFIG, REQUEST_KINDS).total_events == 0
    reminders = messages(engine, "organisation_request_reminder", case_id=child.id)
    late_id = world.organisations[late]
    with unit_of_work(engine, write=False) as session:
        from casework.model import Member

        late_members = {
            m.id for m in session.exec(select(Member).where(Member.organisation_id == late_id))
        }
    assert reminders and {m.member_id for m in reminders} <= late_members
    assert sweep(engine, at(due, 12), CONFIG, REQUEST_KINDS).total_events == 0
    after_due = at(add_working_days(due, 1), 9)
    report = sweep(engine, after_due, CONFIG, REQUEST_KINDS)
    assert report.events == {EventKind.organisation_request_overdue.value: 1}
    assert sweep(engine, after_due + timedelta(days=1), CONFIG, REQUEST_KINDS).total_events == 0
    overdue = messages(engine, "organisation_request_overdue", case_id=child.id)
    assert overdue and {m.member_id for m in overdue} <= late_members

    # 5. The late answer comes in: all six have taken a position, the case goes back to LSVO.
    late_member, late_email = world.answerer[late]
    token = answer_token(reminders, late_member)
    late_at = at(add_working_days(due, 2), 14)
    org_requests.respond_by_token(
        engine, token, by_org[late].id or 0, response="backs", comment="Beslut i nämnden.",
        now=late_at,
    )  # fmt: skip
    back = case_row(engine, child.id)
    assert back.status == State.scheduled
    assert back.destination == "lsvo"
    assert back.meeting_id == world.meetings["may"]
    with unit_of_work(engine, write=False) as session:
        item = session.exec(
            select(AgendaItem).where(
                AgendaItem.meeting_id == world.meetings["may"], AgendaItem.case_id == child.id
            )
        ).one()
    assert item.proposed_decision.startswith("Organisationernas ställningstaganden:")
    assert "Ronneby kommun: står inte bakom – Kostnaden är för hög" in item.proposed_decision
    assert "Olofströms kommun: står bakom – Beslut i nämnden." in item.proposed_decision
    audit = actions(engine, child.id)
    assert audit.count("organisation_response") == 6
    assert "organisation_request_reminder" in audit and "organisation_request_overdue" in audit
    assert audit[-1] == "schedule"
    told_back = messages(engine, "organisation_answers_complete", case_id=child.id)
    assert SUBMITTER[1] not in {m.recipient_address for m in told_back}  # the child's submitter
    assert told_back
    # Answers can no longer be changed once they went back.
    with pytest.raises(org_requests.RequestError):
        org_requests.respond_as_staff(
            engine, staff(late_email), by_org[late].id or 0, response="does_not_back",
            now=late_at + timedelta(hours=1),
        )  # fmt: skip

    # 6. LSVO decides, with an assignment: the case is followed up.
    may = world.meetings["may"]
    owner = world.answerer["karlskrona"]
    decide = DecisionInput(
        Outcome.decided,
        clauses=["införa en gemensam rutin för samsjuklighet"],
        assignments=[assignment("Karlskrona kommun", owner[1], ASSIGNMENT_DUE)],
    )
    hold(engine, LSVO_SECRETARY, may, at(LSVO_MAY), {child.id: decide})
    done = case_row(engine, child.id)
    assert done.status == State.following_up
    with unit_of_work(engine, write=False) as session:
        tasks = session.exec(select(Assignment).where(Assignment.case_id == child.id)).all()
    assert len(tasks) == 1 and tasks[0].owner_address == owner[1]
    assert item_of(engine, may, child.id)

    # 7. The owner is reminded before the due date; long overdue, LSVO's chair is told.
    soon = at(add_working_days(ASSIGNMENT_DUE, -2), 11)
    report = sweep(engine, soon, CONFIG, ASSIGNMENT_KINDS)
    assert report.events == {EventKind.assignment_reminder.value: 1}
    reminded = messages(engine, "assignment_reminder", case_id=child.id)
    assert {m.recipient_address for m in reminded} == {owner[1]}
    assert sweep(engine, soon + timedelta(hours=2), CONFIG, ASSIGNMENT_KINDS).total_events == 0
    long_overdue = at(add_working_days(ASSIGNMENT_DUE, 11), 10)
    report = sweep(engine, long_overdue, CONFIG, ASSIGNMENT_KINDS)
    assert report.events == {
        EventKind.assignment_overdue.value: 1,
        EventKind.assignment_overdue_chair.value: 1,
    }
    chair = messages(engine, "assignment_overdue_chair", case_id=child.id)
    assert {m.recipient_address for m in chair} == {"bodil.sundlof@example.se"}

    # 8. Done: the owner reports it through the link in the reminder.
    link = re.search(r"/uppdrag/([A-Za-z0-9_.-]+)", reminded[-1].body_text)
    assert link is not None
    followup.mark_done_by_link(
        engine, link.group(1), report="Rutinen är antagen av alla sex.",
        now=long_overdue + timedelta(days=1),
    )  # fmt: skip
    with unit_of_work(engine, write=False) as session:
        task = session.get(Assignment, tasks[0].id)
        assert task is not None and task.status == AssignmentStatus.done
        # The submitter of the original case sees the whole chain.
        original_case = repository.get_case(session, case_id=original)
        assert original_case is not None
        view = chain_of(session, original_case)
    assert view.where.startswith("Frågan är lyft till LSVO")
    assert [d.outcome for d in view.decisions] == ["Lyfts vidare: gruppen kan inte enas"]
    (linked,) = view.linked
    assert linked.relation == "Lyft vidare som" and linked.reference == child.reference
    assert linked.status_label == "Under uppföljning"
    assert [d.outcome for d in linked.decisions] == [
        "Lyfts vidare: gruppen kan inte enas",
        "Beslut",
    ]
    assert linked.decisions[-1].clauses == ["införa en gemensam rutin för samsjuklighet"]
    assert len(linked.answers) == 6
    assert [(a.status, a.done) for a in view.assignments] == [("Klart", True)]


def test_a_resource_requiring_decision_waits_for_six_backings(seeded_engine: Engine) -> None:
    engine = seeded_engine
    world = build(engine)
    march = world.meetings["march"]
    case_id = submit(
        engine,
        title="Gemensam finansiering av länssamordnare",
        description="En länssamordnare på 50 % med gemensam finansiering.",
        requests_resources=True,
        now=at(VUXNA_MEETING - timedelta(days=10)),
    )
    case = case_row(engine, case_id)
    assert case.destination == "lsvo" and case.requires_endorsement
    placed_at = at(VUXNA_MEETING)
    agenda.schedule_case(engine, case_id, march, actor=LSVO_SECRETARY, now=placed_at)
    asked = requests(engine, case_id, RequestPurpose.backing)
    assert len(asked) == 6
    assert messages(engine, "organisation_request", case_id=case_id)

    meeting_day = agenda.load_agenda(engine, march).meeting.date
    from escalation_world import everyone_present

    everyone_present(engine, LSVO_SECRETARY, march, at(meeting_day))
    item_id = item_of(engine, march, case_id)
    decide = DecisionInput(Outcome.decided, clauses=["tillsätta en länssamordnare"])

    def attempt() -> str | None:
        try:
            meeting_run.record_decision(
                engine, LSVO_SECRETARY, march, item_id, decide, now=at(meeting_day, 11)
            )
        except NotBacked as exc:
            assert exc.errors["outcome"] == exc.message_sv
            return exc.message_sv
        return None

    refusal = attempt()
    assert refusal is not None and "Har inte svarat: Region Blekinge, Karlskrona kommun" in refusal
    slugs = {v: k for k, v in world.organisations.items()}
    assert {r.due_date for r in asked} == {meeting_day}  # due by the meeting
    for n, request in enumerate(asked):
        if n == 5:
            # The last organisation has not answered a few days before the meeting: its
            # members are reminded, once; the others are not.
            reminder_at = at(add_working_days(meeting_day, -3), 9)
            report = sweep(engine, reminder_at, CONFIG, REQUEST_KINDS)
            assert report.events == {EventKind.organisation_request_reminder.value: 1}
            assert sweep(engine, reminder_at, CONFIG, REQUEST_KINDS).total_events == 0
            reminded = messages(engine, "organisation_request_reminder", case_id=case_id)
            assert reminded and all("Olofströms kommun" in m.body_text for m in reminded)
        slug = slugs[request.organisation_id]
        response = "does_not_back" if slug == "karlshamn" else "backs"
        org_requests.respond_as_staff(
            engine, staff(world.answerer[slug][1]), request.id or 0, response=response,
            now=placed_at + timedelta(days=1 + n) if n < 5 else at(meeting_day, 8),
        )  # fmt: skip
        refusal = attempt()
        assert refusal is not None, f"decided after {n + 1} answers"
    assert "Har inte svarat" not in refusal
    assert "Står inte bakom (eller har bara kommenterat): Karlshamns kommun." in refusal
    # Noting or deferring the item is still allowed.
    meeting_run.record_decision(
        engine, LSVO_SECRETARY, march, item_id, DecisionInput(Outcome.noted), now=at(meeting_day)
    )
    karlshamn = next(r for r in asked if slugs[r.organisation_id] == "karlshamn")
    org_requests.respond_as_staff(
        engine, staff(world.answerer["karlshamn"][1]), karlshamn.id or 0, response="backs",
        comment="Nämnden ändrade sig.", now=at(meeting_day, 9),
    )  # fmt: skip
    assert attempt() is None
    lines = org_requests.load_lines(engine, case_id, RequestPurpose.backing)
    assert [line.request.response for line in lines] == [RequestResponse.backs] * 6
    assert lines[0].organisation.name == "Region Blekinge"
