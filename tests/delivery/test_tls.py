"""E-mail over STARTTLS: certificates are verified unless the URL says verify=no.

Apprise's e-mail plugin is given shared SSL contexts (one per setting); these tests make
sure a context made insecure for one URL is never the one another URL verifies with, and
that a kept-open connection is secured and logged in once, with the URL's settings.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from delivery.conftest import SmtpServer, free_port
from notifications.delivery import AppriseSender, Outgoing


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


LOGINS: list[tuple[str, bool]] = []


def _authenticate(
    server: object, session: object, envelope: object, mechanism: str, data: object
) -> AuthResult:
    """Lets in `samverkan` with the password `hemligt`; notes every try."""
    assert isinstance(data, LoginPassword)
    ok = (data.login, data.password) == (b"samverkan", b"hemligt")
    LOGINS.append((data.login.decode(), ok))
    return AuthResult(success=ok, handled=False)


def _tls_server(tmp_path: Path, **options: object) -> Iterator[SmtpServer]:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(port=free_port())
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=server.port,
        tls_context=context,
        require_starttls=True,
        **options,  # type: ignore[arg-type]
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[SmtpServer]:
    yield from _tls_server(tmp_path)


@pytest.fixture
def login_server(tmp_path: Path) -> Iterator[SmtpServer]:
    LOGINS.clear()
    # PLAIN only, so that a wrong password is one try (smtplib tries each mechanism).
    yield from _tls_server(
        tmp_path,
        authenticator=_authenticate,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN"],
    )


MESSAGE = Outgoing(address="anna@example.se", subject="Prov", text="Hej")


def test_a_self_signed_certificate_is_refused_then_accepted_only_when_told(
    starttls_server: SmtpServer,
) -> None:
    base = f"mailtos://127.0.0.1:{starttls_server.port}?from=samverkan@example.se&mode=starttls"
    verifying = AppriseSender(smtp_url=base)
    trusting = AppriseSender(smtp_url=f"{base}&verify=no")

    refused = verifying.send(MESSAGE)
    assert not refused.ok
    assert starttls_server.messages == []

    accepted = trusting.send(MESSAGE)
    assert accepted.ok, accepted.error
    assert len(starttls_server.wait_for(1)) == 1

    # The context made insecure for the trusting URL does not leak to the verifying one.
    assert not verifying.send(MESSAGE).ok
    assert len(starttls_server.messages) == 1


def test_a_kept_open_connection_is_secured_once_and_still_verifies(
    starttls_server: SmtpServer,
) -> None:
    base = f"mailtos://127.0.0.1:{starttls_server.port}?from=samverkan@example.se&mode=starttls"
    with AppriseSender(smtp_url=f"{base}&verify=no") as trusting:
        for address in ("anna@example.se", "bo@example.se", "cilla@example.se"):
            outcome = trusting.send(Outgoing(address=address, subject="Prov", text="Hej"))
            assert outcome.ok, outcome.error
        # A verifying sender gets no use of the trusting one's connection.
        with AppriseSender(smtp_url=base) as verifying:
            refused = verifying.send(MESSAGE)
        assert not refused.ok
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error
    assert len(starttls_server.wait_for(3)) == 3
    assert len(set(starttls_server.message_connections)) == 1
    assert starttls_server.quits == 1  # the trusting sender's connection, closed at the end


def test_a_login_is_made_once_per_connection_and_a_wrong_password_says_so(
    login_server: SmtpServer,
) -> None:
    base = f"mailtos://{{}}@127.0.0.1:{login_server.port}?from=samverkan@example.se&verify=no"
    with AppriseSender(smtp_url=base.format("samverkan:hemligt")) as sender:
        for address in ("anna@example.se", "bo@example.se"):
            outcome = sender.send(Outgoing(address=address, subject="Prov", text="Hej"))
            assert outcome.ok, outcome.error
            assert "hemligt" not in outcome.channel
    assert len(login_server.wait_for(2)) == 2
    assert LOGINS == [("samverkan", True)]
    assert len(login_server.connections) == 1

    with AppriseSender(smtp_url=base.format("samverkan:fel")) as wrong:
        outcome = wrong.send(MESSAGE)
    assert not outcome.ok
    assert outcome.error.startswith('Connection error while submitting email to "127.0.0.1": 535')
    assert "fel" not in outcome.channel
    assert LOGINS[1:] == [("samverkan", False)]
    assert len(login_server.messages) == 2
