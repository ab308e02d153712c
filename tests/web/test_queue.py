"""The triage queue: filters, paging and urgency order in SQL, and the page that shows it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from conftest import StaffUser, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import rules
from casework import repository, services
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import Case, CaseCreate, Meeting, utcnow
from casework.queue import QueueFilters, QueuePage, Urgency, list_queue, urgency_of

RULES = rules.load_rules()
NAMES = RULES.definition.destinations
# Monday 2026-05-04, 10:00 Swedish time.
MONDAY = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def submit(
    engine: Engine, title: str, *, at: datetime = MONDAY, description: str = "", **fields: Any
) -> Case:
    data = CaseCreate(
        title=title,
        description=description,
        submitter_name="Anna Andersson",
        submitter_email="anna@example.se",
        **fields,
    )
    return services.submit_case(engine, data, actor="anna@example.se", rules=RULES, now=at).case


def add_meeting(engine: Engine, group: str, day: date) -> None:
    with unit_of_work(engine) as session:
        found = repository.get_group(session, slug=group)
        assert found is not None and found.id is not None
        session.add(Meeting(group_id=found.id, date=day))


def queue(engine: Engine, today: date = date(2026, 5, 11), **filters: Any) -> QueuePage:
    return list_queue(engine, QueueFilters(**filters), rule_destinations=NAMES, today=today)


def titles(page: QueuePage) -> list[str]:
    return [row.case.title for row in page.rows]


# Routed by the default rules: äldre → sg-aldre, vuxna → sg-vuxna, barn → sg-barn-unga.
ALDRE = "Demensvården i Karlshamn"
VUXNA = "Vuxenpsykiatrin och beroendevården"
BARN = "Elevhälsan i grundskolan"


def test_the_most_urgent_deadline_comes_first_then_the_oldest(seeded_engine: Engine) -> None:
    submit(seeded_engine, BARN, at=MONDAY)
    submit(seeded_engine, VUXNA, at=MONDAY + timedelta(hours=1))
    submit(seeded_engine, ALDRE, at=MONDAY + timedelta(hours=2))
    submit(seeded_engine, "Demensteamet", at=MONDAY + timedelta(hours=3))
    # Submissions due 2026-06-11 for sg-vuxna (agenda 06-18), 2026-05-22 for sg-aldre.
    add_meeting(seeded_engine, "sg-vuxna", date(2026, 6, 26))
    add_meeting(seeded_engine, "sg-aldre", date(2026, 6, 5))

    page = queue(seeded_engine)

    assert titles(page) == [ALDRE, "Demensteamet", VUXNA, BARN]
    first, _, vuxna, barn = page.rows
    assert (first.target_meeting, first.next_deadline) == (date(2026, 6, 5), date(2026, 5, 22))
    assert (vuxna.target_meeting, vuxna.next_deadline) == (date(2026, 6, 26), date(2026, 6, 11))
    assert (barn.target_meeting, barn.next_deadline, barn.urgency) == (
        None,
        None,
        Urgency.no_deadline,
    )
    assert first.destination_name == "Samverkansgrupp Äldre (att åldras)"
    assert "regel malgrupp-aldre" in first.explanation


def test_a_case_aims_at_the_first_meeting_whose_deadline_it_met(seeded_engine: Engine) -> None:
    # 2026-06-05's submissions were due Friday 2026-05-22, by midnight Swedish time.
    add_meeting(seeded_engine, "sg-aldre", date(2026, 6, 5))
    add_meeting(seeded_engine, "sg-aldre", date(2026, 9, 4))
    in_time = datetime(2026, 5, 22, 21, 59, tzinfo=UTC)  # 23:59 in Stockholm
    submit(seeded_engine, "I tid", at=in_time, target_groups=["aldre"])
    submit(seeded_engine, "För sent", at=in_time + timedelta(minutes=2), target_groups=["aldre"])

    page = queue(seeded_engine, today=date(2026, 5, 25))

    assert [(r.case.title, r.target_meeting, r.next_deadline) for r in page.rows] == [
        ("I tid", date(2026, 6, 5), date(2026, 5, 22)),
        ("För sent", date(2026, 9, 4), date(2026, 8, 21)),
    ]
    assert page.rows[0].urgency is Urgency.overdue
    assert page.rows[1].urgency is Urgency.normal


def test_meetings_before_the_submission_do_not_count(seeded_engine: Engine) -> None:
    add_meeting(seeded_engine, "sg-aldre", date(2026, 3, 6))
    submit(seeded_engine, ALDRE)
    [row] = queue(seeded_engine).rows
    assert (row.target_meeting, row.next_deadline) == (None, None)


def test_overdue_cases_come_before_everything_else(seeded_engine: Engine) -> None:
    add_meeting(seeded_engine, "sg-vuxna", date(2026, 5, 22))  # submissions due 2026-05-08
    add_meeting(seeded_engine, "sg-aldre", date(2026, 6, 5))  # submissions due 2026-05-22
    submit(seeded_engine, ALDRE, at=MONDAY)
    submit(seeded_engine, VUXNA, at=MONDAY + timedelta(days=1))

    page = queue(seeded_engine, today=date(2026, 5, 11))

    assert [(r.case.title, r.urgency) for r in page.rows] == [
        (VUXNA, Urgency.overdue),
        (ALDRE, Urgency.normal),
    ]


def test_urgency() -> None:
    today = date(2026, 5, 11)  # a Monday; Thursday 05-14 is Kristi himmelfärdsdag
    assert urgency_of(None, today) is Urgency.no_deadline
    assert urgency_of(date(2026, 5, 8), today) is Urgency.overdue
    assert urgency_of(today, today) is Urgency.due_soon
    assert urgency_of(date(2026, 5, 15), today) is Urgency.due_soon  # 3 working days
    assert urgency_of(date(2026, 5, 18), today) is Urgency.normal


def test_days_waiting_are_swedish_working_days(seeded_engine: Engine) -> None:
    submit(seeded_engine, ALDRE, at=MONDAY)
    # Just after midnight on Monday in Stockholm, still Sunday in UTC: submitted on Monday.
    submit(seeded_engine, VUXNA, at=datetime(2026, 5, 10, 22, 30, tzinfo=UTC))

    waiting = {r.case.title: r.working_days_waiting for r in queue(seeded_engine).rows}
    assert waiting == {ALDRE: 5, VUXNA: 0}
    # Kristi himmelfärdsdag, Thursday 2026-05-14, is not a working day.
    later = queue(seeded_engine, today=date(2026, 5, 18)).rows
    assert {r.case.title: r.working_days_waiting for r in later} == {ALDRE: 9, VUXNA: 4}


def test_waiting_means_submitted_or_in_triage(seeded_engine: Engine) -> None:
    submitted = submit(seeded_engine, ALDRE)
    in_triage = submit(seeded_engine, VUXNA)
    routed = submit(seeded_engine, BARN)
    returned = submit(seeded_engine, "Hemsjukvården")
    services.transition(seeded_engine, in_triage.id or 0, "triage", actor="b@example.se")
    services.transition(seeded_engine, routed.id or 0, "route", actor="b@example.se")
    services.transition(
        seeded_engine, returned.id or 0, "return_for_completion", actor="b@example.se"
    )

    assert set(titles(queue(seeded_engine))) == {submitted.title, in_triage.title}
    assert titles(queue(seeded_engine, status=State.routed)) == [routed.title]
    assert titles(queue(seeded_engine, status=State.returned)) == [returned.title]
    assert titles(queue(seeded_engine, status=State.in_triage)) == [in_triage.title]
    assert titles(queue(seeded_engine, status=State.withdrawn)) == []


def test_filter_by_destination_and_target_group(seeded_engine: Engine) -> None:
    submit(seeded_engine, ALDRE)
    submit(seeded_engine, VUXNA)
    submit(seeded_engine, "Samordnad plan", target_groups=["barn_unga", "aldre"])

    assert titles(queue(seeded_engine, destination="sg-vuxna")) == [VUXNA]
    assert titles(queue(seeded_engine, destination="beredningsgruppen")) == ["Samordnad plan"]
    # The target group given on the form or read from the text.
    assert titles(queue(seeded_engine, target_group="aldre")) == [ALDRE, "Samordnad plan"]
    assert titles(queue(seeded_engine, target_group="barn_unga")) == ["Samordnad plan"]
    assert titles(queue(seeded_engine, target_group="aldre", destination="sg-aldre")) == [ALDRE]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("demensvården", [ALDRE]),
        ("DEMENSVÅRDEN", [ALDRE]),
        ("ÄLDREBOENDE", ["Korttidsplatser"]),
        ("sb-2026-0002", [VUXNA]),
        ("  beroende ", [VUXNA]),
        ("50%", ["Andel 50% av kostnaden"]),
        ("_", []),
        ("ingenting sådant", []),
    ],
)
def test_free_text_searches_reference_title_and_description_ignoring_case(
    seeded_engine: Engine, query: str, found: list[str]
) -> None:
    submit(seeded_engine, ALDRE)
    submit(seeded_engine, VUXNA)
    submit(seeded_engine, "Korttidsplatser", description="Platser på äldreboende i Ronneby.")
    submit(seeded_engine, "Andel 50% av kostnaden")
    assert titles(queue(seeded_engine, q=query)) == found


def test_pages_of_the_queue(seeded_engine: Engine) -> None:
    for n in range(7):
        submit(seeded_engine, f"Ärende {n}", at=MONDAY + timedelta(minutes=n))

    first = queue(seeded_engine, per_page=3)
    last = queue(seeded_engine, per_page=3, page=3)
    beyond = queue(seeded_engine, per_page=3, page=99)

    assert (first.total, first.pages, first.page) == (7, 3, 1)
    assert titles(first) == ["Ärende 0", "Ärende 1", "Ärende 2"]
    assert titles(last) == ["Ärende 6"]
    assert (beyond.page, titles(beyond)) == (3, ["Ärende 6"])
    empty = queue(seeded_engine, q="finns inte")
    assert (empty.total, empty.pages, empty.page, empty.rows) == (0, 1, 1, ())


def test_filters_are_checked() -> None:
    with pytest.raises(ValueError, match="page"):
        QueueFilters(page=0)
    with pytest.raises(ValueError, match="per_page"):
        QueueFilters(per_page=0)
    with pytest.raises(ValueError, match="target group"):
        QueueFilters(target_group="gamla")  # type: ignore[arg-type]
    assert QueueFilters().statuses == (State.submitted, State.in_triage)


# --- the page --------------------------------------------------------------------------


def test_the_queue_page_lists_the_waiting_cases(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    now = utcnow()
    add_meeting(seeded_engine, "sg-aldre", (now + timedelta(days=60)).date())
    aldre = submit(seeded_engine, ALDRE, at=now)
    submit(seeded_engine, VUXNA, at=now)
    sign_in(client, beredning)

    page = client.get("/beredning")

    assert page.status_code == 200
    text = page.text
    assert f'<a href="/arenden/{aldre.id}">{aldre.reference}</a>' in text
    assert "Samverkansgrupp Äldre (att åldras)" in text
    assert "regel malgrupp-aldre" in text
    assert "Inget möte planerat" in text
    assert "0 arbetsdagar" in text
    assert "2 ärenden." in text
    assert text.index(ALDRE) < text.index(VUXNA)


def test_the_queue_page_filters_and_keeps_the_filters_in_page_links(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    for n in range(27):
        submit(seeded_engine, f"Demens {n:02d}", at=MONDAY + timedelta(minutes=n))
    submit(seeded_engine, VUXNA)
    sign_in(client, beredning)

    first = client.get("/beredning", params={"q": "demens", "malgrupp": "aldre"}).text
    second = client.get("/beredning", params={"q": "demens", "malgrupp": "aldre", "sida": "2"}).text

    assert "27 ärenden, sida 1 av 2." in first
    assert VUXNA not in first
    assert 'href="/beredning?malgrupp=aldre&amp;q=demens&amp;sida=2"' in first
    assert "Demens 00" in first and "Demens 25" not in first
    assert "Demens 25" in second and "Demens 26" in second
    assert 'aria-current="page">2<' in second
    assert '<option value="aldre" selected>' in second
    assert 'value="demens"' in second


def test_the_queue_page_shrugs_off_nonsense_parameters(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    submit(seeded_engine, ALDRE)
    sign_in(client, beredning)
    response = client.get(
        "/beredning",
        params={"status": "closed'", "mottagare": "x", "malgrupp": "y", "sida": "-3"},
    )
    assert response.status_code == 200
    assert ALDRE in response.text


def test_the_queue_page_shows_other_statuses_on_request(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser
) -> None:
    case = submit(seeded_engine, ALDRE)
    services.transition(seeded_engine, case.id or 0, "withdraw", actor="b@example.se")
    sign_in(client, beredning)
    assert ALDRE not in client.get("/beredning").text
    assert ALDRE in client.get("/beredning?status=withdrawn").text
