"""Real receivers on loopback: an SMTP server (aiosmtpd) and an HTTP server for json://."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    """The handler of a real SMTP server: keeps what it accepts and counts connections.

    `refused` recipients get a 550 at RCPT; `closing` recipients get a 421 (the server
    is closing the connection) at DATA once, as a server that shuts down does.
    """

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refused: set[str] = field(default_factory=set)
    closing: set[str] = field(default_factory=set)
    # Every connection that said EHLO, by id; the connection each message came over.
    connections: dict[int, Any] = field(default_factory=dict)
    message_connections: list[int] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    quits: int = 0

    def url(self, sender: str = "samverkan@example.se") -> str:
        """The Apprise e-mail URL (without `to`) that delivers to this server."""
        return f"mailto://127.0.0.1:{self.port}?from={sender}&mode=insecure&name=Samverkan"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections.setdefault(id(server), server)
        session.host_name = hostname  # what aiosmtpd does when there is no hook
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            closing = self.closing & set(envelope.rcpt_tos)
            if closing:
                self.closing -= closing
                return "421 4.3.2 Service shutting down, closing the connection"
            self.messages.append(message)
            self.message_connections.append(id(server))
            self.envelopes.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.quits += 1
        return "221 Bye"

    def drop_connections(self) -> None:
        """Close every open connection from the server's side, as a restart would."""
        with self.lock:
            servers = [s for s in self.connections.values() if s.transport is not None]
        for server in servers:
            done = threading.Event()

            def close(server: Any = server, done: threading.Event = done) -> None:
                if server.transport is not None:
                    server.transport.close()
                done.set()

            server.loop.call_soon_threadsafe(close)
            assert done.wait(5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mails, got {len(self.messages)}")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class HttpReceiver:
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            receiver.received.append(json.loads(self.rfile.read(length) or b"{}"))
            receiver.headers.append(dict(self.headers))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: Any) -> None:
        self.now = start

    def __call__(self) -> Any:
        return self.now

    def advance(self, **kwargs: float) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    from datetime import UTC, datetime

    return Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


Factory = Callable[..., Any]
