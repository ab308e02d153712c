"""Private links sent in messages: a random token in the address, its SHA-256 in the database.

A submitter follows a case, and a member leaves written views on a meeting's items,
without an account: the link is the credential. Each message gets a fresh link
(`AccessLink`), so no token ever has to be kept readable; the first link of a case is
still `Case.access_token_hash`, given in the receipt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from casework import repository
from casework.calendar import STOCKHOLM
from casework.lifecycle import CaseworkError
from casework.model import AccessLink, AccessPurpose, Case, utcnow
from casework.settings import get_settings

# The page each kind of link opens, under the public address.
PATHS: dict[AccessPurpose, str] = {
    AccessPurpose.case: "/s/",
    AccessPurpose.written_views: "/synpunkter/",
    AccessPurpose.organisation_request: "/svar/",
}
# Tokens as `secrets.token_urlsafe(32)` writes them are 43 characters; anything far off
# is not looked up at all.
TOKEN_LENGTHS = range(20, 101)


def token_hash(token: str) -> str:
    """The SHA-256 of a token, as it is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(
    session: Session,
    purpose: AccessPurpose,
    *,
    case_id: int | None = None,
    meeting_id: int | None = None,
    member_id: int | None = None,
    expires_at: datetime | None = None,
    public_url: str | None = None,
    now: datetime | None = None,
) -> str:
    """A fresh private link of `purpose`, stored (as a hash) in the caller's transaction;
    its full address under `public_url` (from the settings unless given)."""
    if purpose is AccessPurpose.case and case_id is None:
        raise ValueError("a link to a case needs its case_id")
    if purpose is AccessPurpose.written_views and (meeting_id is None or member_id is None):
        raise ValueError("a link for written views needs a meeting_id and a member_id")
    token = secrets.token_urlsafe(32)
    session.add(
        AccessLink(
            token_hash=token_hash(token),
            purpose=purpose,
            case_id=case_id,
            meeting_id=meeting_id,
            member_id=member_id,
            created_at=now or utcnow(),
            expires_at=expires_at,
        )
    )
    return link_url(purpose, token, public_url=public_url)


def link_url(purpose: AccessPurpose, token: str, *, public_url: str | None = None) -> str:
    """The full address of a private link with `token`."""
    base = get_settings().public_url if public_url is None else public_url.rstrip("/")
    return f"{base}{PATHS[purpose]}{token}"


def end_of_day(day: date) -> datetime:
    """The first moment after `day` in Stockholm: when a link valid for that day expires."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=STOCKHOLM)


class LinkNotFound(CaseworkError, LookupError):
    """No link with this token (or one for something else)."""


class LinkExpired(CaseworkError):
    """The link was real but its time is over."""

    def __init__(self, expired_at: datetime) -> None:
        self.expired_at = expired_at
        super().__init__(f"the link expired at {expired_at.isoformat()}")


@dataclass(frozen=True)
class CaseAccess:
    """The case a token opens, and the `AccessLink` it came through (None: the receipt's)."""

    case: Case
    link: AccessLink | None


def case_for_token(session: Session, token: str, *, now: datetime | None = None) -> CaseAccess:
    """The case behind a private link: the receipt's (`Case.access_token_hash`) or one sent
    in a later message (`AccessLink`, purpose case). Two lookups on unique indexes; the
    stored hash is compared in constant time. Raises `LinkNotFound` or `LinkExpired`."""
    if len(token) not in TOKEN_LENGTHS:
        raise LinkNotFound("no such link")
    wanted = token_hash(token)
    case = repository.get_case_by_access_token_hash(session, token_hash=wanted)
    if case is not None and hmac.compare_digest(case.access_token_hash or "", wanted):
        return CaseAccess(case, None)
    statement = (
        select(Case, AccessLink)
        .join(AccessLink, AccessLink.case_id == Case.id)  # type: ignore[arg-type]
        .where(AccessLink.token_hash == wanted, AccessLink.purpose == AccessPurpose.case)
    )
    row = session.exec(statement).first()
    if row is None or not hmac.compare_digest(row[1].token_hash, wanted):
        raise LinkNotFound("no such link")
    found, link = row
    _check_expiry(link, now)
    return CaseAccess(found, link)


def link_for_token(
    session: Session, token: str, purpose: AccessPurpose, *, now: datetime | None = None
) -> AccessLink:
    """The `AccessLink` of `purpose` behind a token. Raises `LinkNotFound` or `LinkExpired`."""
    if len(token) not in TOKEN_LENGTHS:
        raise LinkNotFound("no such link")
    wanted = token_hash(token)
    link = session.exec(
        select(AccessLink).where(AccessLink.token_hash == wanted, AccessLink.purpose == purpose)
    ).first()
    if link is None or not hmac.compare_digest(link.token_hash, wanted):
        raise LinkNotFound("no such link")
    _check_expiry(link, now)
    return link


def _check_expiry(link: AccessLink, now: datetime | None) -> None:
    if link.expires_at is not None and link.expires_at <= (now or utcnow()):
        raise LinkExpired(link.expires_at)
