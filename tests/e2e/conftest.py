"""A real Chromium against the real application, served by uvicorn on a free loopback port.

The browser is Debian's `chromium` package (Playwright's own browser download does not
work on the development and CI machines). Without it the tests are skipped locally and
fail in CI, so CI never passes without having driven a browser.

The application runs with its production defaults, Secure cookies included: Chromium
accepts and sends Secure cookies to http://127.0.0.1, so sign-in and CSRF work as they do
over HTTPS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from conftest import served
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import Engine

from casework import accounts, demo
from casework.bootstrap import open_database
from casework.calendar import STOCKHOLM
from casework.model import StaffRole
from casework.settings import Settings
from casework.web.app import create_app

CHROMIUM = Path(os.environ.get("SAMVERKAN_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAFF_EMAIL = "beredning@e2e.example"
STAFF_PASSWORD = "ett långt lösenord för webbläsaren"


@dataclass(frozen=True)
class LiveApp:
    """The served application: its address, database and a triaging staff user."""

    url: str
    engine: Engine
    staff_email: str
    staff_password: str


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        reason = (
            f"no Chromium at {CHROMIUM}: install Debian's package "
            "(apt-get install --no-install-recommends chromium) or set SAMVERKAN_TEST_CHROMIUM"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    """The application on a fresh SQLite database with the bodies, a year of meetings and
    a preparation-group user, served by uvicorn in a thread."""
    data_dir = tmp_path / "data"
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'samverkan.db'}",
        submissions_per_minute=1000,
    )
    engine = open_database(settings.database_url)
    demo.plan_meetings(engine, after=datetime.now(STOCKHOLM).date())
    accounts.create_user(
        engine,
        email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        role=StaffRole.beredning,
        name="Beredningsgruppen",
    )
    try:
        with served(create_app(engine=engine, settings=settings)) as url:
            yield LiveApp(url, engine, STAFF_EMAIL, STAFF_PASSWORD)
    finally:
        engine.dispose()


# The pages' own waits (10 s) and `expect`'s (5 s by default) alike: a page that renders
# a PDF can take longer than that on a busy machine.
expect.set_options(timeout=10_000)


def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    """A page in a context of its own: its own cookies, as another person's browser."""
    context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    return context, context.new_page()


@pytest.fixture
def submitter(browser: Browser) -> Iterator[Page]:
    """The browser of the person who submits a case."""
    context, page = new_page(browser)
    yield page
    context.close()


@pytest.fixture
def staff(browser: Browser) -> Iterator[Page]:
    """The browser of a member of the preparation group."""
    context, page = new_page(browser)
    yield page
    context.close()
