"""A case's whole path through the web application, in a real browser.

A person submits a case with a document and sees the live routing preview and the
receipt; the preparation group signs in, finds the case in the queue, reroutes it; the
submitter's private link then shows the new destination. And the form works with the
keyboard alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect

from casework.web.public import FIELD_ORDER
from e2e.conftest import LiveApp

pytestmark = pytest.mark.e2e

TITLE = "Gemensam rutin för demensvården i hemsjukvården"
DESCRIPTION = (
    "Kommunernas hemsjukvård och regionens primärvård behöver en gemensam rutin för "
    "uppföljning av personer med demenssjukdom som bor hemma."
)
PDF = b"%PDF-1.4\n% underlag till samverkan\n%%EOF\n"
REFERENCE = re.compile(r"SB-\d{4}-\d{4}")
SG_ALDRE = "Samverkansgrupp Äldre (att åldras)"
LSVO = "LSVO – Ledningssamverkan vård och omsorg"
REASON = "Rutinen blir länsgemensam och ska därför beslutas av LSVO."


def test_submit_triage_reroute_and_follow_a_case(
    live_app: LiveApp, submitter: Page, staff: Page, tmp_path: Path
) -> None:
    page = submitter
    page.goto(live_app.url + "/")
    expect(page).to_have_title(re.compile("^Anmäl ett ärende"))
    preview = page.locator("#forhandsvisning")
    expect(preview).to_contain_text("Fyll i rubrik och beskrivning")

    page.get_by_role("textbox", name="Rubrik").fill(TITLE)
    page.get_by_role("textbox", name="Beskrivning").fill(DESCRIPTION)
    page.get_by_label("Beslut", exact=True).check()
    page.get_by_label("Äldre", exact=True).check()
    # The live preview (static/preview.js) asks the server as the person types.
    expect(preview).to_contain_text(f"Ärendet skulle gå till {SG_ALDRE}")
    expect(preview).to_contain_text("tas ärendet upp tidigast")

    page.get_by_role("textbox", name="Förslag till beslut").fill(
        "Samverkansgruppen beslutar att anta den gemensamma rutinen."
    )
    page.get_by_role("textbox", name="Föredragande").fill("Eva Ström, MAS, Karlskrona kommun")
    page.get_by_label("Bifoga filer").set_input_files(
        files=[FilePayload(name="rutin.pdf", mimeType="application/pdf", buffer=PDF)]
    )
    page.get_by_role("textbox", name="Ditt namn").fill("Eva Ström")
    page.get_by_role("textbox", name="Din e-postadress").fill("eva.strom@karlskrona.example")
    page.get_by_role("textbox", name="Din organisation").fill(
        "Karlskrona kommun, Äldreförvaltningen"
    )
    page.get_by_role("button", name="Skicka in").click()

    receipt = page.locator(".receipt")
    expect(receipt).to_contain_text("Tack – ditt ärende är mottaget")
    reference = receipt.locator("strong").first.inner_text()
    assert REFERENCE.fullmatch(reference), reference
    private_link = page.locator(".private-link a").get_attribute("href")
    assert private_link is not None
    assert private_link.startswith(f"{live_app.url}/s/")
    expect(page.locator(".attachments")).to_contain_text("rutin.pdf")

    staff.goto(live_app.url + "/beredning")
    expect(staff).to_have_url(re.compile(r"/logga-in\?next=(/|%2F)beredning$"))
    staff.get_by_role("textbox", name="E-postadress").fill(live_app.staff_email)
    staff.get_by_label("Lösenord").fill(live_app.staff_password)
    staff.get_by_role("button", name="Logga in").click()
    expect(staff).to_have_url(f"{live_app.url}/beredning")

    staff.get_by_label("Sök").fill("demensvården")
    staff.get_by_role("button", name="Visa").click()
    expect(staff.locator("#antal")).to_contain_text("1 ärende.")
    staff.get_by_role("link", name=reference).click()

    expect(staff.locator("h1")).to_contain_text(reference)
    expect(staff.get_by_role("link", name="rutin.pdf")).to_be_visible()
    staff.get_by_label("Ny mottagare").select_option("lsvo")
    staff.locator("#reroute-reason").fill(REASON)
    staff.get_by_role("button", name="Fördela om").click()
    expect(staff.get_by_role("status")).to_contain_text(f"Ärendet har fördelats till {LSVO}.")

    page.goto(private_link)
    routed = page.locator("section[aria-labelledby=fordelning] dd").first
    expect(routed).to_contain_text(LSVO)
    expect(routed).to_contain_text(f"Reglerna föreslog {SG_ALDRE}")
    expect(page.locator("#handelser + table")).to_contain_text(f"Ärendet fördelades till {LSVO}")
    # The preparation group's internal reason is not the submitter's to read.
    expect(page.locator("body")).not_to_contain_text(REASON)

    screenshot = tmp_path / "status-after-reroute.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0


FOCUSED = """() => {
  const e = document.activeElement;
  const labels = e.labels ? Array.from(e.labels).map((l) => l.innerText.trim()) : [];
  return {
    tag: e.tagName.toLowerCase(),
    type: e.getAttribute("type") || "",
    name: e.getAttribute("name") || "",
    value: e.value || "",
    label: labels.join(" ") || e.getAttribute("aria-label") || e.innerText.trim(),
  };
}"""


def test_the_form_can_be_filled_and_sent_with_the_keyboard_alone(
    live_app: LiveApp, submitter: Page
) -> None:
    page = submitter
    page.goto(live_app.url + "/")
    typed = {
        "title": "Samordnad vårdplanering för barn med habiliteringsinsatser",
        "description": "Barnhälsovården och habiliteringen behöver en gemensam rutin.",
        "submitter_name": "Ali Hassan",
        "submitter_email": "ali.hassan@ronneby.example",
    }
    fields: list[str] = []
    for _ in range(100):
        page.keyboard.press("Tab")
        focused: dict[str, Any] = page.evaluate(FOCUSED)
        name = focused["name"]
        if focused["tag"] in ("input", "textarea", "select"):
            assert focused["label"], f"focus reached a field without a label: {focused}"
            if not fields or fields[-1] != name:
                fields.append(name)
        if name in typed:
            page.keyboard.type(typed[name])
        elif name == "kind" and focused["value"] == "information":
            page.keyboard.press("Space")
        elif focused["tag"] == "button" and focused["value"] == "submit":
            page.keyboard.press("Enter")
            break
    else:
        pytest.fail(f"Tab never reached the submit button; fields passed: {fields}")

    assert fields == list(FIELD_ORDER)
    expect(page.locator(".receipt")).to_contain_text("Tack – ditt ärende är mottaget")
    expect(page.locator("h1")).to_have_text(typed["title"])
