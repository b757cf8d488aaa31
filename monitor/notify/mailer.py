"""SMTP delivery (smtplib): security none / STARTTLS / SSL, optional auth, clear errors.

Errors say whether the message may have reached the server: `MailError` means it certainly did not
(connection, TLS, auth, sender or recipient refused, data rejected); `MailUncertain` means the
connection broke after the message body was sent, so the server may have accepted it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid, parseaddr

from monitor.config import Config
from monitor.errors import MailError
from monitor.notify.addresses import envelope_address


class MailUnreachable(MailError):
    """The SMTP server could not be reached (DNS, refused, timeout, TLS handshake)."""


class MailUncertain(MailError):
    """The connection failed after the body was sent: the server may have accepted the message."""


def _clean_header(value: str) -> str:
    """A header value on one line, at most 300 characters."""
    # Header values can carry scraped text (narrative names, titles): no line breaks, bounded length.
    return " ".join(value.split())[:300]


def new_message_id(cfg: Config) -> str:
    """A fresh globally unique Message-ID in the sender's domain."""
    domain = parseaddr(cfg.smtp.sender)[1].rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def build_message(
    cfg: Config,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A complete message: multipart/alternative (plain text, then HTML) with Date, Message-ID, From, To."""
    msg = EmailMessage()
    msg["From"] = cfg.smtp.sender
    msg["To"] = to
    msg["Subject"] = _clean_header(subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or new_message_id(cfg)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not reply
    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends)."""
    raw = msg.as_bytes(policy=SMTP_POLICY)
    subject = msg["Subject"]
    if subject is None or str(subject).isascii():
        return raw
    # CPython's folder drops the space at a fold between encoded-words ("26/11: 3" arrives as "26/11:3");
    # the legacy Header encoder keeps every space inside the encoded-words, so use it for the subject.
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines: list[bytes] = []
    skipping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"subject:")
        if skipping:
            encoded = Header(str(subject), "utf-8", header_name="Subject").encode(linesep="\r\n")
            line = b"Subject: " + encoded.encode("ascii")
        lines.append(line)
    return b"\r\n".join(lines) + sep + body


def _where(cfg: Config) -> str:
    """host:port of the configured server, for messages."""
    return f"{cfg.smtp.host}:{cfg.smtp.port}"


def _tls_context(cfg: Config) -> ssl.SSLContext:
    """A verifying TLS context (system CAs, plus smtp.ca_file when set)."""
    ctx = ssl.create_default_context()
    if cfg.smtp.ca_file:
        try:
            ctx.load_verify_locations(cafile=str(cfg.path(cfg.smtp.ca_file)))
        except (OSError, ssl.SSLError) as exc:
            raise MailError(
                f"smtp.ca_file {cfg.smtp.ca_file}: cannot load it ({exc}) — give a PEM CA file"
            ) from None
    return ctx


def _open(cfg: Config) -> smtplib.SMTP:
    """Connect, say EHLO, upgrade to TLS and log in as configured."""
    s = cfg.smtp
    fix = "check smtp.host / smtp.port / smtp.security in the config and that the mail server is running"
    try:
        if s.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=_tls_context(cfg)
            )
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        conn.ehlo()
        if s.security == "starttls":
            if not conn.has_extn("starttls"):
                conn.close()
                raise MailUnreachable(
                    f"SMTP server {_where(cfg)} does not offer STARTTLS — set smtp.security to ssl or none"
                )
            conn.starttls(context=_tls_context(cfg))
            conn.ehlo()
    except ssl.SSLError as exc:
        raise MailUnreachable(
            f"TLS with SMTP server {_where(cfg)} failed ({exc.reason or exc}) — {fix}"
        ) from None
    except socket.gaierror as exc:
        raise MailUnreachable(f"cannot resolve SMTP host {s.host} ({exc.strerror}) — {fix}") from None
    except (OSError, smtplib.SMTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise MailUnreachable(f"cannot connect to SMTP server {_where(cfg)} ({reason}) — {fix}") from None
    if s.username:
        password = cfg.secret(s.password_env)
        if password is None:
            conn.close()
            raise MailError(
                f"smtp.username is set but the password variable {s.password_env or '(smtp.password_env unset)'}"
                " is not in the environment — export it or set smtp.password_env"
            )
        try:
            conn.login(s.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            raise MailError(
                f"SMTP server {_where(cfg)} refused login for {s.username} ({exc.smtp_code}) — check smtp.username"
                f" and the password in {s.password_env}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            raise MailError(
                f"SMTP login at {_where(cfg)} failed ({exc}) — check smtp.security and the account"
            ) from None
    return conn


def recipient_address(to: str) -> str:
    """The SMTP envelope form of one recipient; MailError (nothing sent) when it is not a valid address."""
    try:
        return envelope_address(to)
    except ValueError as exc:
        raise MailError(f"{exc} — fix the recipient's address") from None


def deliver(cfg: Config, to: str, data: bytes) -> None:
    """Hand one already-built message to the SMTP server; raise MailError or MailUncertain on failure."""
    # One validated address: `RCPT TO:<not>` from 'not an email' never reaches the server.
    recipients = [recipient_address(to)]
    sender = parseaddr(cfg.smtp.sender)[1]
    conn = _open(cfg)
    try:
        try:
            code, resp = conn.mail(sender)
            if code != 250:
                raise MailError(
                    f"SMTP server {_where(cfg)} refused sender {sender} ({code} {resp!r}) — fix smtp.sender"
                )
            for rcpt in recipients:
                code, resp = conn.rcpt(rcpt)
                if code not in (250, 251):
                    raise MailError(
                        f"SMTP server {_where(cfg)} refused recipient {rcpt} ({code} {resp.decode(errors='replace')})"
                        " — check the address in digest.recipients"
                    )
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise MailUnreachable(
                f"connection to SMTP server {_where(cfg)} lost before sending ({exc})"
            ) from None
        try:
            conn.data(data)
        except smtplib.SMTPDataError as exc:
            # The server answered: it refused the message, so nothing was delivered.
            raise MailError(
                f"SMTP server {_where(cfg)} rejected the message ({exc.smtp_code} {exc.smtp_error!r})"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUncertain(
                f"connection to SMTP server {_where(cfg)} failed while sending the message ({exc or type(exc).__name__})"
            ) from None
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()


def send_email(
    cfg: Config,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str | None = None,
) -> str:
    """Build and send one message; return its Message-ID. Raises MailError with a message that says how to fix."""
    recipient_address(to)
    msg = build_message(cfg, to, subject, text, html, message_id)
    deliver(cfg, to, message_bytes(msg))
    return str(msg["Message-ID"])
