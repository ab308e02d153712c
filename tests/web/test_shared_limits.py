"""Every web process on one database shares the submission limit and the sign-in throttle.

Two applications, each with its own engine (its own connection pool) on the same
database, stand for two web processes behind a reverse proxy; the last test starts two
real `samverkan serve` processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import StaffUser, csrf
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import select

from casework.db import make_engine, unit_of_work
from casework.model import Case, RateWindow
from casework.settings import Settings
from casework.web.app import create_app

SUBMISSION = {
    "title": "Trygg och säker utskrivning",
    "description": "Rutinen för utskrivning till hemsjukvården behöver ses över.",
    "kind": "I/D",
    "target_groups": ["aldre"],
    "submitter_name": "Anna Andersson",
    "submitter_email": "anna.andersson@example.se",
    "submitter_organisation": "Ronneby kommun",
}
FORM = {
    "title": "Gemensam rutin vid demens",
    "description": "Samordningen kring personer med demens behöver en gemensam rutin.",
    "kind": ["beslut"],
    "target_groups": ["vet_ej"],
    "requests_resources": "nej",
    "county_wide": "nej",
    "deviation": "nej",
    "recurring": "nej",
    "municipalities_only": "nej",
    "submitter_name": "Anna Andersson",
    "submitter_email": "anna.andersson@example.se",
    "submitter_organisation": "Ronneby kommun",
    "action": "submit",
}
NO_FILE = [("attachments", ("", b"", "application/octet-stream"))]


def cases(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as session:
        return session.exec(select(func.count()).select_from(Case)).one()


@pytest.fixture
def two_clients(
    seeded_engine: Engine, web_settings: Settings, database_url: str
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two applications on the same database, two submissions a minute per client."""
    settings = web_settings.model_copy(update={"submissions_per_minute": 2})
    other_engine = make_engine(database_url)
    first = create_app(engine=seeded_engine, settings=settings)
    second = create_app(engine=other_engine, settings=settings)
    try:
        with (
            TestClient(first, base_url="https://testserver") as one,
            TestClient(second, base_url="https://testserver") as two,
        ):
            yield one, two
    finally:
        other_engine.dispose()


def test_two_processes_share_the_api_submission_limit(
    two_clients: tuple[TestClient, TestClient], seeded_engine: Engine, beredning: StaffUser
) -> None:
    one, two = two_clients
    assert one.post("/api/cases", json=SUBMISSION).status_code == 201
    assert two.post("/api/cases", json=SUBMISSION).status_code == 201
    for client in (one, two):
        refused = client.post("/api/cases", json=SUBMISSION)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert "wait a minute" in refused.json()["detail"]
    # Staff with a token are not limited, in either process.
    staff = [c.post("/api/cases", json=SUBMISSION, headers=beredning.headers) for c in (one, two)]
    assert [r.status_code for r in staff] == [201, 201]
    assert cases(seeded_engine) == 4
    with unit_of_work(seeded_engine, write=False) as session:
        windows = session.exec(select(RateWindow)).all()
    # One window a minute: two when the minute turned between the submissions.
    assert {window.key for window in windows} == {windows[0].key}
    assert windows[0].key.startswith("submission:") and "testclient" not in windows[0].key
    assert sum(window.hits for window in windows) == 2


def test_the_form_and_the_api_of_two_processes_count_together(
    two_clients: tuple[TestClient, TestClient], seeded_engine: Engine
) -> None:
    one, two = two_clients
    stored = one.post(
        "/", data={"csrf_token": csrf(one), **FORM}, files=NO_FILE, follow_redirects=False
    )
    assert stored.status_code == 303, stored.text
    assert two.post("/api/cases", json=SUBMISSION).status_code == 201

    refused = two.post(
        "/", data={"csrf_token": csrf(two), **FORM}, files=NO_FILE, follow_redirects=False
    )
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert "För många anmälningar på kort tid" in refused.text
    # A form with mistakes is answered as usual and does not use up anything.
    invalid = one.post("/", data={"csrf_token": csrf(one), **FORM, "title": ""}, files=NO_FILE)
    assert invalid.status_code == 422
    with_file = one.post(
        "/",
        data={"csrf_token": csrf(one), **FORM},
        files=[("attachments", ("rutin.pdf", b"%PDF-1.4 rutin", "application/pdf"))],
        follow_redirects=False,
    )
    assert with_file.status_code == 429
    assert cases(seeded_engine) == 2


def _sign_in(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post(
        "/logga-in",
        data={"email": email, "password": password, "csrf_token": csrf(client)},
        follow_redirects=False,
    )


def test_two_processes_share_the_sign_in_throttle(
    two_clients: tuple[TestClient, TestClient], beredning: StaffUser
) -> None:
    one, two = two_clients
    for attempt in range(5):
        client = (one, two)[attempt % 2]
        assert _sign_in(client, beredning.email, "fel lösenord!!").status_code == 400
    for client in (one, two):
        blocked = _sign_in(client, beredning.email, beredning.password)
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "900"
        assert "För många misslyckade inloggningar med den här e-postadressen" in blocked.text
    # Another address from the same client is not held up by them.
    assert _sign_in(one, "ingen@example.se", "fel lösenord!!").status_code == 400


def test_a_successful_sign_in_clears_the_failures_for_every_process(
    two_clients: tuple[TestClient, TestClient], beredning: StaffUser
) -> None:
    one, two = two_clients
    for _ in range(4):
        assert _sign_in(one, beredning.email, "fel lösenord!!").status_code == 400
    assert _sign_in(two, beredning.email, beredning.password).status_code == 303
    for _ in range(4):
        assert _sign_in(one, beredning.email, "fel lösenord!!").status_code == 400
    # Eight failures in all, but the success between them cleared the first four.
    assert _sign_in(two, beredning.email, beredning.password).status_code == 303


# --- two real processes ------------------------------------------------------------------------

SAMVERKAN = Path(sys.executable).parent / "samverkan"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAMVERKAN_"))}
    env |= {
        "SAMVERKAN_DATABASE_URL": database_url,
        "SAMVERKAN_DATA_DIR": str(data_dir),
        "SAMVERKAN_SUBMISSIONS_PER_MINUTE": "3",
    }
    process = subprocess.Popen(
        [str(SAMVERKAN), "serve", "--no-flows", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def _wait_until_alive(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "samverkan serve stopped"
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("samverkan serve did not start")


def test_two_real_web_processes_share_one_limit(
    seeded_engine: Engine, database_url: str, tmp_path: Path
) -> None:
    started = [_start(database_url, tmp_path / "data") for _ in range(2)]
    try:
        for process, url in started:
            _wait_until_alive(url, process)
        urls = [url for _, url in started]
        statuses: list[Any] = []
        for attempt in range(6):
            answer = httpx.post(f"{urls[attempt % 2]}/api/cases", json=SUBMISSION, timeout=30)
            statuses.append(answer.status_code)
        assert statuses == [201, 201, 201, 429, 429, 429]
    finally:
        for process, _ in started:
            process.send_signal(signal.SIGTERM)
        for process, _ in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert cases(seeded_engine) == 3
