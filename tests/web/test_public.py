"""The public pages on SQLite and PostgreSQL: the form, the preview, submission, the status page."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import SQLModel, col, select

from casework import services
from casework.calendar import long_date
from casework.db import unit_of_work
from casework.model import Attachment, AuditEvent, Case, Group, Meeting, utcnow
from casework.settings import Settings
from casework.web.app import create_app

FileSpec = tuple[str, tuple[str, bytes, str]]

PDF = b"%PDF-1.7\n% underlag\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DOCX = b"PK\x03\x04" + b"\x14\x00" * 16
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 16
DEMENTIA_TITLE = "Demensvården i Blekinge"


def year() -> int:
    """This year in Stockholm, when asked: a run may pass New Year."""
    return utcnow().astimezone(services.LOCAL_TIMEZONE).year


def luhn_number(yymmdd: str, serial: str = "987") -> str:
    """A personnummer YYMMDD-NNNC with a correct Luhn check digit."""
    nine = yymmdd + serial
    total = sum(
        (int(c) * (2 - i % 2)) // 10 + (int(c) * (2 - i % 2)) % 10 for i, c in enumerate(nine)
    )
    return f"{yymmdd}-{serial}{(10 - total % 10) % 10}"


PERSONNUMMER = luhn_number("811218")


def form(**changes: Any) -> dict[str, Any]:
    """A complete, valid submission as the browser posts it."""
    data: dict[str, Any] = {
        "title": DEMENTIA_TITLE,
        "description": "Samordningen kring personer med demens behöver en gemensam rutin.",
        "kind": ["beslut", "diskussion"],
        "target_groups": ["vet_ej"],
        "requests_resources": "nej",
        "county_wide": "nej",
        "deviation": "nej",
        "recurring": "nej",
        "municipalities_only": "nej",
        "proposed_decision": "att anta rutinen",
        "presenter": "Eva Ek, demenssjuksköterska",
        "submitter_name": "Anna Andersson",
        "submitter_email": "anna.andersson@example.se",
        "submitter_organisation": "Karlshamns kommun",
        "action": "submit",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def csrf(client: TestClient) -> str:
    """The form's CSRF token (the GET also sets the matching cookie)."""
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, data: dict[str, Any], files: list[FileSpec] | None = None) -> Any:
    return client.post(
        "/",
        data={"csrf_token": csrf(client), **data},
        files=files or [("attachments", ("", b"", "application/octet-stream"))],
        follow_redirects=False,
    )


def submit(client: TestClient, files: list[FileSpec] | None = None, **changes: Any) -> str:
    """Submit a valid case; the private link's token."""
    response = post(client, form(**changes), files)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    found = re.fullmatch(r"/s/([A-Za-z0-9_-]+)\?ny=1", location)
    assert found is not None, location
    return found.group(1)


def count(engine: Engine, table: type[SQLModel]) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_stored(engine: Engine, settings: Settings) -> None:
    assert count(engine, Case) == 0
    assert count(engine, Attachment) == 0
    assert count(engine, AuditEvent) == 0
    assert stored_files(settings) == []


def pdf(name: str = "underlag.pdf", content: bytes = PDF) -> FileSpec:
    return ("attachments", (name, content, "application/pdf"))


def text_of(html: str) -> str:
    """The page's visible text with whitespace collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", without_tags).replace("&amp;", "&")


class Fields(HTMLParser):
    """Collects form controls, labels and ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        if tag in ("input", "textarea", "select") and a.get("type") != "hidden":
            self.controls.append(a)
        if tag == "script":
            self.scripts.append(a)


def parse(html: str) -> Fields:
    fields = Fields()
    fields.feed(html)
    return fields


# --- the form -------------------------------------------------------------------------------


def test_form_renders_with_a_label_for_every_field(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text
    fields = parse(page.text)
    names = {c["name"] for c in fields.controls}
    assert names == {
        "title",
        "description",
        "kind",
        "target_groups",
        "requests_resources",
        "county_wide",
        "deviation",
        "recurring",
        "municipalities_only",
        "proposed_decision",
        "presenter",
        "attachments",
        "submitter_name",
        "submitter_email",
        "submitter_organisation",
    }
    unlabelled = [c["id"] for c in fields.controls if c.get("id") not in fields.label_for]
    assert unlabelled == []
    text = text_of(page.text)
    for label in (
        "Rubrik",
        "Beskrivning",
        "Beslut",
        "Information",
        "Diskussion",
        "Barn och unga",
        "Vuxna",
        "Äldre",
        "Vet ej",
        "Kräver ärendet utökade resurser eller gemensam finansiering?",
        "Gäller ärendet länsgemensamma avtal, riktlinjer, rutiner, statsbidrag, FoU-avtalet "
        "eller större länsgemensamma projekt?",
        "Är ärendet en avvikelse i samverkan?",
        "Är avvikelsen generell eller återkommande?",
        "Gäller frågan enbart kommunerna?",
        "Förslag till beslut",
        "Föredragande",
        "Bifoga filer",
        "Ditt namn",
        "Din e-postadress",
        "Din organisation",
        "Förhandsgranska fördelning",
        "Skicka in",
    ):
        assert label in text, label
    # Every yes/no question starts at Nej.
    for name in ("requests_resources", "county_wide", "deviation", "recurring"):
        assert f'id="{name}-nej" name="{name}" value="nej" checked' in page.text
    assert 'id="forhandsvisning" aria-live="polite"' in page.text
    assert 'type="file" id="attachments" name="attachments" multiple' in page.text


def test_form_uses_no_inline_script(client: TestClient) -> None:
    """The CSP allows only same-origin script files: no inline code or event handlers."""
    page = client.get("/")
    fields = parse(page.text)
    assert fields.handlers == []
    assert [s.get("src") for s in fields.scripts] == ["https://testserver/static/preview.js"]
    assert client.get("/static/preview.js").status_code == 200


def test_a_get_changes_nothing(client: TestClient, seeded_engine: Engine) -> None:
    client.get("/")
    client.get("/?title=x&action=submit")
    assert count(seeded_engine, Case) == 0


# --- the preview ----------------------------------------------------------------------------


def test_preview_without_javascript_shows_where_the_case_goes(
    client: TestClient, seeded_engine: Engine, web_settings: Settings
) -> None:
    response = post(client, form(action="preview"), [pdf()])
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Ärendet skulle gå till Samverkansgrupp Äldre" in text
    assert "Ärendet gäller äldre och går till Samverkansgrupp Äldre." in text
    assert "demensvården" in text
    # Everything typed is kept; the file must be chosen again.
    assert f'value="{DEMENTIA_TITLE}"' in response.text
    assert "Välj filerna igen" in text
    assert "underlag.pdf" in text
    assert_nothing_stored(seeded_engine, web_settings)


def test_preview_explains_the_need_for_backing(client: TestClient) -> None:
    response = post(client, form(action="preview", requests_resources="ja"))
    text = text_of(response.text)
    assert "Ärendet skulle gå till LSVO" in text
    assert "Förankring krävs" in text
    assert 'id="requests_resources-ja" name="requests_resources" value="ja" checked' in (
        response.text
    )


def test_preview_fragment_for_the_live_preview(client: TestClient, seeded_engine: Engine) -> None:
    token = csrf(client)
    response = client.post(
        "/forhandsgranska",
        data={"csrf_token": token, "title": "Gemensam rutin", "description": "Demensvården"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" not in response.text
    assert "Samverkansgrupp Äldre" in response.text
    assert count(seeded_engine, Case) == 0


def test_preview_fragment_says_what_is_missing(client: TestClient) -> None:
    token = csrf(client)
    response = client.post(
        "/forhandsgranska",
        data={"csrf_token": token, "title": "", "target_groups": ["vuxna", "vet_ej"]},
    )
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Fördelningen kan inte visas ännu" in text
    assert "Rubrik: Skriv en rubrik" in text
    assert "både ”Vet ej” och en målgrupp" in text


def test_preview_fragment_needs_the_csrf_token(client: TestClient) -> None:
    csrf(client)
    response = client.post("/forhandsgranska", data={"title": "Demensvården"})
    assert response.status_code == 403


# --- submitting -----------------------------------------------------------------------------


def test_submit_stores_the_case_and_shows_the_receipt(
    client: TestClient, seeded_engine: Engine, web_settings: Settings
) -> None:
    token = submit(client, [pdf("Rutin demens.pdf")])
    page = client.get(f"/s/{token}?ny=1")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Tack – ditt ärende är mottaget" in text
    assert f"SB-{year()}-0001" in text
    assert f"https://testserver/s/{token}" in text
    assert DEMENTIA_TITLE in text
    assert "Inkommet" in text
    assert "Samverkansgrupp Äldre (att åldras)" in text
    assert "Ärendet gäller äldre och går till Samverkansgrupp Äldre." in text
    assert "Behövs inte" in text
    assert "Mötesdatum är ännu inte bestämt" in text
    assert "Rutin demens.pdf" in text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"

    with unit_of_work(seeded_engine) as session:
        case = session.exec(select(Case)).one()
        attachment = session.exec(select(Attachment)).one()
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    assert case.reference == f"SB-{year()}-0001"
    assert case.destination == "sg-aldre"
    assert case.kind == "B/D"
    assert case.target_groups == []
    assert case.submitter_email == "anna.andersson@example.se"
    assert case.proposed_decision == "att anta rutinen"
    assert case.access_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert attachment.case_id == case.id
    assert attachment.filename == "Rutin demens.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(PDF)
    assert (web_settings.data_dir / attachment.storage_path).read_bytes() == PDF
    assert [e.action for e in events] == ["submit", "attach"]
    assert events[0].actor == "anmälare:anna.andersson@example.se"


def test_the_receipt_banner_only_with_ny(client: TestClient) -> None:
    token = submit(client)
    text = text_of(client.get(f"/s/{token}").text)
    assert "Tack – ditt ärende är mottaget" not in text
    assert f"SB-{year()}-0001" in text


def test_a_second_case_gets_the_next_reference(client: TestClient) -> None:
    submit(client)
    token = submit(client, title="Ungdomsmottagningens öppettider")
    assert f"SB-{year()}-0002" in client.get(f"/s/{token}").text


def test_flags_and_groups_reach_the_rules(client: TestClient, seeded_engine: Engine) -> None:
    token = submit(
        client,
        title="Avvikelse vid utskrivning",
        target_groups=["aldre"],
        deviation="ja",
        recurring="ja",
    )
    text = text_of(client.get(f"/s/{token}").text)
    assert "Fördelat till LSVO" in text
    assert "Målgrupper Äldre" in text
    with unit_of_work(seeded_engine) as session:
        case = session.exec(select(Case)).one()
    assert (case.deviation, case.recurring, case.target_groups) == (True, True, ["aldre"])


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        (
            "Rutin.docx",
            DOCX,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("Karta.PNG", PNG, "image/png"),
        ("foto.jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
        ("bild.webp", WEBP, "image/webp"),
        (
            "gammal.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8,
            "application/vnd.ms-excel",
        ),
        ("plan.odt", DOCX, "application/vnd.oasis.opendocument.text"),
    ],
)
def test_allowed_types_are_stored_with_their_own_content_type(
    client: TestClient, seeded_engine: Engine, name: str, content: bytes, content_type: str
) -> None:
    # The browser's claimed type is ignored: the extension decides, the content must agree.
    submit(client, [("attachments", (name, content, "application/octet-stream"))])
    with unit_of_work(seeded_engine) as session:
        attachment = session.exec(select(Attachment)).one()
    assert (attachment.filename, attachment.content_type) == (name, content_type)


def test_a_folder_in_the_file_name_is_dropped(client: TestClient, seeded_engine: Engine) -> None:
    submit(client, [pdf("C:\\Users\\anna\\Skrivbord\\underlag.pdf")])
    with unit_of_work(seeded_engine) as session:
        assert session.exec(select(Attachment.filename)).one() == "underlag.pdf"


# --- validation -----------------------------------------------------------------------------


def test_errors_keep_what_was_typed_and_speak_swedish(
    client: TestClient, seeded_engine: Engine, web_settings: Settings
) -> None:
    data = form(
        title="  ",
        kind=None,
        submitter_email="inte en adress",
        description="Rad ett\nRad två & ”citat”",
        target_groups=["barn_unga", "vuxna"],
        county_wide="ja",
        presenter="Per Persson",
    )
    response = post(client, data, [pdf()])
    assert response.status_code == 422
    html = response.text
    text = text_of(html)
    assert "Det finns 3 fel i formuläret" in text
    # The summary links to each field, the field carries its message.
    assert '<a href="#title">Skriv en rubrik som kort säger vad ärendet gäller.</a>' in html
    assert '<a href="#kind-beslut">Välj minst ett alternativ' in html
    assert '<a href="#submitter_email">Skriv en giltig e-postadress' in html
    assert 'aria-describedby="title-hint title-fel" aria-invalid="true"' in html
    assert 'id="submitter_email" name="submitter_email" value="inte en adress"' in html
    assert re.search(r'<fieldset aria-describedby="kind-hint kind-fel" aria-invalid="true">', html)
    assert 'id="title-fel"' in html and 'id="kind-fel"' in html
    # What was typed is still there.
    assert ">\nRad ett\nRad två &amp; ”citat”</textarea>" in html
    assert 'value="Per Persson"' in html
    assert 'value="barn_unga" checked' in html and 'value="vuxna" checked' in html
    assert 'id="county_wide-ja" name="county_wide" value="ja" checked' in html
    assert "Välj filerna igen" in text
    # Never pydantic's English.
    for english in ("String should", "Field required", "Input should", "pattern"):
        assert english not in text
    assert_nothing_stored(seeded_engine, web_settings)


def test_too_long_text_says_the_limit(client: TestClient) -> None:
    response = post(client, form(title="x" * 301))
    assert response.status_code == 422
    assert "Rubrik får vara högst 300 tecken. Nu är det 301." in text_of(response.text)


def test_vet_ej_together_with_a_group_is_an_error(
    client: TestClient, seeded_engine: Engine
) -> None:
    response = post(client, form(target_groups=["aldre", "vet_ej"]))
    assert response.status_code == 422
    assert '<a href="#target_groups-barn_unga">Du har kryssat i både ”Vet ej” och en målgrupp' in (
        response.text
    )
    assert count(seeded_engine, Case) == 0


def test_recurring_needs_a_deviation(client: TestClient) -> None:
    response = post(client, form(recurring="ja"))
    assert response.status_code == 422
    assert "Frågan gäller bara avvikelser" in text_of(response.text)


def test_an_answer_other_than_yes_or_no_is_refused(client: TestClient) -> None:
    response = post(client, form(county_wide="kanske"))
    assert response.status_code == 422
    assert "Svara Ja eller Nej." in text_of(response.text)


@pytest.mark.parametrize(
    "name",
    [
        "title",
        "description",
        "proposed_decision",
        "presenter",
        "submitter_name",
        "submitter_organisation",
    ],
)
def test_a_personnummer_is_refused_and_nothing_stored(
    client: TestClient, seeded_engine: Engine, web_settings: Settings, name: str
) -> None:
    response = post(client, form(**{name: f"Gäller {PERSONNUMMER} i Karlskrona"}), [pdf()])
    assert response.status_code == 422
    masked = PERSONNUMMER[:7] + "XXXX"
    message = (
        f"Texten verkar innehålla ett personnummer ({masked}). Ärenden handlar om samverkan "
        "mellan organisationerna, inte om enskilda personer – ta bort personuppgifterna."
    )
    assert message in text_of(response.text)
    assert f'id="{name}-fel"' in response.text
    assert_nothing_stored(seeded_engine, web_settings)


def test_a_personnummer_is_flagged_in_the_preview(client: TestClient) -> None:
    token = csrf(client)
    response = client.post(
        "/forhandsgranska", data={"csrf_token": token, "title": f"Brukare {PERSONNUMMER}"}
    )
    assert "verkar innehålla ett personnummer" in response.text
    assert PERSONNUMMER not in response.text


# --- attachments ----------------------------------------------------------------------------


def test_a_too_large_attachment_is_refused(
    client: TestClient, seeded_engine: Engine, web_settings: Settings
) -> None:
    big = PDF + b"0" * (web_settings.max_upload_bytes + 1 - len(PDF))
    response = post(client, form(), [pdf("liten.pdf"), pdf("Stor rapport.pdf", big)])
    assert response.status_code == 422
    text = text_of(response.text)
    assert "Filen ”Stor rapport.pdf” är för stor" in text
    assert "Varje fil får vara högst 10 MB." in text
    assert "liten.pdf" in text  # listed among the files to choose again
    assert_nothing_stored(seeded_engine, web_settings)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("program.exe", b"MZ\x90\x00", "Filen ”program.exe” har en filtyp som inte tas emot."),
        ("utan-filandelse", PDF, "Filen ”utan-filandelse” har en filtyp som inte tas emot."),
        ("faktura.pdf", PNG, "Filen ”faktura.pdf” är inte en PDF-fil"),
        ("script.docx", b"<script>alert(1)</script>", "Filen ”script.docx” är inte en Word-fil"),
        ("falsk.webp", b"RIFF\x00\x00\x00\x00WAVE", "Filen ”falsk.webp” är inte en WebP-bild-fil"),
        ("tom.pdf", b"", "Filen ”tom.pdf” är tom."),
    ],
)
def test_a_wrong_type_is_refused(
    client: TestClient,
    seeded_engine: Engine,
    web_settings: Settings,
    name: str,
    content: bytes,
    message: str,
) -> None:
    response = post(client, form(), [("attachments", (name, content, "application/pdf"))])
    assert response.status_code == 422
    assert message in text_of(response.text)
    assert '<a href="#attachments">' in response.text
    assert_nothing_stored(seeded_engine, web_settings)


def test_too_many_attachments_are_refused(
    client: TestClient, seeded_engine: Engine, web_settings: Settings
) -> None:
    files = [pdf(f"bilaga-{i}.pdf") for i in range(web_settings.max_attachments + 1)]
    response = post(client, form(), files)
    assert response.status_code == 422
    assert (
        f"Du kan bifoga högst {web_settings.max_attachments} filer i en anmälan, "
        f"du valde {web_settings.max_attachments + 1}."
    ) in text_of(response.text)
    assert_nothing_stored(seeded_engine, web_settings)


# --- CSRF and rate limits -------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "fel-token"])
def test_a_post_without_the_right_csrf_token_is_refused(
    client: TestClient, seeded_engine: Engine, web_settings: Settings, token: str | None
) -> None:
    csrf(client)
    data = form() if token is None else {"csrf_token": token, **form()}
    response = client.post("/", data=data, files=[pdf()], follow_redirects=False)
    assert response.status_code == 403
    assert "Ladda om sidan och försök igen." in text_of(response.text)
    assert_nothing_stored(seeded_engine, web_settings)


def test_a_token_without_its_cookie_is_refused(
    client: TestClient, seeded_engine: Engine, web_settings: Settings
) -> None:
    token = csrf(client)
    client.cookies.clear()
    response = client.post("/", data={"csrf_token": token, **form()}, follow_redirects=False)
    assert response.status_code == 403
    assert_nothing_stored(seeded_engine, web_settings)


def test_too_many_submissions_are_refused(seeded_engine: Engine, web_settings: Settings) -> None:
    settings = web_settings.model_copy(update={"submissions_per_minute": 2})
    app = create_app(engine=seeded_engine, settings=settings)
    with TestClient(app, base_url="https://testserver") as client:
        submit(client)
        submit(client)
        response = post(client, form())
        assert response.status_code == 429
        assert response.headers["retry-after"] == "60"
        assert "För många anmälningar på kort tid" in text_of(response.text)
        # Correcting mistakes does not use up the limit: invalid posts are answered as usual.
        assert post(client, form(title="")).status_code == 422
    assert count(seeded_engine, Case) == 2


# --- the status page ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["x" * 43, "kort", "a" * 500, "Td4ndUSVfu-E_s60BMmdnkdF07LiuML638w_v55a5b4"]
)
def test_an_unknown_token_is_not_found(client: TestClient, token: str) -> None:
    submit(client)
    response = client.get(f"/s/{token}")
    assert response.status_code == 404
    assert "Vi hittar inget ärende med den länken" in text_of(response.text)


def test_an_attachment_is_served_only_through_its_own_case(
    client: TestClient, seeded_engine: Engine
) -> None:
    first = submit(client, [pdf("första.pdf", PDF + b"ett")])
    second = submit(client, [pdf("andra.pdf", PDF + b"tva")])
    with unit_of_work(seeded_engine) as session:
        ids = {a.filename: a.id for a in session.exec(select(Attachment)).all()}

    own = client.get(f"/s/{first}/bilagor/{ids['första.pdf']}")
    assert own.status_code == 200
    assert own.content == PDF + b"ett"
    assert own.headers["content-type"] == "application/pdf"
    assert own.headers["content-disposition"].startswith("attachment;")
    assert "f%C3%B6rsta.pdf" in own.headers["content-disposition"]
    assert own.headers["x-content-type-options"] == "nosniff"

    assert client.get(f"/s/{second}/bilagor/{ids['första.pdf']}").status_code == 404
    assert client.get(f"/s/{first}/bilagor/{ids['andra.pdf']}").status_code == 404
    assert client.get(f"/s/{first}/bilagor/9999").status_code == 404
    assert client.get(f"/s/{first}/bilagor/abc").status_code == 404
    assert client.get(f"/s/{'x' * 43}/bilagor/{ids['första.pdf']}").status_code == 404
    page = client.get(f"/s/{first}").text
    assert f'href="https://testserver/s/{first}/bilagor/{ids["första.pdf"]}"' in page
    assert "andra.pdf" not in page


def test_user_text_is_escaped(client: TestClient) -> None:
    script = "<script>alert(1)</script>"
    token = submit(client, title=script, description=script, submitter_name=script)
    for url in (f"/s/{token}?ny=1", f"/s/{token}"):
        html = client.get(url).text
        assert script not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    again = post(client, form(title=script, submitter_email="fel"))
    assert again.status_code == 422
    assert script not in again.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in again.text


def test_the_status_page_shows_the_target_meeting_and_its_deadlines(
    client: TestClient, seeded_engine: Engine
) -> None:
    with unit_of_work(seeded_engine) as session:
        group_id = session.exec(select(Group.id).where(Group.slug == "sg-aldre")).one()
        assert group_id is not None
        meeting_date = (utcnow() + timedelta(days=60)).date()
        session.add(
            Meeting(group_id=group_id, date=meeting_date, starts_at="09:00", place="Karlskrona")
        )
    token = submit(client)
    text = text_of(client.get(f"/s/{token}").text)
    assert "Mötesdatum är ännu inte bestämt" not in text
    deadlines = services.target_meeting(seeded_engine, group_slug="sg-aldre", submitted_at=utcnow())
    assert deadlines is not None
    assert f"{long_date(meeting_date)}, kl. 09.00, Karlskrona" in text
    assert f"Sista dag för anmälan {long_date(deadlines.deadlines.submission_due)}" in text
    assert f"skickas senast {long_date(deadlines.deadlines.agenda_due)}" in text


def test_the_history_shows_the_message_to_complete_but_not_who_on_staff(
    client: TestClient, seeded_engine: Engine, beredning: Any
) -> None:
    token = submit(client)
    with unit_of_work(seeded_engine) as session:
        case_id = session.exec(select(Case.id)).one()
    assert case_id is not None
    services.triage(
        seeded_engine,
        case_id,
        "return",
        actor=f"personal:{beredning.email}",
        destinations=["sg-aldre"],
        reason="Bifoga rutinen som beslutsunderlag.",
    )
    html = client.get(f"/s/{token}").text
    text = text_of(html)
    assert "Återsänt för komplettering" in text
    assert "Ärendet behöver kompletteras" in text
    assert text.count("Bifoga rutinen som beslutsunderlag.") == 2  # the notice and the history
    assert "Ärendet skickades tillbaka för komplettering" in text
    assert "Beredningsgruppen" in text
    assert beredning.email not in html
    assert "anna.andersson@example.se" not in html


def test_a_rerouted_case_shows_both_the_rules_and_the_new_destination(
    client: TestClient, seeded_engine: Engine
) -> None:
    token = submit(client)
    with unit_of_work(seeded_engine) as session:
        case_id = session.exec(select(Case.id)).one()
    assert case_id is not None
    services.triage(
        seeded_engine,
        case_id,
        "reroute",
        actor="personal:beredning@example.se",
        destinations=["lsvo", "sg-aldre"],
        destination="lsvo",
        reason="Gäller hela länet.",
    )
    text = text_of(client.get(f"/s/{token}").text)
    assert "Fördelat till LSVO" in text
    assert "Reglerna föreslog Samverkansgrupp Äldre (att åldras)" in text
    assert "Ärendet fördelades till LSVO" in text
    assert "Gäller hela länet." not in text  # the preparation group's internal reason
