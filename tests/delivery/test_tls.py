"""E-mail over STARTTLS: certificates are verified unless the URL says verify=no.

Apprise's e-mail plugin is given shared SSL contexts (one per setting); these tests make
sure a context made insecure for one URL is never the one another URL verifies with.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
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


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[SmtpServer]:
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
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


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
