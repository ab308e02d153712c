"""What the public sees of the bodies: their meetings, published agendas and minutes.

Read-only. A body with a public page is a group that holds meetings (has at least one in
the calendar). What counts as published:

- an agenda, once it has been sent out (`Meeting.agenda_sent_at` is set);
- minutes, once a version of them is approved (justerat, `Minutes.approved_at` set). The
  newest approved version is shown; the earlier approved versions stay readable with the
  reason each newer one gives. A version that is not yet approved is not public.

`body_page` collects everything a body's page, its Atom feed and the static export need,
so the web pages and `samverkan publish` show the same thing.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, exists
from sqlmodel import Session, col, select

from casework import repository
from casework.agenda import Agenda, agenda_of, meeting_day, time_and_place
from casework.calendar import SWEDISH_MONTHS
from casework.db import unit_of_work
from casework.lifecycle import CaseworkError
from casework.minutes_document import MinutesDocument
from casework.minutes_document import short_name as minutes_short_name
from casework.model import Group, Meeting, Minutes

# The namespace of the Atom ids: an entry's id is derived from its body, date and kind,
# so it stays the same across exports, databases and re-imports of the calendar.
ID_NAMESPACE = uuid.UUID("6f0c52a4-3f4e-5d7e-9a63-1d2f8e4b7c10")
AGENDA = "dagordning"
MINUTES = "protokoll"


class BodyNotFound(CaseworkError, LookupError):
    """No group with the slug holds meetings; the public sees a 404."""

    status = 404
    message_sv = "Det finns inget organ med det namnet."

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__(f"no body with public pages called {slug!r}")


class NotPublished(CaseworkError, LookupError):
    """The agenda or minutes asked for do not exist or are not public yet; a 404."""

    status = 404

    def __init__(self, slug: str, day: date, kind: str) -> None:
        self.slug = slug
        self.day = day
        self.kind = kind
        self.message_sv = (
            "Dagordningen är inte publicerad."
            if kind == AGENDA
            else "Protokollet är inte publicerat."
        )
        super().__init__(f"no published {kind} of {slug} on {day.isoformat()}")


# --- what a page shows ---------------------------------------------------------------


def short_name(group: Group) -> str:
    """ "LSVO – Ledningssamverkan vård och omsorg" → "LSVO"; a name without a dash as it is."""
    return minutes_short_name(group.name)


def day_text(day: date) -> str:
    """2023-05-12 → "12 maj 2023"."""
    return f"{day.day} {SWEDISH_MONTHS[day.month - 1]} {day.year}"


def entry_id(slug: str, day: date, kind: str) -> str:
    """The stable Atom id of a body's agenda or minutes of a day: a name-based urn:uuid."""
    return uuid.uuid5(ID_NAMESPACE, f"{slug}/{day.isoformat()}/{kind}").urn


def feed_id(slug: str) -> str:
    return uuid.uuid5(ID_NAMESPACE, f"{slug}/feed").urn


@dataclass(frozen=True)
class UpcomingMeeting:
    meeting: Meeting
    agenda_published: bool

    @property
    def when(self) -> str:
        return time_and_place(self.meeting)


@dataclass(frozen=True)
class PublishedAgenda:
    """A sent agenda: the numbered lines as `agenda.agenda_of` gives them."""

    agenda: Agenda
    sent_at: datetime

    @property
    def meeting(self) -> Meeting:
        return self.agenda.meeting

    @property
    def day(self) -> date:
        return self.agenda.meeting.date

    def title(self, group: Group) -> str:
        """ "Dagordning LSVO 12 maj 2023"."""
        return f"Dagordning {short_name(group)} {day_text(self.day)}"


@dataclass(frozen=True)
class MinutesVersion:
    """One approved version of a meeting's minutes; `content` is the stored document."""

    version: int
    reason: str
    content: dict[str, Any]
    first_paragraph: int
    last_paragraph: int
    finalised_at: datetime
    approved_at: datetime

    def document(self) -> MinutesDocument:
        """The stored document, as the minutes' template and PDF take it."""
        return MinutesDocument.model_validate(self.content)

    @property
    def paragraphs(self) -> str:
        """ "§ 23–41", or "§ 23" for a single paragraph."""
        if self.last_paragraph <= self.first_paragraph:
            return f"§ {self.first_paragraph}"
        return f"§ {self.first_paragraph}–{self.last_paragraph}"


@dataclass(frozen=True)
class PublishedMinutes:
    """A meeting's approved minutes: the newest approved version and the earlier ones."""

    meeting: Meeting
    current: MinutesVersion
    earlier: list[MinutesVersion] = field(default_factory=list)  # newest first

    @property
    def day(self) -> date:
        return self.meeting.date

    @property
    def approved_at(self) -> datetime:
        return self.current.approved_at

    def title(self, group: Group) -> str:
        """ "Protokoll LSVO 12 maj 2023"."""
        return f"Protokoll {short_name(group)} {day_text(self.day)}"

    def version(self, number: int) -> MinutesVersion | None:
        """An approved version by its number, the current one included."""
        return next((v for v in (self.current, *self.earlier) if v.version == number), None)


@dataclass(frozen=True)
class BodyPage:
    """Everything public about one body, newest first where it is a history."""

    group: Group
    upcoming: list[UpcomingMeeting]
    agendas: list[PublishedAgenda]
    minutes: list[PublishedMinutes]

    @property
    def slug(self) -> str:
        return self.group.slug

    @property
    def name(self) -> str:
        return self.group.name

    @property
    def short_name(self) -> str:
        return short_name(self.group)

    def agenda_on(self, day: date) -> PublishedAgenda | None:
        return next((a for a in self.agendas if a.day == day), None)

    def minutes_on(self, day: date) -> PublishedMinutes | None:
        return next((m for m in self.minutes if m.day == day), None)

    def has_minutes(self, day: date) -> bool:
        return self.minutes_on(day) is not None

    @property
    def updated(self) -> datetime | None:
        """When anything published last changed: the newest sending or approval."""
        moments = [a.sent_at for a in self.agendas] + [m.approved_at for m in self.minutes]
        return max(moments, default=None)


# --- reading ---------------------------------------------------------------------------


def public_bodies(session: Session) -> list[Group]:
    """The groups that hold meetings, in the groups' order."""
    holds_meetings = exists().where(col(Meeting.group_id) == col(Group.id))
    statement = select(Group).where(holds_meetings).order_by(col(Group.id))
    return list(session.exec(statement).all())


def _public_group(session: Session, slug: str) -> Group:
    group = repository.get_group(session, slug=slug)
    if group is None or group.id is None:
        raise BodyNotFound(slug)
    held = session.exec(select(Meeting.id).where(Meeting.group_id == group.id).limit(1)).first()
    if held is None:
        raise BodyNotFound(slug)
    return group


def published_versions(rows: Iterable[Minutes]) -> list[MinutesVersion]:
    """The approved versions among a meeting's minutes rows, newest first."""
    versions = [
        MinutesVersion(
            version=row.version,
            reason=row.reason,
            content=row.content,
            first_paragraph=row.first_paragraph,
            last_paragraph=row.last_paragraph,
            finalised_at=row.finalised_at,
            approved_at=row.approved_at,
        )
        for row in rows
        if row.approved_at is not None
    ]
    return sorted(versions, key=lambda v: v.version, reverse=True)


def _minutes_by_meeting(session: Session, meeting_ids: Sequence[int]) -> dict[int, list[Minutes]]:
    found: dict[int, list[Minutes]] = {}
    if not meeting_ids:
        return found
    statement = select(Minutes).where(col(Minutes.meeting_id).in_(list(meeting_ids)))
    for row in session.exec(statement).all():
        found.setdefault(row.meeting_id, []).append(row)
    return found


def body_of(session: Session, group: Group, *, today: date) -> BodyPage:
    """A body's public page, read in `session`."""
    meetings = repository.list_meetings(session, group_slug=group.slug, on_or_after=date.min)
    upcoming = [
        UpcomingMeeting(m, m.agenda_sent_at is not None) for m in meetings if m.date >= today
    ]
    agendas: list[PublishedAgenda] = []
    for meeting in meetings:
        if meeting.agenda_sent_at is not None and meeting.id is not None:
            agendas.append(PublishedAgenda(agenda_of(session, meeting.id), meeting.agenda_sent_at))
    rows = _minutes_by_meeting(session, [m.id for m in meetings if m.id is not None])
    minutes: list[PublishedMinutes] = []
    for meeting in meetings:
        versions = published_versions(rows.get(meeting.id or 0, []))
        if versions:
            minutes.append(PublishedMinutes(meeting, versions[0], versions[1:]))
    return BodyPage(
        group=group,
        upcoming=upcoming,
        agendas=sorted(agendas, key=lambda a: a.day, reverse=True),
        minutes=sorted(minutes, key=lambda m: m.day, reverse=True),
    )


def body_page(engine: Engine, slug: str, *, today: date) -> BodyPage:
    """One body's public page; `BodyNotFound` for a slug that is not a body holding meetings."""
    with unit_of_work(engine, write=False) as session:
        return body_of(session, _public_group(session, slug), today=today)


def all_bodies(engine: Engine, *, today: date) -> list[BodyPage]:
    """Every body's public page, in the groups' order (one transaction, one snapshot)."""
    with unit_of_work(engine, write=False) as session:
        return [body_of(session, group, today=today) for group in public_bodies(session)]


@dataclass(frozen=True)
class BodySummary:
    """A body as the list of bodies shows it, without reading its agendas."""

    group: Group
    next_meeting: Meeting | None
    agendas: int
    minutes: int

    @property
    def slug(self) -> str:
        return self.group.slug

    @property
    def name(self) -> str:
        return self.group.name


def body_summaries(engine: Engine, *, today: date) -> list[BodySummary]:
    """Every body with its next meeting and how many agendas and minutes it has published."""
    with unit_of_work(engine, write=False) as session:
        summaries = []
        for group in public_bodies(session):
            meetings = repository.list_meetings(
                session, group_slug=group.slug, on_or_after=date.min
            )
            rows = _minutes_by_meeting(session, [m.id for m in meetings if m.id is not None])
            summaries.append(
                BodySummary(
                    group=group,
                    next_meeting=next((m for m in meetings if m.date >= today), None),
                    agendas=sum(1 for m in meetings if m.agenda_sent_at is not None),
                    minutes=sum(1 for found in rows.values() if published_versions(found)),
                )
            )
        return summaries


def _meeting_on(session: Session, group: Group, day: date) -> Meeting | None:
    statement = select(Meeting).where(Meeting.group_id == group.id, Meeting.date == day)
    return session.exec(statement).first()


def published_agenda(engine: Engine, slug: str, day: date) -> tuple[Group, PublishedAgenda]:
    """The body and its agenda of `day`; `BodyNotFound` or `NotPublished` otherwise."""
    with unit_of_work(engine, write=False) as session:
        group = _public_group(session, slug)
        meeting = _meeting_on(session, group, day)
        if meeting is None or meeting.id is None or meeting.agenda_sent_at is None:
            raise NotPublished(slug, day, AGENDA)
        return group, PublishedAgenda(agenda_of(session, meeting.id), meeting.agenda_sent_at)


def published_minutes(engine: Engine, slug: str, day: date) -> tuple[Group, PublishedMinutes]:
    """The body and its approved minutes of `day`; `BodyNotFound` or `NotPublished` otherwise."""
    with unit_of_work(engine, write=False) as session:
        group = _public_group(session, slug)
        meeting = _meeting_on(session, group, day)
        if meeting is None or meeting.id is None:
            raise NotPublished(slug, day, MINUTES)
        rows = _minutes_by_meeting(session, [meeting.id]).get(meeting.id, [])
        versions = published_versions(rows)
        if not versions:
            raise NotPublished(slug, day, MINUTES)
        return group, PublishedMinutes(meeting, versions[0], versions[1:])


def parse_day(text: str) -> date | None:
    """A date in a public address (2023-05-12), or None for anything else."""
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- addresses ----------------------------------------------------------------------------


class Links(Protocol):
    """Where the public pages of a site are; the web pages and the static export differ."""

    def bodies(self) -> str: ...
    def body(self, slug: str) -> str: ...
    def agenda(self, slug: str, day: date) -> str: ...
    def agenda_pdf(self, slug: str, day: date) -> str: ...
    def minutes(self, slug: str, day: date, version: int | None = None) -> str: ...
    def minutes_pdf(self, slug: str, day: date, version: int | None = None) -> str: ...
    def atom(self, slug: str) -> str: ...
    def ics(self, slug: str) -> str: ...
    def style(self) -> str: ...


@dataclass(frozen=True)
class WebLinks:
    """The application's public addresses, under `root` ("" for paths from the host)."""

    root: str = ""

    def bodies(self) -> str:
        return f"{self.root}/organ"

    def body(self, slug: str) -> str:
        return f"{self.root}/organ/{slug}"

    def agenda(self, slug: str, day: date) -> str:
        return f"{self.root}/organ/{slug}/{AGENDA}/{day.isoformat()}"

    def agenda_pdf(self, slug: str, day: date) -> str:
        return self.agenda(slug, day) + ".pdf"

    def minutes(self, slug: str, day: date, version: int | None = None) -> str:
        path = f"{self.root}/organ/{slug}/{MINUTES}/{day.isoformat()}"
        return path if version is None else f"{path}/v{version}"

    def minutes_pdf(self, slug: str, day: date, version: int | None = None) -> str:
        return self.minutes(slug, day, version) + ".pdf"

    def atom(self, slug: str) -> str:
        return f"{self.root}/organ/{slug}/atom.xml"

    def ics(self, slug: str) -> str:
        return f"{self.root}/kalender/{slug}.ics"

    def style(self) -> str:
        return f"{self.root}/static/style.css"


STYLE_FILE = "stil.css"


@dataclass(frozen=True)
class ExportLinks:
    """The files of a static export: index.html, and per body a directory of its own.

    `prefix` leads from the page (or feed) being written to the export's top: "" for
    index.html, "../" inside a body's directory, or an absolute base address.
    """

    prefix: str = ""

    def bodies(self) -> str:
        return f"{self.prefix}index.html"

    def body(self, slug: str) -> str:
        return f"{self.prefix}{slug}/index.html"

    def agenda(self, slug: str, day: date) -> str:
        return f"{self.prefix}{slug}/{AGENDA}-{day.isoformat()}.html"

    def agenda_pdf(self, slug: str, day: date) -> str:
        return f"{self.prefix}{slug}/{AGENDA}-{day.isoformat()}.pdf"

    def _minutes(self, slug: str, day: date, version: int | None) -> str:
        suffix = "" if version is None else f"-v{version}"
        return f"{self.prefix}{slug}/{MINUTES}-{day.isoformat()}{suffix}"

    def minutes(self, slug: str, day: date, version: int | None = None) -> str:
        return self._minutes(slug, day, version) + ".html"

    def minutes_pdf(self, slug: str, day: date, version: int | None = None) -> str:
        return self._minutes(slug, day, version) + ".pdf"

    def atom(self, slug: str) -> str:
        return f"{self.prefix}{slug}/atom.xml"

    def ics(self, slug: str) -> str:
        return f"{self.prefix}{slug}/{slug}.ics"

    def style(self) -> str:
        return f"{self.prefix}{STYLE_FILE}"


# --- what the page templates get --------------------------------------------------------------


def agenda_context(
    group: Group, published: PublishedAgenda, has_minutes: bool, links: Links
) -> dict[str, object]:
    """What organ_agenda.html shows, on the web and in the static export alike."""
    return {
        "group": group,
        "published": published,
        "time_and_place": time_and_place(published.meeting),
        "has_minutes": has_minutes,
        "links": links,
    }


def minutes_context(
    group: Group,
    published: PublishedMinutes,
    version: MinutesVersion,
    number: int | None,
    links: Links,
) -> dict[str, object]:
    """What organ_minutes.html shows, on the web and in the static export alike."""
    return {
        "group": group,
        "published": published,
        "shown": version,
        "version": number,
        "doc": version.document(),
        "agenda_published": published.meeting.agenda_sent_at is not None,
        "links": links,
    }


# --- the Atom feed ---------------------------------------------------------------------------

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_TYPE = "application/atom+xml"
PUBLISHER = "Samverkan Blekinge"


def rfc3339(moment: datetime) -> str:
    """An aware moment as Atom writes it, in UTC: 2023-05-05T08:00:00Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _link(parent: ET.Element, rel: str, href: str, media_type: str) -> None:
    ET.SubElement(parent, "link", {"rel": rel, "href": href, "type": media_type})


def agenda_summary(published: PublishedAgenda) -> str:
    """The agenda in one paragraph: time and place, then the numbered items."""
    lines = [line.heading for line in published.agenda.lines]
    return f"Kallelse och dagordning: {time_and_place(published.meeting)}. " + "; ".join(lines)


def minutes_summary(published: PublishedMinutes) -> str:
    current = published.current
    text = (
        f"Justerat protokoll från mötet {meeting_day(published.day).lower()}, {current.paragraphs}."
    )
    if current.version > 1:
        text += f" Version {current.version}"
        text += f": {current.reason}" if current.reason else "."
    return text


def atom_feed(body: BodyPage, links: Links, *, now: datetime) -> bytes:
    """The body's published agendas and minutes as an Atom feed (RFC 4287), newest first.

    Ids are name-based urn:uuid (`entry_id`), so an entry keeps its id when the feed moves;
    `updated` is when the agenda was sent out or the minutes' shown version was approved.
    The links are what `links` makes them: absolute for the web application (and for an
    export given a base address), otherwise relative to the feed file, which Atom resolves
    against the feed's own address.
    """
    group = body.group
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: "sv"})
    _text(feed, "id", feed_id(group.slug))
    _text(feed, "title", f"{group.name} – dagordningar och protokoll")
    if group.description:
        _text(feed, "subtitle", group.description)
    _text(feed, "updated", rfc3339(body.updated or now))
    _link(feed, "self", links.atom(group.slug), ATOM_TYPE)
    _link(feed, "alternate", links.body(group.slug), "text/html")
    author = ET.SubElement(feed, "author")
    _text(author, "name", PUBLISHER)
    _text(feed, "generator", "samverkan")
    entries: list[tuple[datetime, ET.Element]] = []
    for agenda in body.agendas:
        entry = ET.Element("entry")
        _text(entry, "id", entry_id(group.slug, agenda.day, AGENDA))
        _text(entry, "title", agenda.title(group))
        _text(entry, "updated", rfc3339(agenda.sent_at))
        _text(entry, "published", rfc3339(agenda.sent_at))
        _link(entry, "alternate", links.agenda(group.slug, agenda.day), "text/html")
        _link(entry, "enclosure", links.agenda_pdf(group.slug, agenda.day), "application/pdf")
        _text(entry, "summary", agenda_summary(agenda))
        entries.append((agenda.sent_at, entry))
    for minutes in body.minutes:
        first = min((minutes.current, *minutes.earlier), key=lambda v: v.version)
        entry = ET.Element("entry")
        _text(entry, "id", entry_id(group.slug, minutes.day, MINUTES))
        _text(entry, "title", minutes.title(group))
        _text(entry, "updated", rfc3339(minutes.approved_at))
        _text(entry, "published", rfc3339(first.approved_at))
        _link(entry, "alternate", links.minutes(group.slug, minutes.day), "text/html")
        _link(entry, "enclosure", links.minutes_pdf(group.slug, minutes.day), "application/pdf")
        _text(entry, "summary", minutes_summary(minutes))
        entries.append((minutes.approved_at, entry))
    for _, entry in sorted(entries, key=lambda pair: pair[0], reverse=True):
        feed.append(entry)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
