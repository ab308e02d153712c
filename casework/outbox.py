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

from sqlmodel import Session

from casework.files import store_file
from casework.model import Notification, utcnow
from notifications.messages import render


@dataclass(frozen=True)
class Recipient:
    """Who gets a message: a name and an address (an e-mail address or an Apprise URL)."""

    name: str
    address: str
    member_id: int | None = None


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

    The template sees `context` plus `recipient`. Recipients without an address are
    skipped: they cannot be reached, and the caller decides whether that needs telling.
    """
    rows: list[Notification] = []
    seen: set[str] = set()
    for recipient in recipients:
        address = recipient.address.strip()
        if not address or address.casefold() in seen:
            continue
        seen.add(address.casefold())
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
            not_before=not_before or utcnow(),
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
