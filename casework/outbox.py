"""Writing messages to the notification outbox, inside the caller's transaction.

A use case that causes a message calls `enqueue` with the session it changes the data
in, so the message exists exactly when the change does. Delivery is someone else's job
(the drain in `notifications`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import repository
from casework.calendar import next_working_moment
from casework.db import unit_of_work
from casework.files import store_file
from casework.lifecycle import CaseworkError
from casework.model import Case, Member, Notification, NotificationStatus, utcnow
from casework.settings import get_settings
from notifications.messages import render


@dataclass(frozen=True)
class Recipient:
    """Who gets a message: a name and an address (an e-mail address or an Apprise URL)."""

    name: str
    address: str
    member_id: int | None = None


# Kinds a member cannot opt out of: the formal notice of a meeting.
MANDATORY_KINDS = frozenset({"agenda_sent"})
# Kinds never held for a digest.
IMMEDIATE_KINDS = frozenset({"test"})


@dataclass(frozen=True)
class Preferences:
    kinds: frozenset[str] | None
    digest: bool

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds or kind in MANDATORY_KINDS


def _preferences(session: Session, member_ids: set[int | None]) -> dict[int | None, Preferences]:
    ids = [i for i in member_ids if i is not None]
    if not ids:
        return {}
    query = select(Member.id, Member.notification_kinds, Member.digest).where(
        col(Member.id).in_(ids)
    )
    return {
        member_id: Preferences(None if kinds is None else frozenset(kinds), digest)
        for member_id, kinds, digest in session.exec(query).all()
    }


def member_recipients(member: Member) -> list[Recipient]:
    """Everywhere a member is reached: their e-mail and their other Apprise addresses."""
    addresses = [member.email or "", *member.notification_addresses]
    return [Recipient(member.name, a.strip(), member.id) for a in addresses if a.strip()]


def enqueue(
    session: Session,
    *,
    kind: str,
    recipients: Iterable[Recipient],
    context: Mapping[str, Any],
    case_id: int | None = None,
    meeting_id: int | None = None,
    event_key: str | None = None,
    not_before: datetime | None = None,
    attachments: Sequence[Mapping[str, str]] = (),
) -> list[Notification]:
    """One outbox row per distinct address, rendered from the `kind` template.

    The template sees `context` plus `recipient`, and `public_url` from the settings
    unless the context gives it. Recipients without an address are skipped: they cannot
    be reached, and the caller decides whether that needs telling.
    """
    settings = get_settings()
    if "public_url" not in context:
        context = {**context, "public_url": settings.public_url}
    recipients = list(recipients)
    preferences = _preferences(session, {r.member_id for r in recipients if r.member_id})
    when = not_before or utcnow()
    rows: list[Notification] = []
    seen: set[str] = set()
    for recipient in recipients:
        address = recipient.address.strip()
        if not address or address.casefold() in seen:
            continue
        seen.add(address.casefold())
        chosen = preferences.get(recipient.member_id)
        if chosen is not None and not chosen.wants(kind):
            continue
        digest = chosen is not None and chosen.digest and kind not in IMMEDIATE_KINDS
        message = render(kind, {**context, "recipient": recipient})
        row = Notification(
            kind=kind,
            event_key=event_key,
            recipient_name=recipient.name[:200],
            recipient_address=address,
            member_id=recipient.member_id,
            case_id=case_id,
            meeting_id=meeting_id,
            subject=message.subject[:300],
            body_text=message.text,
            body_html=message.html,
            not_before=(
                next_working_moment(when, settings.digest_hour, settings.digest_hour + 1)
                if digest
                else when
            ),
            digest=digest,
            attachments=[dict(item) for item in attachments],
        )
        session.add(row)
        rows.append(row)
    return rows


def stored_attachment(
    data_dir: Path, *, filename: str, content_type: str, content: bytes
) -> dict[str, str]:
    """Store a file to send with messages; the result goes in `enqueue(attachments=…)`."""
    _digest, relative = store_file(data_dir, content)
    return {"filename": filename, "content_type": content_type, "path": relative}


def tell_submitter(
    session: Session, case: Case, kind: str, *, at: datetime, **context: Any
) -> list[Notification]:
    """A message about `case` to the person who submitted it."""
    return enqueue(
        session,
        kind=kind,
        recipients=[Recipient(case.submitter_name, case.submitter_email)],
        context={"case": case, **context},
        case_id=case.id,
        not_before=at,
    )


class NotificationNotFound(CaseworkError, LookupError):
    def __init__(self, notification_id: int) -> None:
        self.notification_id = notification_id
        super().__init__(f"no message with id {notification_id}")


def send_again(
    engine: Engine, notification_id: int, *, actor: str, now: datetime | None = None
) -> Notification:
    """Give an unsent message a fresh set of attempts, due at once (the secretary's action)."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        row = session.get(Notification, notification_id, with_for_update=True)
        if row is None:
            raise NotificationNotFound(notification_id)
        if row.status == NotificationStatus.sent:
            return row
        before = {"status": row.status.value, "attempts": row.attempts}
        row.status = NotificationStatus.pending
        row.attempts = 0
        row.not_before = now
        row.claimed_until = None
        session.add(row)
        repository.add_audit_event(
            session,
            case_id=row.case_id,
            actor=actor,
            action="resend",
            before=before,
            after={"notification": row.id, "status": row.status.value},
            note=f"{row.kind} till {row.recipient_name or row.recipient_address}",
            at=now,
        )
        return row
