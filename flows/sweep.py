"""The calendar flows: the deadline sweep and the stale-triage reminders.

Each flow run is one sweep over every due event of its kinds (never one run per case or
meeting); the work is `casework.sweep.sweep`, wrapped in a task that Prefect retries.
Retrying is safe: an event already acted on is recorded and not acted on again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from casework.db import make_engine
from casework.settings import get_settings
from casework.sweep import (
    ASSIGNMENT_KINDS,
    CASE_KINDS,
    MEETING_KINDS,
    EventKind,
    SweepConfig,
    sweep,
)
from casework.sweep import REQUEST_KINDS as ORGANISATION_REQUEST_KINDS


class SweepFailed(RuntimeError):
    """Some events could not be acted on; the rest were."""


@task(retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE)
def act_on_due_events(
    kinds: list[str], now: datetime, database_url: str | None = None
) -> dict[str, Any]:
    """Sweep once: find every due event of `kinds` at `now` and act on it."""
    settings = get_settings()
    engine = make_engine(database_url or settings.database_url)
    try:
        report = sweep(
            engine,
            now,
            SweepConfig.from_settings(settings),
            kinds=[EventKind(kind) for kind in kinds],
        )
    finally:
        engine.dispose()
    logger = get_run_logger()
    logger.info(
        "%d events acted on, %d messages in the outbox: %s",
        report.total_events,
        report.total_messages,
        report.events,
    )
    if report.failed:
        raise SweepFailed(f"{len(report.failed)} event(s) failed: {report.failed}")
    return report.as_json()


def _moment(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} has no time zone")
    return now


@flow(name="deadline-sweep", log_prints=True)
def deadline_sweep(now: datetime | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Meeting deadlines: reminders, closing submissions, sending the agenda; and the
    reminders of assignments (before the due date, overdue, to the chair)."""
    kinds = [k.value for k in (*MEETING_KINDS, *ASSIGNMENT_KINDS)]
    return act_on_due_events(kinds, _moment(now), database_url)


@flow(name="stale-triage", log_prints=True)
def stale_triage(now: datetime | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Cases waiting too long in triage: beredningsgruppen, later its chair; and the
    organisations whose own decision body has not answered a case, before and after due."""
    kinds = [k.value for k in (*CASE_KINDS, *ORGANISATION_REQUEST_KINDS)]
    return act_on_due_events(kinds, _moment(now), database_url)
