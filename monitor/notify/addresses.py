"""E-mail addresses: the one syntax check for every address the application stores or sends to.

Users' addresses (`misinfo users add --email`), digest recipients (config) and SMTP envelopes all go
through `check_address`, which uses the maintained `email-validator` package for the syntax only (never
DNS or deliverability: the office may run on a closed network). An address with a line break, a display
name, a second address or no domain is refused with the reason. Imports nothing from the project, so the
config and the CLI can use it.
"""

from __future__ import annotations

from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254  # RFC 5321's path limit; email-validator enforces it too


def _validated(value: str, *, public: bool = True) -> tuple[str, str]:
    """(normalised address, ASCII form for the SMTP envelope); ValueError with the reason."""
    if not isinstance(value, str):
        raise ValueError("an email address must be text")
    text = value.strip(" ")
    if not text:
        raise ValueError("the email address is empty")
    shown = text if len(text) <= 80 else text[:77] + "..."
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError(
            f"{shown!r} is not an email address: it contains a line break or a control character"
        )
    try:
        result = validate_email(
            text,
            check_deliverability=False,  # syntax only: no DNS
            allow_smtputf8=False,  # the SMTP client does not speak SMTPUTF8: ASCII local parts only
            globally_deliverable=public,
        )
    except EmailNotValidError as exc:
        raise ValueError(f"{shown!r} is not an email address: {exc}") from None
    return result.normalized, result.ascii_email or result.normalized


def check_address(value: str) -> str:
    """The normalised form of one public e-mail address (name@example.org); ValueError says why not."""
    return _validated(value)[0]


def envelope_address(value: str) -> str:
    """The ASCII form of an address for SMTP's RCPT TO (IDN domains in punycode); ValueError says why not."""
    return _validated(value)[1]


def check_sender(value: str) -> str:
    """The From address of the configuration: `addr` or `Name <addr>`; a local relay's single-label
    domain (misinfo-monitor@localhost) is allowed. ValueError says why not."""
    if not isinstance(value, str) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{value!r} is not an address: it contains a line break or a control character")
    _name, addr = parseaddr(value)
    local, _, domain = addr.rpartition("@")
    if not local or not domain:
        raise ValueError(f"{value!r} is not an address: write name@example.org or 'Name <name@example.org>'")
    if domain.lower() == "localhost" or "." not in domain:
        _validated(f"{local}@example.org")  # the local part must still be valid
        return value
    _validated(addr, public=False)
    return value
