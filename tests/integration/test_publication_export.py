"""`samverkan publish`: the public pages as a static site with working relative links."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import icalendar
import publication_world as w
import pytest
from sqlalchemy import Engine

from casework.bootstrap import open_database
from casework.publication_export import PublishError, export_site

TODAY = date(w.NEXT_YEAR, 1, 10)
NOW = datetime(w.NEXT_YEAR, 1, 10, 12, 0, tzinfo=UTC)
A = "{http://www.w3.org/2005/Atom}"


class References(HTMLParser):
    """Every address a page refers to: href and src of any element."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend(v for k, v in attrs if k in ("href", "src") and v)


def references(path: Path) -> list[str]:
    parser = References()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.found


def is_local(href: str) -> bool:
    parts = urlsplit(href)
    return not parts.scheme and not parts.netloc and not href.startswith("#")


def broken_links(site: Path) -> list[str]:
    """Local references in the site's pages that do not lead to a file of the site."""
    broken = []
    for page in site.rglob("*.html"):
        for href in references(page):
            if not is_local(href):
                continue
            assert not href.startswith("/"), f"{page}: {href} is not relative"
            target = (page.parent / urldefrag(href).url).resolve()
            if not target.is_file() or not target.is_relative_to(site.resolve()):
                broken.append(f"{page.relative_to(site)} → {href}")
    return broken


def files_of(site: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()
    }


def test_the_export_is_a_self_contained_site(seeded_engine: Engine, tmp_path: Path) -> None:
    w.build(seeded_engine)
    site = tmp_path / "webb"
    lines: list[str] = []
    summary = export_site(seeded_engine, site, today=TODAY, now=NOW, progress=lines.append)
    assert lines == ["lsvo: 3 dagordningar, 1 protokoll", "sg-aldre: 0 dagordningar, 0 protokoll"]
    assert (summary.bodies, summary.agendas, summary.minutes) == (2, 3, 1)
    written = files_of(site)
    assert summary.files == len(written) - 1  # all but the marker
    assert ".samverkan-publish" in written
    expected = {
        "index.html",
        "stil.css",
        "lsvo/index.html",
        "lsvo/atom.xml",
        "lsvo/lsvo.ics",
        "lsvo/dagordning-2023-05-12.html",
        "lsvo/dagordning-2023-05-12.pdf",
        "lsvo/dagordning-2023-06-09.html",
        f"lsvo/dagordning-{w.UPCOMING.isoformat()}.html",
        f"lsvo/dagordning-{w.UPCOMING.isoformat()}.pdf",
        "lsvo/protokoll-2023-05-12.html",
        "lsvo/protokoll-2023-05-12.pdf",
        "lsvo/protokoll-2023-05-12-v1.html",
        "lsvo/protokoll-2023-05-12-v1.pdf",
        "sg-aldre/index.html",
        "sg-aldre/atom.xml",
        "sg-aldre/sg-aldre.ics",
    }
    assert set(written) == expected | {"lsvo/dagordning-2023-06-09.pdf", ".samverkan-publish"}
    assert not any(name.startswith("beredningsgruppen") for name in written)
    assert not any(w.UNSENT.isoformat() in name for name in written)
    assert broken_links(site) == []
    assert not any(b"Hemligt" in content for content in written.values())
    assert written["lsvo/dagordning-2023-05-12.pdf"].startswith(b"%PDF-")
    # User text is escaped in the static pages too.
    agenda = written["lsvo/dagordning-2023-05-12.html"].decode()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in agenda
    assert "<script" not in agenda
    minutes = written["lsvo/protokoll-2023-05-12.html"].decode()
    assert "Texten i version 2." in minutes and "&lt;img src=x" in minutes
    assert "Texten i version 1." in written["lsvo/protokoll-2023-05-12-v1.html"].decode()
    assert written["lsvo/protokoll-2023-05-12-v1.pdf"].startswith(b"%PDF-")
    assert "3 dagordningar och 1 protokoll publicerade" in written["index.html"].decode()
    # The pages link to the body's feeds; the body page announces its Atom feed.
    body = written["lsvo/index.html"].decode()
    assert 'type="application/atom+xml"' in body and 'href="../lsvo/atom.xml"' in body
    assert 'href="../lsvo/lsvo.ics"' in body
    assert 'href="../stil.css"' in body
    # The iCalendar feed parses and holds the body's meetings.
    calendar = icalendar.Calendar.from_ical(written["lsvo/lsvo.ics"])
    meetings = [e for e in calendar.walk("VEVENT") if str(e["summary"]).startswith("LSVO")]
    starts = {e.decoded("dtstart").date() for e in meetings}
    assert {w.UNSENT, w.UPCOMING} <= starts  # the feed reaches a year back
    # Without a base address the feed's links are relative to the feed file.
    feed = ET.fromstring(written["lsvo/atom.xml"])
    hrefs = [link.get("href") or "" for link in feed.iter(f"{A}link")]
    assert len(hrefs) == 2 + 2 * 4
    for href in hrefs:
        assert (site / "lsvo" / href).resolve().is_file(), href
    # Nothing is left beside the site.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webb"]


def test_a_base_url_makes_the_feed_links_absolute(seeded_engine: Engine, tmp_path: Path) -> None:
    w.build(seeded_engine)
    site = tmp_path / "webb"
    export_site(
        seeded_engine, site, today=TODAY, now=NOW, base_url="https://regionblekinge.se/samverkan"
    )
    feed = ET.fromstring((site / "lsvo" / "atom.xml").read_bytes())
    hrefs = {link.get("href") for link in feed.iter(f"{A}link")}
    assert "https://regionblekinge.se/samverkan/lsvo/atom.xml" in hrefs
    assert "https://regionblekinge.se/samverkan/lsvo/dagordning-2023-05-12.html" in hrefs
    assert all((h or "").startswith("https://regionblekinge.se/samverkan/lsvo/") for h in hrefs)
    # The pages stay relative.
    assert broken_links(site) == []


def test_a_new_export_replaces_the_previous_one(seeded_engine: Engine, tmp_path: Path) -> None:
    w.build(seeded_engine)
    site = tmp_path / "webb"
    site.mkdir()
    export_site(seeded_engine, site, today=TODAY, now=NOW)
    (site / "gammal.html").write_text("från förra gången", encoding="utf-8")
    export_site(seeded_engine, site, today=TODAY, now=NOW)
    assert not (site / "gammal.html").exists()
    assert (site / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webb"]


def test_a_failed_export_leaves_the_previous_one(seeded_engine: Engine, tmp_path: Path) -> None:
    w.build(seeded_engine)
    site = tmp_path / "webb"
    export_site(seeded_engine, site, today=TODAY, now=NOW)
    before = files_of(site)

    class Interrupted(Exception):
        pass

    def interrupt(line: str) -> None:
        raise Interrupted(line)

    with pytest.raises(Interrupted):
        export_site(seeded_engine, site, today=date(2040, 1, 1), now=NOW, progress=interrupt)
    assert files_of(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webb"]


def test_a_target_that_cannot_be_written_is_refused(seeded_engine: Engine, tmp_path: Path) -> None:
    w.build(seeded_engine)
    a_file = tmp_path / "fil.html"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(PublishError) as refused:
        export_site(seeded_engine, a_file, today=TODAY)
    assert (
        refused.value.message_sv
        == f"{a_file} är en fil, inte en mapp. Ange en mapp att publicera till."
    )
    with pytest.raises(PublishError) as refused:
        export_site(seeded_engine, a_file / "webb", today=TODAY)
    assert "finns inte" in refused.value.message_sv
    with pytest.raises(PublishError) as refused:
        export_site(seeded_engine, tmp_path / "webb", today=TODAY, base_url="regionblekinge.se")
    assert "ingen webbadress" in refused.value.message_sv
    # A folder with something else in it is not replaced.
    other = tmp_path / "dokument"
    other.mkdir()
    (other / "viktigt.txt").write_text("behåll mig", encoding="utf-8")
    with pytest.raises(PublishError) as refused:
        export_site(seeded_engine, other, today=TODAY)
    assert refused.value.message_sv == (
        f"Mappen {other} innehåller annat än en tidigare export och ersätts inte. "
        "Ange en ny eller tom mapp."
    )
    assert a_file.read_text(encoding="utf-8") == "x"
    assert (other / "viktigt.txt").read_text(encoding="utf-8") == "behåll mig"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dokument", "fil.html"]


def samverkan(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMVERKAN_")}
    env["SAMVERKAN_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_the_publish_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = open_database(f"sqlite:///{data_dir / 'samverkan.db'}")
    try:
        w.build(engine)
    finally:
        engine.dispose()
    site = tmp_path / "webb"
    done = samverkan(data_dir, "publish", str(site), "--base-url", "https://example.se/organ")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "lsvo: 3 dagordningar, 1 protokoll"
    assert lines[1] == "sg-aldre: 0 dagordningar, 0 protokoll"
    assert lines[2].startswith(f"Publicerat till {site}: 2 organ, 3 dagordningar, 1 protokoll, ")
    assert broken_links(site) == []
    assert b"https://example.se/organ/lsvo/atom.xml" in (site / "lsvo" / "atom.xml").read_bytes()

    a_file = tmp_path / "fil"
    a_file.write_text("x", encoding="utf-8")
    refused = samverkan(data_dir, "publish", str(a_file))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"samverkan: {a_file} är en fil, inte en mapp. Ange en mapp att publicera till."
    )
    assert "Traceback" not in refused.stderr


def test_an_export_without_meetings_is_an_empty_site(seeded_engine: Engine, tmp_path: Path) -> None:
    summary = export_site(seeded_engine, tmp_path / "webb", today=TODAY)
    assert (summary.bodies, summary.agendas, summary.minutes, summary.files) == (0, 0, 0, 2)
    index = (tmp_path / "webb" / "index.html").read_text(encoding="utf-8")
    assert "Inga organ har några möten ännu." in index
    assert broken_links(tmp_path / "webb") == []
