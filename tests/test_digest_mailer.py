"""The SMTP client against aiosmtpd: plain, STARTTLS and SSL (self-signed cert), authentication, errors."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.config import load_config
from monitor.errors import MailError
from monitor.notify.mailer import MailUnreachable, build_message, send_email
from tests.digest_seed import SmtpServer, digest_config, free_port, smtp, write_config

__all__ = ["smtp"]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem doubles as the client's CA file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _server_ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword) and auth_data.login == b"bot" and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    server = SmtpServer(
        tls_context=_server_ctx(cert), require_starttls=True, authenticator=_authenticator, auth_required=True
    ).start()
    yield server
    server.stop()


def _cfg(tmp_path: Path, port: int, **smtp_keys: Any) -> Any:
    return load_config(write_config(tmp_path, digest_config(tmp_path, port, **smtp_keys)))


def test_plain_smtp_returns_the_message_id(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = _cfg(tmp_path, smtp.port)
    message_id = send_email(
        cfg, "a@example.gov.vn", "Chào", "văn bản", "<p>văn bản</p>", message_id="<x1@example.gov.vn>"
    )
    assert message_id == "<x1@example.gov.vn>"
    assert smtp.sink.messages[0]["Message-ID"] == "<x1@example.gov.vn>" and smtp.sink.envelopes[
        0
    ].rcpt_tos == ["a@example.gov.vn"]
    assert smtp.sink.envelopes[0].mail_from == "monitor@example.gov.vn"


def test_starttls_with_login(
    tmp_path: Path, tls_server: SmtpServer, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    cfg = _cfg(
        tmp_path,
        tls_server.port,
        security="starttls",
        username="bot",
        password_env="TEST_SMTP_PASSWORD",
        ca_file=str(cert[0]),
    )
    send_email(cfg, "a@example.gov.vn", "STARTTLS", "qua TLS")
    assert len(tls_server.sink.envelopes) == 1
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    with pytest.raises(MailError, match="refused login for bot"):
        send_email(cfg, "a@example.gov.vn", "x", "x")
    monkeypatch.delenv("TEST_SMTP_PASSWORD")
    with pytest.raises(MailError, match="TEST_SMTP_PASSWORD is not in the environment"):
        send_email(cfg, "a@example.gov.vn", "x", "x")
    assert len(tls_server.sink.envelopes) == 1


def test_starttls_rejects_an_untrusted_certificate(tmp_path: Path, tls_server: SmtpServer) -> None:
    cfg = _cfg(
        tmp_path, tls_server.port, security="starttls"
    )  # no ca_file: the self-signed cert is not trusted
    with pytest.raises(MailUnreachable, match=f"TLS with SMTP server 127.0.0.1:{tls_server.port} failed"):
        send_email(cfg, "a@example.gov.vn", "x", "x")


def test_implicit_ssl(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    server = SmtpServer(ssl_context=_server_ctx(cert)).start()
    try:
        cfg = _cfg(tmp_path, server.port, security="ssl", ca_file=str(cert[0]))
        send_email(cfg, "a@example.gov.vn", "SSL", "qua SSL")
        assert len(server.sink.envelopes) == 1
    finally:
        server.stop()


def test_refused_recipient_and_unreachable_host_are_clear(tmp_path: Path, smtp: SmtpServer) -> None:
    port = free_port()
    with pytest.raises(
        MailUnreachable, match=rf"cannot connect to SMTP server 127\.0\.0\.1:{port} .*check smtp\.host"
    ):
        send_email(_cfg(tmp_path, port), "a@example.gov.vn", "x", "x")

    async def refuse(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 no such user"

    smtp.sink.handle_RCPT = refuse  # type: ignore[attr-defined]
    with pytest.raises(MailError, match="refused recipient nobody@example.gov.vn"):
        send_email(_cfg(tmp_path, smtp.port), "nobody@example.gov.vn", "x", "x")


def test_build_message_headers() -> None:
    from monitor.config import Config

    msg = build_message(Config(), "a@example.gov.vn", "Dòng 1\nDòng 2", "t", "<p>h</p>")
    assert msg["Subject"] == "Dòng 1 Dòng 2"  # no header injection through line breaks
    assert msg.get_content_type() == "multipart/alternative" and msg["Message-ID"].endswith("@localhost>")
