"""The rule language: the document shape a YAML file must have, and the frozen definition
that the loader turns it into and the compiler and interpreter execute."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rules.facts import TARGET_GROUPS, CaseFacts

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]
HitPolicy = Literal["first", "collect"]
ROUTE_TABLE = "route"

# --- the document, as written in YAML -------------------------------------------------


class _Doc(BaseModel):
    # strict: `requires_endorsement: yes` or `1` is an error, not a quiet `true`.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class VocabularyDoc(_Doc):
    label: str
    word_starts: list[str] = Field(default_factory=list)
    whole_words: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class OutcomeDoc(_Doc):
    destination: Slug | None = None
    requires_endorsement: bool = False
    lead_group: Slug | None = None
    value: Slug | None = None


class RuleDoc(_Doc):
    id: Slug
    description: Annotated[str, StringConstraints(min_length=1)]
    when: Any = None
    then: OutcomeDoc


class TableDoc(_Doc):
    id: Slug
    description: str = ""
    hit_policy: HitPolicy = "first"
    rules: list[RuleDoc] = Field(min_length=1)


class RuleFileDoc(_Doc):
    version: Literal[1]
    name: str
    description: str = ""
    destinations: dict[Slug, str] = Field(min_length=1)
    vocabularies: dict[Slug, VocabularyDoc] = Field(default_factory=dict)
    tables: list[TableDoc] = Field(min_length=1)


# --- the case fields a condition may test ---------------------------------------------

FieldType = Literal["bool", "text", "slug", "list"]

FIELD_TYPES: dict[str, FieldType] = {
    "title": "text",
    "description": "text",
    "kind": "list",
    "target_groups": "list",
    "requests_resources": "bool",
    "county_wide": "bool",
    "deviation": "bool",
    "recurring": "bool",
    "municipalities_only": "bool",
    "escalated_from": "slug",
}
assert set(FIELD_TYPES) == set(CaseFacts.model_fields), "FIELD_TYPES must cover CaseFacts"

FIELD_LABELS: dict[str, str] = {
    "title": "rubrik",
    "description": "beskrivning",
    "kind": "typ av ärende",
    "target_groups": "målgrupper i anmälan",
    "requests_resources": "kräver utökade resurser eller gemensam finansiering",
    "county_wide": "rör länsgemensamma avtal, riktlinjer, rutiner eller projekt",
    "deviation": "avvikelse i samverkan",
    "recurring": "generell eller återkommande",
    "municipalities_only": "rör enbart kommunerna",
    "escalated_from": "lyft från grupp som inte kunnat enas",
}

VALUE_LABELS: dict[str, str] = {"barn_unga": "barn och unga", "vuxna": "vuxna", "aldre": "äldre"}

FIELD_VALUES: dict[str, tuple[str, ...]] = {
    "kind": ("beslut", "information", "diskussion"),
    "target_groups": TARGET_GROUPS,
}

# The operators each field type admits.
OPERATORS: dict[FieldType, tuple[str, ...]] = {
    "bool": ("equals",),
    "text": ("equals", "empty"),
    "slug": ("equals", "in", "empty"),
    "list": ("equals", "contains", "empty", "count", "count_at_least"),
}
ALL_OPERATORS = ("equals", "in", "contains", "empty", "count", "count_at_least")

# --- the frozen definition ------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """A named Swedish word list, matched against the case's title and description."""

    name: str
    label: str
    word_starts: tuple[str, ...]
    whole_words: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class FieldTest:
    field: str
    op: str
    value: Any
    line: int | None = dc_field(default=None, compare=False)


@dataclass(frozen=True)
class TextTest:
    vocabulary: Vocabulary
    line: int | None = dc_field(default=None, compare=False)


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]
    line: int | None = dc_field(default=None, compare=False)


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]
    line: int | None = dc_field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    part: Condition
    line: int | None = dc_field(default=None, compare=False)


Condition = FieldTest | TextTest | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Outcome:
    destination: str | None = None
    requires_endorsement: bool = False
    lead_group: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    when: Condition | None
    then: Outcome
    line: int | None = dc_field(default=None, compare=False)


@dataclass(frozen=True)
class Table:
    id: str
    description: str
    hit_policy: HitPolicy
    rules: tuple[Rule, ...]
    line: int | None = dc_field(default=None, compare=False)


@dataclass(frozen=True)
class RuleSetDefinition:
    """A validated rule file: what the compiler and the interpreter both execute."""

    name: str
    source: str
    destinations: dict[str, str]
    vocabularies: dict[str, Vocabulary]
    tables: tuple[Table, ...]

    @property
    def route_table(self) -> Table:
        return next(t for t in self.tables if t.id == ROUTE_TABLE)

    @property
    def derived_tables(self) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if t.id != ROUTE_TABLE)

    @property
    def table_labels(self) -> dict[str, str]:
        """How explanations name each derived list: its table's description, else its id."""
        return {t.id: (t.description or t.id) for t in self.derived_tables}
