"""Fixtures for the library / assignments / reports / audit / digest page tests: a real SMTP sink and seeds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from monitor.config import DEFAULT_TIMEZONE
from monitor.review.assignments import create_assignment
from monitor.store import users as store_users
from monitor.store.users import get_user
from tests.web_helpers import WebEnv, make_web_env, seed_flag, seed_rebuttal


def free_port() -> int:
    """A port nothing listens on right now (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    """A real aiosmtpd server on 127.0.0.1 that keeps every message it receives."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        """Store the message; answer 250 like a real server."""
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd Controller on 127.0.0.1 and a free port (Controller(port=0) does not work)."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


def pages_env(tmp_path: Path, smtp_port: int | None = None) -> WebEnv:
    """A WebEnv whose SMTP settings point at `smtp_port` (default: a closed port, so sending fails fast)."""
    return make_web_env(
        tmp_path,
        smtp={
            "host": "127.0.0.1",
            "port": smtp_port or free_port(),
            "timeout": 5,
            "sender": "monitor@example.gov.vn",
        },
        web={"base_url": "http://127.0.0.1:8000"},
    )


# Test users only: argon2 at its cheapest, so logging in 4 roles costs milliseconds, not seconds.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@contextmanager
def fast_passwords() -> Iterator[None]:
    """Hash test passwords cheaply (verification reads the cost from each hash, so logins stay real)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_users, "_hasher", FAST_HASHER)
        yield


def share_clients(env: WebEnv) -> WebEnv:
    """Make env.client(role) return one logged-in client per role, reused (for module-scoped envs)."""
    clients: dict[str | None, TestClient] = {}
    make_client = env.client

    def cached_client(role: str | None = None) -> TestClient:
        if role not in clients:
            clients[role] = make_client(role)
        return clients[role]

    env.client = cached_client  # type: ignore[method-assign]
    return env


@pytest.fixture
def pweb(tmp_path: Path) -> Iterator[WebEnv]:
    """A WebEnv with SMTP pointed at a closed port (mail fails, assignments must still be saved)."""
    with fast_passwords():
        env = pages_env(tmp_path)
        yield env
        env.close()


@pytest.fixture(scope="module")
def menv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    """One app per test module, with one logged-in client per role; tests create their own objects."""
    with fast_passwords():
        env = share_clients(pages_env(Path(tmp_path_factory.mktemp("pages"))))
        seed_basics(env)
        yield env
        env.close()


@dataclass
class Seeded:
    """Ids created by seed_basics."""

    item_id: int
    rebuttal_id: int
    draft_id: int
    narrative_id: int


def narrative_of(db: sqlite_utils.Database, rebuttal_id: int) -> int:
    """The narrative created when a rebuttal was approved."""
    row = db.execute("SELECT id FROM narratives WHERE rebuttal_id = ?", [rebuttal_id]).fetchone()
    assert row, f"rebuttal {rebuttal_id} has no narrative (is it approved?)"
    return int(row[0])


def seed_basics(env: WebEnv) -> Seeded:
    """One flagged item, one approved rebuttal (with its narrative) and one draft; created once per env."""
    cached: Seeded | None = getattr(env, "seeded", None)
    if cached is not None:
        return cached
    db = env.db()
    try:
        rid = seed_rebuttal(
            db,
            "CCCD không phải làm lại sau sáp nhập",
            ["Sau sáp nhập tỉnh mọi người phải làm lại CCCD gắn chip và mất phí"],
            key="cccd-merger",
        )
        draft = seed_rebuttal(
            db, "Lương hưu không bị cắt", ["Lương hưu bị cắt 30%"], approve=False, key="pension-cut"
        )
        item = seed_flag(
            db, "Phải đổi CCCD sau khi sáp nhập tỉnh", "Mọi người phải làm lại căn cước, mất phí."
        )
        env.seeded = Seeded(item_id=item, rebuttal_id=rid, draft_id=draft, narrative_id=narrative_of(db, rid))  # type: ignore[attr-defined]
        return env.seeded  # type: ignore[attr-defined,no-any-return]
    finally:
        db.conn.close()


def make_assignment(env: WebEnv, seeded: Seeded, assignee: str = "analyst", **fields: Any) -> int:
    """Create an assignment through the review stage as the coordinator."""
    db = env.db()
    try:
        coordinator = get_user(db, "coordinator")
        assert coordinator
        data = {
            "item_id": seeded.item_id,
            "rebuttal_id": seeded.rebuttal_id,
            "channel": "website",
            "assignee": assignee,
            **fields,
        }
        return create_assignment(db, data, coordinator, tz=DEFAULT_TIMEZONE)
    finally:
        db.conn.close()
