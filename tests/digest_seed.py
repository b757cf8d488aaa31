"""Helpers for the digest tests: seed data through tests.builders and monitor/store, a real aiosmtpd server."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast

import pytest
import sqlite_utils
import yaml
from aiosmtpd.controller import Controller

from monitor.store.db import to_db_time
from monitor.store.items import NewItem, add_item
from tests import builders

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City
HOSTILE = '<script>alert("x")</script><img src="http://evil.example/p.png"> Xoá sổ đỏ & "phí"'


def free_port() -> int:
    """A port nothing listens on (bind to 0, read it, close)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """aiosmtpd handler that keeps every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            cast(EmailMessage, message_from_bytes(e.content, policy=default_policy)) for e in self.envelopes
        ]


class SmtpServer:
    """A real SMTP server on 127.0.0.1 (optionally with TLS / auth)."""

    def __init__(self, port: int | None = None, **kwargs: Any) -> None:
        self.port = port or free_port()
        self.sink = Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def digest_config(tmp_path: Path, port: int, **smtp: Any) -> dict[str, Any]:
    """A config dict with four recipients (vi/en x coordinator/analyst) and SMTP on 127.0.0.1:port."""
    return {
        "database": str(tmp_path / "misinfo.db"),
        "state_dir": str(tmp_path / "var"),
        "sources": [],
        "classifier": {"model": "bundled:all-MiniLM-L6-v2"},
        "digest": {
            "recipients": [
                {"email": "coord-vi@example.gov.vn", "role": "coordinator", "language": "vi"},
                {"email": "analyst-en@example.gov.vn", "role": "analyst", "language": "en"},
                {"email": "coord-en@example.gov.vn", "role": "admin", "language": "en"},
                {"email": "analyst-vi@example.gov.vn", "role": "analyst", "language": "vi"},
            ],
            "top_items": 5,
            "surge_factor": 3.0,
            "surge_min_items": 5,
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "sender": "Misinfo <monitor@example.gov.vn>",
            "timeout": 5,
            "retries": 1,
            "retry_backoff": 0.05,
            **smtp,
        },
        "web": {"base_url": "https://monitor.example.gov.vn"},
    }


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_misinfo(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a separate process."""
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(config), *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _t(delta: timedelta) -> str:
    return to_db_time(NOW + delta)


def seed(db: sqlite_utils.Database) -> dict[str, Any]:
    """A day of activity ending at NOW: flags, decisions, narratives, suggestions, assignments, a failing source."""
    ids: dict[str, Any] = {}
    now = _t(timedelta(0))
    src = builders.add_source(db, "tin-nhanh", "http://127.0.0.1:9/feed.xml", at=now)
    builders.add_source(
        db,
        "nguon-hong",
        "http://127.0.0.1:9/broken.xml",
        at=now,
        last_error="HTTP 503 from feed",
        last_error_at=_t(-timedelta(hours=2)),
        consecutive_failures=4,
    )
    user = builders.add_user(db, "lan", "analyst", at=now)
    for key, title, answer in (
        ("cccd-merger", "CCCD vẫn còn giá trị sau sáp nhập", "Không phải làm lại căn cước gắn chip."),
        ("vneid-bank", "VNeID cannot touch bank accounts", "The app has no access to bank balances."),
    ):
        rid = builders.add_approved_rebuttal(db, key, title, answer, at=now, url="https://example.gov.vn/r")
        ids[key] = rid
        ids[f"n-{key}"] = builders.add_narrative(db, f"Narrative {key}", rid, at=now)
    flagged: list[int] = []
    titles = [
        HOSTILE,
        "Phải làm lại CCCD sau sáp nhập tỉnh",
        "VNeID rút tiền tài khoản ngân hàng",
        "Tin thường",
    ]
    for n, title in enumerate(titles):
        item_id, _ = add_item(
            db,
            NewItem(
                title=title,
                text=f"nội dung {n}",
                source_id=src,
                url=f"http://127.0.0.1:9/a/{n}",
                canonical_url=f"http://127.0.0.1:9/a/{n}",
                fetched_at=_t(-timedelta(hours=3 + n)),
                published_at=_t(-timedelta(hours=4 + n)),
            ),
        )
        if n < 3:
            flagged.append(item_id)
    ids["items"] = flagged
    states = ["new", "linked", "dismissed"]
    narratives = [ids["n-cccd-merger"], ids["n-cccd-merger"], ids["n-vneid-bank"]]
    for n, item_id in enumerate(flagged):
        at = _t(-timedelta(hours=2 + n))
        builders.add_flag(
            db,
            item_id,
            state=states[n],
            risk=0.95 - n * 0.1,
            narrative_id=narratives[n],
            flagged_at=at,
            handled_at=None if n == 0 else at,
        )
    builders.add_suggestion(db, flagged[0], ids["cccd-merger"], 0.8, at=now)
    for due, note in (
        (-timedelta(hours=5), "overdue"),
        (timedelta(hours=6), "soon"),
        (timedelta(days=9), "later"),
    ):
        builders.add_assignment(
            db,
            item_id=flagged[0],
            rebuttal_id=ids["cccd-merger"],
            channel=f"fanpage-{note}",
            assignee_id=user,
            due_at=_t(due),
            note=note,
            created_at=now,
        )
    return ids


def add_flags(db: sqlite_utils.Database, narrative_id: int, count: int, at: datetime, tag: str) -> None:
    """`count` flagged items of one narrative, flagged just before `at`."""
    for n in range(count):
        item_id, _ = add_item(
            db, NewItem(title=f"{tag} tin số {n}", text=f"{tag} {n}", fetched_at=to_db_time(at))
        )
        builders.add_flag(
            db, item_id, narrative_id=narrative_id, flagged_at=to_db_time(at - timedelta(minutes=1 + n))
        )
