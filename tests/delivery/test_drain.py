"""The outbox drain against real receivers on loopback: SMTP (aiosmtpd) and HTTP (json://)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col, select

from casework.db import unit_of_work
from casework.model import Notification, NotificationAttempt, NotificationStatus
from casework.outbox import Recipient, enqueue, send_again, stored_attachment
from delivery.conftest import Clock, HttpReceiver, SmtpServer
from notifications.delivery import AppriseSender, Outcome, Outgoing
from notifications.drain import DrainReport, RetryPolicy, claim, drain, record

CONTEXT = {"public_url": "https://samverkan.example.se"}


def _enqueue(engine: Engine, clock: Clock, *addresses: str, **kwargs: object) -> list[int]:
    with unit_of_work(engine) as session:
        return enqueue(
            session,
            kind="test",
            recipients=[Recipient(f"Mottagare {i}", a) for i, a in enumerate(addresses)],
            context=CONTEXT,
            not_before=clock(),
            **kwargs,  # type: ignore[arg-type]
        )


def _rows(engine: Engine) -> list[Notification]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def _attempts(engine: Engine, notification_id: int) -> list[NotificationAttempt]:
    with unit_of_work(engine) as session:
        query = select(NotificationAttempt).where(
            NotificationAttempt.notification_id == notification_id
        )
        return list(session.exec(query.order_by(col(NotificationAttempt.id))).all())


def test_an_email_arrives_with_subject_text_html_and_attachment(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    pdf = b"%PDF-1.4\n% dagordning\n"
    attachment = stored_attachment(
        tmp_path, filename="dagordning.pdf", content_type="application/pdf", content=pdf
    )
    [message_id] = _enqueue(migrated_engine, clock, "anna@example.se", attachments=[attachment])
    sender = AppriseSender(smtp_url=smtp_server.url())

    report = drain(migrated_engine, sender, data_dir=tmp_path, clock=clock)

    assert (report.claimed, report.sent, report.retried, report.dead) == (1, 1, 0, 0)
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Provmeddelande från Samverkan Blekinge"
    assert mail["To"] == "anna@example.se"
    assert "samverkan@example.se" in mail["From"]
    parts = {part.get_content_type(): part for part in mail.walk()}
    assert "Det här är ett provmeddelande" in parts["text/html"].get_content()
    assert 'href="https://samverkan.example.se"' in parts["text/html"].get_content()
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "dagordning.pdf"
    assert attached.get_content() == pdf
    [row] = _rows(migrated_engine)
    assert row.status == NotificationStatus.sent
    assert row.sent_at == clock.now
    assert row.attempts == 1
    [attempt] = _attempts(migrated_engine, message_id)
    assert attempt.success
    assert attempt.channel.startswith("mailto://127.0.0.1")


def test_a_json_url_receives_title_and_body(
    migrated_engine: Engine, http_receiver: HttpReceiver, clock: Clock, tmp_path: Path
) -> None:
    _enqueue(migrated_engine, clock, http_receiver.url)
    report = drain(migrated_engine, AppriseSender(), data_dir=tmp_path, clock=clock)
    assert report.sent == 1
    [payload] = http_receiver.received
    assert payload["title"] == "Provmeddelande från Samverkan Blekinge"
    assert "Det här är ett provmeddelande" in payload["message"]


def test_a_failing_endpoint_is_retried_with_backoff_and_then_dead(
    migrated_engine: Engine, http_receiver: HttpReceiver, clock: Clock, tmp_path: Path
) -> None:
    http_receiver.status = 500
    start = clock.now
    [message_id] = _enqueue(migrated_engine, clock, http_receiver.url)
    sender = AppriseSender()
    waits = []
    for _ in range(5):
        report = drain(migrated_engine, sender, data_dir=tmp_path, clock=clock)
        assert report.claimed == 1
        # Nothing more is due until the backoff has passed.
        assert drain(migrated_engine, sender, data_dir=tmp_path, clock=clock).claimed == 0
        [row] = _rows(migrated_engine)
        if row.status == NotificationStatus.dead:
            break
        waits.append(row.not_before - clock.now)
        clock.now = row.not_before
    assert waits == [
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
        timedelta(hours=16),
    ]
    assert row.status == NotificationStatus.dead
    assert row.attempts == 5
    assert "500" in row.last_error or "error" in row.last_error.lower()
    assert clock.now - start == timedelta(hours=21, minutes=15)
    attempts = _attempts(migrated_engine, message_id)
    assert [a.success for a in attempts] == [False] * 5
    assert len(http_receiver.received) == 5

    # The secretary's "send again": a fresh set of attempts, due at once.
    http_receiver.status = 200
    send_again(migrated_engine, message_id, actor="sekreterare", now=clock.now)
    assert drain(migrated_engine, sender, data_dir=tmp_path, clock=clock).sent == 1
    [row] = _rows(migrated_engine)
    assert row.status == NotificationStatus.sent


def test_secrets_in_urls_stay_out_of_the_recorded_channel_and_error(
    migrated_engine: Engine, http_receiver: HttpReceiver, clock: Clock, tmp_path: Path
) -> None:
    http_receiver.status = 503
    secret_url = f"json://kalle:hemligt-losen@127.0.0.1:{http_receiver.port}/hook"
    [message_id] = _enqueue(migrated_engine, clock, secret_url)
    drain(migrated_engine, AppriseSender(), data_dir=tmp_path, clock=clock)
    [attempt] = _attempts(migrated_engine, message_id)
    assert not attempt.success
    assert "hemligt-losen" not in attempt.channel
    assert "hemligt-losen" not in attempt.error
    assert "kalle" in attempt.channel  # the user name is shown, the password masked


def test_an_address_that_cannot_be_reached_says_why(
    migrated_engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    ids = _enqueue(migrated_engine, clock, "anna@example.se", "inte-en-url://x", "tag:lsvo")
    drain(migrated_engine, AppriseSender(), data_dir=tmp_path, clock=clock)
    errors = [_attempts(migrated_engine, i)[0].error for i in ids]
    assert errors == [
        "no SMTP server configured (SAMVERKAN_SMTP_URL)",
        "not a valid Apprise URL or e-mail address",
        "tag addresses need SAMVERKAN_APPRISE_CONFIG",
    ]


def test_a_message_held_for_working_hours_waits(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    with unit_of_work(migrated_engine) as session:
        enqueue(
            session,
            kind="test",
            recipients=[Recipient("Anna", "anna@example.se")],
            context=CONTEXT,
            not_before=clock.now + timedelta(hours=1),
        )
    sender = AppriseSender(smtp_url=smtp_server.url())
    assert drain(migrated_engine, sender, data_dir=tmp_path, clock=clock).claimed == 0
    clock.advance(hours=1)
    assert drain(migrated_engine, sender, data_dir=tmp_path, clock=clock).sent == 1


class CrashAfter:
    """Sends for real, then dies like a killed process after `limit` messages."""

    def __init__(self, inner: AppriseSender, limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    def send(self, message: Outgoing) -> Outcome:
        if self.count == self.limit:
            raise SystemExit("killed")
        self.count += 1
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def test_a_drain_killed_mid_batch_loses_nothing(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    addresses = [f"person{i}@example.se" for i in range(30)]
    _enqueue(migrated_engine, clock, *addresses)
    sender = AppriseSender(smtp_url=smtp_server.url())
    with pytest.raises(SystemExit):
        drain(
            migrated_engine, CrashAfter(sender, 13), data_dir=tmp_path, clock=clock, record_every=5
        )
    # Ten were recorded as sent before the crash; three were sent but not recorded.
    statuses = Counter(row.status for row in _rows(migrated_engine))
    assert statuses == {NotificationStatus.sent: 10, NotificationStatus.pending: 20}
    # The dead drain's claim holds the rest until its lease lapses.
    assert drain(migrated_engine, sender, data_dir=tmp_path, clock=clock).claimed == 0
    clock.advance(minutes=11)
    report = drain(migrated_engine, sender, data_dir=tmp_path, clock=clock)
    assert report.sent == 20
    mails = smtp_server.wait_for(33)
    received = Counter(str(mail["To"]) for mail in mails)
    assert set(received) == set(addresses)  # nothing lost
    assert sum(received.values()) == 33  # the three in the crash window came twice
    assert all(row.status == NotificationStatus.sent for row in _rows(migrated_engine))


def test_two_drains_at_once_send_each_message_once(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    addresses = [f"person{i}@example.se" for i in range(120)]
    _enqueue(migrated_engine, clock, *addresses)
    sender = AppriseSender(smtp_url=smtp_server.url())
    reports = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        reports.append(
            drain(migrated_engine, sender, data_dir=tmp_path, clock=clock, batch_size=10)
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(r.sent for r in reports) == 120
    assert all(r.claimed > 0 for r in reports), "both drains took part"
    received = Counter(str(mail["To"]) for mail in smtp_server.wait_for(120))
    assert set(received) == set(addresses)
    assert max(received.values()) == 1


def test_recording_moves_only_messages_still_pending_and_keeps_every_attempt(
    migrated_engine: Engine, clock: Clock
) -> None:
    ids = _enqueue(migrated_engine, clock, "a@example.se", "b@example.se", "c@example.se")
    rows = claim(migrated_engine, now=clock(), limit=10, lease=timedelta(minutes=10))
    # The first was sent meanwhile by another drain (this one's claim had lapsed).
    with unit_of_work(migrated_engine) as session:
        session.execute(
            sa.update(Notification)
            .where(col(Notification.id) == ids[0])
            .values(status=NotificationStatus.sent, attempts=1, claimed_until=None)
        )
    report = DrainReport()
    outcomes = [
        Outcome(False, "mailto", "boom"),
        Outcome(True, "mailto"),
        Outcome(False, "x", "nej"),
    ]
    clock.advance(minutes=1)
    record(
        migrated_engine,
        list(zip(rows, outcomes, strict=True)),
        now=clock(),
        policy=RetryPolicy(max_attempts=2),
        report=report,
    )
    first, second, third = _rows(migrated_engine)
    assert (first.status, first.attempts, first.last_error) == (NotificationStatus.sent, 1, "")
    assert (second.status, second.attempts, second.sent_at) == (
        NotificationStatus.sent,
        1,
        clock.now,
    )
    assert (third.status, third.attempts, third.last_error) == (
        NotificationStatus.pending,
        1,
        "nej",
    )
    assert third.not_before == clock.now + timedelta(minutes=15)
    assert third.claimed_until is None
    assert [len(_attempts(migrated_engine, i)) for i in ids] == [1, 1, 1]
    assert (report.sent, report.retried, report.dead) == (1, 2, 0)

    # The last attempt makes it dead, and its time stays as it was.
    clock.now = third.not_before
    [again] = claim(migrated_engine, now=clock(), limit=10, lease=timedelta(minutes=10))
    record(
        migrated_engine,
        [(again, Outcome(False, "x", "nej igen"))],
        now=clock(),
        policy=RetryPolicy(max_attempts=2),
        report=report,
    )
    third = _rows(migrated_engine)[2]
    assert (third.status, third.attempts, third.last_error) == (
        NotificationStatus.dead,
        2,
        "nej igen",
    )
    assert third.not_before == again.not_before
    assert report.dead == 1


def test_retry_policy_validates_and_grows() -> None:
    policy = RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=1), factor=2)
    assert [policy.delay_after(n) for n in (1, 2)] == [timedelta(minutes=1), timedelta(minutes=2)]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_a_tag_address_reaches_the_entries_with_that_tag_in_the_apprise_yaml(
    migrated_engine: Engine, http_receiver: HttpReceiver, clock: Clock, tmp_path: Path
) -> None:
    config = tmp_path / "apprise.yml"
    config.write_text(
        "urls:\n"
        f"  - {http_receiver.url}?group=vuxna:\n"
        "      tag: sg-vuxna\n"
        f"  - {http_receiver.url}?group=aldre:\n"
        "      tag: sg-aldre\n",
        encoding="utf-8",
    )
    _enqueue(migrated_engine, clock, "tag:sg-vuxna", "tag:okand")
    sender = AppriseSender(config_path=config)
    report = drain(migrated_engine, sender, data_dir=tmp_path, clock=clock)
    assert (report.sent, report.retried) == (1, 1), report.errors
    assert len(http_receiver.received) == 1
    assert "no entry tagged 'okand'" in report.errors[0]


def test_a_missing_apprise_config_is_a_clear_error(tmp_path: Path) -> None:
    from notifications.delivery import DeliveryConfigError

    with pytest.raises(DeliveryConfigError, match="not a readable file"):
        AppriseSender(config_path=tmp_path / "saknas.yml")


def test_a_drain_sends_its_emails_over_one_connection_per_worker_and_quits_them(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    addresses = [f"person{i}@example.se" for i in range(25)]
    _enqueue(migrated_engine, clock, *addresses)
    sender = AppriseSender(smtp_url=smtp_server.url())
    report = drain(
        migrated_engine, sender, data_dir=tmp_path, clock=clock, workers=1, batch_size=10
    )
    assert report.sent == 25
    mails = smtp_server.wait_for(25)
    assert sorted(str(mail["To"]) for mail in mails) == sorted(addresses)
    assert len(smtp_server.connections) == 1
    assert smtp_server.quits == 1  # closed when the drain ended

    # With concurrent sends, each worker keeps a connection of its own.
    more = [f"other{i}@example.se" for i in range(40)]
    _enqueue(migrated_engine, clock, *more)
    assert drain(migrated_engine, sender, data_dir=tmp_path, clock=clock, workers=3).sent == 40
    smtp_server.wait_for(65)
    assert 2 <= len(smtp_server.connections) <= 1 + 3
    assert smtp_server.quits == len(smtp_server.connections)


def test_a_connection_the_server_drops_mid_drain_is_opened_again_and_nothing_is_lost(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    addresses = [f"person{i}@example.se" for i in range(30)]
    ids = _enqueue(migrated_engine, clock, *addresses)
    # The first message of the second batch finds the connection closed by the server
    # (a restart); one in the third batch is answered 421 (shutting down) at DATA.
    smtp_server.closing.add("person25@example.se")
    sender = AppriseSender(smtp_url=smtp_server.url())
    report = drain(
        migrated_engine,
        sender,
        data_dir=tmp_path,
        clock=clock,
        workers=1,
        batch_size=10,
        on_progress=lambda _report: smtp_server.drop_connections(),
    )
    assert (report.sent, report.retried, report.dead) == (30, 0, 0), report.errors
    received = Counter(str(mail["To"]) for mail in smtp_server.wait_for(30))
    assert received == dict.fromkeys(addresses, 1)  # each once, none lost
    assert len(smtp_server.connections) == 4  # the first, two after drops, one after 421
    assert all(row.status == NotificationStatus.sent for row in _rows(migrated_engine))
    assert all([a.success for a in _attempts(migrated_engine, i)] == [True] for i in ids)


def test_a_refused_recipient_fails_only_its_own_message(
    migrated_engine: Engine, smtp_server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    addresses = [f"person{i}@example.se" for i in range(6)]
    ids = _enqueue(migrated_engine, clock, *addresses)
    smtp_server.refused.add("person2@example.se")
    sender = AppriseSender(smtp_url=smtp_server.url())
    report = drain(migrated_engine, sender, data_dir=tmp_path, clock=clock, workers=1)
    assert (report.sent, report.retried) == (5, 1)
    received = sorted(str(mail["To"]) for mail in smtp_server.wait_for(5))
    assert received == sorted(set(addresses) - {"person2@example.se"})
    assert len(smtp_server.connections) == 1  # the refusal did not cost the connection
    [attempt] = _attempts(migrated_engine, ids[2])
    assert not attempt.success
    assert attempt.error == (
        'Sending email to "person2@example.se" failed: '
        "person2@example.se refused: 550 5.1.1 No such mailbox here"
    )
    rows = _rows(migrated_engine)
    assert [row.status for row in rows] == [NotificationStatus.sent] * 2 + [
        NotificationStatus.pending
    ] + [NotificationStatus.sent] * 3
    assert rows[2].attempts == 1
    assert rows[2].not_before == clock.now + timedelta(minutes=15)
    assert rows[2].last_error == attempt.error


def test_a_server_that_cannot_be_reached_fails_each_message_with_the_reason(
    migrated_engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    from delivery.conftest import free_port

    ids = _enqueue(migrated_engine, clock, "anna@example.se", "bo@example.se")
    url = f"mailto://127.0.0.1:{free_port()}?from=samverkan@example.se&mode=insecure"
    report = drain(migrated_engine, AppriseSender(smtp_url=url), data_dir=tmp_path, clock=clock)
    assert (report.sent, report.retried) == (0, 2)
    for message_id in ids:
        [attempt] = _attempts(migrated_engine, message_id)
        assert attempt.error.startswith('Connection error while submitting email to "127.0.0.1": ')
        assert "Connection refused" in attempt.error
