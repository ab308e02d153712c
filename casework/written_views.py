"""Written views (skriftliga synpunkter): a member who will miss a meeting writes what they
think of its agenda items, through the private link in the agenda message.

The link is the credential: it names the meeting and the member, and lasts to the end of
the meeting day (Stockholm time). One view per item and member, updated when sent again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import access, repository
from casework.agenda import Agenda, Line, agenda_of
from casework.calendar import local_date
from casework.db import unit_of_work
from casework.lifecycle import CaseworkError
from casework.model import (
    AccessLink,
    AccessPurpose,
    AgendaItem,
    Meeting,
    Member,
    Minutes,
    Organisation,
    WrittenView,
    utcnow,
)
from casework.personnummer import find_identity_numbers, mask

MAX_TEXT = 10_000

IDENTITY_NUMBER = (
    "Texten verkar innehålla ett personnummer ({number}). Skriv synpunkten utan "
    "personuppgifter om enskilda personer."
)
TOO_LONG = f"Skriv högst {MAX_TEXT:,} tecken.".replace(",", "\u00a0")


AFTER_THE_MEETING = (
    "Mötet har redan hållits, så det går inte längre att lämna skriftliga synpunkter. "
    "Kontakta gruppens sekreterare om du har frågor."
)
MINUTES_FINAL = (
    "Protokollet från mötet är fastställt, så det går inte längre att lämna skriftliga "
    "synpunkter. Kontakta gruppens sekreterare om du har frågor."
)


class WrittenViewsClosed(CaseworkError):
    """No more views through this link: the meeting day is over, or the minutes are final.
    `message_sv` says which, in Swedish."""

    def __init__(self, message: str, message_sv: str = AFTER_THE_MEETING) -> None:
        self.message_sv = message_sv
        super().__init__(message)


def closed_reason(session: Session, meeting: Meeting, now: datetime) -> str | None:
    """Why views can no longer be left on `meeting` (Swedish), or None while they can."""
    if local_date(now) > meeting.date:
        return AFTER_THE_MEETING
    finalised = session.exec(select(Minutes.id).where(Minutes.meeting_id == meeting.id)).first()
    return MINUTES_FINAL if finalised is not None else None


class WrittenViewsInvalid(CaseworkError, ValueError):
    """Texts that cannot be stored; `errors` maps an item id to its Swedish message."""

    def __init__(self, errors: Mapping[int, str]) -> None:
        self.errors = dict(errors)
        super().__init__(f"written views refused for items {sorted(self.errors)}")


@dataclass(frozen=True)
class ViewLine:
    """One member's view on an item, as the pages and the minutes show it."""

    member_id: int
    member_name: str
    organisation: str
    text: str
    submitted_at: datetime


@dataclass(frozen=True)
class ItemToViewOn:
    item_id: int
    heading: str


@dataclass(frozen=True)
class ViewsForm:
    """What the member's page shows: the meeting, its items, and the member's own views."""

    agenda: Agenda
    member: Member
    items: list[ItemToViewOn]
    texts: dict[int, str]
    # Why no more views can be left (Swedish), or "" while they can.
    closed: str


def _items(lines: list[Line]) -> list[ItemToViewOn]:
    found: list[ItemToViewOn] = []
    for line in lines:
        if line.item_id is not None:
            found.append(ItemToViewOn(line.item_id, line.heading))
        found.extend(_items(list(line.sub_items)))
    return found


def _link(session: Session, token: str, now: datetime) -> tuple[AccessLink, Member]:
    link = access.link_for_token(session, token, AccessPurpose.written_views, now=now)
    member = session.get(Member, link.member_id) if link.member_id is not None else None
    if member is None or link.meeting_id is None:
        raise access.LinkNotFound("the link names no member or meeting")
    return link, member


def _own_texts(session: Session, meeting_id: int, member_id: int) -> dict[int, str]:
    statement = (
        select(WrittenView.agenda_item_id, WrittenView.text)
        .join(AgendaItem, col(AgendaItem.id) == col(WrittenView.agenda_item_id))
        .where(AgendaItem.meeting_id == meeting_id, WrittenView.member_id == member_id)
    )
    return dict(session.exec(statement).all())


def open_form(engine: Engine, token: str, *, now: datetime | None = None) -> ViewsForm:
    """The member's page behind a link. Raises `access.LinkNotFound` or `access.LinkExpired`."""
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        link, member = _link(session, token, now)
        assert link.meeting_id is not None and member.id is not None
        read = agenda_of(session, link.meeting_id)
        return ViewsForm(
            agenda=read,
            member=member,
            items=_items(read.lines),
            texts=_own_texts(session, link.meeting_id, member.id),
            closed=closed_reason(session, read.meeting, now) or "",
        )


def save_views(
    engine: Engine, token: str, texts: Mapping[int, str], *, now: datetime | None = None
) -> int:
    """Store the member's views (item id → text) in one transaction, audited with the
    member's name as actor; an empty text removes an earlier view. The number of items
    changed. Raises `access.LinkNotFound`, `access.LinkExpired`, `WrittenViewsClosed` or
    `WrittenViewsInvalid`."""
    now = now or utcnow()
    errors: dict[int, str] = {}
    cleaned: dict[int, str] = {}
    for item_id, text in texts.items():
        text = text.replace("\r\n", "\n").strip()
        found = find_identity_numbers(text)
        if found:
            errors[item_id] = IDENTITY_NUMBER.format(number=mask(found[0]))
        elif len(text) > MAX_TEXT:
            errors[item_id] = TOO_LONG
        cleaned[item_id] = text
    with unit_of_work(engine) as session:
        link, member = _link(session, token, now)
        assert link.meeting_id is not None and member.id is not None
        meeting_id = link.meeting_id
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise access.LinkNotFound("the meeting is gone")
        closed = closed_reason(session, meeting, now)
        if closed is not None:
            raise WrittenViewsClosed("no more written views on this meeting", closed)
        if errors:
            raise WrittenViewsInvalid(errors)
        items = {
            item.id: item
            for item in session.exec(
                select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)
            ).all()
        }
        existing = {
            view.agenda_item_id: view
            for view in session.exec(
                select(WrittenView)
                .where(WrittenView.member_id == member.id)
                .where(col(WrittenView.agenda_item_id).in_(list(items)))
                .with_for_update()
            ).all()
        }
        changed = 0
        for item_id, text in cleaned.items():
            item = items.get(item_id)
            if item is None:
                continue  # not an item of this meeting (removed since the page was shown)
            view = existing.get(item_id)
            before = {"text": view.text} if view is not None else None
            if view is None and not text:
                continue
            if view is not None and view.text == text:
                continue
            if not text:
                assert view is not None
                session.delete(view)
            elif view is None:
                session.add(
                    WrittenView(
                        agenda_item_id=item_id, member_id=member.id, text=text, submitted_at=now
                    )
                )
            else:
                view.text = text
                view.submitted_at = now
                session.add(view)
            repository.add_audit_event(
                session,
                case_id=item.case_id,
                actor=member.name[:200],
                action="written_view",
                before=before,
                after={
                    "meeting_id": meeting_id,
                    "agenda_item_id": item_id,
                    "member_id": member.id,
                    "text": text,
                },
                note=f"Skriftliga synpunkter på ”{item.title}”",
                at=now,
            )
            changed += 1
        return changed


def views_by_item(session: Session, meeting_id: int) -> dict[int, list[ViewLine]]:
    """The written views on a meeting's items: agenda item id → the views, by member name."""
    statement = (
        select(WrittenView, Member, Organisation)
        .join(AgendaItem, col(AgendaItem.id) == col(WrittenView.agenda_item_id))
        .join(Member, col(Member.id) == col(WrittenView.member_id))
        .join(Organisation, col(Organisation.id) == col(Member.organisation_id))
        .where(AgendaItem.meeting_id == meeting_id)
        .order_by(col(Member.name), col(WrittenView.id))
    )
    found: dict[int, list[ViewLine]] = defaultdict(list)
    for view, member, organisation in session.exec(statement).all():
        assert member.id is not None
        found[view.agenda_item_id].append(
            ViewLine(member.id, member.name, organisation.name, view.text, view.submitted_at)
        )
    return dict(found)


def load_views(engine: Engine, meeting_id: int) -> dict[int, list[ViewLine]]:
    """`views_by_item` in a transaction of its own."""
    with unit_of_work(engine, write=False) as session:
        return views_by_item(session, meeting_id)


def senders(views: Mapping[int, list[ViewLine]]) -> list[tuple[str, str]]:
    """Who has sent written views (name, organisation), each once, by name."""
    seen = {(v.member_name, v.organisation) for lines in views.values() for v in lines}
    return sorted(seen)
