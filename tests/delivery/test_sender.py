"""The sender's e-mail against Apprise's own: the same e-mail, over a kept-open connection.

The sender builds e-mail with Apprise's e-mail plugin from the URL's settings but sends
it itself; these tests send the same messages both ways to a real SMTP server on
loopback and compare what arrives.
"""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import quote

import apprise

from delivery.conftest import SmtpServer
from notifications.delivery import AppriseSender, Outgoing

SETTINGS = (
    "from=samverkan@example.se&name=Samverkan Blekinge&cc=Kansliet <kansli@example.se>"
    "&bcc=arkiv@example.se&reply=svar@example.se&+X-Region=Blekinge&mode=insecure"
)
MESSAGES = [
    Outgoing(
        address="anna@example.se",
        subject="Kallelse till mötet",
        text="Hej Anna,\nvälkommen.",
        html="<p>Hej Anna,</p><p>välkommen.</p>",
    ),
    Outgoing(address="Orjan.Ek@Example.se", subject="Påminnelse", text="Glöm inte mötet."),
]
COMPARED = ("From", "To", "Cc", "Reply-To", "Subject", "X-Application", "X-Region")


def _shape(mail: EmailMessage) -> tuple[object, ...]:
    """What a reader sees of an e-mail: its headers (but the unique ones) and its parts."""
    parts = [
        (part.get_content_type(), part.get_content())
        for part in mail.walk()
        if not part.is_multipart()
    ]
    return (*[str(mail[name]) for name in COMPARED], mail.get_content_type(), parts)


def _through_apprise(url: str, message: Outgoing) -> None:
    target = apprise.Apprise()
    target.add(f"{url}&to={quote(message.address, safe='@')}")
    html = bool(message.html)
    assert target.notify(
        title=message.subject,
        body=message.html if html else message.text,
        body_format=apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT,
    )


def test_the_sender_sends_the_email_apprise_would_with_the_urls_settings(
    smtp_server: SmtpServer,
) -> None:
    for extra in ("", "&format=text"):
        url = f"mailto://127.0.0.1:{smtp_server.port}?{SETTINGS}{extra}"
        with smtp_server.lock:
            smtp_server.messages.clear()
            smtp_server.envelopes.clear()
        for message in MESSAGES:
            _through_apprise(url, message)
        with AppriseSender(smtp_url=url) as sender:
            outcomes = [sender.send(message) for message in MESSAGES]
        assert all(outcome.ok for outcome in outcomes), outcomes
        mails = smtp_server.wait_for(4)
        by_apprise, by_sender = mails[:2], mails[2:]
        assert [_shape(m) for m in by_sender] == [_shape(m) for m in by_apprise]
        assert smtp_server.envelopes[2:] == smtp_server.envelopes[:2]
        assert set(smtp_server.envelopes[2]) == {
            "anna@example.se",
            "kansli@example.se",
            "arkiv@example.se",
        }
        # The recorded channel is the masked URL Apprise gives for the address's entry.
        for message, outcome in zip(MESSAGES, outcomes, strict=True):
            entry = apprise.Apprise.instantiate(f"{url}&to={quote(message.address, safe='@')}")
            assert entry is not None
            assert outcome.channel == entry.url(privacy=True)  # type: ignore[no-untyped-call]


def test_an_address_apprise_finds_invalid_is_not_sent(smtp_server: SmtpServer) -> None:
    with AppriseSender(smtp_url=smtp_server.url()) as sender:
        outcome = sender.send(Outgoing(address="anna@", subject="Prov", text="Hej"))
    assert not outcome.ok
    assert outcome.error == "There are no Email recipients to notify"
    assert smtp_server.messages == []
