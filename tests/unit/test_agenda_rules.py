"""The pure rules of the agenda: proposal, lateness, permissions, order and numbering."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from casework.accounts import Identity
from casework.agenda import (
    OTHER_BUSINESS,
    Line,
    agenda_group,
    information_groups,
    is_late_placement,
    letters,
    may_approve,
    may_manage,
    meeting_day,
    missed_deadline,
    moved,
    normalise_marks,
    number_lines,
    opening_items,
    propose,
    time_and_place,
)
from casework.calendar import STOCKHOLM, DeadlineRule
from casework.model import AgendaItem, AgendaSection, Case, Group, GroupLevel, Meeting, StaffRole

RULE = DeadlineRule()
MAY_12 = date(2023, 5, 12)
JUNE_16 = date(2023, 6, 16)
LSVO_MEETINGS = [date(2023, 4, 14), MAY_12, JUNE_16]


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


def identity(*roles: tuple[StaffRole, str | None]) -> Identity:
    return Identity(1, "x@example.se", "", frozenset(roles))


# --- the deadline of the worked example: LSVO 2023-05-12, submissions due 2023-04-28 ----


def test_a_case_submitted_on_the_due_day_meets_it_until_midnight_swedish_time() -> None:
    assert not missed_deadline(at(date(2023, 4, 28), 23), MAY_12, RULE)
    # 23:30 Stockholm on the 28th is 21:30 UTC: still the 28th in Sweden.
    assert not missed_deadline(datetime(2023, 4, 28, 21, 30, tzinfo=UTC), MAY_12, RULE)
    assert missed_deadline(datetime(2023, 4, 28, 22, 30, tzinfo=UTC), MAY_12, RULE)
    assert missed_deadline(at(date(2023, 5, 1)), MAY_12, RULE)


def test_on_time_case_is_proposed_for_the_next_meeting_and_is_not_late() -> None:
    proposal = propose(at(date(2023, 4, 20)), LSVO_MEETINGS, RULE, today=date(2023, 4, 20))
    assert proposal.meeting == MAY_12
    assert not proposal.late
    assert proposal.missed is None


def test_late_case_goes_to_the_following_meeting() -> None:
    proposal = propose(at(date(2023, 5, 2)), LSVO_MEETINGS, RULE, today=date(2023, 5, 3))
    assert proposal.meeting == JUNE_16
    assert proposal.late
    assert proposal.missed == MAY_12


def test_a_case_scheduled_after_its_meeting_passed_is_proposed_the_next_upcoming() -> None:
    proposal = propose(at(date(2023, 4, 20)), LSVO_MEETINGS, RULE, today=date(2023, 5, 13))
    assert proposal.meeting == JUNE_16
    assert not proposal.late


def test_no_meeting_no_proposal() -> None:
    proposal = propose(at(date(2023, 6, 10)), LSVO_MEETINGS, RULE, today=date(2023, 6, 10))
    assert proposal.meeting is None
    assert not proposal.late
    assert proposal.missed == JUNE_16


def test_placing_late_is_moving_past_the_missed_meeting_but_an_override_is_not() -> None:
    submitted = at(date(2023, 5, 2))
    assert is_late_placement(submitted, LSVO_MEETINGS, JUNE_16, RULE) == (True, MAY_12)
    assert is_late_placement(submitted, LSVO_MEETINGS, MAY_12, RULE) == (False, None)
    on_time = at(date(2023, 4, 20))
    assert is_late_placement(on_time, LSVO_MEETINGS, JUNE_16, RULE) == (False, None)


# --- which agenda ---------------------------------------------------------------------


def case(**fields: object) -> Case:
    base: dict[str, object] = {
        "reference": "SB-2026-0001",
        "title": "T",
        "submitter_name": "A",
        "submitter_email": "a@example.se",
        "destination": "lsvo",
    }
    return Case.model_validate({**base, **fields})


def test_a_coordinated_case_goes_on_its_lead_groups_agenda_and_as_information_elsewhere() -> None:
    coordinated = case(
        destination="beredningsgruppen",
        lead_group="sg-aldre",
        routed_groups=["vuxna", "aldre"],
    )
    assert agenda_group(coordinated) == "sg-aldre"
    assert information_groups(coordinated) == ["sg-vuxna"]
    assert agenda_group(case(destination="sg-vuxna")) == "sg-vuxna"
    assert information_groups(case(destination="sg-vuxna", routed_groups=["vuxna"])) == []
    assert agenda_group(case(destination="beredningsgruppen")) == "beredningsgruppen"


# --- who may ---------------------------------------------------------------------------


def test_secretary_and_chair_manage_their_own_group_only() -> None:
    secretary = identity((StaffRole.secretary, "sg-vuxna"))
    assert may_manage(secretary, "sg-vuxna")
    assert not may_manage(secretary, "sg-aldre")
    assert may_manage(identity((StaffRole.chair, "lsvo")), "lsvo")
    assert not may_manage(identity((StaffRole.member, None)), "lsvo")
    assert may_manage(identity((StaffRole.admin, None)), "sg-aldre")


def test_beredning_manages_and_alone_approves_lsvos_agenda() -> None:
    beredning = identity((StaffRole.beredning, None))
    lsvo_secretary = identity((StaffRole.secretary, "lsvo"))
    assert may_manage(beredning, "lsvo")
    assert not may_manage(beredning, "sg-vuxna")
    assert may_approve(beredning, "lsvo")
    assert not may_approve(lsvo_secretary, "lsvo")
    assert may_approve(identity((StaffRole.chair, "sg-vuxna")), "sg-vuxna")
    assert not may_approve(beredning, "sg-vuxna")
    assert may_approve(identity((StaffRole.admin, None)), "lsvo")


# --- order and numbering ----------------------------------------------------------------


def test_opening_items_of_a_samverkansgrupp_include_lsvos_minutes() -> None:
    lsvo = Group(slug="lsvo", name="LSVO", level=GroupLevel.strategic)
    sg = Group(slug="sg-vuxna", name="SG", level=GroupLevel.tactical)
    assert opening_items(lsvo) == [
        ("Godkännande av dagordningen", "B"),
        ("Föregående sammanträdesprotokoll", "B"),
    ]
    assert opening_items(sg)[-1] == ("Protokoll LSVO:s ledningsgrupp", "I")


def test_moving_swaps_with_the_neighbour_and_stops_at_the_ends() -> None:
    assert moved([1, 2, 3], 2, "up") == [2, 1, 3]
    assert moved([1, 2, 3], 2, "down") == [1, 3, 2]
    assert moved([1, 2, 3], 1, "up") == [1, 2, 3]
    assert moved([1, 2, 3], 3, "down") == [1, 2, 3]


def item(
    id_: int, section: AgendaSection, position: int, title: str, kind: str = "B", **kw: object
) -> AgendaItem:
    return AgendaItem.model_validate(
        {
            "id": id_,
            "meeting_id": 1,
            "section": section,
            "position": position,
            "title": title,
            "kind": kind,
            **kw,
        }
    )


def test_numbering_runs_through_openings_and_cases_with_other_business_last_lettered() -> None:
    items = [
        item(5, AgendaSection.other, 1, "Rapport från PSVO", ""),
        item(4, AgendaSection.case, 2, "Prator", "I/D", case_id=9),
        item(1, AgendaSection.opening, 1, "Godkännande av dagordningen"),
        item(3, AgendaSection.case, 1, "Barnahus", "B", case_id=8),
        item(2, AgendaSection.opening, 2, "Föregående sammanträdesprotokoll"),
        item(6, AgendaSection.other, 2, "Utvärdering av mötet", "D"),
    ]
    lines = number_lines(items, {8: ["plan.pdf"]}, {8: "SB-2026-0008"})
    assert [line.heading for line in lines] == [
        "1. Godkännande av dagordningen (B)",
        "2. Föregående sammanträdesprotokoll (B)",
        "3. Barnahus (B)",
        "4. Prator (I/D)",
        f"5. {OTHER_BUSINESS}",
    ]
    assert lines[2].documents == ("plan.pdf",)
    assert lines[2].reference == "SB-2026-0008"
    assert [sub.heading for sub in lines[-1].sub_items] == [
        "a/ Rapport från PSVO",
        "b/ Utvärdering av mötet (D)",
    ]


def test_other_business_closes_even_an_empty_agenda() -> None:
    assert number_lines([], {}, {}) == [
        Line(number="1", title=OTHER_BUSINESS, kind="", section=AgendaSection.other)
    ]


def test_letters_continue_past_z() -> None:
    assert [letters(n) for n in (0, 1, 25, 26, 27)] == ["a", "b", "z", "aa", "ab"]


def test_marks_are_normalised_and_checked() -> None:
    assert normalise_marks("d/i") == "I/D"
    assert normalise_marks(" ") == ""
    with pytest.raises(ValueError, match="unknown kind marks"):
        normalise_marks("X")


def test_time_and_place_read_like_the_minutes() -> None:
    meeting = Meeting(
        group_id=1, date=MAY_12, starts_at="08:15", ends_at="12:00", place="Folkhögskolan"
    )
    assert meeting_day(MAY_12) == "Fredagen den 12 maj 2023"
    assert time_and_place(meeting) == "Fredagen den 12 maj 2023 kl. 08.15–12.00, Folkhögskolan"
