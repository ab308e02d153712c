"""The public pages as a static site, for the region's external web site.

`export_site` writes the same pages the application shows under /organ, as files with
relative links only, so the folder works wherever it is copied (and opened from disk):

    index.html               the bodies
    stil.css                 the style
    <slug>/index.html        a body's page
    <slug>/atom.xml          its Atom feed
    <slug>/<slug>.ics        its meetings as iCalendar
    <slug>/dagordning-<date>.html and .pdf
    <slug>/protokoll-<date>.html and .pdf, and -v<n>.html/.pdf for earlier versions

The export is written to a new directory beside the target and renamed into place only
when it is complete, so an export that fails leaves the previous one as it was. A folder
that holds something else than an earlier export (it has no `.samverkan-publish` file)
is never replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from casework import meeting_calendar as mc
from casework import publication as pub
from casework.agenda_pdf import render_agenda_pdf
from casework.lifecycle import CaseworkError
from casework.minutes_pdf import render_minutes_pdf
from casework.model import utcnow
from casework.web.deps import templates

LAYOUT = "publication_export.html"
# Marks a folder as an export, which a later export may replace; any other folder that is
# not empty is left alone.
MARKER = ".samverkan-publish"
MARKER_TEXT = b"Skriven av samverkan publish; ersatt i sin helhet vid varje export.\n"
STYLE_SOURCE = Path(__file__).parent / "web" / "static" / "style.css"
# A body's own files are one directory down from the export's top.
IN_BODY = pub.ExportLinks("../")
AT_TOP = pub.ExportLinks("")


class PublishError(CaseworkError):
    """The export cannot be written; `message_sv` says why, for the person running it."""

    def __init__(self, message_sv: str) -> None:
        self.message_sv = message_sv
        super().__init__(message_sv)


@dataclass(frozen=True)
class ExportSummary:
    target: Path
    bodies: int
    agendas: int
    minutes: int
    files: int

    @property
    def text_sv(self) -> str:
        return (
            f"Publicerat till {self.target}: {self.bodies} organ, {self.agendas} dagordningar, "
            f"{self.minutes} protokoll, {self.files} filer."
        )


def check_base_url(base_url: str) -> str:
    """The base address with one trailing slash; `PublishError` unless it is http(s)."""
    base = base_url.strip()
    if not base.startswith(("https://", "http://")) or len(base) <= len("https://"):
        raise PublishError(
            f"Basadressen {base_url!r} är ingen webbadress; ange en som börjar med https://."
        )
    return base.rstrip("/") + "/"


def check_target(target: Path) -> Path:
    """The absolute target directory, or `PublishError` when it cannot be written."""
    target = Path(os.path.abspath(target))
    if target.exists() and not target.is_dir():
        raise PublishError(f"{target} är en fil, inte en mapp. Ange en mapp att publicera till.")
    parent = target.parent
    if not parent.is_dir():
        raise PublishError(f"Mappen {parent} finns inte. Skapa den först eller ange en annan.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PublishError(f"Det går inte att skriva i mappen {parent}.")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise PublishError(
            f"Mappen {target} innehåller annat än en tidigare export och ersätts inte. "
            "Ange en ny eller tom mapp."
        )
    return target


class _Writer:
    """Files written under the export's new directory, counted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0

    def write(self, relative: str, content: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        self.files += 1

    def page(self, relative: str, template: str, context: dict[str, Any]) -> None:
        html = templates.env.get_template(template).render({**context, "layout": LAYOUT})
        self.write(relative, html.encode("utf-8"))


def _top_relative(href: str) -> str:
    """An `IN_BODY` link as a path from the export's top."""
    return href.removeprefix(IN_BODY.prefix)


def _write_body(
    writer: _Writer,
    engine: Engine,
    body: pub.BodyPage,
    feed_links: pub.Links,
    *,
    today: date,
    now: datetime,
) -> tuple[int, int]:
    slug, group = body.slug, body.group
    writer.page(
        _top_relative(IN_BODY.body(slug)), "organ_body.html", {"body": body, "links": IN_BODY}
    )
    writer.write(_top_relative(IN_BODY.atom(slug)), pub.atom_feed(body, feed_links, now=now))
    writer.write(_top_relative(IN_BODY.ics(slug)), mc.group_feed(engine, slug, today=today))
    for published in body.agendas:
        writer.page(
            _top_relative(IN_BODY.agenda(slug, published.day)),
            "organ_agenda.html",
            pub.agenda_context(group, published, body.has_minutes(published.day), IN_BODY),
        )
        writer.write(
            _top_relative(IN_BODY.agenda_pdf(slug, published.day)),
            render_agenda_pdf(published.agenda),
        )
    for published_minutes in body.minutes:
        versions = (published_minutes.current, *published_minutes.earlier)
        for version in versions:
            number = None if version is published_minutes.current else version.version
            context = pub.minutes_context(group, published_minutes, version, number, IN_BODY)
            day = published_minutes.day
            writer.page(
                _top_relative(IN_BODY.minutes(slug, day, number)), "organ_minutes.html", context
            )
            writer.write(
                _top_relative(IN_BODY.minutes_pdf(slug, day, number)),
                render_minutes_pdf(version.document()),
            )
    return len(body.agendas), len(body.minutes)


def _swap_into_place(new: Path, target: Path) -> None:
    """Rename `new` to `target`; a previous export is moved aside first and removed after."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".gammal", dir=target.parent))
        old.rmdir()
        target.rename(old)
    try:
        new.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_site(
    engine: Engine,
    target: Path,
    *,
    today: date,
    base_url: str | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> ExportSummary:
    """Write the public pages of every body as a static site at `target`.

    `base_url`, when given, is the address the site will have: the Atom feeds' links are
    made absolute with it. Without it they are relative to each feed file. The pages'
    links are always relative. `progress` is told about each body as it is written.
    """
    now = now or utcnow()
    feed_links = pub.ExportLinks(check_base_url(base_url)) if base_url else IN_BODY
    target = check_target(target)
    bodies = pub.all_bodies(engine, today=today)
    try:
        new = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".ny", dir=target.parent))
    except OSError as exc:
        raise PublishError(f"Det går inte att skriva i mappen {target.parent}: {exc}.") from None
    try:
        new.chmod(0o755)
        (new / MARKER).write_bytes(MARKER_TEXT)
        writer = _Writer(new)
        writer.write(pub.STYLE_FILE, STYLE_SOURCE.read_bytes())
        summaries = [
            pub.BodySummary(
                body.group,
                body.upcoming[0].meeting if body.upcoming else None,
                len(body.agendas),
                len(body.minutes),
            )
            for body in bodies
        ]
        writer.page("index.html", "organ.html", {"bodies": summaries, "links": AT_TOP})
        agendas = minutes = 0
        for body in bodies:
            written_agendas, written_minutes = _write_body(
                writer, engine, body, feed_links, today=today, now=now
            )
            agendas += written_agendas
            minutes += written_minutes
            progress(f"{body.slug}: {written_agendas} dagordningar, {written_minutes} protokoll")
        _swap_into_place(new, target)
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise PublishError(
            f"Exporten kunde inte skrivas till {target}: {exc}. Den förra exporten är orörd."
        ) from None
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return ExportSummary(target, len(bodies), agendas, minutes, writer.files)
