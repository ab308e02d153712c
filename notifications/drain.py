"""Draining the outbox: claim due messages, send them, record every attempt.

A drain claims a batch by setting `claimed_until` in its own short transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite every transaction is `BEGIN
IMMEDIATE`, so claims are taken one at a time), sends outside any transaction, and then
records the outcomes. A drain that dies between sending and recording leaves its claim to
lapse, and the next drain sends those messages again: a message may arrive twice, but is
never lost. Failures are retried with exponential backoff and the message is marked dead
after the last attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col, select

from casework.agenda import load_agenda
from casework.agenda_pdf import render_agenda_pdf
from casework.db import unit_of_work
from casework.model import Notification, NotificationAttempt, NotificationStatus, utcnow
from casework.outbox import AGENDA_OF_MEETING, Recipient, stored_attachment
from casework.settings import Settings
from notifications.delivery import FileToSend, Outcome, Outgoing
from notifications.messages import html_part, render

Unit = tuple[list[Notification], Outgoing]
"""Messages sent as one (a recipient's digest) and what is sent for them."""


class Sender(Protocol):
    def send(self, message: Outgoing) -> Outcome: ...

    def close(self) -> None:
        """End what the sends kept open (connections); sending again opens them anew."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and the wait after each failure: 15 min, 1 h, 4 h, 16 h by default (≈ a day)."""

    max_attempts: int = 5
    first_delay: timedelta = timedelta(minutes=15)
    factor: float = 4.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.first_delay <= timedelta(0) or self.factor < 1:
            raise ValueError("first_delay must be positive and factor at least 1")

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        return self.first_delay * self.factor ** (attempts - 1)


@dataclass
class DrainReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def claim(engine: Engine, *, now: datetime, limit: int, lease: timedelta) -> list[Notification]:
    """Take up to `limit` due messages for this drain until `now + lease`."""
    with unit_of_work(engine) as session:
        query = (
            select(Notification.id)
            .where(
                Notification.status == NotificationStatus.pending,
                col(Notification.not_before) <= now,
                sa.or_(
                    col(Notification.claimed_until).is_(None),
                    col(Notification.claimed_until) < now,
                ),
            )
            .order_by(col(Notification.not_before), col(Notification.id))
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(session.exec(query).all())
        if not ids:
            return []
        session.execute(
            sa.update(Notification)
            .where(col(Notification.id).in_(ids))
            .values(claimed_until=now + lease)
        )
        rows = session.exec(
            select(Notification).where(col(Notification.id).in_(ids)).order_by(col(Notification.id))
        ).all()
        return list(rows)


_NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
_INSERT_ATTEMPT = sa.insert(NotificationAttempt.__table__)  # type: ignore[attr-defined]


def record(
    engine: Engine,
    results: Sequence[tuple[Notification, Outcome]],
    *,
    now: datetime,
    policy: RetryPolicy,
    report: DrainReport,
) -> None:
    """Store the outcome of each attempt and move each message on, in one transaction.

    All attempts go in with one statement, the sent messages are moved on with another
    and the failed ones with one more (one execution of it per message); only messages
    still pending are moved, and their attempt count is raised where it is stored.
    """
    if not results:
        return
    attempts = []
    sent: list[int] = []
    failed: list[dict[str, object]] = []
    errors: list[str] = []
    dead = 0
    for row, outcome in results:
        attempts.append(
            {
                "notification_id": _id(row),
                "at": now,
                "channel": outcome.channel[:500],
                "success": outcome.ok,
                "error": outcome.error,
            }
        )
        if outcome.ok:
            sent.append(_id(row))
            continue
        errors.append(f"message {row.id}: {outcome.error}")
        tries = row.attempts + 1
        if tries >= policy.max_attempts:
            status, not_before = NotificationStatus.dead, None
            dead += 1
        else:
            status, not_before = NotificationStatus.pending, now + policy.delay_after(tries)
        failed.append(
            {
                "b_id": row.id,
                "b_status": status,
                "b_not_before": not_before,
                "b_error": outcome.error,
            }
        )
    table = _NOTIFICATIONS
    still_pending = table.c.status == NotificationStatus.pending
    with unit_of_work(engine) as session:
        connection = session.connection()
        connection.execute(_INSERT_ATTEMPT, attempts)
        if sent:
            connection.execute(
                sa.update(table)
                .where(table.c.id.in_(sent), still_pending)
                .values(
                    attempts=table.c.attempts + 1,
                    claimed_until=None,
                    status=NotificationStatus.sent,
                    sent_at=now,
                    last_error="",
                )
            )
        if failed:
            connection.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("b_id"), still_pending)
                .values(
                    attempts=table.c.attempts + 1,
                    claimed_until=None,
                    status=sa.bindparam("b_status"),
                    # A dead message keeps its time; one to retry waits for its backoff.
                    not_before=sa.func.coalesce(
                        sa.bindparam("b_not_before", type_=table.c.not_before.type),
                        table.c.not_before,
                    ),
                    last_error=sa.bindparam("b_error"),
                ),
                failed,
            )
    report.sent += len(sent)
    report.dead += dead
    report.retried += len(failed) - dead
    report.errors.extend(errors)


def _id(row: Notification) -> int:
    assert row.id is not None, "a claimed message has been stored"
    return row.id


class AgendaFiles:
    """Agenda PDFs rendered when their message is sent, once per meeting and drain."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self._paths: dict[int, str] = {}

    def path(self, meeting_id: int) -> Path:
        if meeting_id not in self._paths:
            pdf = render_agenda_pdf(load_agenda(self.engine, meeting_id))
            stored = stored_attachment(
                self.data_dir, filename="", content_type="application/pdf", content=pdf
            )
            self._paths[meeting_id] = stored["path"]
        return self.data_dir / self._paths[meeting_id]


def _files(
    rows: Sequence[Notification], data_dir: Path, agendas: AgendaFiles | None
) -> tuple[FileToSend, ...]:
    files = []
    for row in rows:
        for item in row.attachments:
            meeting = item.get(AGENDA_OF_MEETING)
            if meeting is not None and agendas is not None:
                path = agendas.path(int(meeting))
            else:
                path = data_dir / item["path"]
            files.append(FileToSend(path, item["filename"], item["content_type"]))
    return tuple(files)


def delivery_units(
    rows: Sequence[Notification], data_dir: Path, agendas: AgendaFiles | None = None
) -> list[tuple[list[Notification], Outgoing]]:
    """What to send for claimed rows: each message alone, except that a recipient's digest
    messages go together as one."""
    units: list[tuple[list[Notification], Outgoing]] = []
    digests: dict[str, list[Notification]] = {}
    for row in rows:
        if row.digest:
            digests.setdefault(row.recipient_address.casefold(), []).append(row)
            continue
        message = Outgoing(
            address=row.recipient_address,
            subject=row.subject,
            text=row.body_text,
            html=html_part(row.subject, row.body_text, row.body_html),
            attachments=_files([row], data_dir, agendas),
        )
        units.append(([row], message))
    for group in digests.values():
        first = group[0]
        recipient = Recipient(first.recipient_name, first.recipient_address, first.member_id)
        rendered = render("digest", {"recipient": recipient, "messages": group})
        message = Outgoing(
            address=first.recipient_address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=_files(group, data_dir, agendas),
        )
        units.append((group, message))
    return units


def drain(
    engine: Engine,
    sender: Sender,
    *,
    data_dir: Path,
    clock: Callable[[], datetime] = utcnow,
    batch_size: int = 100,
    record_every: int = 20,
    lease: timedelta = timedelta(minutes=10),
    policy: RetryPolicy = RetryPolicy(),
    max_batches: int | None = None,
    on_progress: Callable[[DrainReport], None] | None = None,
    workers: int = 2,
) -> DrainReport:
    """Send every message due now, batch after batch, until none is left to claim.

    `workers` messages are sent at once, each worker over its own kept-open connections
    (2 by default: with the SMTP server on the same machine, more workers only contend
    for the interpreter, and 4 can fall below half of what smtplib alone sends; with a
    server that takes 20 ms to answer each message they scale, 4 sending 1.8× as fast
    as 2; see bench/README.md). Outcomes are recorded every `record_every` messages,
    while the next `record_every` are being sent. The sender's connections are closed
    when the drain ends, however it ends.
    """
    try:
        with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            try:
                return _drain(
                    engine, sender, pool, data_dir=data_dir, clock=clock,
                    batch_size=batch_size, record_every=record_every, lease=lease,
                    policy=policy, max_batches=max_batches, on_progress=on_progress,
                )  # fmt: skip
            except BaseException:
                if pool is not None:  # what was not sent yet is not sent now
                    pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        sender.close()


def drain_configured(
    engine: Engine,
    sender: Sender,
    settings: Settings,
    *,
    on_progress: Callable[[DrainReport], None] | None = None,
) -> DrainReport:
    """`drain` with the configured data directory and claim lease: the `outbox-drain`
    flow and `samverkan notify drain` both drain this way."""
    return drain(
        engine,
        sender,
        data_dir=settings.data_dir,
        lease=timedelta(seconds=settings.drain_lease_seconds),
        on_progress=on_progress,
    )


def _drain(
    engine: Engine,
    sender: Sender,
    pool: ThreadPoolExecutor | None,
    *,
    data_dir: Path,
    clock: Callable[[], datetime],
    batch_size: int,
    record_every: int,
    lease: timedelta,
    policy: RetryPolicy,
    max_batches: int | None,
    on_progress: Callable[[DrainReport], None] | None,
) -> DrainReport:
    report = DrainReport()
    agendas = AgendaFiles(engine, data_dir)
    batches = 0
    while max_batches is None or batches < max_batches:
        rows = claim(engine, now=clock(), limit=batch_size, lease=lease)
        if not rows:
            break
        batches += 1
        report.claimed += len(rows)
        units = delivery_units(rows, data_dir, agendas)
        chunks = [units[i : i + record_every] for i in range(0, len(units), record_every)]
        if pool is None:
            for chunk in chunks:
                outcomes = [sender.send(message) for _rows, message in chunk]
                _record(engine, chunk, outcomes, clock=clock, policy=policy, report=report)
        else:
            # The next chunk is sent while this one is recorded: at most two chunks are
            # sent and not yet recorded.
            sending: tuple[list[Unit], list[Future[Outcome]]] | None = None
            for units_to_send in chunks:
                futures = [pool.submit(sender.send, message) for _, message in units_to_send]
                if sending is not None:
                    _record(engine, *_wait(sending), clock=clock, policy=policy, report=report)
                sending = (units_to_send, futures)
            if sending is not None:
                _record(engine, *_wait(sending), clock=clock, policy=policy, report=report)
        if on_progress is not None:
            on_progress(report)
    return report


def _wait(
    sending: tuple[list[Unit], list[Future[Outcome]]],
) -> tuple[list[Unit], list[Outcome]]:
    units, futures = sending
    return units, [future.result() for future in futures]


def _record(
    engine: Engine,
    units: Sequence[Unit],
    outcomes: Sequence[Outcome],
    *,
    clock: Callable[[], datetime],
    policy: RetryPolicy,
    report: DrainReport,
) -> None:
    """Record the outcome of each unit for each of its messages."""
    results = [
        (row, outcome)
        for (unit_rows, _message), outcome in zip(units, outcomes, strict=True)
        for row in unit_rows
    ]
    record(engine, results, now=clock(), policy=policy, report=report)
