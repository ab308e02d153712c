"""A whole meeting cycle under a frozen clock: every outbox message the sweep writes.

LSVO meets Fri 2023-05-12 (submissions due Fri 04-28, agenda due Fri 05-05) and
Fri 2023-06-09 (submissions due Fri 05-26, agenda due Fri 06-02). The clock is the `now`
each sweep is given.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sweep_world import (
    add_case,
    add_meeting,
    add_opening_items,
    approve_agenda,
    attach,
    build_world,
    meeting,
    outbox,
    place_on_agenda,
)

from casework.sweep import SweepConfig, sweep

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONFIG = SweepConfig(public_url="https://samverkan.example.se")
MEMBERS = {"cecilia@example.se", "sara@example.se", "bo@example.se"}
SECRETARIES = {"sara@example.se", "kansli@example.se"}


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=STOCKHOLM)


class Outbox:
    """The outbox rows written since the last look."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen = 0

    def sweep(self, now: str) -> list[tuple[str, str, str]]:
        sweep(self.engine, local(now), CONFIG)
        rows = outbox(self.engine)
        new = rows[self.seen :]
        self.seen = len(rows)
        return sorted((n.kind, n.event_key or "", n.recipient_address) for n in new)


def expect(kind: str, key: str, addresses: set[str]) -> list[tuple[str, str, str]]:
    return sorted((kind, key, address) for address in addresses)


def test_a_whole_meeting_cycle(migrated_engine: Engine) -> None:
    engine = migrated_engine
    world = build_world(engine)
    may = add_meeting(engine, world.lsvo, date(2023, 5, 12))
    june = add_meeting(engine, world.lsvo, date(2023, 6, 9))
    add_opening_items(engine, may, ["Mötets öppnande", "Val av justerare"])
    # Submission: two cases on time for May; one presented by a member we can write to.
    home_care = add_case(engine, "Avtal om hemsjukvård", presenter="Bo Berg")
    discharge = add_case(
        engine, "Riktlinje för utskrivning", submitter="ulla@example.se", presenter="Någon Annan"
    )
    place_on_agenda(engine, may, discharge, position=2)
    place_on_agenda(engine, may, home_care, position=1)
    attach(engine, discharge)
    box = Outbox(engine)

    # Nothing is due the day before the reminder window opens.
    assert box.sweep("2023-04-24T10:00") == []
    # Three working days before the deadline, before working hours: the submitter and the
    # presenter of the case without documents, held back until 08:00.
    assert box.sweep("2023-04-25T06:30") == expect(
        "submission_reminder",
        f"submission_reminder:{may}:{home_care}",
        {"anna@example.se", "bo@example.se"},
    )
    reminder = outbox(engine)[0]
    assert reminder.not_before == local("2023-04-25T08:00").astimezone(UTC)
    assert "SB-2023-" in reminder.subject and "fredag 28 april 2023" in reminder.subject
    assert "Avtal om hemsjukvård" in reminder.body_text
    # Sweeping again acts on nothing.
    assert box.sweep("2023-04-25T06:45") == []
    assert box.sweep("2023-04-26T10:00") == []
    attach(engine, home_care)

    # The day after the deadline, submissions close (no message).
    assert meeting(engine, may).submissions_closed_at is None
    assert box.sweep("2023-04-29T00:10") == []
    assert meeting(engine, may).submissions_closed_at == local("2023-04-29T00:10")
    # A late submission lands on the June meeting.
    late = add_case(engine, "Sen anmälan om hjälpmedel", submitter="carl@example.se")
    place_on_agenda(engine, june, late, position=1)

    # Two working days before the agenda deadline: the secretaries (seated and staff).
    assert box.sweep("2023-05-03T09:00") == expect(
        "agenda_reminder", f"agenda_reminder:{may}", SECRETARIES
    )
    approve_agenda(engine, may, local("2023-05-04T15:00"))
    # On the agenda's due day it goes out when working hours begin, to every member with
    # an e-mail address (not to the staff secretary, who is not a member).
    assert box.sweep("2023-05-05T07:30") == []
    assert meeting(engine, may).agenda_sent_at is None
    assert box.sweep("2023-05-05T08:15") == expect("agenda_sent", f"agenda_sent:{may}", MEMBERS)
    assert meeting(engine, may).agenda_sent_at == local("2023-05-05T08:15")
    agenda = outbox(engine)[-1]
    assert agenda.subject == "Dagordning: LSVO fredag 12 maj 2023"
    lines = [line.strip() for line in agenda.body_text.splitlines()]
    numbered = [line for line in lines if line[:2] in ("1.", "2.", "3.", "4.")]
    assert numbered == [
        "1. Mötets öppnande",
        "2. Val av justerare",
        "3. Avtal om hemsjukvård (B)",
        "4. Riktlinje för utskrivning (B)",
    ]
    assert "Föredragande: Bo Berg" in lines
    assert f"https://samverkan.example.se/moten/{may}/dagordning" in agenda.body_text
    assert f'<a href="https://samverkan.example.se/moten/{may}/dagordning">' in agenda.body_html

    # Two working days before the meeting: read the documents.
    assert box.sweep("2023-05-09T09:00") == []
    assert box.sweep("2023-05-10T09:00") == expect(
        "documents_reminder", f"documents_reminder:{may}", MEMBERS
    )
    assert box.sweep("2023-05-12T09:00") == []

    # The June meeting: the late case has no documents.
    assert box.sweep("2023-05-23T09:00") == expect(
        "submission_reminder", f"submission_reminder:{june}:{late}", {"carl@example.se"}
    )
    assert box.sweep("2023-05-27T00:05") == []
    assert meeting(engine, june).submissions_closed_at is not None
    assert box.sweep("2023-05-31T09:00") == expect(
        "agenda_reminder", f"agenda_reminder:{june}", SECRETARIES
    )
    # Not approved on its due day: the chair and the secretaries are alerted, nothing sent.
    assert box.sweep("2023-06-02T08:30") == expect(
        "agenda_not_approved",
        f"agenda_not_approved:{june}",
        {"cecilia@example.se", *SECRETARIES},
    )
    assert box.sweep("2023-06-02T14:00") == []
    assert meeting(engine, june).agenda_sent_at is None
    # Approved late, it goes out at the next sweep, once.
    approve_agenda(engine, june, local("2023-06-05T10:00"))
    assert box.sweep("2023-06-05T10:05") == expect("agenda_sent", f"agenda_sent:{june}", MEMBERS)
    assert box.sweep("2023-06-05T10:20") == []
    assert box.sweep("2023-06-07T09:00") == expect(
        "documents_reminder", f"documents_reminder:{june}", MEMBERS
    )

    kinds = [n.kind for n in outbox(engine)]
    assert len(kinds) == 2 + 2 + 3 + 3 + 1 + 2 + 3 + 3 + 3
    assert all(n.status == "pending" for n in outbox(engine))
