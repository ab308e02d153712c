"""Request bodies are capped while they arrive: nothing oversized is spooled or stored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import csrf, served
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import func, select

from casework.db import unit_of_work
from casework.model import Case
from casework.settings import Settings
from casework.web.app import FORM_TEXT_ROOM, create_app


@pytest.fixture
def small_app(seeded_engine: Engine, web_settings: Settings) -> FastAPI:
    settings = web_settings.model_copy(update={"max_upload_bytes": 1000, "max_attachments": 1})
    return create_app(engine=seeded_engine, settings=settings)


LIMIT = 1000 + FORM_TEXT_ROOM


def _cases(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(Case)).one()


def test_a_declared_oversized_body_is_refused_before_it_is_read(
    small_app: FastAPI, seeded_engine: Engine
) -> None:
    with TestClient(small_app, base_url="https://testserver") as client:
        token = csrf(client)
        response = client.post(
            "/",
            data={"csrf_token": token, "title": "Stor"},
            files=[("attachments", ("stor.pdf", b"%PDF-" + b"0" * LIMIT, "application/pdf"))],
        )
    assert response.status_code == 413
    assert "Det du skickade är för stort." in response.text
    assert "x-content-type-options" in response.headers  # the security headers still apply
    assert _cases(seeded_engine) == 0


def test_the_api_says_so_in_json(small_app: FastAPI) -> None:
    with TestClient(small_app, base_url="https://testserver") as client:
        response = client.post(
            "/api/cases",
            content=b"{" + b" " * LIMIT + b"}",
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("request body larger than")


def test_a_streamed_body_without_a_length_is_cut_off(
    small_app: FastAPI, seeded_engine: Engine
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 65536 + 4):
            yield b"0" * 65536

    with served(small_app) as url:
        response = httpx.post(
            f"{url}/api/cases",
            content=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert response.status_code == 413
    assert _cases(seeded_engine) == 0


def test_a_body_within_the_cap_goes_through_to_the_form_checks(small_app: FastAPI) -> None:
    with TestClient(small_app, base_url="https://testserver") as client:
        token = csrf(client)
        response = client.post(
            "/",
            data={"csrf_token": token, "title": "Lagom", "action": "submit"},
            files=[("attachments", ("stor.pdf", b"%PDF-" + b"0" * 2000, "application/pdf"))],
        )
    # Past the cap's room, the form's own per-file check answers, next to the field.
    assert response.status_code == 422
    assert "är för stor" in response.text
