"""The facts a rule set reads about a case, and the result it gives back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

TargetGroup = Literal["barn_unga", "vuxna", "aldre"]
TARGET_GROUPS: tuple[TargetGroup, ...] = ("barn_unga", "vuxna", "aldre")

Kind = Literal["beslut", "information", "diskussion"]
KINDS: tuple[Kind, ...] = ("beslut", "information", "diskussion")
KIND_LETTERS: dict[Kind, str] = {"beslut": "B", "information": "I", "diskussion": "D"}
_KIND_ALIASES: dict[str, Kind] = {
    **{k: k for k in KINDS},
    **{letter.lower(): k for k, letter in KIND_LETTERS.items()},
}

DESTINATIONS: tuple[str, ...] = (
    "lsvo",
    "sg-barn-unga",
    "sg-vuxna",
    "sg-aldre",
    "beredningsgruppen",
    "ikf",
    "egna-beslutsorgan",
    "regionchefsgruppen",
)


def _kinds(value: Any) -> Any:
    """Accept "beslut", "B", "I/D" or a list of those; return kinds in B, I, D order."""
    if value is None:
        return []
    parts: list[Any]
    if isinstance(value, str):
        parts = [p for p in value.replace(",", "/").split("/") if p.strip()]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        return value
    found: set[Kind] = set()
    for part in parts:
        if not isinstance(part, str) or part.strip().lower() not in _KIND_ALIASES:
            raise ValueError(
                f"unknown kind {part!r}: use beslut, information or diskussion (or B, I, D)"
            )
        found.add(_KIND_ALIASES[part.strip().lower()])
    return [k for k in KINDS if k in found]


def _unique(value: Any) -> Any:
    if isinstance(value, list | tuple):
        try:
            return list(dict.fromkeys(value))
        except TypeError:  # unhashable items: leave them for validation to refuse
            return value
    return value


def kind_marks(kinds: tuple[Kind, ...] | list[Kind]) -> str:
    """The mark used in agendas and minutes: "B", "I/D" …"""
    return "/".join(KIND_LETTERS[k] for k in kinds)


class CaseFacts(BaseModel):
    """A case as the routing rules see it; the `samverkan route` input format."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    title: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    kind: Annotated[tuple[Kind, ...], BeforeValidator(_kinds)] = ()
    target_groups: Annotated[tuple[TargetGroup, ...], BeforeValidator(_unique)] = ()
    requests_resources: bool = False
    county_wide: bool = False
    deviation: bool = False
    recurring: bool = False
    municipalities_only: bool = False
    escalated_from: (
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)] | None
    ) = Field(default=None, description="slug of the group that could not agree")

    @property
    def text(self) -> str:
        """Title and description, the text the word lists are matched against."""
        return f"{self.title}\n{self.description}"


class RouteResult(BaseModel):
    """Where a case goes and why."""

    model_config = ConfigDict(frozen=True)

    destination: str
    requires_endorsement: bool = False
    lead_group: str | None = None
    rule: str
    explanation: str
    derived: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="what the collect tables derived, e.g. every target group the case touches",
    )

    @property
    def groups(self) -> tuple[str, ...]:
        """Every target group the case touches (the rule set's `groups` table)."""
        return self.derived.get("groups", ())

    def public(self) -> dict[str, Any]:
        """The stable JSON shape printed by `samverkan route`."""
        return {
            "destination": self.destination,
            "requires_endorsement": self.requires_endorsement,
            "lead_group": self.lead_group,
            "rule": self.rule,
            "explanation": self.explanation,
        }
