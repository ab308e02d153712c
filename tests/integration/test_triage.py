"""services.triage on both databases: the preparation group's decisions as transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from casework import repository, services
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import CaseCreate
from rules import load_rules

SUBMITTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DESTINATIONS = list(load_rules().destinations)


def submit(engine: Engine, **changes: object) -> int:
    data = CaseCreate.model_validate(
        {
            "title": "Gemensam workshop om kompensatoriska insatser",
            "kind": "diskussion",
            "target_groups": ["barn_unga", "vuxna"],
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna@example.se",
            **changes,
        }
    )
    case = services.submit_case(engine, data, actor="anna", rules=load_rules(), now=SUBMITTED)
    assert case.case.id is not None
    return case.case.id


def test_lead_group_must_be_a_group_the_case_touches(migrated_engine: Engine) -> None:
    case_id = submit(migrated_engine)
    with pytest.raises(services.TriageError) as refused:
        services.triage(
            migrated_engine,
            case_id,
            "accept",
            actor="b",
            destinations=DESTINATIONS,
            lead_group="sg-aldre",
        )
    assert refused.value.field == "lead_group"
    accepted = services.triage(
        migrated_engine,
        case_id,
        "accept",
        actor="b",
        destinations=DESTINATIONS,
        lead_group="sg-vuxna",
    )
    assert (accepted.status, accepted.lead_group) == (State.routed, "sg-vuxna")


def test_a_stale_version_is_refused_and_changes_nothing(migrated_engine: Engine) -> None:
    case_id = submit(migrated_engine)
    with pytest.raises(services.CaseChanged):
        services.triage(
            migrated_engine,
            case_id,
            "withdraw",
            actor="b",
            destinations=DESTINATIONS,
            expected_updated_at=SUBMITTED - timedelta(minutes=5),
        )
    with unit_of_work(migrated_engine) as session:
        case = repository.get_case(session, case_id=case_id)
        assert case is not None and case.status is State.submitted
        assert [e.action for e in repository.list_audit_events(session, case_id=case_id)] == [
            "submit"
        ]
    done = services.triage(
        migrated_engine,
        case_id,
        "withdraw",
        actor="b",
        destinations=DESTINATIONS,
        expected_updated_at=SUBMITTED,
    )
    assert done.status is State.withdrawn


def test_audit_events_carry_the_time_of_the_operation(migrated_engine: Engine) -> None:
    case_id = submit(migrated_engine)
    later = SUBMITTED + timedelta(days=3)
    services.triage(
        migrated_engine,
        case_id,
        "reroute",
        actor="b",
        destinations=DESTINATIONS,
        destination="sg-vuxna",
        reason="Vuxna leder arbetet",
        now=later,
    )
    with unit_of_work(migrated_engine) as session:
        events = repository.list_audit_events(session, case_id=case_id)
    assert [(e.action, e.at) for e in events] == [("submit", SUBMITTED), ("route", later)]
    assert events[1].note == "Vuxna leder arbetet"
    assert events[1].after == {"status": "routed", "destination": "sg-vuxna"}
