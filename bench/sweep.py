"""Deadline sweep speed on SQLite: `python -m bench.sweep [--cases N ...]`.

Builds a database with many open cases and 1 000 meetings of which some have events due
(1 000 due events in all), then times:

1. the first sweep, which acts on every due event (claims the keys, writes the outbox
   messages and the meeting changes);
2. an idle sweep right after, with nothing due: the cost of looking;
3. one real flow run of `flows.sweep.deadline_sweep` on the same events, against a
   temporary Prefect server (`prefect_test_harness`), when `--flow` is given.

Each size in `--cases` gets a fresh database. The sweep should grow with the number of
due events, not of open cases; the target is under 2 s per sweep at 100 000 open cases.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from casework.calendar import STOCKHOLM, DeadlineRule, add_working_days, agenda_due, submission_due
from casework.db import make_engine, migrate
from casework.model import (
    AgendaItem,
    Attachment,
    Case,
    Group,
    Meeting,
    Member,
    Membership,
    Notification,
    Organisation,
    SweepEvent,
)
from casework.sweep import SweepConfig, SweepReport, sweep

TARGET_SECONDS = 2.0
GROUPS = 100
MEETINGS_PER_GROUP = 10
MEMBERS_PER_GROUP = 10
ITEMS_PER_MEETING = 20
MISSING_PER_MEETING = 8  # cases without documents on the meeting in the reminder window
# The sweep's clock: Wednesday 10 March 2027, 10:00 in Stockholm.
NOW = datetime(2027, 3, 10, 10, 0, tzinfo=STOCKHOLM)
OPEN_STATES = ("routed", "scheduled", "following_up", "in_triage", "submitted")
OPEN_WEIGHTS = (40, 40, 16, 2, 2)
CHUNK = 20_000


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _insert(connection: sa.Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        connection.execute(sa.insert(_table(model)), chunk)


def _case_row(number: int, status: str, created: datetime) -> dict[str, Any]:
    return {
        "id": number,
        "reference": f"SB-2027-{number:07d}",
        "title": f"Ärende {number}",
        "description": "",
        "kind": "B",
        "target_groups": [],
        "requests_resources": False,
        "county_wide": False,
        "deviation": False,
        "recurring": False,
        "municipalities_only": False,
        "escalated_from": None,
        "submitter_name": "Anmälare",
        "submitter_email": f"anmalare{number % 5000}@example.se",
        "submitter_organisation": "",
        "presenter": "",
        "proposed_decision": "",
        "status": status,
        "destination": "lsvo",
        "requires_endorsement": False,
        "lead_group": None,
        "routed_groups": [],
        "routing_rule": "",
        "routing_explanation": "",
        "access_token_hash": None,
        "meeting_id": None,
        "created_at": created,
        "updated_at": created,
    }


def _meeting_dates(today: date) -> tuple[date, date, list[date]]:
    """A meeting whose agenda is due (sent today), one in the reminder window, and others
    with nothing due: long past or well ahead."""
    rule = DeadlineRule()
    config = SweepConfig()
    send = next(
        today + timedelta(days=d)
        for d in range(1, 30)
        if agenda_due(today + timedelta(days=d), rule) <= today
        and add_working_days(today + timedelta(days=d), -config.documents_reminder_days) > today
    )
    remind = next(
        today + timedelta(days=d)
        for d in range(1, 60)
        if add_working_days(
            submission_due(today + timedelta(days=d), rule), -config.submission_reminder_days
        )
        <= today
        <= submission_due(today + timedelta(days=d), rule)
    )
    quiet = [today - timedelta(days=35 * k) for k in range(1, 5)]
    quiet += [today + timedelta(days=60 + 35 * k) for k in range(MEETINGS_PER_GROUP - 6)]
    return send, remind, quiet


@dataclass
class World:
    engine: Engine
    path: Path
    cases: int
    due_events: int


def build(directory: Path, open_cases: int, seed: int) -> World:
    """A migrated SQLite database with `open_cases` open cases and 1 000 meetings."""
    path = directory / f"sweep-{open_cases}.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    rng = random.Random(seed)
    today = NOW.date()
    created_long_ago = datetime(2026, 6, 1, tzinfo=UTC)
    send, remind, quiet = _meeting_dates(today)
    with engine.begin() as connection:
        _insert(connection, Organisation, [{"id": 1, "slug": "rb", "name": "RB", "kind": "region"}])
        groups, members, memberships, meetings = [], [], [], []
        for g in range(1, GROUPS + 1):
            groups.append(
                {
                    "id": g,
                    "slug": f"grupp-{g}",
                    "name": f"Grupp {g}",
                    "aliases": [],
                    "level": "tactical",
                    "description": "",
                    "quorum_rule": "sides",
                    "agenda_offset_days": 7,
                    "submission_offset_days": 7,
                }
            )
            for m in range(MEMBERS_PER_GROUP):
                member_id = (g - 1) * MEMBERS_PER_GROUP + m + 1
                members.append(
                    {
                        "id": member_id,
                        "name": f"Ledamot {member_id}",
                        "organisation_id": 1,
                        "function": "",
                        "email": f"ledamot{member_id}@example.se",
                        "notification_addresses": [],
                        "calendar_token_hash": None,
                    }
                )
                role = "chair" if m == 0 else "secretary" if m == 1 else "member"
                memberships.append(
                    {
                        "member_id": member_id,
                        "group_id": g,
                        "role": role,
                        "decision_mandate": role == "member",
                    }
                )
            for k, day in enumerate([send, remind, *quiet]):
                meetings.append(
                    {
                        "id": (g - 1) * MEETINGS_PER_GROUP + k + 1,
                        "group_id": g,
                        "date": day,
                        "starts_at": "09:00",
                        "ends_at": "12:00",
                        "place": "Regionhuset",
                        "video_link": "",
                        # Past meetings went through their calendar already.
                        "submissions_closed_at": created_long_ago if day < today else None,
                        "agenda_approved_at": created_long_ago if day <= send else None,
                        "agenda_approved_by": "",
                        "agenda_sent_at": created_long_ago if day < today else None,
                    }
                )
        _insert(connection, Group, groups)
        _insert(connection, Member, members)
        _insert(connection, Membership, memberships)
        _insert(connection, Meeting, meetings)

        cases = []
        for number in range(1, open_cases + 1):
            status = rng.choices(OPEN_STATES, OPEN_WEIGHTS)[0]
            if status in ("in_triage", "submitted"):
                # Waiting in triage, but not for long: nothing stale.
                created = NOW - timedelta(hours=rng.randint(1, 48))
            else:
                created = created_long_ago + timedelta(minutes=number % 200_000)
            cases.append(_case_row(number, status, created))
        _insert(connection, Case, cases)

        # Every meeting has items for cases; all have documents except the few on the
        # meeting in the reminder window.
        items, attachments = [], []
        case_number = 0
        for meeting in meetings:
            for position in range(ITEMS_PER_MEETING):
                case_number = case_number % open_cases + 1
                items.append(
                    {
                        "meeting_id": meeting["id"],
                        "section": "case",
                        "position": position,
                        "case_id": case_number,
                        "title": f"Ärende {case_number}",
                        "kind": "B",
                        "presenter": "",
                        "proposed_decision": "",
                        "for_information": False,
                        "added_by": "",
                        "added_at": created_long_ago,
                    }
                )
                if not (meeting["date"] == remind and position < MISSING_PER_MEETING):
                    attachments.append(
                        {
                            "case_id": case_number,
                            "filename": "underlag.pdf",
                            "content_type": "application/pdf",
                            "size": 1,
                            "sha256": "0" * 64,
                            "storage_path": "00/" + "0" * 64,
                            "created_at": created_long_ago,
                        }
                    )
        _insert(connection, AgendaItem, items)
        _insert(connection, Attachment, attachments)
    # Per group: the send meeting closes submissions and sends the agenda (2 events), the
    # reminder meeting has its cases without documents.
    due = GROUPS * (2 + MISSING_PER_MEETING)
    return World(engine, path, open_cases, due)


def reset(engine: Engine) -> None:
    """Undo what a sweep did, so the same events are due again."""
    with engine.begin() as connection:
        connection.execute(sa.delete(_table(SweepEvent)))
        connection.execute(sa.delete(_table(Notification)))
        connection.execute(
            sa.text("DELETE FROM audit_events WHERE actor = 'system:deadline-sweep'")
        )
        today = NOW.date()
        connection.execute(
            sa.update(_table(Meeting))
            .where(_table(Meeting).c.date >= today)
            .values(submissions_closed_at=None, agenda_sent_at=None)
        )


def _verdict(seconds: float) -> str:
    return "PASS" if seconds < TARGET_SECONDS else "MISS"


def timed(action: Callable[[], SweepReport]) -> tuple[float, SweepReport]:
    start = time.perf_counter()
    report = action()
    return time.perf_counter() - start, report


def flow_run_seconds(world: World) -> tuple[float, int]:
    """One deadline-sweep flow run on a temporary Prefect server (its start not timed)."""
    # The temporary server's telemetry only adds writes (and lock errors) to its database.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    from flows.sweep import deadline_sweep

    reset(world.engine)
    with prefect_test_harness(server_startup_timeout=120):
        start = time.perf_counter()
        result = deadline_sweep(now=NOW, database_url=f"sqlite:///{world.path}")
        seconds = time.perf_counter() - start
    return seconds, int(result["total_events"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--cases",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        help="open cases per run (default: 100000 1000000)",
    )
    parser.add_argument("--flow", action="store_true", help="also time one real flow run")
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args(argv)

    rows = []
    config = SweepConfig()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as directory:
        for open_cases in args.cases:
            print(f"building {open_cases:,} open cases …", file=sys.stderr, flush=True)
            start = time.perf_counter()
            world = build(Path(directory), open_cases, args.seed)
            print(f"  built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            first, report = timed(lambda w=world: sweep(w.engine, NOW, config))  # type: ignore[misc]
            idle, idle_report = timed(lambda w=world: sweep(w.engine, NOW, config))  # type: ignore[misc]
            if report.total_events != world.due_events or idle_report.total_events:
                print(
                    f"unexpected: {report.total_events} events acted on (expected "
                    f"{world.due_events}), {idle_report.total_events} on the idle sweep",
                    file=sys.stderr,
                )
                return 1
            flow = flow_run_seconds(world) if args.flow else None
            rows.append((open_cases, report, first, idle, flow))
            world.engine.dispose()

    print()
    print("Deadline sweep on SQLite: 1 000 meetings, 100 groups of 10 members")
    print()
    header = (
        f"{'open cases':>11} {'due events':>10} {'messages':>9} {'first sweep':>12} "
        f"{'idle sweep':>11}  {'sweep':>5} {'flow run':>9}  {'flow':>4}"
    )
    print(header)
    print("-" * len(header))
    for open_cases, report, first, idle, flow in rows:
        sweep_verdict = _verdict(max(first, idle))
        flow_text = f"{flow[0]:.2f} s" if flow else "–"
        flow_verdict = _verdict(flow[0]) if flow else "–"
        print(
            f"{open_cases:>11,} {report.total_events:>10,} {report.total_messages:>9,} "
            f"{first:>10.2f} s {idle:>9.3f} s  {sweep_verdict:>5} {flow_text:>9}  {flow_verdict:>4}"
        )
    print()
    print(
        f"target: under {TARGET_SECONDS:.0f} s per sweep (PASS/MISS); the flow run adds "
        "Prefect's own cost of a flow run and a task run to the first sweep's work"
    )
    if len(rows) > 1:
        base, last = rows[0], rows[-1]
        print(
            f"{last[0] / base[0]:.0f}× the open cases: first sweep ×{last[2] / base[2]:.2f}, "
            f"idle sweep ×{last[3] / base[3]:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
