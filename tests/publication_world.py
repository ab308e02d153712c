"""A body's year for the publication tests: meetings with sent and unsent agendas, and
minutes approved, superseded and not yet approved.

LSVO (on a seeded database) gets:
- 2023-05-12: agenda sent; minutes version 1 approved, version 2 approved with a reason;
- 2023-06-09: agenda sent; minutes finalised but not approved (not public);
- NEXT_YEAR-02-12: agenda not sent (not public);
- NEXT_YEAR-03-12: agenda sent (public, and an upcoming meeting).
sg-aldre gets one meeting and nothing published; beredningsgruppen holds no meetings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from casework import repository
from casework.db import unit_of_work
from casework.minutes_document import MinutesDocument, MinutesStatus, Paragraph, Person
from casework.model import AgendaItem, AgendaSection, Meeting, Minutes, Outcome
from casework.web.staff import local_today

NEXT_YEAR = local_today().year + 1
MAY = date(2023, 5, 12)
JUNE = date(2023, 6, 9)
UNSENT = date(NEXT_YEAR, 2, 12)
UPCOMING = date(NEXT_YEAR, 3, 12)
ALDRE_DAY = date(NEXT_YEAR, 4, 14)

MAY_SENT = datetime(2023, 5, 5, 8, 0, tzinfo=UTC)
JUNE_SENT = datetime(2023, 6, 2, 8, 0, tzinfo=UTC)
UPCOMING_SENT = datetime(NEXT_YEAR, 3, 5, 8, 0, tzinfo=UTC)
MAY_APPROVED_V1 = datetime(2023, 6, 9, 10, 0, tzinfo=UTC)
MAY_APPROVED_V2 = datetime(2023, 6, 20, 12, 30, tzinfo=UTC)

HOSTILE = '<script>alert("x")</script> Trygg & säker utskrivning'
HOSTILE_PLACE = "Regionhuset <b>sal 1</b>"
HOSTILE_REASON = "Fel <i>namn</i> i § 24 rättat"


@dataclass(frozen=True)
class World:
    may: int
    june: int
    unsent: int
    upcoming: int
    aldre: int


def meeting(
    session: Session,
    slug: str,
    day: date,
    *,
    sent_at: datetime | None = None,
    place: str = "Folkhögskolan Bräkne-Hoby",
) -> int:
    group = repository.get_group(session, slug=slug)
    assert group is not None and group.id is not None
    row = Meeting(
        group_id=group.id,
        date=day,
        starts_at="08:15",
        ends_at="12:00",
        place=place,
        agenda_sent_at=sent_at,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def item(session: Session, meeting_id: int, title: str, position: int = 1) -> None:
    session.add(
        AgendaItem(
            meeting_id=meeting_id,
            section=AgendaSection.case,
            position=position,
            title=title,
            kind="B",
            presenter="Anna Andersson",
            proposed_decision="att godkänna rutinen",
        )
    )


def minutes(
    session: Session,
    meeting_id: int,
    *,
    version: int = 1,
    approved_at: datetime | None,
    reason: str = "",
    content: dict[str, Any],
    paragraphs: tuple[int, int] = (23, 41),
) -> None:
    session.add(
        Minutes(
            meeting_id=meeting_id,
            version=version,
            content=content,
            first_paragraph=paragraphs[0],
            last_paragraph=paragraphs[1],
            reason=reason,
            finalised_by="sekreterare@example.se",
            approved_at=approved_at,
            approved_by="ordforande@example.se" if approved_at else "",
        )
    )


def document(day: date, meeting_id: int, version: int, reason: str = "") -> dict[str, Any]:
    """A finalised minutes document as `Minutes.content` stores it."""
    doc = MinutesDocument(
        group_name="LSVO – Ledningssamverkan vård och omsorg",
        group_short_name="LSVO",
        group_slug="lsvo",
        meeting_id=meeting_id,
        meeting_date=day,
        time_and_place="Fredagen den 12 maj 2023 kl. 08.15–12.00, Folkhögskolan Bräkne-Hoby",
        version=version,
        status=MinutesStatus.final,
        reason=reason,
        finalised_at=datetime(2023, 5, 15, 9, 0, tzinfo=UTC),
        present=[Person(name="Torill <b>Skaar</b>", organisation="Karlshamns kommun")],
        secretary=[Person(name="Sara Sekreterare", organisation="Region Blekinge")],
        chair=[Person(name="Olle Ordförande", organisation="Ronneby kommun")],
        paragraphs=[
            Paragraph(
                number=23,
                title="Godkännande av dagordningen",
                outcome=Outcome.decided,
                decision_heading="LSVO beslutar",
                clauses=["godkänna dagordningen"],
            ),
            Paragraph(
                number=24,
                title=HOSTILE,
                presenter="Anna Andersson",
                text=f"Texten i version {version}. <img src=x onerror=alert(1)>",
                outcome=Outcome.decided,
                decision_heading="LSVO beslutar",
                clauses=["godkänna rutinen"],
                recipients=["Kommunernas socialchefer"],
            ),
        ],
    )
    return doc.model_dump(mode="json")


def unapproved(content: dict[str, Any]) -> dict[str, Any]:
    """Minutes not yet approved: their text must never reach the public."""
    content["paragraphs"][1]["text"] = "Hemligt: ej justerat."
    return content


def build(engine: Engine) -> World:
    """The world above on a seeded database."""

    with unit_of_work(engine) as session:
        may = meeting(session, "lsvo", MAY, sent_at=MAY_SENT, place=HOSTILE_PLACE)
        item(session, may, HOSTILE)
        item(session, may, "Länsgemensam riktlinje för hjälpmedel", 2)
        june = meeting(session, "lsvo", JUNE, sent_at=JUNE_SENT)
        item(session, june, "Statsbidrag 2023")
        unsent = meeting(session, "lsvo", UNSENT)
        item(session, unsent, "Hemligt ännu inte utskickat ärende")
        upcoming = meeting(session, "lsvo", UPCOMING, sent_at=UPCOMING_SENT)
        item(session, upcoming, "Uppföljning av avtalet")
        aldre = meeting(session, "sg-aldre", ALDRE_DAY)
        minutes(session, may, version=1, approved_at=MAY_APPROVED_V1, content=document(MAY, may, 1))
        minutes(
            session,
            may,
            version=2,
            approved_at=MAY_APPROVED_V2,
            reason=HOSTILE_REASON,
            content=document(MAY, may, 2, HOSTILE_REASON),
        )
        minutes(
            session,
            june,
            version=1,
            approved_at=None,
            content=unapproved(document(JUNE, june, 1)),
        )
    return World(may, june, unsent, upcoming, aldre)
