"""/healthz, /readyz and /metrics on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import served
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

import rules
from casework import services
from casework.db import make_engine, unit_of_work
from casework.lifecycle import State
from casework.logs import JsonFormatter
from casework.model import CaseCreate, Notification, NotificationStatus
from casework.settings import Settings
from casework.web.app import create_app

TOKEN = "metrics-token-for-the-test"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _submit(engine: Engine, data_dir: Path, title: str) -> str:
    data = CaseCreate(
        title=title,
        description="Underlag för mätvärden.",
        kind=("beslut",),
        target_groups=["aldre"],
        submitter_name="Eva Ek",
        submitter_email="eva.ek@example.se",
    )
    rule_set = rules.load_rules(Settings().rules_path)
    submitted = services.submit_case(
        engine, data, actor="anmälare:eva.ek@example.se", rules=rule_set, data_dir=data_dir
    )
    return submitted.case.reference


@pytest.fixture
def no_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.mark.usefixtures("no_prefect")
def test_healthz_answers_without_the_database_and_readyz_names_the_database(
    tmp_path: Path,
) -> None:
    port = _closed_port()
    dead = make_engine(f"postgresql://samverkan:hemligt-lösen@127.0.0.1:{port}/samverkan")
    settings = Settings(data_dir=tmp_path, database_url=str(dead.url))
    app = create_app(engine=dead, settings=settings)
    try:
        with TestClient(app) as client:
            alive = client.get("/healthz")
            ready = client.get("/readyz")
    finally:
        dead.dispose()
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "failed"
    assert body["checks"]["database"]["reason"] == "OperationalError"
    assert body["checks"]["prefect"] == {"status": "not configured"}
    assert "hemligt" not in ready.text and str(port) not in ready.text


@pytest.mark.usefixtures("no_prefect")
def test_readyz_is_ready_on_a_reachable_database_without_prefect(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "prefect": {"status": "not configured"}},
    }
    assert answer.headers["cache-control"] == "no-store"


def test_readyz_fails_when_the_configured_prefect_api_does_not_answer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{_closed_port()}/api")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["prefect"] == {"status": "failed", "reason": "ConnectError"}


def test_readyz_is_ready_when_the_prefect_api_answers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for the Prefect API's health route, which answers 200 with `true`.
    health = FastAPI()

    @health.get("/api/health")
    def healthy() -> bool:
        return True

    with served(health) as url:
        monkeypatch.setenv("PREFECT_API_URL", f"{url}/api/")
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["prefect"] == {"status": "ok"}


def test_metrics_count_requests_by_route_and_read_the_database(
    seeded_engine: Engine, web_settings: Settings
) -> None:
    settings = web_settings.model_copy(update={"metrics_token": TOKEN})
    reference = _submit(seeded_engine, settings.data_dir, "Mätbart ärende")
    now = datetime.now(UTC)
    with unit_of_work(seeded_engine) as session:
        for not_before, status in (
            (now - timedelta(hours=2), NotificationStatus.pending),
            (now + timedelta(hours=2), NotificationStatus.pending),
            (now - timedelta(days=3), NotificationStatus.dead),
        ):
            session.add(
                Notification(
                    kind="test",
                    recipient_address="a@example.se",
                    subject="Test",
                    body_text="Test",
                    status=status,
                    not_before=not_before,
                )
            )
    app = create_app(engine=seeded_engine, settings=settings)
    with TestClient(app, base_url="https://testserver") as client:
        for _ in range(2):
            assert client.get("/healthz").status_code == 200
        assert client.get("/s/en-hemlig-länk").status_code == 404
        assert client.get("/finns/inte").status_code == 404
        assert client.get("/metrics").status_code == 403
        wrong = client.get("/metrics", headers={"Authorization": "Bearer fel"})
        assert wrong.status_code == 403
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert reference
    samples = _samples(answer.text)
    total = "samverkan_http_requests_total"
    assert samples[(total, (("method", "GET"), ("route", "/healthz"), ("status", "200")))] == 2
    assert samples[(total, (("method", "GET"), ("route", "/s/{token}"), ("status", "404")))] == 1
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert samples[(total, unmatched)] == 1
    assert samples[(total, (("method", "GET"), ("route", "/metrics"), ("status", "403")))] == 2
    assert "en-hemlig-länk" not in answer.text and "/finns/inte" not in answer.text
    count = "samverkan_http_request_duration_seconds_count"
    assert samples[(count, (("method", "GET"), ("route", "/healthz")))] == 2
    # The database gauges: one submitted case, every other status present at zero.
    assert samples[("samverkan_cases", (("status", "submitted"),))] == 1
    for state in State:
        assert ("samverkan_cases", (("status", state.value),)) in samples
    assert samples[("samverkan_database_up", ())] == 1
    pending = samples[("samverkan_outbox_messages", (("status", "pending"),))]
    # The submission's own message to the submitter, and the two added above.
    assert pending == 3
    assert samples[("samverkan_outbox_messages", (("status", "dead"),))] == 1
    assert samples[("samverkan_outbox_messages", (("status", "sent"),))] == 0
    assert samples[("samverkan_outbox_due_messages", ())] == 2
    age = samples[("samverkan_outbox_oldest_due_age_seconds", ())]
    assert 2 * 3600 <= age < 2 * 3600 + 600


def test_metrics_are_open_on_loopback_but_not_through_a_proxy(
    seeded_engine: Engine, web_settings: Settings
) -> None:
    app = create_app(engine=seeded_engine, settings=web_settings)
    with served(app) as url:
        direct = httpx.get(f"{url}/metrics")
        proxied = httpx.get(f"{url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert direct.status_code == 200
    assert "samverkan_cases{" in direct.text
    assert proxied.status_code == 403


def test_an_empty_database_reports_zero_and_no_waiting_message(
    seeded_engine: Engine, web_settings: Settings
) -> None:
    app = create_app(engine=seeded_engine, settings=web_settings)
    with served(app) as url:
        samples = _samples(httpx.get(f"{url}/metrics").text)
    assert samples[("samverkan_cases", (("status", "submitted"),))] == 0
    assert samples[("samverkan_outbox_due_messages", ())] == 0
    assert samples[("samverkan_outbox_oldest_due_age_seconds", ())] == 0


def test_json_access_lines_name_the_route_template_status_and_duration(
    seeded_engine: Engine, web_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = web_settings.model_copy(update={"log_format": "json"})
    app = create_app(engine=seeded_engine, settings=settings)
    with (
        caplog.at_level(logging.INFO, logger="samverkan.access"),
        TestClient(app, base_url="https://testserver") as client,
    ):
        client.get("/s/en-hemlig-länk")
    (record,) = [r for r in caplog.records if r.name == "samverkan.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "samverkan.access"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["path"] == "/s/{token}"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert line["time"].endswith("Z")
    assert "hemlig" not in json.dumps(line)


def test_text_format_leaves_the_access_log_to_uvicorn(
    seeded_engine: Engine, web_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(engine=seeded_engine, settings=web_settings)
    with (
        caplog.at_level(logging.INFO, logger="samverkan.access"),
        TestClient(app, base_url="https://testserver") as client,
    ):
        client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "samverkan.access"]


def test_a_json_error_line_has_the_exception_type_but_not_its_message() -> None:
    logger = logging.getLogger("samverkan.test")
    try:
        raise ValueError("personnummer 19121212-1212 är ogiltigt")
    except ValueError:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "unhandled error", (), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error"
    assert line["message"] == "unhandled error"
    assert line["exception"]["type"] == "ValueError"
    assert any("test_a_json_error_line" in frame for frame in line["exception"]["stack"])
    assert "19121212" not in json.dumps(line)
