"""The deadline-sweep and stale-triage flows, run by Prefect against a real database.

The flows run against one temporary Prefect server for the session (a fixture here, not
in a conftest.py: the web tests import the top-level conftest by that name).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import Engine

from casework.lifecycle import State
from flows.sweep import act_on_due_events, deadline_sweep, stale_triage

# The sweep tests' world (groups, people, meetings) is shared with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from sweep_world import (
    add_case,
    add_meeting,
    approve_agenda,
    build_world,
    meeting,
    outbox,
    place_on_agenda,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    # The temporary server's telemetry only adds writes (and lock errors) to its database.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=120):
        yield


pytestmark = pytest.mark.usefixtures("prefect_harness")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_the_deadline_sweep_flow_acts_on_every_due_event_once(migrated_engine: Engine) -> None:
    engine = migrated_engine
    world = build_world(engine)
    may = add_meeting(engine, world.lsvo, date(2023, 5, 12))
    for number in range(3):
        case = add_case(engine, f"Ärende {number}", submitter=f"s{number}@example.se")
        place_on_agenda(engine, may, case, position=number)
    now = datetime(2023, 4, 26, 10, 0, tzinfo=STOCKHOLM)

    first = deadline_sweep(now=now, database_url=_url(engine))
    second = deadline_sweep(now=now, database_url=_url(engine))

    assert first["events"] == {"submission_reminder": 3}
    assert first["total_messages"] == 3
    assert second["total_events"] == 0
    assert Counter(n.event_key for n in outbox(engine)).most_common(1)[0][1] == 1

    approve_agenda(engine, may, datetime(2023, 5, 2, 9, 0, tzinfo=STOCKHOLM))
    sent = deadline_sweep(
        now=datetime(2023, 5, 5, 9, 0, tzinfo=STOCKHOLM), database_url=_url(engine)
    )
    assert sent["events"] == {"submissions_closed": 1, "agenda_sent": 1}
    assert meeting(engine, may).agenda_sent_at is not None


def test_the_stale_triage_flow_reminds_beredning(migrated_engine: Engine) -> None:
    engine = migrated_engine
    build_world(engine)
    created = datetime(2026, 3, 6, 12, 0, tzinfo=STOCKHOLM)
    case = add_case(engine, "Väntar", status=State.submitted, created_at=created)

    report = stale_triage(
        now=datetime(2026, 3, 16, 9, 0, tzinfo=STOCKHOLM), database_url=_url(engine)
    )

    assert report["events"] == {"stale_triage": 1}
    assert {(n.case_id, n.kind) for n in outbox(engine)} == {(case, "stale_triage")}


def test_the_flows_sweep_in_one_task_that_prefect_retries() -> None:
    assert act_on_due_events.retries == 2
    assert deadline_sweep.name == "deadline-sweep"
    assert stale_triage.name == "stale-triage"


def test_a_naive_time_fails_the_flow(migrated_engine: Engine) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        deadline_sweep(now=datetime(2023, 4, 26, 10, 0), database_url=_url(migrated_engine))
