"""`POST /api/cases` takes its usual requests without FastAPI solving the route's
parameters (`casework.web.api.SubmissionRoute`), and answers every request as FastAPI's
own handler does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastapi.routing
import pytest
from conftest import StaffUser
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_api import submission

from casework.web.deps import get_engine


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of the requests whose parameters FastAPI solved."""
    paths: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        paths.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    yield paths


def comparable(response: Any) -> tuple[int, dict[str, Any]]:
    """Status and body without what differs from one stored case to the next."""
    body = response.json()
    for name in ("id", "reference", "status_url"):
        body.pop(name, None)
    return response.status_code, body


def through_fastapi(web_app: FastAPI) -> None:
    """Any dependency override sends every submission through FastAPI's own handler."""
    web_app.dependency_overrides[get_engine] = get_engine


def test_the_usual_submissions_go_straight_to_the_endpoint(
    client: TestClient, beredning: StaffUser, solved: list[str]
) -> None:
    anonymous = client.post("/api/cases", json=submission())
    staff = client.post("/api/cases", json=submission(), headers=beredning.headers)
    keyed = client.post("/api/cases", json=submission(), headers={"Idempotency-Key": "nyckel-1"})
    again = client.post("/api/cases", json=submission(), headers={"Idempotency-Key": "nyckel-1"})
    assert [r.status_code for r in (anonymous, staff, keyed, again)] == [201] * 4
    assert again.json()["id"] == keyed.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert solved == []


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("headers", "body", "first_error"),
    [
        # FastAPI's own answers: the endpoint never sees these.
        (
            {"Content-Type": "text/plain"},
            json.dumps(submission()),
            ("model_attributes_type", ["body"]),
        ),
        (JSON, "", ("missing", ["body"])),
        (JSON, json.dumps(submission(title="")), ("string_too_short", ["body", "title"])),
        (
            {**JSON, "Idempotency-Key": "k\x7fk"},
            json.dumps(submission()),
            ("string_pattern_mismatch", ["header", "Idempotency-Key"]),
        ),
        (
            {**JSON, "Idempotency-Key": "k" * 201},
            json.dumps(submission()),
            ("string_too_long", ["header", "Idempotency-Key"]),
        ),
    ],
)
def test_other_requests_are_answered_by_fastapi(
    client: TestClient,
    solved: list[str],
    headers: dict[str, str],
    body: str,
    first_error: tuple[str, list[Any]],
) -> None:
    response = client.post("/api/cases", content=body.encode(), headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert (error["type"], error["loc"]) == first_error
    assert solved == ["/api/cases"]


def test_a_body_that_is_not_json_is_fastapis_decode_error(
    client: TestClient, solved: list[str]
) -> None:
    response = client.post("/api/cases", content=b"{", headers=JSON)
    # FastAPI's own answer (its position in the body as the location), given before it
    # solves the parameters.
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", 1], "msg": "JSON decode error", "type": "json_invalid"}
    ]
    assert solved == []


def test_both_ways_answer_alike(
    client: TestClient, web_app: FastAPI, beredning: StaffUser, solved: list[str]
) -> None:
    requests: list[dict[str, Any]] = [
        {"json": submission()},
        {"json": submission(target_groups=["barn_unga", "vuxna"]), "headers": beredning.headers},
        {"json": submission(), "headers": {"Authorization": "Bearer okand-nyckel"}},
        {"json": submission(), "headers": {"Authorization": "Basic eDp5"}},
        {"json": submission(description="Gäller 19811218-9876.")},  # an identity number
        {"json": submission(title="Nul \x00")},
        {"json": submission(escalated_from="ingen-grupp")},
    ]
    direct = [comparable(client.post("/api/cases", **r)) for r in requests]
    assert solved == []
    through_fastapi(web_app)
    try:
        by_fastapi = [comparable(client.post("/api/cases", **r)) for r in requests]
    finally:
        web_app.dependency_overrides.clear()
    assert len(solved) == len(requests)
    assert direct == by_fastapi
    assert [status for status, _ in direct] == [201, 201, 401, 401, 422, 422, 422]
