"""The identity behind a bearer token or a session is cached per process for a short while."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from casework import accounts
from casework.model import StaffRole

PASSWORD = "correct horse battery"


def test_a_token_identity_is_reused_until_the_cache_is_cleared(migrated_engine: Engine) -> None:
    accounts.create_user(
        migrated_engine, email="a@example.se", password=PASSWORD, role=StaffRole.member
    )
    token = accounts.issue_api_token(migrated_engine, email="a@example.se")
    identity = accounts.token_identity(migrated_engine, token)
    assert identity is not None and identity.has(StaffRole.member)
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM api_tokens"))
    # Deleted behind the cache's back, as another process would: still known here.
    assert accounts.token_identity(migrated_engine, token) == identity
    accounts.identity_cache.forget(migrated_engine)
    assert accounts.token_identity(migrated_engine, token) is None


def test_a_role_added_in_this_process_applies_at_once(migrated_engine: Engine) -> None:
    accounts.create_user(
        migrated_engine, email="b@example.se", password=PASSWORD, role=StaffRole.member
    )
    token = accounts.issue_api_token(migrated_engine, email="b@example.se")
    identity = accounts.token_identity(migrated_engine, token)
    assert identity is not None and not identity.has(StaffRole.beredning)
    accounts.create_user(
        migrated_engine, email="b@example.se", password=PASSWORD, role=StaffRole.beredning
    )
    identity = accounts.token_identity(migrated_engine, token)
    assert identity is not None and identity.has(StaffRole.beredning)


def test_signing_out_forgets_the_session_at_once(migrated_engine: Engine) -> None:
    user = accounts.create_user(
        migrated_engine, email="c@example.se", password=PASSWORD, role=StaffRole.member
    )
    assert user.id is not None
    session = accounts.start_session(migrated_engine, user_id=user.id)
    assert accounts.session_identity(migrated_engine, session) is not None
    accounts.end_session(migrated_engine, session)
    assert accounts.session_identity(migrated_engine, session) is None


def test_a_cached_session_still_expires(migrated_engine: Engine) -> None:
    user = accounts.create_user(
        migrated_engine, email="d@example.se", password=PASSWORD, role=StaffRole.member
    )
    assert user.id is not None
    session = accounts.start_session(migrated_engine, user_id=user.id)
    assert accounts.session_identity(migrated_engine, session) is not None
    later = accounts.utcnow() + accounts.SESSION_LIFETIME
    assert accounts.session_identity(migrated_engine, session, now=later) is None


def test_entries_expire_and_the_cache_is_bounded(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = accounts.IdentityCache(ttl=30, size=2)
    someone = accounts.Identity(user_id=1, email="e@example.se", name="", roles=frozenset())
    clock = [1000.0]
    monkeypatch.setattr(accounts.time, "monotonic", lambda: clock[0])
    for key in ("a", "b", "c"):
        cache.put(migrated_engine, key, someone)
    assert cache.get(migrated_engine, "a") is None  # the oldest went
    assert cache.get(migrated_engine, "c") == someone
    clock[0] += 31
    assert cache.get(migrated_engine, "c") is None
