"""Staff accounts: argon2 passwords, browser sessions and API bearer tokens.

Tokens are random; only their SHA-256 is stored, so a copy of the database signs nobody in.

The identity behind a bearer token or a browser session is cached in this process for
`IDENTITY_CACHE_SECONDS`: a token deleted, a session removed, a user deactivated or a role
taken away in the database by another process keeps working here until then. Changes made
through this module in this process (new users and roles, new tokens, signing out) clear
the cache at once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from casework.db import unit_of_work
from casework.lifecycle import CaseworkError
from casework.model import ApiToken, StaffRole, User, UserRole, WebSession, utcnow

SESSION_LIFETIME = timedelta(hours=12)
# How long a looked-up identity is reused (see the module's docstring), and how many are kept.
IDENTITY_CACHE_SECONDS = 30.0
IDENTITY_CACHE_SIZE = 1024
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


class IdentityCache:
    """Identities by the hash of a token or session, per engine, for a short while."""

    def __init__(self, ttl: float = IDENTITY_CACHE_SECONDS, size: int = IDENTITY_CACHE_SIZE):
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        # engine -> key -> (monotonic time it is good until, identity, session expiry)
        self._entries: weakref.WeakKeyDictionary[
            Engine, OrderedDict[str, tuple[float, Identity, datetime | None]]
        ] = weakref.WeakKeyDictionary()

    def get(self, engine: Engine, key: str, *, now: datetime | None = None) -> Identity | None:
        with self._lock:
            entries = self._entries.get(engine)
            if entries is None or key not in entries:
                return None
            good_until, identity, expires_at = entries[key]
            if good_until < time.monotonic() or (
                expires_at is not None and now is not None and expires_at <= now
            ):
                del entries[key]
                return None
            return identity

    def put(
        self, engine: Engine, key: str, identity: Identity, *, expires_at: datetime | None = None
    ) -> None:
        with self._lock:
            entries = self._entries.setdefault(engine, OrderedDict())
            entries[key] = (time.monotonic() + self.ttl, identity, expires_at)
            entries.move_to_end(key)
            while len(entries) > self.size:
                entries.popitem(last=False)

    def forget(self, engine: Engine, key: str | None = None) -> None:
        """Forget one entry, or all of the engine's entries."""
        with self._lock:
            entries = self._entries.get(engine)
            if entries is None:
                return
            if key is None:
                entries.clear()
            else:
                entries.pop(key, None)


identity_cache = IdentityCache()


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
    identity_cache.forget(engine)
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
    hashed = token_hash(token)
    with unit_of_work(engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == hashed))
    identity_cache.forget(engine, _SESSION_KEY + hashed)


def session_identity(engine: Engine, token: str, *, now: datetime | None = None) -> Identity | None:
    """The identity of an unexpired browser session (cached, see the module's docstring)."""
    now = now or utcnow()
    cached = cached_session_identity(engine, token, now=now)
    if cached is not None:
        return cached
    hashed = token_hash(token)
    statement = (
        sa.select(*_IDENTITY_COLUMNS, col(WebSession.expires_at))
        .select_from(sa.join(WebSession, User, col(User.id) == col(WebSession.user_id)))
        .outerjoin(UserRole, col(UserRole.user_id) == col(User.id))
        .where(col(WebSession.token_hash) == hashed, col(WebSession.expires_at) > now)
    )
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(statement).all()
    identity = _identity_from_rows(rows)
    if identity is not None:
        expires_at: datetime = rows[0][-1]
        identity_cache.put(engine, _SESSION_KEY + hashed, identity, expires_at=expires_at)
    return identity


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
    """The identity of an API bearer token (cached, see the module's docstring)."""
    cached = cached_token_identity(engine, token)
    if cached is not None:
        return cached
    hashed = token_hash(token)
    statement = (
        sa.select(*_IDENTITY_COLUMNS)
        .select_from(sa.join(ApiToken, User, col(User.id) == col(ApiToken.user_id)))
        .outerjoin(UserRole, col(UserRole.user_id) == col(User.id))
        .where(col(ApiToken.token_hash) == hashed)
    )
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(statement).all()
    identity = _identity_from_rows(rows)
    if identity is not None:
        identity_cache.put(engine, _TOKEN_KEY + hashed, identity)
    return identity


def cached_session_identity(
    engine: Engine, token: str, *, now: datetime | None = None
) -> Identity | None:
    """The session's identity if this process looked it up lately; None says nothing."""
    return identity_cache.get(engine, _SESSION_KEY + token_hash(token), now=now or utcnow())


def cached_token_identity(engine: Engine, token: str) -> Identity | None:
    """The bearer token's identity if this process looked it up lately; None says nothing."""
    return identity_cache.get(engine, _TOKEN_KEY + token_hash(token))


_TOKEN_KEY = "token:"
_SESSION_KEY = "session:"
# A user and one role a row (none when the user has no role: the outer join gives NULLs).
_IDENTITY_COLUMNS: tuple[Any, ...] = (
    col(User.id),
    col(User.email),
    col(User.name),
    col(User.active),
    col(UserRole.role),
    col(UserRole.group_slug),
)


def _identity_from_rows(rows: Sequence[Sequence[Any]]) -> Identity | None:
    """The identity of an active user from the rows of a query on `_IDENTITY_COLUMNS`."""
    if not rows:
        return None
    user_id, email, name, active = rows[0][:4]
    if not active:
        return None
    return Identity(
        user_id=user_id,
        email=email,
        name=name,
        roles=frozenset((row[4], row[5]) for row in rows if row[4] is not None),
    )
