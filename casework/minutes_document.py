"""The minutes (protokoll) of a meeting as one document, in the layout of the groups' minutes.

Pure: pydantic models, no database. A draft is assembled from the meeting each time it is
shown (`casework.minutes.draft_minutes`); finalising stores the document as JSON in
`Minutes.content` (`model_dump(mode="json")`) and reads it back with `model_validate`.
Only names go into the document: the addresses a paragraph is sent to stay on the
decision rows.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field

from casework.model import Outcome

ORGANISATION_HEADING = "Samverkan Blekinge - Hälsa, vård, lärande och social välfärd"

OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.decided: "Beslutat",
    Outcome.noted: "Informationen lades till protokollet",
    Outcome.referred_back: "Återremitterat",
    Outcome.deferred: "Bordlagt till ett senare möte",
    Outcome.escalated: "Lyft vidare",
}


class MinutesStatus(StrEnum):
    draft = "draft"
    final = "final"


class Person(BaseModel):
    """Someone named in the minutes: "Namn, funktion, organisation"."""

    name: str
    organisation: str = ""
    function: str = ""
    # "Ordförande", "Sekreterare", "Adjungerad" or "".
    role: str = ""

    @property
    def line(self) -> str:
        """ "Torill Skaar Magnusson, förvaltningschef Omsorgsförvaltningen, Karlshamns kommun"."""
        return ", ".join(part for part in (self.name, self.function, self.organisation) if part)


class WrittenViewEntry(BaseModel):
    """A member's written views on an item, sent before the meeting."""

    member: str
    text: str


class AssignmentEntry(BaseModel):
    """An uppdrag given in a paragraph: what, who, and by when (a date or a meeting)."""

    description: str
    owner: str
    due: str = ""
    due_date: dt.date | None = None


class Paragraph(BaseModel):
    """One § of the minutes: an agenda item and what was decided on it.

    `number` is None in a draft (numbers are given when the minutes are finalised).
    Övriga frågor is one § whose items are `sub_items`, lettered a, b, …; each of them
    carries its own decision.
    """

    number: int | None = None
    letter: str = ""
    agenda_number: str = ""
    item_id: int | None = None
    case_id: int | None = None
    reference: str = ""
    title: str
    kind: str = ""
    presenter: str = ""
    text: str = ""
    written_views: list[WrittenViewEntry] = Field(default_factory=list)
    decision_heading: str = ""
    clauses: list[str] = Field(default_factory=list)
    # None: the item has no decision recorded yet (not handled).
    outcome: Outcome | None = None
    without_quorum: bool = False
    assignments: list[AssignmentEntry] = Field(default_factory=list)
    deferred_to: str = ""
    deferred_to_meeting_id: int | None = None
    recipients: list[str] = Field(default_factory=list)
    sub_items: list[Paragraph] = Field(default_factory=list)

    @property
    def label(self) -> str:
        """ "§ 52", "a/", or the agenda number in a draft."""
        if self.letter:
            return f"{self.letter}/"
        if self.number is not None:
            return f"§ {self.number}"
        return f"{self.agenda_number}." if self.agenda_number else ""

    @property
    def handled(self) -> bool:
        """Whether every item of the paragraph has a decision recorded."""
        if self.sub_items:
            return all(sub.handled for sub in self.sub_items)
        return self.outcome is not None

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS[self.outcome] if self.outcome is not None else ""

    @property
    def index_line(self) -> str:
        """The paragraph's line in the Ärendeförteckning: "§50 Godkännande av dagordning"."""
        if self.number is not None:
            prefix = f"§{self.number} "
        elif self.agenda_number:
            prefix = f"{self.agenda_number}. "
        else:
            prefix = ""
        return f"{prefix}{self.title}{':' if self.sub_items else ''}"


class MinutesDocument(BaseModel):
    """A meeting's minutes, whole: the heading, who was there, and § by §."""

    organisation_heading: str = ORGANISATION_HEADING
    group_name: str
    group_short_name: str
    group_slug: str
    meeting_id: int
    meeting_date: dt.date
    time_and_place: str
    version: int = 1
    status: MinutesStatus = MinutesStatus.draft
    reason: str = ""
    finalised_at: dt.datetime | None = None
    present: list[Person] = Field(default_factory=list)
    absent: list[Person] = Field(default_factory=list)
    adjuncts: list[Person] = Field(default_factory=list)
    secretary: list[Person] = Field(default_factory=list)
    chair: list[Person] = Field(default_factory=list)
    paragraphs: list[Paragraph] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status == MinutesStatus.final

    @property
    def first_paragraph(self) -> int | None:
        numbers = [p.number for p in self.paragraphs if p.number is not None]
        return min(numbers) if numbers else None

    @property
    def last_paragraph(self) -> int | None:
        numbers = [p.number for p in self.paragraphs if p.number is not None]
        return max(numbers) if numbers else None

    @property
    def paragraph_range(self) -> str:
        """ "§113 - §123", or "" in a draft."""
        first, last = self.first_paragraph, self.last_paragraph
        if first is None or last is None:
            return ""
        return f"§{first}" if first == last else f"§{first} - §{last}"

    @property
    def index(self) -> list[tuple[str, list[str]]]:
        """The Ärendeförteckning: each paragraph's line and the lines of its sub-items."""
        return [
            (p.index_line, [f"{s.letter}/ {s.title}" for s in p.sub_items]) for p in self.paragraphs
        ]

    def items(self) -> list[Paragraph]:
        """Every decided-on item: the paragraphs, with Övriga frågor as its sub-items."""
        found: list[Paragraph] = []
        for paragraph in self.paragraphs:
            found.extend(paragraph.sub_items if paragraph.sub_items else [paragraph])
        return found

    def unhandled(self) -> list[Paragraph]:
        """The items that have no decision recorded yet."""
        return [item for item in self.items() if item.outcome is None]

    def paragraph_of(self, item_id: int) -> Paragraph | None:
        """The § an agenda item stands under (Övriga frågor for its sub-items)."""
        for paragraph in self.paragraphs:
            if paragraph.item_id == item_id or any(
                s.item_id == item_id for s in paragraph.sub_items
            ):
                return paragraph
        return None

    @property
    def title(self) -> str:
        return f"Sammanträdesprotokoll {self.group_short_name} {self.meeting_date.isoformat()}"


def short_name(group_name: str) -> str:
    """ "LSVO – Ledningssamverkan vård och omsorg" → "LSVO"; other names stay whole."""
    for dash in (" – ", " - "):
        if dash in group_name:
            return group_name.split(dash, 1)[0].strip()
    return group_name
