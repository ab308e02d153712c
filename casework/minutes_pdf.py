"""The minutes (sammanträdesprotokoll) as a PDF, in the layout of the groups' minutes.

Pure: a `MinutesDocument` in, the PDF's bytes out. It shares its page, font and text
helpers with the agenda's PDF (`casework.agenda_pdf`).
"""

from __future__ import annotations

from casework.agenda_pdf import DocumentPDF
from casework.minutes_document import MinutesDocument, Paragraph, Person


class _MinutesPDF(DocumentPDF):
    def heading(self, value: str, *, size: float = 12) -> None:
        self.ln(2)
        self.text_block(value, size=size, style="B")
        self.ln(1)

    def people(self, people: list[Person], *, empty: str) -> None:
        if not people:
            self.text_block(empty)
        for person in people:
            self.text_block(person.line + (f" ({person.role})" if person.role else ""))

    def body(self, text: str, *, indent: float = 0) -> None:
        for block in text.strip().split("\n\n"):
            if block.strip():
                self.text_block(block.strip(), indent=indent)
                self.ln(1)

    def item(self, p: Paragraph, *, indent: float = 0) -> None:
        if p.presenter:
            self.text_block(f"Föredragande: {p.presenter}", style="I", indent=indent)
        if p.reference:
            self.text_block(f"Diarienummer: {p.reference}", size=10, indent=indent)
        self.ln(1)
        if p.text:
            self.body(p.text, indent=indent)
        if p.written_views:
            self.text_block("Skriftliga synpunkter", style="B", indent=indent)
            for view in p.written_views:
                self.text_block(f"{view.member}:", style="I", indent=indent)
                self.body(view.text, indent=indent)
        if p.outcome is None:
            self.text_block(
                "Inget beslut är registrerat: punkten är inte behandlad.", style="B", indent=indent
            )
        else:
            if p.clauses:
                self.ln(1)
                self.text_block(p.decision_heading, style="B", indent=indent)
                self.ln(1)
                for clause in p.clauses:
                    self.text_block(f"att      {clause}", indent=indent)
                    self.ln(1)
            if p.outcome.value == "deferred":
                until = f" till {p.deferred_to}" if p.deferred_to else ""
                self.text_block(f"Punkten bordläggs{until}.", indent=indent)
            elif p.outcome.value == "referred_back":
                self.text_block("Ärendet återremitteras.", indent=indent)
            elif p.outcome.value == "escalated":
                self.text_block("Frågan lyfts vidare.", indent=indent)
            elif not p.clauses:
                self.text_block(f"{p.outcome_label}.", indent=indent)
            if p.without_quorum:
                self.text_block(
                    "Mötet var inte beslutsmässigt när beslutet fattades.", indent=indent
                )
            if p.assignments:
                self.text_block("Uppdrag", style="B", indent=indent)
                for a in p.assignments:
                    due = f", återrapporteras {a.due}" if a.due else ""
                    self.text_block(f"- {a.description} - {a.owner}{due}", indent=indent + 4)
        if p.recipients:
            self.ln(2)
            self.text_block("Protokollet ska skickas till", style="B", indent=indent)
            for name in p.recipients:
                self.text_block(name, indent=indent)
        self.ln(3)


def render_minutes_pdf(doc: MinutesDocument) -> bytes:
    """The minutes as an A4 PDF: the heading, Ärendeförteckning, time and place, who was
    present and absent, the secretary, the paragraph range and signatures, then § by §."""
    date = doc.meeting_date.isoformat()
    pdf = _MinutesPDF(f"{doc.group_short_name} {date}", doc.title)
    pdf.text_block(doc.organisation_heading, size=10)
    pdf.ln(2)
    pdf.text_block(doc.group_short_name, size=18, style="B")
    if doc.group_short_name != doc.group_name:
        pdf.text_block(doc.group_name, size=11)
    pdf.ln(2)
    pdf.text_block("Sammanträdesprotokoll", size=14, style="B")
    pdf.text_block(date)
    if not doc.is_final:
        pdf.text_block("Utkast - protokollet är inte fastställt", style="B")
    elif doc.version > 1:
        pdf.text_block(f"Version {doc.version}" + (f": {doc.reason}" if doc.reason else ""))
    pdf.heading("Ärendeförteckning")
    for index_line, sub_lines in doc.index:
        pdf.text_block(index_line)
        for sub_line in sub_lines:
            pdf.text_block(sub_line, indent=6)
    pdf.heading("Tid och plats")
    pdf.text_block(doc.time_and_place)
    pdf.heading("Närvarande ledamöter")
    pdf.people(doc.present, empty="Ingen närvaro är registrerad.")
    if doc.adjuncts:
        pdf.heading("Adjungerade")
        pdf.people(doc.adjuncts, empty="")
    pdf.heading("Frånvarande")
    pdf.people(doc.absent, empty="Inga.")
    pdf.heading("Sekreterare")
    pdf.people(doc.secretary, empty="Ingen sekreterare angiven.")
    pdf.heading("Paragrafer")
    pdf.text_block(doc.paragraph_range or "Paragraferna numreras när protokollet fastställs.")
    if doc.chair or doc.secretary:
        pdf.heading("Underskrifter")
        signatures = [(person, "Ordförande") for person in doc.chair]
        signatures += [(person, "Sekreterare") for person in doc.secretary]
        for person, role in signatures:
            pdf.ln(4)
            pdf.text_block(".....")
            pdf.text_block(person.line)
            pdf.text_block(role)
    for paragraph in doc.paragraphs:
        pdf.ln(4)
        pdf.text_block(paragraph.label, size=13, style="B")
        pdf.text_block(paragraph.title, size=12, style="B")
        pdf.ln(1)
        if paragraph.sub_items:
            for sub in paragraph.sub_items:
                pdf.text_block(f"{sub.letter}/ {sub.title}", style="B")
                pdf.item(sub, indent=0)
        else:
            pdf.item(paragraph)
    return bytes(pdf.output())
