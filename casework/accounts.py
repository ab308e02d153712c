"""Staff accounts: argon2 passwords, browser sessions and API bearer tokens.

Tokens are random; only their SHA-256 is stored, so a copy of the database signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from casework.db import unit_of_work
from casework.lifecycle import CaseworkError
from casework.model import ApiToken, StaffRole, User, UserRole, WebSession, utcnow

SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a wrong address takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(CaseworkError):
    """A staff account could not be created or used as asked."""


@dataclass(frozen=True)
class Identity:
    """Who is signed in and what they may do."""

    user_id: int
    email: str
    name: str
    roles: frozenset[tuple[StaffRole, str | None]]

    def has(self, *roles: StaffRole, group: str | None = None) -> bool:
        """True for an admin, or for any of `roles` (for `group`, when one is given)."""
        for role, role_group in self.roles:
            if role is StaffRole.admin:
                return True
            if role in roles and (group is None or role_group in (None, group)):
                return True
        return False

    @property
    def is_staff(self) -> bool:
        return bool(self.roles)

    @property
    def label(self) -> str:
        return self.name or self.email


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A URL-safe random token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    engine: Engine,
    *,
    email: str,
    password: str,
    role: StaffRole,
    group: str | None = None,
    name: str = "",
) -> User:
    """Create a staff user with one role, or add the role to an existing user."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"not an e-mail address: {email!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if role in (StaffRole.secretary, StaffRole.chair) and group is None:
        raise AccountError(f"the role {role} needs --group: which group's {role}?")
    with unit_of_work(engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            user = User(email=email, name=name, password_hash=_hasher.hash(password))
            session.add(user)
            session.flush()
        else:
            user.password_hash = _hasher.hash(password)
            if name:
                user.name = name
            session.add(user)
        assert user.id is not None
        exists = session.exec(
            select(UserRole).where(
                UserRole.user_id == user.id, UserRole.role == role, UserRole.group_slug == group
            )
        ).first()
        if exists is None:
            session.add(UserRole(user_id=user.id, role=role, group_slug=group))
    return user


def _identity(session: Session, user: User) -> Identity:
    assert user.id is not None
    roles = session.exec(select(UserRole).where(UserRole.user_id == user.id)).all()
    return Identity(
        user_id=user.id,
        email=user.email,
        name=user.name,
        roles=frozenset((r.role, r.group_slug) for r in roles),
    )


def authenticate(engine: Engine, *, email: str, password: str) -> Identity | None:
    """The identity for a correct e-mail and password, otherwise None."""
    with unit_of_work(engine) as session:
        user = session.exec(select(User).where(User.email == normalise_email(email))).first()
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.active:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
            session.add(user)
        return _identity(session, user)


def start_session(engine: Engine, *, user_id: int, now: datetime | None = None) -> str:
    """A new browser session; returns the token for the cookie."""
    now = now or utcnow()
    token = new_token()
    with unit_of_work(engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
        session.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user_id,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token


def end_session(engine: Engine, token: str) -> None:
    with unit_of_work(engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash(token)))


def session_identity(engine: Engine, token: str, *, now: datetime | None = None) -> Identity | None:
    now = now or utcnow()
    with unit_of_work(engine) as session:
        found = session.exec(
            select(WebSession, User)
            .join(User, col(User.id) == col(WebSession.user_id))
            .where(WebSession.token_hash == token_hash(token), WebSession.expires_at > now)
        ).first()
        if found is None or not found[1].active:
            return None
        return _identity(session, found[1])


def issue_api_token(engine: Engine, *, email: str) -> str:
    """A new API bearer token for the user; printed once, stored only as a hash."""
    token = new_token()
    with unit_of_work(engine) as session:
        user = session.exec(select(User).where(User.email == normalise_email(email))).first()
        if user is None:
            raise AccountError(
                f"no user with e-mail {email!r}: create it with 'samverkan users add'"
            )
        assert user.id is not None
        session.add(ApiToken(user_id=user.id, token_hash=token_hash(token)))
    return token


def token_identity(engine: Engine, token: str) -> Identity | None:
    with unit_of_work(engine) as session:
        found = session.exec(
            select(User)
            .join(ApiToken, col(ApiToken.user_id) == col(User.id))
            .where(ApiToken.token_hash == token_hash(token))
        ).first()
        if found is None or not found.active:
            return None
        return _identity(session, found)
