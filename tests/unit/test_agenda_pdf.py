"""The agenda PDF rendered and its text checked."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader

from casework.agenda import Agenda, number_lines
from casework.agenda_pdf import latin1, render_agenda_pdf
from casework.calendar import deadlines_for
from casework.model import AgendaItem, AgendaSection, Group, GroupLevel, Meeting


def agenda() -> Agenda:
    group = Group(
        id=1,
        slug="lsvo",
        name="LSVO – Ledningssamverkan vård och omsorg",
        level=GroupLevel.strategic,
    )
    meeting = Meeting(
        id=7,
        group_id=1,
        date=date(2023, 5, 12),
        starts_at="08:15",
        ends_at="12:00",
        place="Folkhögskolan Bräkne-Hoby",
        video_link="https://teams.example/mote",
    )
    items = [
        AgendaItem(
            id=1,
            meeting_id=7,
            section=AgendaSection.opening,
            position=1,
            title="Godkännande av dagordningen",
            kind="B",
        ),
        AgendaItem(
            id=2,
            meeting_id=7,
            section=AgendaSection.opening,
            position=2,
            title="Föregående sammanträdesprotokoll",
            kind="B",
        ),
        AgendaItem(
            id=3,
            meeting_id=7,
            section=AgendaSection.case,
            position=1,
            case_id=11,
            title="Barnahus – Återrapportering",
            kind="I/D",
            presenter="Åsa Öberg, Region Blekinge",
            proposed_decision="att lägga informationen till protokollet",
        ),
        AgendaItem(
            id=4,
            meeting_id=7,
            section=AgendaSection.other,
            position=1,
            title="Rapport från PSVO",
            kind="I",
        ),
    ]
    lines = number_lines(items, {11: ["återrapport.pdf", "bilaga 2.docx"]}, {11: "SB-2023-0011"})
    return Agenda(meeting, group, deadlines_for("lsvo", meeting.date), lines)


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_agenda_pdf_reads_as_kallelse_och_dagordning() -> None:
    content = render_agenda_pdf(agenda())
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert "Kallelse och dagordning" in text
    assert "LSVO - Ledningssamverkan vård och omsorg" in text
    assert "Fredagen den 12 maj 2023 kl. 08.15-12.00, Folkhögskolan Bräkne-Hoby" in text
    assert "https://teams.example/mote" in text
    headings = [
        "1. Godkännande av dagordningen (B)",
        "2. Föregående sammanträdesprotokoll (B)",
        "3. Barnahus - Återrapportering (I/D)",
        "4. Övriga frågor",
        "a/ Rapport från PSVO (I)",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "Föredragande: Åsa Öberg, Region Blekinge" in text
    assert "Förslag till beslut: att lägga informationen till protokollet" in text
    assert "Underlag: återrapport.pdf, bilaga 2.docx" in text
    assert "SB-2023-0011" in text


def test_text_outside_latin1_is_written_plainly() -> None:
    assert latin1("”Vård” – nära … ✓") == '"Vård" - nära ... ?'
