"""Property-based tests from the OpenAPI schema: no input makes an API operation fail with
5xx, and every answer has a documented status code and the documented shape.

SQLite only. The schema is read at import from an application on an unused in-memory
engine; the requests go to an application on a migrated, seeded database, and the staff
operations are called with a token of the preparation group, so they get past
authentication to the code behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from casework import accounts
from casework.bootstrap import open_database
from casework.db import make_engine
from casework.model import StaffRole
from casework.settings import Settings
from casework.web.app import create_app

schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(engine=make_engine("sqlite://"), settings=Settings(database_url="sqlite://")),
).include(path_regex="^/api/")


@dataclass(frozen=True)
class Target:
    app: FastAPI
    token: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir: Path = tmp_path_factory.mktemp("schema")
    app_settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'samverkan.db'}",
        submissions_per_minute=1_000_000,
    )
    engine = open_database(app_settings.database_url)
    accounts.create_user(
        engine, email="beredning@example.se", password="x" * 12, role=StaffRole.beredning
    )
    token = accounts.issue_api_token(engine, email="beredning@example.se")
    yield Target(create_app(engine=engine, settings=app_settings), token)
    engine.dispose()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_api_operation_fails_with_a_server_error(
    case: schemathesis.Case, target: Target
) -> None:
    case.call_and_validate(
        app=target.app,
        headers={"Authorization": f"Bearer {target.token}"},
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
