"""Draining the outbox to an SMTP server: `python -m bench.drain [--messages N]`.

A real SMTP server (aiosmtpd) runs on loopback in this process's background thread.
Each row sends the same `--messages` rendered messages (the "test" message with one
recipient each) and is timed until the server has accepted them all:

* `drain (SQLite)` / `drain (PostgreSQL)`: the messages are in the outbox of a fresh,
  migrated database; `notifications.drain.drain` claims, sends through Apprise and
  records every attempt, as the flow does;
* `smtplib, connection per message`: the same messages built as MIME e-mails with
  `email.message.EmailMessage` and sent with `smtplib.SMTP(...).send_message`, opening a
  connection per message, as Apprise does;
* `smtplib, one connection`: the same over a single connection: the limit;
* `Apprise alone, one at a time`: the same rendered messages sent one after another
  through the drain's own sender (`AppriseSender.send`), with no outbox: what any drain
  that delivers through Apprise can reach on one core.

The drain must reach at least half of the limit. Progress goes to stderr, the table to
stdout.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from casework.db import make_engine, migrate, unit_of_work
from casework.outbox import Recipient, enqueue
from notifications.delivery import AppriseSender, Outgoing
from notifications.drain import drain
from notifications.messages import render

POSTGRES_URL = os.environ.get(
    "SAMVERKAN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SENDER = "samverkan@example.se"


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


class Counting:
    """An SMTP handler that counts accepted messages."""

    def __init__(self) -> None:
        self.count = 0
        self.done = threading.Event()
        self.expected = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return "250 Message accepted"

    def expect(self, n: int) -> None:
        self.count, self.expected = 0, n
        self.done.clear()


def addresses(n: int) -> list[str]:
    return [f"ledamot{i}@example.se" for i in range(n)]


def run_drain(
    url: str, n: int, port: int, handler: Counting, data_dir: Path, workers: int
) -> float:
    engine = make_engine(url)
    migrate(engine)
    with unit_of_work(engine) as session:
        enqueue(
            session,
            kind="test",
            recipients=[Recipient(f"Ledamot {i}", a) for i, a in enumerate(addresses(n))],
            context={"public_url": "https://samverkan.example.se"},
        )
    sender = AppriseSender(smtp_url=f"mailto://127.0.0.1:{port}?from={SENDER}&mode=insecure")
    handler.expect(n)
    start = time.perf_counter()
    report = drain(engine, sender, data_dir=data_dir, workers=workers)
    handler.done.wait(60)
    elapsed = time.perf_counter() - start
    engine.dispose()
    if report.sent != n or handler.count != n:
        raise SystemExit(f"drain sent {report.sent}, server got {handler.count}, expected {n}")
    return elapsed


def mime_messages(n: int) -> list[EmailMessage]:
    messages = []
    for i, address in enumerate(addresses(n)):
        rendered = render(
            "test",
            {
                "recipient": Recipient(f"Ledamot {i}", address),
                "public_url": "https://samverkan.example.se",
            },
        )
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, address, rendered.subject
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        messages.append(message)
    return messages


def run_apprise(n: int, port: int, handler: Counting) -> float:
    sender = AppriseSender(smtp_url=f"mailto://127.0.0.1:{port}?from={SENDER}&mode=insecure")
    outgoing = []
    for i, address in enumerate(addresses(n)):
        rendered = render(
            "test",
            {
                "recipient": Recipient(f"Ledamot {i}", address),
                "public_url": "https://samverkan.example.se",
            },
        )
        outgoing.append(Outgoing(address, rendered.subject, rendered.text, rendered.html))
    handler.expect(n)
    start = time.perf_counter()
    for message in outgoing:
        if not sender.send(message).ok:
            raise SystemExit(f"Apprise could not send to {message.address}")
    handler.done.wait(60)
    return time.perf_counter() - start


def run_smtplib(n: int, port: int, handler: Counting, *, one_connection: bool) -> float:
    messages = mime_messages(n)
    handler.expect(n)
    start = time.perf_counter()
    if one_connection:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for message in messages:
                smtp.send_message(message)
    else:
        for message in messages:
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                smtp.send_message(message)
    handler.done.wait(60)
    return time.perf_counter() - start


def postgres_url() -> tuple[str, Callable[[], None]] | None:
    """A fresh database on the local server, and how to drop it; None if unreachable."""
    admin_url = make_url(POSTGRES_URL)
    name = f"bench_drain_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        progress(f"PostgreSQL not reachable, row left out: {error.orig}")
        return None

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drain",
        description="Outbox drain to a local SMTP server against smtplib sending directly.",
    )
    parser.add_argument("--messages", type=int, default=1000, help="messages per row (1000)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent sends (4)")
    parser.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    args = parser.parse_args(argv)
    n = args.messages
    handler = Counting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    rows: list[tuple[str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
            data_dir = Path(tmp)
            progress(f"smtplib, one connection: {n} messages")
            rows.append(
                (
                    "smtplib, one connection (limit)",
                    run_smtplib(n, port, handler, one_connection=True),
                )
            )
            progress(f"smtplib, connection per message: {n} messages")
            rows.append(
                (
                    "smtplib, connection per message",
                    run_smtplib(n, port, handler, one_connection=False),
                )
            )
            progress(f"Apprise alone, one at a time: {n} messages")
            rows.append(("Apprise alone, one at a time (no outbox)", run_apprise(n, port, handler)))
            progress(f"drain on SQLite: {n} messages")
            rows.append(
                (
                    "drain (SQLite)",
                    run_drain(
                        f"sqlite:///{data_dir / 'bench.db'}",
                        n,
                        port,
                        handler,
                        data_dir,
                        args.workers,
                    ),
                )
            )
            if not args.no_postgres and (pg := postgres_url()) is not None:
                url, drop = pg
                try:
                    progress(f"drain on PostgreSQL: {n} messages")
                    rows.append(
                        (
                            "drain (PostgreSQL)",
                            run_drain(url, n, port, handler, data_dir, args.workers),
                        )
                    )
                finally:
                    drop()
    finally:
        controller.stop()
    limit = n / rows[0][1]
    print(f"\n{n} messages to a local SMTP server (aiosmtpd, 127.0.0.1)\n")
    print("| row | seconds | messages/s | × limit |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows:
        rate = n / seconds
        print(f"| {name} | {seconds:.2f} | {rate:,.0f} | {rate / limit:.2f} |")
    drains = [n / s for name, s in rows if name.startswith("drain")]
    verdict = "PASS" if drains and min(drains) >= limit / 2 else "MISS"
    print(f"\nTarget: every drain at least 0.5× the limit: {verdict}")
    return 0


def free_port() -> int:
    """A free loopback port (closed again before the server binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
