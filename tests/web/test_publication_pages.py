"""The public pages of the bodies: no sign-in, only what is published, user text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import publication_world as w
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from casework import publication as pub
from casework import repository
from casework.db import unit_of_work

A = "{http://www.w3.org/2005/Atom}"


class Links(HTMLParser):
    """The <a href> and <link> elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[str] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.extend(v for k, v in attrs if k == "href" and v)
        if tag == "link":
            self.links.append(dict(attrs))


def parsed(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


@pytest.fixture
def world(seeded_engine: Engine) -> w.World:
    world = w.build(seeded_engine)
    with unit_of_work(seeded_engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None
        group.description = "Beslutar <em>länsgemensamt</em> & styr."
        session.add(group)
    return world


def test_the_list_of_bodies_needs_no_sign_in(client: TestClient, world: w.World) -> None:
    page = client.get("/organ")
    assert page.status_code == 200
    hrefs = parsed(page.text).anchors
    assert "/organ/lsvo" in hrefs and "/organ/sg-aldre" in hrefs
    assert "/organ/beredningsgruppen" not in hrefs
    # The nav item is on every page.
    assert '<a href="/organ">Organ och protokoll</a>' in page.text
    assert "Beslutar &lt;em&gt;länsgemensamt&lt;/em&gt; &amp; styr." in page.text
    assert "3 dagordningar och 1 protokoll publicerade" in page.text


def test_a_body_page_shows_published_items_and_its_feeds(
    client: TestClient, world: w.World
) -> None:
    page = client.get("/organ/lsvo")
    assert page.status_code == 200
    text = page.text
    found = parsed(text)
    alternate = [link for link in found.links if link.get("rel") == "alternate"]
    assert alternate == [
        {
            "rel": "alternate",
            "type": "application/atom+xml",
            "title": "LSVO – Ledningssamverkan vård och omsorg – dagordningar och protokoll",
            "href": "/organ/lsvo/atom.xml",
        }
    ]
    hrefs = found.anchors
    assert "/organ/lsvo/atom.xml" in hrefs and "/kalender/lsvo.ics" in hrefs
    for day in (w.MAY, w.JUNE, w.UPCOMING):
        assert f"/organ/lsvo/dagordning/{day.isoformat()}" in hrefs
        assert f"/organ/lsvo/dagordning/{day.isoformat()}.pdf" in hrefs
    assert f"/organ/lsvo/dagordning/{w.UNSENT.isoformat()}" not in hrefs
    assert "/organ/lsvo/protokoll/2023-05-12" in hrefs
    assert "/organ/lsvo/protokoll/2023-05-12.pdf" in hrefs
    assert "/organ/lsvo/protokoll/2023-05-12/v1" in hrefs
    assert "/organ/lsvo/protokoll/2023-05-12/v1.pdf" in hrefs
    assert "/organ/lsvo/protokoll/2023-06-09" not in hrefs
    assert "Fel &lt;i&gt;namn&lt;/i&gt; i § 24 rättat" in text
    assert "<i>namn</i>" not in text
    # Upcoming meetings: date, time and place, the unsent agenda named as such.
    assert "08.15–12.00" in text and "Ej utskickad" in text
    assert "Hemligt" not in text


def test_an_agenda_page_and_its_pdf(client: TestClient, world: w.World) -> None:
    page = client.get("/organ/lsvo/dagordning/2023-05-12")
    assert page.status_code == 200
    assert "Kallelse och dagordning" in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Trygg &amp; säker" in page.text
    assert "<script>alert" not in page.text
    assert "Regionhuset &lt;b&gt;sal 1&lt;/b&gt;" in page.text
    hrefs = parsed(page.text).anchors
    assert "/organ/lsvo/dagordning/2023-05-12.pdf" in hrefs
    assert "/organ/lsvo/protokoll/2023-05-12" in hrefs
    pdf = client.get("/organ/lsvo/dagordning/2023-05-12.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert 'filename="dagordning-lsvo-2023-05-12.pdf"' in pdf.headers["content-disposition"]
    # June's minutes are not approved: no link to them from its agenda.
    june = client.get("/organ/lsvo/dagordning/2023-06-09")
    assert "/organ/lsvo/protokoll/2023-06-09" not in parsed(june.text).anchors


def test_the_approved_minutes_and_their_earlier_version(client: TestClient, world: w.World) -> None:
    page = client.get("/organ/lsvo/protokoll/2023-05-12")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Protokoll LSVO 12 maj 2023</h1>" in text
    # The document as the minutes' own partial renders it: the current version's text.
    assert "Sammanträdesprotokoll" in text and "Ärendeförteckning" in text
    assert "Texten i version 2." in text and "Texten i version 1." not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img" not in text
    assert "Torill &lt;b&gt;Skaar&lt;/b&gt;" in text
    assert "Fel &lt;i&gt;namn&lt;/i&gt; i § 24 rättat" in text
    hrefs = parsed(text).anchors
    assert "/organ/lsvo/protokoll/2023-05-12.pdf" in hrefs
    assert "/organ/lsvo/protokoll/2023-05-12/v1" in hrefs
    assert "/organ/lsvo/dagordning/2023-05-12" in hrefs

    older = client.get("/organ/lsvo/protokoll/2023-05-12/v1")
    assert older.status_code == 200
    assert "Texten i version 1." in older.text and "Texten i version 2." not in older.text
    assert "Det här är version 1 av protokollet" in older.text
    assert "/organ/lsvo/protokoll/2023-05-12/v1.pdf" in parsed(older.text).anchors
    # The current version under its number is the current page.
    current = client.get("/organ/lsvo/protokoll/2023-05-12/v2")
    assert current.status_code == 200 and "Texten i version 2." in current.text
    assert "Det här är version" not in current.text

    for path, name in (
        ("/organ/lsvo/protokoll/2023-05-12.pdf", "protokoll-lsvo-2023-05-12.pdf"),
        ("/organ/lsvo/protokoll/2023-05-12/v1.pdf", "protokoll-lsvo-2023-05-12-v1.pdf"),
    ):
        pdf = client.get(path)
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        assert f'filename="{name}"' in pdf.headers["content-disposition"]
    assert (
        client.get("/organ/lsvo/protokoll/2023-05-12.pdf").content
        != client.get("/organ/lsvo/protokoll/2023-05-12/v1.pdf").content
    )


@pytest.mark.parametrize(
    "path",
    [
        "/organ/beredningsgruppen",
        "/organ/finns-inte",
        "/organ/finns-inte/atom.xml",
        "/organ/beredningsgruppen/atom.xml",
        f"/organ/lsvo/dagordning/{w.UNSENT.isoformat()}",
        f"/organ/lsvo/dagordning/{w.UNSENT.isoformat()}.pdf",
        "/organ/lsvo/dagordning/2023-01-01",
        "/organ/lsvo/dagordning/inte-ett-datum",
        "/organ/lsvo/dagordning/2023-02-30.pdf",
        "/organ/sg-aldre/dagordning/2023-05-12",
        "/organ/lsvo/protokoll/2023-06-09",
        "/organ/lsvo/protokoll/2023-06-09.pdf",
        "/organ/lsvo/protokoll/2023-06-09/v1",
        "/organ/lsvo/protokoll/2023-05-12/v3",
        "/organ/lsvo/protokoll/2023-05-12/v0.pdf",
        "/organ/lsvo/protokoll/2023-05-12/vx",
        f"/organ/lsvo/protokoll/{w.UPCOMING.isoformat()}",
        "/organ/beredningsgruppen/protokoll/2023-05-12",
    ],
)
def test_what_is_not_published_is_not_found(client: TestClient, world: w.World, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Hemligt" not in response.text


def test_the_atom_feed_is_served_with_absolute_links(client: TestClient, world: w.World) -> None:
    response = client.get("/organ/lsvo/atom.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.findtext(f"{A}id") == pub.feed_id("lsvo")
    base = "http://127.0.0.1:8000"  # the default public address in the test settings
    for link in feed.iter(f"{A}link"):
        assert (link.get("href") or "").startswith(f"{base}/organ/lsvo"), link.get("href")
    entry_links = [
        link.get("href")
        for entry in feed.findall(f"{A}entry")
        for link in entry.findall(f"{A}link")
        if link.get("rel") == "alternate"
    ]
    # Every entry's page is there for the public.
    for href in entry_links:
        assert href is not None
        assert client.get(href.removeprefix(base)).status_code == 200
