"""Delivery through Apprise: one message to one address, with the outcome told plainly.

An address is an e-mail address (sent through the configured SMTP server,
`SAMVERKAN_SMTP_URL`), an Apprise URL (`mailto://…`, `msteams://…`, `slack://…`,
`json://…`), or `tag:<name>` for the entries with that tag in the Apprise YAML file
(`SAMVERKAN_APPRISE_CONFIG`). The channel recorded for an attempt is the URL with its
secrets masked (Apprise's privacy form); secrets never reach the logs or the pages.

E-mail to one address (an e-mail address, or a `mailto://` URL) is built by Apprise's
e-mail plugin from the URL's settings (`NotifyEmail.prepare_emails`) and sent over an SMTP
connection kept open from message to message: Apprise itself opens and quits a connection
for every message, which costs more than building the message. Other URLs and tag entries
go through `Apprise.notify`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import smtplib
import ssl
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeGuard
from urllib.parse import quote

import apprise
import apprise.plugins.email.base as apprise_email
from apprise.attachment.file import AttachFile
from apprise.conversion import convert_between
from apprise.emojis import apply_emojis
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.email.common import SECURE_MODES, AppriseEmailException, SecureMailMode
from apprise.utils.parse import is_email as apprise_is_email
from apprise.utils.parse import parse_emails

from casework.settings import Settings

log = logging.getLogger("samverkan.notifications")

EMAIL_SCHEMES = ("mailto", "mailtos")


class _LazyContext:
    """An SSL context that is only built when a connection uses it, from a shared cache.

    Records the settings made on it (Apprise turns verification off this way when asked)
    and, on first real use, hands over the cached context built with the same settings.
    """

    _owner: _SharedContexts
    _args: tuple[object, ...]
    _settings: dict[str, object]

    def __init__(self, owner: _SharedContexts, args: tuple[object, ...]) -> None:
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_args", args)
        object.__setattr__(self, "_settings", {})

    def __setattr__(self, name: str, value: object) -> None:
        self._settings[name] = value

    def __getattr__(self, name: str) -> object:
        context = self._owner.context(self._args, tuple(self._settings.items()))
        return getattr(context, name)


class _SharedContexts:
    """Stands in for the `ssl` module inside Apprise's e-mail plugin.

    Apprise 1.13 builds a default SSL context for every e-mail it sends, even over a
    connection without TLS; loading the CA certificates costs about 40 ms a message here,
    most of a message's time. Contexts are safe to share between connections, so one is
    built per distinct set of settings and reused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[object, ...], ssl.SSLContext] = {}

    def create_default_context(self, *args: object) -> _LazyContext:
        return _LazyContext(self, args)

    def context(
        self, args: tuple[object, ...], settings: tuple[tuple[str, object], ...]
    ) -> ssl.SSLContext:
        key = (args, settings)
        with self._lock:
            if key not in self._cache:
                context = ssl.create_default_context(*args)  # type: ignore[arg-type]
                for name, value in settings:
                    setattr(context, name, value)
                self._cache[key] = context
            return self._cache[key]

    def __getattr__(self, name: str) -> object:
        return getattr(ssl, name)


_CONTEXTS = _SharedContexts()

if getattr(apprise_email, "ssl", None) is ssl:
    setattr(apprise_email, "ssl", _CONTEXTS)  # noqa: B010


@dataclass(frozen=True)
class FileToSend:
    path: Path
    filename: str
    content_type: str


@dataclass(frozen=True)
class Outgoing:
    address: str
    subject: str
    text: str
    html: str = ""
    attachments: Sequence[FileToSend] = field(default_factory=tuple)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    channel: str
    error: str = ""


class DeliveryConfigError(ValueError):
    """The delivery settings cannot work: say which and how to fix it."""


def _url(server: apprise.plugins.NotifyBase, *, privacy: bool) -> str:
    return str(server.url(privacy=privacy))  # type: ignore[no-untyped-call]


def is_email(address: str) -> bool:
    return "@" in address and "://" not in address and not address.startswith("tag:")


def _kept_open(server: apprise.plugins.NotifyBase) -> TypeGuard[NotifyEmail]:
    """Whether this entry's e-mail goes over a kept-open connection (else Apprise.notify).

    Apprise's own e-mail plugin only: PGP keeps per-entry state, so a PGP entry is left
    to Apprise, with an entry of its own per message as before.
    """
    return type(server) is NotifyEmail and server.pgp_mode == apprise_email.PGP_MODE_DEFAULT


@dataclass(frozen=True)
class _Server:
    """Where and how an e-mail entry connects: entries that agree share a connection."""

    host: str
    port: int
    mode: str
    verify: bool
    user: str
    password: str = field(repr=False)
    timeout: float

    @classmethod
    def of(cls, server: NotifyEmail) -> _Server:
        return cls(
            host=server.smtp_host,
            port=int(server.port or SECURE_MODES[str(server.secure_mode)]["default_port"]),
            mode=str(server.secure_mode),
            verify=bool(server.verify_certificate),
            user=server.user or "",
            password=server.password or "",
            timeout=server.socket_connect_timeout,
        )

    def connect(self) -> smtplib.SMTP:
        """A connection set up as Apprise's e-mail plugin sets one up for each message."""
        settings: tuple[tuple[str, object], ...] = ()
        if not self.verify:
            settings = (("check_hostname", False), ("verify_mode", ssl.CERT_NONE))
        context = _CONTEXTS.context((), settings)
        connection: smtplib.SMTP
        if self.mode == SecureMailMode.SSL:
            connection = smtplib.SMTP_SSL(
                self.host, self.port, None, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, None, timeout=self.timeout)
        try:
            if self.mode == SecureMailMode.STARTTLS:
                connection.starttls(context=context)
            if self.user and self.password:
                connection.login(self.user, self.password)
        except BaseException:
            _drop(connection)
            raise
        return connection


def _drop(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        connection.close()


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        _drop(connection)


def _reason(error: BaseException) -> str:
    """An SMTP error as the server put it (`550 5.1.1 unknown user`), or the exception."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address} refused: {code} {_text(reply)}"
            for address, (code, reply) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class _ThreadConnections:
    """One thread's open connections, by server; the lock is held while it sends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[_Server, smtplib.SMTP] = {}
        self.closed = False


class _Connections:
    """The kept-open SMTP connections of a sender, each used by one thread only
    (smtplib connections are not safe to share between threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[int, _ThreadConnections] = {}

    def mine(self) -> _ThreadConnections:
        # A thread id can be reused once its thread has ended; the new thread then takes
        # over the old one's connections, which no one else uses any more.
        with self._lock:
            return self._by_thread.setdefault(threading.get_ident(), _ThreadConnections())

    def close(self) -> None:
        """Quit every connection, each once the send using it (if any) is done."""
        with self._lock:
            held = list(self._by_thread.values())
            self._by_thread.clear()
        for connections in held:
            with connections.lock:
                connections.closed = True
                for connection in connections.open.values():
                    _quit(connection)
                connections.open.clear()


class _EmailEntries:
    """Parsed e-mail entries by URL, with their masked channel: the most recent `size`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[NotifyEmail, str]] = OrderedDict()

    def get(self, url: str) -> tuple[NotifyEmail, str] | None:
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None:
                self._entries.move_to_end(url)
            return entry

    def put(self, url: str, entry: tuple[NotifyEmail, str]) -> None:
        with self._lock:
            self._entries[url] = entry
            self._entries.move_to_end(url)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class AppriseSender:
    """Sends outbox messages with Apprise; safe to share between threads.

    E-mail goes over SMTP connections kept open per server and login and per sending
    thread, reused from message to message and opened again once when the server has
    dropped one. `close()` quits them (the sender stays usable and connects again when
    it next sends); the sender is a context manager that closes at the end.
    """

    def __init__(
        self, *, smtp_url: str = "", config_path: Path | None = None, cached_urls: int = 1024
    ) -> None:
        self.smtp_url = smtp_url.strip()
        if self.smtp_url and apprise.Apprise.instantiate(self._email_url("x@example.se")) is None:
            raise DeliveryConfigError(
                "SAMVERKAN_SMTP_URL is not an Apprise e-mail URL; "
                "give it as mailto://HOST:PORT?from=ADDRESS (or mailtos:// for TLS)"
            )
        # The SMTP server's entry, parsed once: an address's entry is a copy of it with
        # that address as its one recipient, as if the URL had said `to=ADDRESS`.
        self._smtp_entry: NotifyEmail | None = None
        if self.smtp_url:
            entry = apprise.Apprise.instantiate(self.smtp_url)
            given = NotifyEmail.parse_url(self.smtp_url) or {}  # type: ignore[no-untyped-call]
            if entry is not None and _kept_open(entry) and not given.get("targets"):
                self._smtp_entry = entry
        self.config_path = config_path
        # The configured entries, read once here: Apprise reads a config file lazily, and
        # two sends reading it at the same time could each see it half read.
        self._configured: list[apprise.plugins.NotifyBase] | None = None
        if config_path is not None:
            if not config_path.is_file():
                raise DeliveryConfigError(
                    f"SAMVERKAN_APPRISE_CONFIG: {config_path} is not a readable file"
                )
            config = apprise.AppriseConfig()
            if not config.add(str(config_path)):
                raise DeliveryConfigError(
                    f"SAMVERKAN_APPRISE_CONFIG: {config_path} could not be read as Apprise config"
                )
            self._configured = list(config.servers())
        self._entries = _EmailEntries(cached_urls)
        self._connections = _Connections()

    @classmethod
    def from_settings(cls, settings: Settings) -> AppriseSender:
        """The sender the settings describe (SAMVERKAN_SMTP_URL, SAMVERKAN_APPRISE_CONFIG)."""
        return cls(smtp_url=settings.smtp_url, config_path=settings.apprise_config)

    def close(self) -> None:
        """Quit the kept-open SMTP connections (waiting for a send in progress on one)."""
        self._connections.close()

    def __enter__(self) -> AppriseSender:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _email_url(self, address: str) -> str:
        separator = "&" if "?" in self.smtp_url else "?"
        return f"{self.smtp_url}{separator}to={quote(address, safe='@')}"

    def _resolve(self, address: str) -> tuple[list[apprise.plugins.NotifyBase], str, str] | Outcome:
        """The Apprise entries to notify, their masked channel and the tag to notify them
        with; or why there are none."""
        if address.startswith("tag:"):
            tag = address.removeprefix("tag:")
            if self._configured is None:
                return Outcome(False, address, "tag addresses need SAMVERKAN_APPRISE_CONFIG")
            servers = [server for server in self._configured if tag in server.tags]
            if not servers:
                return Outcome(False, address, f"no entry tagged {tag!r} in the Apprise config")
            return servers, ", ".join(_url(s, privacy=True) for s in servers), tag
        if is_email(address):
            if not self.smtp_url:
                return Outcome(False, "mailto", "no SMTP server configured (SAMVERKAN_SMTP_URL)")
            url = self._email_url(address)
        else:
            url = address
        entry = self._entries.get(url)
        if entry is None and self._smtp_entry is not None and is_email(address):
            entry = self._addressed(self._smtp_entry, address)
            self._entries.put(url, entry)
        if entry is not None:
            return [entry[0]], entry[1], apprise.common.MATCH_ALL_TAG
        instance = apprise.Apprise.instantiate(url)
        if instance is None:
            return Outcome(False, "", "not a valid Apprise URL or e-mail address")
        channel = _url(instance, privacy=True)
        if _kept_open(instance):
            # Only e-mail entries are kept: they are only read, never sent through, so
            # threads can share them. Other plugins keep state between sends (Apprise's
            # pause between two sends of one entry, tokens), so each message gets its own.
            self._entries.put(url, (instance, channel))
        return [instance], channel, apprise.common.MATCH_ALL_TAG

    @staticmethod
    def _addressed(smtp_entry: NotifyEmail, address: str) -> tuple[NotifyEmail, str]:
        """The SMTP server's entry with `address` as its recipients, read as the e-mail
        plugin reads `to=` (an address Apprise finds invalid is left out); its channel."""
        entry = copy.copy(smtp_entry)  # shares only settings that sending just reads
        entry.targets = []
        for recipient in parse_emails(address):  # type: ignore[no-untyped-call]
            found = apprise_is_email(recipient)  # type: ignore[no-untyped-call]
            if found:
                entry.targets.append((found["name"] or False, found["full_email"]))
        return entry, _url(entry, privacy=True)

    def send(self, message: Outgoing) -> Outcome:
        resolved = self._resolve(message.address)
        if isinstance(resolved, Outcome):
            return resolved
        servers, channel, tag = resolved
        as_html = bool(message.html) and all(
            type(server) is NotifyEmail
            or _url(server, privacy=True).split(":", 1)[0] in EMAIL_SCHEMES
            for server in servers
        )
        attach = None
        if message.attachments:
            attach = apprise.AppriseAttachment()
            for item in message.attachments:
                file = AttachFile(  # type: ignore[no-untyped-call]
                    str(item.path), name=item.filename, mimetype=item.content_type
                )
                attach.add(file)
        body_format = apprise.NotifyFormat.HTML if as_html else apprise.NotifyFormat.TEXT
        body = message.html if as_html else message.text
        [first, *others] = servers
        if not others and tag == apprise.common.MATCH_ALL_TAG and _kept_open(first):
            try:
                error = self._send_email(first, message.subject, body, body_format, attach)
            except Exception as exc:  # a plugin bug must not stop the drain
                error = f"{type(exc).__name__}: {exc}"
        else:
            target = apprise.Apprise()
            for server in servers:
                target.add(server)
            error = self._notify(target, tag, message.subject, body, body_format, attach)
        if not error:
            return Outcome(True, channel)
        log.info("delivery through %s failed: %s", channel, error)
        return Outcome(False, channel, error[:2000])

    @staticmethod
    def _notify(
        target: apprise.Apprise,
        tag: str,
        title: str,
        body: str,
        body_format: apprise.NotifyFormat,
        attach: apprise.AppriseAttachment | None,
    ) -> str:
        """Send through Apprise itself: "" when sent, else why not (Apprise's warnings)."""
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            try:
                ok = target.notify(
                    title=title, body=body, body_format=body_format, attach=attach, tag=tag
                )
            except Exception as exc:  # a plugin bug must not stop the drain
                return f"{type(exc).__name__}: {exc}"
        if ok:
            return ""
        lines = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line]
        return "; ".join(lines) or "delivery failed"

    def _send_email(
        self,
        server: NotifyEmail,
        title: str,
        body: str,
        body_format: apprise.NotifyFormat,
        attach: apprise.AppriseAttachment | None,
    ) -> str:
        """Send as `Apprise.notify` would through this e-mail entry, but over this thread's
        kept-open connection: "" when every e-mail was accepted, else why not.

        Apprise's pause between two sends of one entry (`throttle`) is left out, as it was
        when every message had an entry of its own: the SMTP server sets the pace.
        """
        # What Apprise.notify does before it calls the plugin: the body in the entry's
        # format (HTML unless the URL says format=text), emojis if the URL asks for them.
        body = convert_between(  # type: ignore[no-untyped-call]
            body_format, server.notify_format, content=body
        )
        if server.interpret_emojis:
            body = apply_emojis(body)  # type: ignore[no-untyped-call]
            title = apply_emojis(title)  # type: ignore[no-untyped-call]
        try:
            # What the plugin's notify() does before send(): checks, title and overflow.
            calls = list(
                server._build_send_calls(
                    body=body, title=title, attach=attach, body_format=body_format
                )
            )
        except TypeError as exc:
            return str(exc)
        if not server.targets:
            return "There are no Email recipients to notify"
        headers = {"X-Application": server.app_id, **server.headers}
        errors = []
        for call in calls:
            try:
                mails = list(
                    NotifyEmail.prepare_emails(
                        subject=call["title"],
                        body=call["body"],
                        notify_format=server.notify_format,
                        from_addr=server.from_addr,
                        to=server.targets,
                        cc=server.cc,
                        bcc=server.bcc,
                        reply_to=server.reply_to,
                        smtp_host=server.smtp_host,
                        attach=call["attach"],
                        headers=headers,
                        names=server.names,
                        pgp=None,
                        inline=server.inline,
                        tzinfo=server.tzinfo,
                    )
                )
            except AppriseEmailException as exc:
                errors.append(str(exc))
                continue
            for mail in mails:
                error = self._submit(_Server.of(server), str(server.from_addr[1]), mail)
                if error:
                    errors.append(error)
        return "; ".join(errors)

    def _submit(self, where: _Server, sender: str, mail: Any) -> str:
        """Hand one e-mail to the server over this thread's connection: "" or why not."""
        while True:
            connections = self._connections.mine()
            with connections.lock:
                if not connections.closed:
                    return self._submit_on(connections, where, sender, mail)

    @staticmethod
    def _submit_on(connections: _ThreadConnections, where: _Server, sender: str, mail: Any) -> str:
        connection = connections.open.pop(where, None)
        # A kept-open connection may have been dropped by the server since (an idle
        # timeout, a restart): then the e-mail is tried once more over a new connection.
        may_reconnect = connection is not None
        while True:
            if connection is None:
                try:
                    connection = where.connect()
                except (OSError, smtplib.SMTPException, RuntimeError) as exc:
                    return f'Connection error while submitting email to "{where.host}": ' + (
                        _reason(exc)
                    )
            try:
                refused = connection.sendmail(sender, mail.to_addrs, mail.body)
            except (OSError, smtplib.SMTPException, RuntimeError) as exc:
                # SMTP errors are OSErrors too; a socket error, a disconnect or a 421 (after
                # which smtplib closes the connection) leave the connection unusable.
                dropped = (
                    isinstance(exc, smtplib.SMTPServerDisconnected)
                    or not isinstance(exc, smtplib.SMTPException)
                    or connection.sock is None
                )
                if not dropped:  # the server refused this e-mail; the connection is fine
                    connections.open[where] = connection
                    return f'Sending email to "{mail.recipient}" failed: {_reason(exc)}'
                _drop(connection)
                connection = None
                if not may_reconnect:
                    return f'Sending email to "{mail.recipient}" failed: {_reason(exc)}'
                may_reconnect = False
                log.info("the SMTP server %s dropped the connection; connecting again", where.host)
                continue
            connections.open[where] = connection
            if refused:  # some of its recipients (cc, bcc) refused, as Apprise lets pass
                log.info("sent to %s, but %s refused", mail.recipient, ", ".join(refused))
            return ""
