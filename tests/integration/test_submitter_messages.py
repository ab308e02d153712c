"""The submitter is told, through the outbox, when a case is received and when triage moves it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from casework import services
from casework.db import unit_of_work
from casework.model import CaseCreate, Notification
from rules import load_rules

SUBMITTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DESTINATIONS = list(load_rules().destinations)


def _submit(engine: Engine) -> services.Submitted:
    data = CaseCreate.model_validate(
        {
            "title": "Samordning kring demensvården",
            "kind": "beslut",
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna@example.se",
        }
    )
    return services.submit_case(engine, data, actor="anna", rules=load_rules(), now=SUBMITTED)


def _messages(engine: Engine, case_id: int) -> list[Notification]:
    with unit_of_work(engine) as session:
        query = select(Notification).where(Notification.case_id == case_id)
        return list(session.exec(query.order_by(col(Notification.id))).all())


def test_a_submission_sends_a_receipt_with_the_private_link(seeded_engine: Engine) -> None:
    submitted = _submit(seeded_engine)
    [receipt] = _messages(seeded_engine, submitted.case.id or 0)
    assert receipt.kind == "case_received"
    assert receipt.recipient_address == "anna@example.se"
    assert (
        receipt.subject == f"{submitted.case.reference} är mottaget: Samordning kring demensvården"
    )
    assert "Samverkansgrupp Äldre" in receipt.body_text
    assert f"/s/{submitted.access_token}" in receipt.body_text
    assert receipt.not_before == SUBMITTED


def test_a_replayed_submission_sends_no_second_receipt(seeded_engine: Engine) -> None:
    data = CaseCreate.model_validate(
        {"title": "Demens", "submitter_name": "Anna", "submitter_email": "anna@example.se"}
    )
    first = services.submit_case(
        seeded_engine, data, actor="api", rules=load_rules(), idempotency_key="k1",
        request_hash="h",
    )  # fmt: skip
    again = services.submit_case(
        seeded_engine, data, actor="api", rules=load_rules(), idempotency_key="k1",
        request_hash="h",
    )  # fmt: skip
    assert again.replayed
    assert len(_messages(seeded_engine, first.case.id or 0)) == 1


@pytest.mark.parametrize(
    ("action", "extra", "kind", "expected"),
    [
        ("accept", {}, "case_routed", "fördelat det till Samverkansgrupp att åldras"),
        (
            "reroute",
            {"destination": "lsvo", "reason": "Gäller ett länsgemensamt avtal."},
            "case_rerouted",
            "Gäller ett länsgemensamt avtal.",
        ),
        (
            "return",
            {"reason": "Bifoga underlaget från arbetsgruppen."},
            "case_returned",
            "Bifoga underlaget från arbetsgruppen.",
        ),
        ("withdraw", {}, "case_withdrawn", "har återtagits"),
    ],
)
def test_each_triage_decision_tells_the_submitter(
    seeded_engine: Engine, action: str, extra: dict[str, str], kind: str, expected: str
) -> None:
    case_id = _submit(seeded_engine).case.id or 0
    services.triage(
        seeded_engine, case_id, action, actor="beredning", destinations=DESTINATIONS, **extra
    )
    messages = _messages(seeded_engine, case_id)
    assert [m.kind for m in messages] == ["case_received", kind]
    assert expected in messages[1].body_text
    assert messages[1].recipient_address == "anna@example.se"


def test_a_refused_decision_sends_nothing(seeded_engine: Engine) -> None:
    case_id = _submit(seeded_engine).case.id or 0
    with pytest.raises(services.TriageError):
        services.triage(seeded_engine, case_id, "return", actor="b", destinations=DESTINATIONS)
    assert [m.kind for m in _messages(seeded_engine, case_id)] == ["case_received"]
