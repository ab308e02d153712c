"""Quorum: more than half of each side's seats with a decision mandate must be present."""

from __future__ import annotations

from lsvo_2021_06_04 import attendance

from casework.model import OrganisationKind, QuorumRule, Role
from casework.quorum import Seat, quorum
from casework.seed import LSVO_MEMBERS, NO_DECISION_MANDATE, ORGANISATIONS

ORGANISATION = {o.slug: o for o in ORGANISATIONS}
IDS = {seat.name: n for n, seat in enumerate(LSVO_MEMBERS, start=1)}
LSVO_SEATS = [
    Seat(
        IDS[m.name],
        m.organisation,
        ORGANISATION[m.organisation].name,
        ORGANISATION[m.organisation].kind,
    )
    for m in LSVO_MEMBERS
    if m.role not in NO_DECISION_MANDATE
]


def seat(member_id: int, slug: str, kind: OrganisationKind = OrganisationKind.municipality) -> Seat:
    return Seat(member_id, slug, slug.title(), kind)


def test_the_minutes_name_every_seeded_lsvo_member_once() -> None:
    present, absent = attendance()
    assert len(present) == 14 and len(absent) == 7
    assert sorted(present + absent) == sorted(IDS.keys() - {"Mats Wennstig"})


def test_lsvo_2021_06_04_the_municipalities_lacked_a_majority() -> None:
    present, _ = attendance()
    status = quorum(QuorumRule.sides, LSVO_SEATS, {IDS[name] for name in present})
    region, municipalities = status.sides
    assert (region.key, region.seats, region.present, region.quorate) == ("region", 6, 6, True)
    assert (municipalities.seats, municipalities.present, municipalities.needed) == (14, 7, 8)
    assert not municipalities.quorate
    assert not status.quorate
    assert municipalities.explanation == "Kommunerna: 7 av 14 närvarande, minst 8 behövs"
    assert region.explanation == "Regionen: 6 av 6 närvarande, minst 4 behövs"
    assert status.summary == "Mötet är inte beslutsmässigt: för få närvarande från kommunerna."


def test_the_chair_and_the_secretary_do_not_count() -> None:
    chair = IDS["Bodil Sundlöf"]
    assert not any(s.member_id == chair for s in LSVO_SEATS)
    assert LSVO_MEMBERS[0].role == Role.chair
    present, _ = attendance()
    without_chair = {IDS[name] for name in present} - {chair}
    assert quorum(QuorumRule.sides, LSVO_SEATS, without_chair).sides[0].present == 6


def test_one_more_municipal_member_makes_it_quorate() -> None:
    present, _ = attendance()
    ids = {IDS[name] for name in present} | {IDS["Gunilla Råberg"]}
    status = quorum(QuorumRule.sides, LSVO_SEATS, ids)
    assert status.quorate
    assert status.summary == "Mötet är beslutsmässigt."


def test_exactly_half_is_not_enough() -> None:
    seats = [seat(1, "a"), seat(2, "a"), seat(3, "r", OrganisationKind.region)]
    assert not quorum(QuorumRule.sides, seats, {1, 3}).quorate
    assert quorum(QuorumRule.sides, seats, {1, 2, 3}).quorate
    assert quorum(QuorumRule.sides, seats, {1, 2, 3}).sides[1].needed == 2


def test_a_side_without_seats_does_not_block() -> None:
    seats = [seat(1, "a"), seat(2, "b")]
    status = quorum(QuorumRule.sides, seats, {1, 2})
    assert status.quorate
    assert status.sides[0].seats == 0
    assert status.sides[0].explanation == "Regionen: inga platser med beslutsmandat, räknas inte"
    assert not quorum(QuorumRule.sides, seats, {1}).quorate


def test_per_organisation_counts_each_organisation() -> None:
    present, _ = attendance()
    status = quorum(QuorumRule.per_organisation, LSVO_SEATS, {IDS[name] for name in present})
    by_key = {s.key: s for s in status.sides}
    assert status.sides[0].key == "region-blekinge"
    assert (by_key["karlskrona"].seats, by_key["karlskrona"].present) == (4, 2)
    assert (by_key["olofstrom"].seats, by_key["olofstrom"].present) == (2, 1)
    assert (by_key["solvesborg"].seats, by_key["solvesborg"].present) == (2, 1)
    assert (by_key["karlshamn"].seats, by_key["karlshamn"].present) == (3, 1)
    assert (by_key["ronneby"].seats, by_key["ronneby"].present) == (3, 2)
    failing = [s.key for s in status.sides if not s.quorate]
    assert failing == ["karlshamn", "karlskrona", "olofstrom", "solvesborg"]
    assert not status.quorate


def test_ids_that_hold_no_seat_are_ignored() -> None:
    seats = [seat(1, "a")]
    assert quorum(QuorumRule.sides, seats, {99}).sides[1].present == 0
