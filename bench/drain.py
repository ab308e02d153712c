"""Draining the outbox to an SMTP server: `python -m bench.drain [--messages N]`.

A real SMTP server (aiosmtpd) runs on loopback in this process's background thread.
Each row sends the same `--messages` rendered messages (the "test" message with one
recipient each) and is timed until the server has accepted them all:

* `drain (SQLite)` / `drain (PostgreSQL)`, `workers=N`: the messages are in the outbox
  of a fresh, migrated database; `notifications.drain.drain` claims, sends through the
  drain's sender (`AppriseSender`: Apprise builds each e-mail, kept-open SMTP
  connections) with N concurrent sends and records every attempt, as the flow does; a
  row for each of `--workers` (the drain's default);
* `smtplib, connection per message`: the same messages built as MIME e-mails with
  `email.message.EmailMessage` (before the clock starts) and sent with
  `smtplib.SMTP(...).send_message`, opening a connection per message, as Apprise's
  e-mail plugin does;
* `smtplib, one connection`: the same over a single connection: the limit;
* `sender alone, one at a time`: the same rendered messages sent one after another
  through the drain's own sender (`AppriseSender.send`), with no outbox: the drain's
  ceiling on one sending thread;
* `Apprise.notify, connection per message`: the same sent one after another through
  `Apprise.notify` with an entry parsed per message, so a connection per message, as
  the sender sent before it kept connections open.

The drain with the default workers must reach at least half of the limit.
`--server-delay-ms` makes the server answer each message later, as a relay further away
would. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
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
from functools import partial
from pathlib import Path
from typing import Any

import apprise
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
DEFAULT_WORKERS: int = inspect.signature(drain).parameters["workers"].default


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


class Counting:
    """An SMTP handler that counts accepted messages, each after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.count = 0
        self.done = threading.Event()
        self.expected = 0
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
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


def rendered_messages(n: int) -> list[Outgoing]:
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
    return outgoing


def run_sender(n: int, port: int, handler: Counting) -> float:
    outgoing = rendered_messages(n)
    handler.expect(n)
    start = time.perf_counter()
    with AppriseSender(smtp_url=f"mailto://127.0.0.1:{port}?from={SENDER}&mode=insecure") as sender:
        for message in outgoing:
            if not sender.send(message).ok:
                raise SystemExit(f"the sender could not send to {message.address}")
    handler.done.wait(60)
    return time.perf_counter() - start


def run_apprise_notify(n: int, port: int, handler: Counting) -> float:
    outgoing = rendered_messages(n)
    handler.expect(n)
    start = time.perf_counter()
    for message in outgoing:
        url = f"mailto://127.0.0.1:{port}?from={SENDER}&mode=insecure&to={message.address}"
        target = apprise.Apprise()
        target.add(url)  # parsed here, per message
        if not target.notify(
            title=message.subject, body=message.html, body_format=apprise.NotifyFormat.HTML
        ):
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


def postgres_reachable() -> bool:
    """Whether the PostgreSQL rows can run (a fresh database can be made and dropped)."""
    pg = postgres_url()
    if pg is None:
        return False
    pg[1]()
    return True


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
    parser.add_argument(
        "--workers",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[DEFAULT_WORKERS],
        help="concurrent sends of the drain, or several (1,2,4): a drain row for each "
        "(the drain's default)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    parser.add_argument(
        "--server-delay-ms",
        type=float,
        default=0.0,
        help="the server answers each message this much later, as a relay further away "
        "or one that stores each message first would (0)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every row this many times, in turn, and keep each row's fastest (1)",
    )
    args = parser.parse_args(argv)
    n = args.messages
    handler = Counting(args.server_delay_ms / 1000)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    best: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
            data_dir = Path(tmp)

            def on_sqlite(workers: int) -> float:
                url = f"sqlite:///{data_dir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
                return run_drain(url, n, port, handler, data_dir, workers)

            def on_postgres(workers: int) -> float:
                pg = postgres_url()
                if pg is None:
                    raise SystemExit("PostgreSQL is no longer reachable")
                url, drop = pg
                try:
                    return run_drain(url, n, port, handler, data_dir, workers)
                finally:
                    drop()

            rows: list[tuple[str, Callable[[], float]]] = [
                (
                    "smtplib, one connection (limit)",
                    lambda: run_smtplib(n, port, handler, one_connection=True),
                ),
                (
                    "smtplib, connection per message",
                    lambda: run_smtplib(n, port, handler, one_connection=False),
                ),
                (
                    "Apprise.notify, connection per message (no outbox)",
                    lambda: run_apprise_notify(n, port, handler),
                ),
                ("sender alone, one at a time (no outbox)", lambda: run_sender(n, port, handler)),
            ]
            for workers in args.workers:
                rows.append((f"drain (SQLite), workers={workers}", partial(on_sqlite, workers)))
            if not args.no_postgres and postgres_reachable():
                for workers in args.workers:
                    name = f"drain (PostgreSQL), workers={workers}"
                    rows.append((name, partial(on_postgres, workers)))
            for round_ in range(1, args.repeat + 1):
                for name, run in rows:
                    progress(f"{name}: {n} messages (run {round_} of {args.repeat})")
                    seconds = run()
                    best[name] = min(seconds, best.get(name, seconds))
    finally:
        controller.stop()
    results = list(best.items())
    limit = n / results[0][1]
    delay = f", answering each after {args.server_delay_ms:g} ms" if args.server_delay_ms else ""
    runs = f", fastest of {args.repeat} runs a row" if args.repeat > 1 else ""
    print(f"\n{n} messages to a local SMTP server (aiosmtpd, 127.0.0.1{delay}){runs}\n")
    print("| row | seconds | messages/s | × limit |")
    print("|---|---:|---:|---:|")
    for name, seconds in results:
        rate = n / seconds
        print(f"| {name} | {seconds:.2f} | {rate:,.0f} | {rate / limit:.2f} |")
    # The target is for the drain as the flow runs it, with the default workers.
    drains = [n / s for name, s in results if name.endswith(f"workers={DEFAULT_WORKERS}")]
    verdict = "PASS" if drains and min(drains) >= limit / 2 else "MISS"
    if not drains:
        verdict = f"not measured (no drain row with workers={DEFAULT_WORKERS})"
    print(
        f"\nTarget: the drain with the default workers={DEFAULT_WORKERS} at least 0.5× "
        f"the limit on each database: {verdict}"
    )
    return 0


def free_port() -> int:
    """A free loopback port (closed again before the server binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
