"""Whether a meeting is quorate (beslutsmässigt), as a pure function of its seats.

A group's members with a decision mandate hold its seats; the chair and the secretary
hold none and never count. Under the group's rule (`QuorumRule`) the seats are split into
sides, and more than half of each side's seats must be present:

- `sides` (the default): the region on one side, the municipalities together on the other;
- `per_organisation`: each organisation on its own.

A side with no seats does not block. A group with no seats at all is quorate: there is
nothing to count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from casework.model import OrganisationKind, QuorumRule

REGION_SIDE = "region"
MUNICIPALITIES_SIDE = "municipalities"
SIDE_LABELS = {REGION_SIDE: "Regionen", MUNICIPALITIES_SIDE: "Kommunerna"}


@dataclass(frozen=True)
class Seat:
    """A seat with a decision mandate: who holds it and for which organisation."""

    member_id: int
    organisation_slug: str
    organisation_name: str
    organisation_kind: OrganisationKind


@dataclass(frozen=True)
class SideCount:
    """One side (or organisation) of the count."""

    key: str
    label: str
    seats: int
    present: int

    @property
    def needed(self) -> int:
        """More than half of the seats."""
        return self.seats // 2 + 1

    @property
    def quorate(self) -> bool:
        return self.seats == 0 or self.present >= self.needed

    @property
    def explanation(self) -> str:
        """ "Kommunerna: 7 av 14 närvarande, minst 8 behövs"."""
        if self.seats == 0:
            return f"{self.label}: inga platser med beslutsmandat, räknas inte"
        return (
            f"{self.label}: {self.present} av {self.seats} närvarande, minst {self.needed} behövs"
        )


@dataclass(frozen=True)
class QuorumStatus:
    """The count of a meeting under its group's rule."""

    rule: QuorumRule
    sides: tuple[SideCount, ...]

    @property
    def quorate(self) -> bool:
        return all(side.quorate for side in self.sides)

    @property
    def explanations(self) -> list[str]:
        return [side.explanation for side in self.sides]

    @property
    def summary(self) -> str:
        """One sentence for the page and the audit trail."""
        if self.quorate:
            return "Mötet är beslutsmässigt."
        short = [s.label for s in self.sides if not s.quorate]
        return f"Mötet är inte beslutsmässigt: för få närvarande från {_joined(short)}."

    def as_dict(self) -> dict[str, object]:
        """A plain record for audit events and JSON."""
        return {
            "rule": self.rule.value,
            "quorate": self.quorate,
            "sides": [
                {
                    "key": s.key,
                    "label": s.label,
                    "seats": s.seats,
                    "present": s.present,
                    "needed": s.needed,
                    "quorate": s.quorate,
                    "explanation": s.explanation,
                }
                for s in self.sides
            ],
        }


def _joined(labels: list[str]) -> str:
    lowered = [label.lower() if label in SIDE_LABELS.values() else label for label in labels]
    if len(lowered) <= 1:
        return "".join(lowered)
    return ", ".join(lowered[:-1]) + " och " + lowered[-1]


def quorum(rule: QuorumRule, seats: Iterable[Seat], present: Collection[int]) -> QuorumStatus:
    """The count of `seats` with the members in `present` there (other ids are ignored)."""
    seats = list(seats)
    present_ids = set(present)
    if rule == QuorumRule.per_organisation:
        keys: dict[str, str] = {}
        ordered = sorted(
            seats,
            key=lambda s: (s.organisation_kind != OrganisationKind.region, s.organisation_name),
        )
        for seat in ordered:
            keys.setdefault(seat.organisation_slug, seat.organisation_name)

        def side_of(seat: Seat) -> str:
            return seat.organisation_slug

    else:
        keys = dict(SIDE_LABELS)

        def side_of(seat: Seat) -> str:
            if seat.organisation_kind == OrganisationKind.region:
                return REGION_SIDE
            return MUNICIPALITIES_SIDE

    counts = {key: [0, 0] for key in keys}
    for seat in seats:
        count = counts[side_of(seat)]
        count[0] += 1
        if seat.member_id in present_ids:
            count[1] += 1
    return QuorumStatus(
        rule=rule,
        sides=tuple(
            SideCount(key, keys[key], seats_, here) for key, (seats_, here) in counts.items()
        ),
    )
