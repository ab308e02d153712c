"""Shared database fixtures: every test that takes `engine` runs on SQLite and PostgreSQL.

PostgreSQL is at SAMVERKAN_TEST_POSTGRES_URL (default: the local trust-auth server). Each
PostgreSQL test gets a fresh schema of its own, first on the search path, dropped after.
When the server cannot be reached the PostgreSQL tests are skipped locally, but fail
when the CI environment variable is set, so CI never passes without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from casework.db import make_engine, migrate, normalise_url

POSTGRES_URL = os.environ.get(
    "SAMVERKAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (asked once per test run)."""
    admin = make_engine(make_url(POSTGRES_URL).update_query_dict({"connect_timeout": "3"}))
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"
    finally:
        admin.dispose()
    return None


def _require_postgres() -> None:
    reason = _postgres_unreachable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of a fresh, empty database (not migrated)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "samverkan.db"
        yield f"sqlite:///{path}"
        return
    _require_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = normalise_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh, empty database; disposed after the test."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated_engine(engine: Engine) -> Engine:
    """An engine on a fresh database migrated to the latest schema."""
    migrate(engine)
    return engine
