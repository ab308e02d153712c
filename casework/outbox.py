"""Writing messages to the notification outbox, inside the caller's transaction.

A use case that causes a message calls `enqueue` with the session it changes the data
in, so the message exists exactly when the change does. Delivery is someone else's job
(the drain in `notifications`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from casework import repository
from casework.access import create_link
from casework.calendar import next_working_moment
from casework.db import DirectSQLite, Executor, connection_of, unit_of_work
from casework.files import store_file
from casework.lifecycle import CaseworkError
from casework.model import AccessPurpose, Case, Member, Notification, NotificationStatus, utcnow
from casework.settings import get_settings
from notifications.messages import render


@dataclass(frozen=True)
class Recipient:
    """Who gets a message: a name and an address (an e-mail address or an Apprise URL)."""

    name: str
    address: str
    member_id: int | None = None


# The messages a member can get, as the preferences page names them.
MEMBER_MESSAGE_KINDS: dict[str, str] = {
    "agenda_sent": "Kallelse och dagordning till mötena (kommer alltid)",
    "documents_reminder": "Påminnelse att läsa underlagen två arbetsdagar före mötet",
    "submission_reminder": "Påminnelse om underlag som saknas, när du är föredragande",
    "agenda_reminder": "Påminnelse att göra klart dagordningen (sekreterare)",
    "agenda_not_approved": "Larm när dagordningen inte är godkänd i tid (ordförande, sekreterare)",
    "stale_triage": "Ärenden som väntar på beredning (beredningsgruppen)",
    "stale_triage_chair": "Ärenden som väntat länge på beredning (beredningsgruppens ordförande)",
    "organisation_request": "Begäran om din organisations ställningstagande eller förankring",
    "organisation_request_reminder": "Påminnelse när din organisation inte har svarat",
    "organisation_request_overdue": "Larm när din organisations svar är försenat",
    "assignment_reminder": "Påminnelse om ett uppdrag du har, fem arbetsdagar före sista dag",
    "assignment_overdue": "Påminnelse när ett uppdrag du har är försenat",
    "assignment_overdue_chair": "Uppdrag som är länge försenade (gruppens ordförande)",
}
MAX_EXTRA_ADDRESSES = 10

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


def _preferences(
    session: Session | None, member_ids: set[int | None]
) -> dict[int | None, Preferences]:
    ids = [i for i in member_ids if i is not None]
    if not ids:
        return {}
    if session is None:
        raise ValueError("messages to members need a session to read their preferences")
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
    recipient_context: Callable[[Recipient], Mapping[str, Any]] | None = None,
) -> list[int]:
    """One outbox row per distinct address, rendered from the `kind` template; their ids.

    The template sees `context` plus `recipient`, and `public_url` from the settings
    unless the context gives it. Recipients without an address are skipped: they cannot
    be reached, and the caller decides whether that needs telling. The rows are written
    with one INSERT, in the caller's transaction.

    `recipient_context`, when given, adds each recipient's own variables (a private
    link, say); it is called only for the rows written.
    """
    rows = message_rows(
        session,
        kind=kind,
        recipients=recipients,
        context=context,
        case_id=case_id,
        meeting_id=meeting_id,
        event_key=event_key,
        not_before=not_before,
        attachments=attachments,
        recipient_context=recipient_context,
    )
    return write_messages(session, rows)


def write_messages(session: Executor, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Write outbox rows (`message_rows`) with one INSERT in the caller's transaction (one
    each in a `DirectSQLite` one); their ids."""
    if not rows:
        return []
    connection = connection_of(session)
    if len(rows) == 1 or isinstance(connection, DirectSQLite):
        return [connection.execute(_INSERT_ONE, row).scalar_one() for row in rows]
    return list(connection.execute(_INSERT_MANY, list(rows)).scalars())


def message_rows(
    session: Session | None,
    *,
    kind: str,
    recipients: Iterable[Recipient],
    context: Mapping[str, Any],
    case_id: int | None = None,
    meeting_id: int | None = None,
    event_key: str | None = None,
    not_before: datetime | None = None,
    attachments: Sequence[Mapping[str, str]] = (),
    recipient_context: Callable[[Recipient], Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows `enqueue` writes, each a dict of the row's columns but its id.

    It reads the recipients' preferences in `session` when they are members (without a
    session there must be none).
    """
    settings = get_settings()
    if "public_url" not in context:
        context = {**context, "public_url": settings.public_url}
    recipients = list(recipients)
    preferences = _preferences(session, {r.member_id for r in recipients if r.member_id})
    now = utcnow()
    when = not_before or now
    files = [dict(item) for item in attachments]
    rows: list[dict[str, Any]] = []
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
        own = recipient_context(recipient) if recipient_context is not None else {}
        message = render(kind, {**context, **own, "recipient": recipient})
        rows.append(
            {
                "kind": kind,
                "event_key": event_key,
                "recipient_name": recipient.name[:200],
                "recipient_address": address,
                "member_id": recipient.member_id,
                "case_id": case_id,
                "meeting_id": meeting_id,
                "subject": message.subject[:300],
                "body_text": message.text,
                "body_html": message.own_html,
                "status": NotificationStatus.pending,
                "not_before": (
                    next_working_moment(when, settings.digest_hour, settings.digest_hour + 1)
                    if digest
                    else when
                ),
                "attempts": 0,
                "last_error": "",
                "created_at": now,
                "digest": digest,
                "attachments": files,
            }
        )
    return rows


_NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
_INSERT_ONE = sa.insert(_NOTIFICATIONS).returning(_NOTIFICATIONS.c.id)
_INSERT_MANY = sa.insert(_NOTIFICATIONS).returning(
    _NOTIFICATIONS.c.id, sort_by_parameter_order=True
)


AGENDA_OF_MEETING = "agenda_of_meeting"


def agenda_attachment(meeting_id: int, group_slug: str, day: date) -> dict[str, str]:
    """The agenda of a meeting as a PDF to send with a message, made when it is sent.

    The PDF is rendered by the drain, outside the transaction that queued the message:
    rendering a hundred agendas inside a sweep's transaction would hold the database's
    write lock for seconds.
    """
    return {
        "filename": f"dagordning-{group_slug}-{day.isoformat()}.pdf",
        "content_type": "application/pdf",
        AGENDA_OF_MEETING: str(meeting_id),
    }


def stored_attachment(
    data_dir: Path, *, filename: str, content_type: str, content: bytes
) -> dict[str, str]:
    """Store a file to send with messages; the result goes in `enqueue(attachments=…)`."""
    _digest, relative = store_file(data_dir, content)
    return {"filename": filename, "content_type": content_type, "path": relative}


def tell_submitter(
    session: Session,
    case: Case,
    kind: str,
    *,
    at: datetime,
    meeting_id: int | None = None,
    event_key: str | None = None,
    **context: Any,
) -> list[int]:
    """A message about `case` to the person who submitted it.

    Each message carries a fresh private link to the case's status page as `case_url`
    (unless the context gives one, as the receipt does with the case's first link).
    """
    message = _to_submitter(session, case, kind, at, meeting_id, event_key, context)
    return enqueue(session, **message)


def submitter_message_rows(
    session: Session | None, case: Case, kind: str, *, at: datetime, **context: Any
) -> list[dict[str, Any]]:
    """The rows `tell_submitter` would write, for a caller that writes them itself.

    Without a session the context must give the `case_url` (as a new case's receipt does),
    and nothing is read from the database.
    """
    return message_rows(session, **_to_submitter(session, case, kind, at, None, None, context))


def _to_submitter(
    session: Session | None,
    case: Case,
    kind: str,
    at: datetime,
    meeting_id: int | None,
    event_key: str | None,
    context: dict[str, Any],
) -> dict[str, Any]:
    if session is None and "case_url" not in context:
        raise ValueError("a message to the submitter needs a session to make its private link")

    def own_link(_recipient: Recipient) -> dict[str, str]:
        if "case_url" in context:
            return {}
        assert case.id is not None and session is not None
        url = create_link(
            session,
            AccessPurpose.case,
            case_id=case.id,
            public_url=context.get("public_url"),
            now=at,
        )
        return {"case_url": url}

    return {
        "kind": kind,
        "recipients": [Recipient(case.submitter_name, case.submitter_email)],
        "context": {"case": case, **context},
        "case_id": case.id,
        "meeting_id": meeting_id,
        "event_key": event_key,
        "not_before": at,
        "recipient_context": own_link,
    }


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


class PreferenceError(CaseworkError, ValueError):
    """Preferences that cannot be stored; `message_sv` says why in Swedish."""

    def __init__(self, message: str, message_sv: str, *, field: str) -> None:
        self.message_sv = message_sv
        self.field = field
        super().__init__(message)


def member_by_email(session: Session, email: str) -> Member | None:
    """The member with this e-mail address (the first, by id, if several share it)."""
    query = select(Member).where(func.lower(Member.email) == email.strip().lower())
    return session.exec(query.order_by(col(Member.id))).first()


def set_preferences(
    engine: Engine,
    member_id: int,
    *,
    kinds: Sequence[str] | None,
    digest: bool,
    addresses: Sequence[str],
    actor: str,
    now: datetime | None = None,
) -> Member:
    """Store which kinds of message a member gets (None: all), digest or not, and their
    other addresses (Apprise URLs); audited."""
    if kinds is not None:
        unknown = sorted(set(kinds) - MEMBER_MESSAGE_KINDS.keys())
        if unknown:
            raise PreferenceError(
                f"unknown message kinds {unknown}: use {', '.join(MEMBER_MESSAGE_KINDS)}",
                "Okänt slag av meddelande.",
                field="kinds",
            )
    cleaned = [a.strip() for a in addresses if a.strip()]
    if len(cleaned) > MAX_EXTRA_ADDRESSES:
        raise PreferenceError(
            f"at most {MAX_EXTRA_ADDRESSES} addresses",
            f"Ange högst {MAX_EXTRA_ADDRESSES} adresser.",
            field="addresses",
        )
    for address in cleaned:
        scheme, separator, rest = address.partition("://")
        if not separator or not scheme.isalnum() or not rest or len(address) > 500:
            raise PreferenceError(
                f"{address[:60]!r} is not an Apprise URL (scheme://…)",
                f"”{address[:60]}” är ingen adress av formen tjänst://… (till exempel "
                "msteams://… eller slack://…). E-post tas emot på din e-postadress.",
                field="addresses",
            )
    now = now or utcnow()
    with unit_of_work(engine) as session:
        member = session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise PreferenceError(
                f"no member with id {member_id}", "Ledamoten finns inte.", field="member"
            )
        before = {
            "kinds": member.notification_kinds,
            "digest": member.digest,
            "addresses": len(member.notification_addresses),
        }
        member.notification_kinds = None if kinds is None else sorted(set(kinds))
        member.digest = digest
        member.notification_addresses = cleaned
        session.add(member)
        repository.add_audit_event(
            session,
            case_id=None,
            actor=actor,
            action="notification_preferences",
            before=before,
            # The addresses may carry secrets (webhook tokens): only their number is kept.
            after={
                "member_id": member.id,
                "kinds": member.notification_kinds,
                "digest": digest,
                "addresses": len(cleaned),
            },
            at=now,
        )
        return member
