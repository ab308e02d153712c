"""The agenda (kallelse och dagordning) as a PDF, laid out like the groups' minutes.

Pure: an `agenda.Agenda` in, the PDF's bytes out. Written with fpdf2's core Helvetica,
which needs no font files on the machine; it covers Latin-1 (å, ä, ö, é …), and the few
typographic characters outside it are written as their plain equivalents.
"""

from __future__ import annotations

from fpdf import FPDF

from casework.agenda import Agenda, Line, time_and_place

# Typographic characters outside Latin-1 and what stands in for them.
_PLAIN = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "‐": "-",
        "”": '"',
        "“": '"',
        "„": '"',
        "’": "'",
        "‘": "'",
        "…": "...",
        "•": "-",
        "\u00a0": " ",
    }
)


def latin1(text: str) -> str:
    """`text` with what Helvetica cannot show replaced: dashes and quotes by plain ones,
    anything else outside Latin-1 by "?"."""
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


class DocumentPDF(FPDF):
    """An A4 page of Samverkan Blekinge's documents: Helvetica, a footer with the page number."""

    def __init__(self, footer_text: str, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_title(latin1(title))
        self.set_author("Samverkan Blekinge")
        self.set_creator("samverkan")
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(20, 20, 20)
        self.add_page()

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 10, latin1(f"{self.footer_text} - sida {self.page_no()}"), align="C")

    def text_block(
        self, value: str, *, size: float = 11, style: str = "", indent: float = 0
    ) -> None:
        self.set_font("Helvetica", style=style, size=size)
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.epw - indent, size * 0.5, latin1(value), new_x="LMARGIN", new_y="NEXT")


class _AgendaPDF(DocumentPDF):
    def agenda_line(self, line: Line, *, indent: float = 0) -> None:
        self.text_block(line.heading + (":" if line.sub_items else ""), style="B", indent=indent)
        details: list[str] = []
        if line.reference:
            details.append(f"Diarienummer: {line.reference}")
        if line.for_information:
            details.append("För information; ärendet bereds av en annan samverkansgrupp.")
        if line.presenter:
            details.append(f"Föredragande: {line.presenter}")
        if line.proposed_decision:
            details.append(f"Förslag till beslut: {line.proposed_decision}")
        if line.documents:
            details.append("Underlag: " + ", ".join(line.documents))
        for detail in details:
            self.text_block(detail, size=10, indent=indent + 6)
        for sub in line.sub_items:
            self.agenda_line(sub, indent=indent + 6)
        self.ln(2)


def render_agenda_pdf(agenda: Agenda) -> bytes:
    """The agenda as an A4 PDF: title, group, time and place, the numbered items with
    their marks, presenters, proposed decisions and documents, Övriga frågor last."""
    meeting = agenda.meeting
    pdf = _AgendaPDF(
        f"{agenda.group.name}, {meeting.date.isoformat()}",
        f"Kallelse och dagordning {agenda.group.name} {meeting.date.isoformat()}",
    )
    pdf.text_block("Kallelse och dagordning", size=18, style="B")
    pdf.ln(2)
    pdf.text_block(agenda.group.name, size=13, style="B")
    pdf.ln(2)
    pdf.text_block(f"Tid och plats: {time_and_place(meeting)}")
    if meeting.video_link:
        pdf.text_block(f"Länk till mötet: {meeting.video_link}")
    pdf.ln(4)
    pdf.text_block("Ärendeförteckning", size=13, style="B")
    pdf.ln(1)
    for line in agenda.lines:
        pdf.agenda_line(line)
    return bytes(pdf.output())
