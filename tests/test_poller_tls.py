"""`StatusPoller` over HTTPS: the server's certificate is checked against Mozilla's roots, and a
certificate they do not vouch for is refused before any request is sent.

The server is a loopback HTTPS server with a certificate made at test time, valid for the
address the poller connects to, so that the only thing wrong with it is who signed it. The poller
offers no way to trust another certificate or to turn the check off, and the environment
variables that point other clients at a CA file are not read.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from iqm_runstatus import Status, StatusPoller
from poller_support import StatusServer, clear_environment

# The settings of the poller's own tests; max_retries=0 gives the job up at its first failure.
FAST = {"interval": 0.02, "max_interval": 0.1, "timeout": 5.0}
LOOPBACK = "127.0.0.1"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch, "SSL_CERT_FILE", "SSL_CERT_DIR")


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context whose certificate signs itself, for the loopback address, and the
    certificate's PEM file (what a client would trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "self-signed.pem"
    key_file = directory / "self-signed.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def private_ca(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context whose certificate a CA made here signed (the CA signs itself), and the
    CA's PEM file."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(LOOPBACK).configure_cert(context)
    ca_file = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


@pytest.fixture(params=[self_signed, private_ca], ids=["self-signed", "private-ca"])
def https(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StatusServer, Path]]:
    """A running HTTPS status server that answers ``ready`` for the job ``job``, and the file
    of the certificate that vouches for it."""
    context, trusted = request.param(tmp_path)
    with StatusServer(tls=context) as server:
        server.set("job", "ready")
        yield server, trusted


def test_the_server_answers_a_client_that_trusts_its_certificate(
    https: tuple[StatusServer, Path],
) -> None:
    # The control for the refusal below: the server is a working HTTPS status server, so the
    # poller's failure is its certificate check and nothing else.
    server, trusted = https
    context = ssl.create_default_context(cafile=str(trusted))
    with urllib.request.urlopen(f"{server.url}/jobs/job/status", context=context, timeout=5) as r:
        assert json.loads(r.read()) == {"status": "ready"}
    assert [seen.job_id for seen in server.seen()] == ["job"]
    assert server.failed_handshakes == []


def test_the_same_handler_over_plain_http_makes_the_job_ready() -> None:
    # The other control: the server's job answers `ready`, and the poller reads it.
    with StatusServer() as server, StatusPoller(server.url, max_retries=0, **FAST) as poller:
        server.set("job", "ready")
        poller.add("job")
        assert poller.wait(timeout=5)["job"].status is Status.READY
        assert poller.failed == {}


def test_a_certificate_mozillas_roots_do_not_vouch_for_is_refused(
    https: tuple[StatusServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, trusted = https
    # The variables that make OpenSSL-based clients trust a file are not read: the roots are
    # built in.
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    monkeypatch.setenv("SSL_CERT_DIR", str(trusted.parent))
    with StatusPoller(server.url, max_retries=0, **FAST) as poller:
        poller.add("job")
        assert list(poller) == []
        reason = poller.failed["job"]
        assert reason.startswith("connection failed"), reason
        assert "invalid peer certificate" in reason, reason
        assert "UnknownIssuer" in reason, reason
        assert reason.endswith("(1 failure in a row)"), reason
        assert poller.stats()["transport_errors"] == 1
    # The server's side of the handshake ends in its own thread, after the client gave up.
    deadline = time.monotonic() + 5
    while not server.failed_handshakes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.failed_handshakes) == 1, server.failed_handshakes
    assert server.seen() == [], "no HTTP request reached the server"
