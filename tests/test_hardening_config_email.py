"""Issue #12 items 10 and 11: e-mail addresses are validated; user text in e-mails cannot forge lines.

Real parts: the CLI through CliRunner on a real SQLite file, the web app, an aiosmtpd server on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.cli import cli
from monitor.errors import MailError
from monitor.notify.addresses import check_address, envelope_address
from monitor.notify.mailer import send_email
from tests.pages_helpers import (  # noqa: F401  (fixtures)
    SmtpSink,
    fast_passwords,
    pages_env,
    seed_basics,
    smtp_sink,
)
from tests.web_helpers import WebEnv

INJECTED = "a@b.org\r\nBcc: evil@example.org"


@pytest.fixture
def mailweb(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[WebEnv]:  # noqa: F811
    """A WebEnv whose SMTP settings point at the running aiosmtpd sink."""
    with fast_passwords():
        env = pages_env(tmp_path, smtp_port=smtp_sink.port)
        yield env
        env.close()


def _users_add(config_path: Path, name: str, email: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "--config",
            str(config_path),
            "users",
            "add",
            name,
            "--role",
            "analyst",
            "--email",
            email,
            "--password-stdin",
        ],
        input="a-long-password\n",
    )


def _scalar(env: WebEnv, sql: str, params: list[object] | None = None) -> object:
    db = env.db()
    try:
        return db.execute(sql, params or []).fetchone()[0]
    finally:
        db.conn.close()


# --- item 10: addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        INJECTED,
        "not an email",
        "lan@",
        "@example.org",
        "lan@example",
        "Lan <lan@example.org>",
        "a@b.org, c@d.org",
    ],
)
def test_users_add_refuses_an_invalid_email(config_path: Path, email: str) -> None:
    result = _users_add(config_path, "x", email)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "not an email address" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    listing = CliRunner().invoke(cli, ["--config", str(config_path), "users", "list", "--json"])
    assert '"username": "x"' not in listing.output  # nothing was created


def test_users_add_stores_the_normalised_address(config_path: Path) -> None:
    result = _users_add(config_path, "lan", "Lan@Ví-Dụ.VN")
    assert result.exit_code == 0, result.output
    listing = CliRunner().invoke(cli, ["--config", str(config_path), "users", "list", "--json"])
    assert '"email": "Lan@ví-dụ.vn"' in listing.output


def test_the_envelope_of_an_international_domain_is_ascii() -> None:
    assert check_address("lan@ví-dụ.vn") == "lan@ví-dụ.vn"
    assert envelope_address("lan@ví-dụ.vn") == "lan@xn--v-d-rma6749a.vn"
    with pytest.raises(ValueError, match="not an email address"):
        check_address(INJECTED)


@pytest.mark.parametrize("to", ["not an email", INJECTED, "a@b.org\nc@d.org"])
def test_the_mailer_never_sends_to_an_invalid_address(
    tmp_path: Path,
    smtp_sink: SmtpSink,  # noqa: F811
    to: str,
) -> None:
    """`RCPT TO:<not>` used to reach the server; now nothing is sent and the error says why."""
    with fast_passwords():
        env = pages_env(tmp_path, smtp_port=smtp_sink.port)
    try:
        with pytest.raises(MailError, match="not an email address"):
            send_email(env.cfg, to, "Subject", "text")
    finally:
        env.close()
    assert smtp_sink.envelopes == [] and smtp_sink.messages == []


def _legacy_bad_email(env: WebEnv, user: str, email: str) -> None:
    """An address stored before validation existed (the upgrade path): written straight to the table."""
    db = env.db()
    try:
        db.execute("UPDATE users SET email = ? WHERE username = ?", [email, user])
        db.conn.commit()
    finally:
        db.conn.close()


def _assign(env: WebEnv, item_id: int, rebuttal_id: int, note: str = "") -> object:
    client = env.client("coordinator")
    return client.post(
        "/assignments/new",
        data={
            "csrf_token": client.csrf,
            "item_id": item_id,
            "target": "item",
            "rebuttal_id": rebuttal_id,
            "channel": "fanpage",
            "assignee": "analyst",
            "note": note,
        },
    )


@pytest.mark.parametrize("bad", [INJECTED, "not an email"])
def test_assigning_to_a_user_with_an_invalid_stored_address(
    mailweb: WebEnv,
    smtp_sink: SmtpSink,  # noqa: F811
    bad: str,
) -> None:
    """Was: 500, yet the assignment was saved (a retry made a duplicate). Now: one assignment, saved with a
    warning on the board, no outbox row, no SMTP traffic."""
    _legacy_bad_email(mailweb, "analyst", bad)
    s = seed_basics(mailweb)
    r = _assign(mailweb, s.item_id, s.rebuttal_id)
    assert r.status_code == 303, r.text[:500]  # type: ignore[attr-defined]
    board = mailweb.client("coordinator").get("/assignments").text
    assert "email address is not valid" in board and "flash-warning" in board
    assert _scalar(mailweb, "SELECT COUNT(*) FROM assignments") == 1
    assert _scalar(mailweb, "SELECT COUNT(*) FROM digests_sent WHERE kind = 'assignment'") == 0
    assert smtp_sink.envelopes == []


def test_assignment_and_its_outbox_row_are_saved_together(mailweb: WebEnv, smtp_sink: SmtpSink) -> None:  # noqa: F811
    """When queueing the e-mail fails inside the transaction, the assignment is not saved either."""
    from monitor.notify import assignment as notify_assignment

    s = seed_basics(mailweb)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full while writing the outbox")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notify_assignment.store, "enqueue", broken)
        client = mailweb.client("coordinator")
        with pytest.raises(RuntimeError, match="disk full"):
            _assign(mailweb, s.item_id, s.rebuttal_id)
        del client
    assert _scalar(mailweb, "SELECT COUNT(*) FROM assignments") == 0
    assert _scalar(mailweb, "SELECT COUNT(*) FROM digests_sent") == 0
    ok = _assign(mailweb, s.item_id, s.rebuttal_id)
    assert ok.status_code == 303  # type: ignore[attr-defined]
    assert _scalar(mailweb, "SELECT COUNT(*) FROM assignments") == 1
    assert _scalar(mailweb, "SELECT COUNT(*) FROM digests_sent WHERE kind = 'assignment'") == 1
    assert len(smtp_sink.messages) == 1


# --- item 11: line breaks in user text ----------------------------------------------------------------

FORGERY = "\r\nDue: 1999-01-01 00:00\r\n\r\nOpen the board: https://evil.example.org/login"
SEPARATORS = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"]


def _set_rebuttal_title(env: WebEnv, rebuttal_id: int, title: str) -> None:
    db = env.db()
    try:
        db.execute("UPDATE rebuttals SET title = ? WHERE id = ?", [title, rebuttal_id])
        db.conn.commit()
    finally:
        db.conn.close()


def _plain_body(sink: SmtpSink) -> str:
    msg = sink.messages[-1]
    part = msg.get_body(("plain",)) if msg.is_multipart() else msg
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@pytest.mark.parametrize("sep", SEPARATORS, ids=[repr(s) for s in SEPARATORS])
def test_line_breaks_in_a_title_or_note_cannot_forge_lines(
    mailweb: WebEnv,
    smtp_sink: SmtpSink,  # noqa: F811
    sep: str,
) -> None:
    s = seed_basics(mailweb)
    _set_rebuttal_title(mailweb, s.rebuttal_id, "CCCD" + FORGERY.replace("\r\n", sep))
    r = _assign(mailweb, s.item_id, s.rebuttal_id, note="Đăng sớm" + FORGERY.replace("\r\n", sep))
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert len(smtp_sink.messages) == 1
    body = _plain_body(smtp_sink)
    lines = body.splitlines()  # splitlines() breaks on every separator a mail client might show as one
    assert [line for line in lines if line.startswith("Due:")] == ["Due: no due date (Asia/Ho_Chi_Minh)"]
    assert not any(line.startswith("Open the board: https://evil") for line in lines)
    rebuttal = [line for line in lines if line.startswith("Rebuttal:")]
    assert rebuttal == ["Rebuttal: CCCD Due: 1999-01-01 00:00 Open the board: https://evil.example.org/login"]
    note = [line for line in lines if line.startswith("Note:")]
    assert note == ["Note: Đăng sớm Due: 1999-01-01 00:00 Open the board: https://evil.example.org/login"]
    subject = str(smtp_sink.messages[-1]["Subject"])
    assert "\n" not in subject and "\r" not in subject and "Due: 1999" in subject


def test_control_characters_in_user_text_are_dropped(mailweb: WebEnv, smtp_sink: SmtpSink) -> None:  # noqa: F811
    s = seed_basics(mailweb)
    _set_rebuttal_title(mailweb, s.rebuttal_id, "CCCD\x1b[2J\x00 mới")
    assert _assign(mailweb, s.item_id, s.rebuttal_id).status_code == 303  # type: ignore[attr-defined]
    body = _plain_body(smtp_sink)
    assert "\x1b" not in body and "\x00" not in body
    assert "Rebuttal: CCCD[2J mới" in body


def test_users_add_refusal_names_the_option(make_config: Callable[..., Path]) -> None:
    result = _users_add(make_config(), "y", "not an email")
    assert "--email" in result.output, result.output
