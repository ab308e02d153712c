"""Delivery through Apprise: one message to one address, with the outcome told plainly.

An address is an e-mail address (sent through the configured SMTP server,
`SAMVERKAN_SMTP_URL`), an Apprise URL (`mailto://…`, `msteams://…`, `slack://…`,
`json://…`), or `tag:<name>` for the entries with that tag in the Apprise YAML file
(`SAMVERKAN_APPRISE_CONFIG`). The channel recorded for an attempt is the URL with its
secrets masked (Apprise's privacy form); secrets never reach the logs or the pages.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import apprise
import apprise.plugins.email.base as apprise_email
from apprise.attachment.file import AttachFile

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


if getattr(apprise_email, "ssl", None) is ssl:
    setattr(apprise_email, "ssl", _SharedContexts())  # noqa: B010


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


class AppriseSender:
    """Sends outbox messages with Apprise; safe to reuse, one message at a time."""

    def __init__(self, *, smtp_url: str = "", config_path: Path | None = None) -> None:
        self.smtp_url = smtp_url.strip()
        if self.smtp_url and apprise.Apprise.instantiate(self._email_url("x@example.se")) is None:
            raise DeliveryConfigError(
                "SAMVERKAN_SMTP_URL is not an Apprise e-mail URL; "
                "give it as mailto://HOST:PORT?from=ADDRESS (or mailtos:// for TLS)"
            )
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

    @classmethod
    def from_settings(cls, settings: Settings) -> AppriseSender:
        """The sender the settings describe (SAMVERKAN_SMTP_URL, SAMVERKAN_APPRISE_CONFIG)."""
        return cls(smtp_url=settings.smtp_url, config_path=settings.apprise_config)

    def _email_url(self, address: str) -> str:
        separator = "&" if "?" in self.smtp_url else "?"
        return f"{self.smtp_url}{separator}to={quote(address, safe='@')}"

    def _target(self, address: str) -> tuple[apprise.Apprise, str, str] | Outcome:
        """The Apprise object, its masked channel and the tag to notify; or why it cannot be."""
        target = apprise.Apprise()
        if address.startswith("tag:"):
            tag = address.removeprefix("tag:")
            if self._configured is None:
                return Outcome(False, address, "tag addresses need SAMVERKAN_APPRISE_CONFIG")
            servers = [server for server in self._configured if tag in server.tags]
            for server in servers:
                target.add(server)
            if not servers:
                return Outcome(False, address, f"no entry tagged {tag!r} in the Apprise config")
            return target, ", ".join(_url(s, privacy=True) for s in servers), tag
        if is_email(address):
            if not self.smtp_url:
                return Outcome(False, "mailto", "no SMTP server configured (SAMVERKAN_SMTP_URL)")
            url = self._email_url(address)
        else:
            url = address
        instance = apprise.Apprise.instantiate(url)
        if instance is None:
            return Outcome(False, "", "not a valid Apprise URL or e-mail address")
        target.add(instance)
        return target, _url(instance, privacy=True), apprise.common.MATCH_ALL_TAG

    def send(self, message: Outgoing) -> Outcome:
        resolved = self._target(message.address)
        if isinstance(resolved, Outcome):
            return resolved
        target, channel, tag = resolved
        as_html = bool(message.html) and all(
            _url(server, privacy=True).split(":", 1)[0] in EMAIL_SCHEMES
            for server in target.find(tag=tag)
        )
        attach = None
        if message.attachments:
            attach = apprise.AppriseAttachment()
            for item in message.attachments:
                file = AttachFile(  # type: ignore[no-untyped-call]
                    str(item.path), name=item.filename, mimetype=item.content_type
                )
                attach.add(file)
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            try:
                ok = target.notify(
                    title=message.subject,
                    body=message.html if as_html else message.text,
                    body_format=apprise.NotifyFormat.HTML if as_html else apprise.NotifyFormat.TEXT,
                    attach=attach,
                    tag=tag,
                )
            except Exception as exc:  # a plugin bug must not stop the drain
                ok, captured_error = False, f"{type(exc).__name__}: {exc}"
            else:
                captured_error = ""
        if ok:
            return Outcome(True, channel)
        lines = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line]
        reason = captured_error or "; ".join(lines) or "delivery failed"
        log.info("delivery through %s failed: %s", channel, reason)
        return Outcome(False, channel, reason[:2000])
