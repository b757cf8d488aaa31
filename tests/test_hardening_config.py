"""Issue #12 item 9 (configuration part): what `misinfo check` accepts must not break later.

Every value below used to pass `misinfo check` and then fail at run time (every page a 500, the scheduler or
the mailer raising a traceback). Each one must now be refused by check: exit 2, one line naming the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import parse_config


def _check(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {tmp_path / 'm.db'}\nstate_dir: {tmp_path / 'var'}\n{text}", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    return result.exit_code, result.output


REFUSED = [
    # Every page formats times in web.timezone: an unknown zone made each of them a 500.
    ("web timezone Mars/Olympus", "web:\n  timezone: Mars/Olympus\n", "web.timezone"),
    ("digest timezone Mars/Olympus", "digest:\n  timezone: Mars/Olympus\n", "digest.timezone"),
    (
        "source timezone Mars/Olympus",
        "sources:\n  - {name: a, kind: rss, url: 'http://127.0.0.1/f', timezone: Mars/Olympus}\n",
        "sources[0].timezone",
    ),
    ("web timezone empty", "web:\n  timezone: ''\n", "web.timezone"),
    # time.fromisoformat accepts these, the scheduler's HH:MM split did not: `misinfo run` crashed.
    ("digest time without colon", "digest:\n  time: '0730'\n", "digest.time"),
    ("digest time hour only", "digest:\n  time: '07'\n", "digest.time"),
    ("digest time with T", "digest:\n  time: T07:30\n", "digest.time"),
    ("digest time with offset", "digest:\n  time: '07:30+05:00'\n", "digest.time"),
    # timedelta(seconds=...) overflowed when the first failed send computed its backoff.
    ("huge smtp retry_backoff", "smtp:\n  retry_backoff: 99999999999d\n", "smtp.retry_backoff"),
    # socket.settimeout raised OverflowError (not a MailError) on the first send.
    ("huge smtp timeout", "smtp:\n  timeout: 1.0e+20\n", "smtp.timeout"),
    # LIMIT with an integer SQLite cannot hold raised OverflowError while rendering the digest.
    ("huge digest top_items", "digest:\n  top_items: 100000000000000000000\n", "digest.top_items"),
    # Header injection through the configuration: the From header could not even be built.
    (
        "smtp sender with a line break",
        'smtp:\n  sender: "a@b.org\\r\\nBcc: evil@example.org"\n',
        "smtp.sender",
    ),
    ("smtp sender not an address", "smtp:\n  sender: nobody\n", "smtp.sender"),
    (
        "recipient not an address",
        "digest:\n  recipients:\n    - {email: 'not an email'}\n",
        "digest.recipients[0].email",
    ),
    (
        "recipient with a line break",
        'digest:\n  recipients:\n    - {email: "a@b.org\\r\\nBcc: evil@example.org"}\n',
        "digest.recipients[0].email",
    ),
]


@pytest.mark.parametrize(("name", "text", "key"), REFUSED, ids=[c[0] for c in REFUSED])
def test_check_refuses_values_that_break_later(tmp_path: Path, name: str, text: str, key: str) -> None:
    code, out = _check(tmp_path, text)
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.strip().splitlines() if line]
    assert len(lines) == 1, out
    assert key in out, out


def test_mars_olympus_is_refused_by_every_command_that_loads_the_config(tmp_path: Path) -> None:
    """Every command (`misinfo run` too) loads the config through the same check: none starts on it."""
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {tmp_path / 'm.db'}\nweb:\n  timezone: Mars/Olympus\n", encoding="utf-8")
    for args in (["status", "--json"], ["users", "list"]):
        result = CliRunner().invoke(cli, ["--config", str(path), *args])
        assert result.exit_code == 2, result.output
        assert "web.timezone" in result.output and "Traceback" not in result.output


ACCEPTED = [
    "digest:\n  time: '07:30'\n  timezone: Europe/Paris\n  top_items: 1000\n",
    "digest:\n  time: '00:00'\n",
    "digest:\n  time: '23:59'\n",
    "smtp:\n  retry_backoff: 6h\n  timeout: 300\n  sender: 'Misinfo Monitor <monitor@example.gov.vn>'\n",
    "smtp:\n  sender: misinfo-monitor@localhost\n",  # the default: a local relay, not a public address
    "digest:\n  recipients:\n    - {email: lanh-dao@example.gov.vn, role: manager}\n",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_sensible_values_still_pass(tmp_path: Path, text: str) -> None:
    code, out = _check(tmp_path, text)
    assert code == 0, out


def test_digest_time_is_what_the_scheduler_reads() -> None:
    """The scheduler splits HH:MM; every accepted value has exactly that shape."""
    cfg = parse_config("digest:\n  time: '7:05'\n")
    assert cfg.digest.time == "07:05"
    hour, minute = (int(p) for p in cfg.digest.time.split(":"))
    assert (hour, minute) == (7, 5)


def test_the_retry_backoff_stays_capped_after_many_failures() -> None:
    """A message failing for weeks: the doubling wait must stay 6 h, not overflow timedelta."""
    from datetime import timedelta

    from monitor.notify import delivery

    cfg = parse_config("smtp:\n  retry_backoff: 6h\n")
    assert delivery._backoff(cfg, 1) == timedelta(hours=6)
    assert delivery._backoff(cfg, 500) == delivery.MAX_BACKOFF
    assert delivery._backoff(parse_config("smtp:\n  retry_backoff: 1m\n"), 2) == timedelta(minutes=2)
