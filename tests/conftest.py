"""Shared database fixtures: every test that takes `engine` runs on SQLite and PostgreSQL.

PostgreSQL is at SAMVERKAN_TEST_POSTGRES_URL (default: the local trust-auth server). Each
PostgreSQL test gets a fresh schema of its own, first on the search path, dropped after.
When the server cannot be reached the PostgreSQL tests are skipped locally, but fail
when the CI environment variable is set, so CI never passes without them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from casework import accounts
from casework.db import make_engine, migrate, normalise_url
from casework.model import StaffRole
from casework.settings import Settings

POSTGRES_URL = os.environ.get(
    "SAMVERKAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def wait_until(
    condition: Callable[[], object], what: str, *, timeout: float = 10, interval: float = 0.05
) -> None:
    """Wait for `condition()` to be true, asking every `interval` seconds; fail naming
    `what` if it is not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


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


@pytest.fixture
def seeded_engine(migrated_engine: Engine) -> Engine:
    """A migrated database holding the Samverkan Blekinge bodies and LSVO's members."""
    from casework.db import unit_of_work
    from casework.seed import seed

    with unit_of_work(migrated_engine) as session:
        seed(session)
    return migrated_engine


@pytest.fixture
def statements(seeded_engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent through `seeded_engine` (their first 60 characters, spaces
    collapsed), as they are sent."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split())[:60])

    event.listen(seeded_engine, "before_cursor_execute", record)
    yield sent
    event.remove(seeded_engine, "before_cursor_execute", record)


@pytest.fixture
def web_settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    """Settings for a test application: its own data directory, a generous rate limit."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        submissions_per_minute=1000,
    )


@pytest.fixture
def web_app(seeded_engine: Engine, web_settings: Settings) -> FastAPI:
    """The web application on a seeded database, SQLite or PostgreSQL."""
    from casework.web.app import create_app

    return create_app(engine=seeded_engine, settings=web_settings)


@pytest.fixture
def client(web_app: FastAPI) -> Iterator[TestClient]:
    """A client over HTTPS, so that the Secure cookies are sent back."""
    with TestClient(web_app, base_url="https://testserver") as client:
        yield client


STAFF_PASSWORD = "ett långt lösenord 2026"


@dataclass(frozen=True)
class StaffUser:
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _staff(engine: Engine, email: str, role: StaffRole, group: str | None = None) -> StaffUser:
    accounts.create_user(engine, email=email, password=STAFF_PASSWORD, role=role, group=group)
    return StaffUser(email, STAFF_PASSWORD, accounts.issue_api_token(engine, email=email))


@pytest.fixture
def beredning(seeded_engine: Engine) -> StaffUser:
    """A member of the preparation group, who triages."""
    return _staff(seeded_engine, "beredning@example.se", StaffRole.beredning)


@pytest.fixture
def member(seeded_engine: Engine) -> StaffUser:
    """A member who reads cases but may not triage them."""
    return _staff(seeded_engine, "ledamot@example.se", StaffRole.member)


def csrf(client: TestClient) -> str:
    """The CSRF token, as a form on any page carries it."""
    from casework.web.deps import CSRF_COOKIE

    if CSRF_COOKIE not in client.cookies:
        client.get("/logga-in")
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


def sign_in(client: TestClient, user: StaffUser, *, next_path: str = "") -> Response:
    """Sign `user` in through the sign-in form; the redirect it answers with."""
    response = client.post(
        "/logga-in",
        data={"email": user.email, "password": user.password, "next": next_path,
              "csrf_token": csrf(client)},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    return response


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """`app` served by a real uvicorn on a free loopback port, in a thread; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        thread.join(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
