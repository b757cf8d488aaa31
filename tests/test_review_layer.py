"""The review layer: one roles table (manager is a real read-only role), assignment e-mails through the
exactly-once outbox (atomic with the assignment), no role tuples outside the table."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from monitor.config import DEFAULT_TIMEZONE
from monitor.errors import UsageError
from monitor.notify.assignment import KIND, period_of
from monitor.notify.delivery import retry_failed
from monitor.review import assignments as review_assignments
from monitor.review import roles
from monitor.store import mail as mail_store
from monitor.store import users as store_users
from tests.pages_helpers import (  # noqa: F401  (fixtures)
    SmtpSink,
    fast_passwords,
    pages_env,
    pweb,
    seed_basics,
    smtp_sink,
)
from tests.web_helpers import PASSWORD, WebEnv, login

REPO = Path(__file__).resolve().parent.parent


# --- the roles table -----------------------------------------------------------------------------------


def test_roles_table_lists_every_role_and_admin_holds_everything() -> None:
    assert roles.ROLE_NAMES == ("analyst", "coordinator", "approver", "admin", "manager")
    assert all(roles.can("admin", cap) for cap in roles.CAPABILITIES)
    assert roles.roles_with(roles.QUEUE_ACT) == ("analyst", "coordinator", "admin")
    assert roles.roles_with(roles.LIBRARY_APPROVE) == ("approver", "admin")
    assert not roles.can({"role": "nobody"}, roles.LIBRARY_READ)
    with pytest.raises(UsageError, match="role 'boss' does not exist"):
        roles.check_role("boss")


def test_manager_is_read_only() -> None:
    deciding = {
        roles.QUEUE_ACT,
        roles.REQUESTS,
        roles.LIBRARY_EDIT,
        roles.LIBRARY_APPROVE,
        roles.ASSIGN,
        roles.ASSIGNMENTS_WORK,
        roles.AUDIT,
        roles.ADMIN,
    }
    held = roles.ROLES["manager"].capabilities
    assert held == {roles.LIBRARY_READ, roles.REPORTS, roles.DIGEST_RECEIVE, roles.DIGEST_COORDINATION}
    assert not held & deciding


def test_a_manager_user_logs_in_reads_the_library_and_decides_nothing(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    db = pweb.db()
    try:
        store_users.create_user(
            db, "lanh-dao", PASSWORD, "manager", email="lanh-dao@example.gov.vn", language="en"
        )
        token = store_users.create_token(db, "lanh-dao")
    finally:
        db.conn.close()
    client = login(pweb._new_client(None), "lanh-dao")
    assert client.get("/rebuttals").status_code == 200
    assert client.get(f"/rebuttals/{s.rebuttal_id}").status_code == 200
    for path in (
        "/queue",
        f"/items/{s.item_id}",
        "/requests",
        "/rebuttals/new",
        "/assignments/new",
        "/audit",
    ):
        assert client.get(path).status_code == 403, path
    r = client.post(f"/items/{s.item_id}/dismiss", data={"csrf_token": client.csrf, "reason": "accurate"})
    assert r.status_code == 403
    api = pweb.api(None)
    api.headers["Authorization"] = f"Bearer {token}"
    assert api.get("/api/rebuttals").status_code == 200
    assert api.get("/api/queue").status_code == 403
    assert api.post(f"/api/items/{s.item_id}/dismiss", json={"reason": "accurate"}).status_code == 403
    assert api.post("/api/assignments", json={}).status_code == 403


def test_cli_creates_a_manager_and_refuses_an_unknown_role(run_cli: Callable[..., Result]) -> None:
    store_users.use_fast_hashing()
    ok = run_cli("users", "add", "lan", "--role", "manager", "--password-stdin", input="a-long-password\n")
    assert ok.exit_code == 0 and "role manager" in ok.output, ok.output
    bad = run_cli("users", "add", "x", "--role", "boss", "--password-stdin", input="a-long-password\n")
    assert bad.exit_code == 2 and "boss" in bad.output


# --- assignment e-mails through the outbox -----------------------------------------------------------------


def _fields(s: Any) -> dict[str, Any]:
    return {"item_id": s.item_id, "rebuttal_id": s.rebuttal_id, "channel": "website", "assignee": "analyst"}


def test_assignment_and_its_outbox_row_are_one_transaction(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    db = pweb.db()
    try:
        coordinator = store_users.require_user(db, "coordinator")

        def broken_outbox(tx: Any, row: dict[str, Any]) -> None:
            mail_store.enqueue(
                tx, KIND, "x@example.gov.vn", period_of(int(row["id"])), "<m@x>", "payload", "t"
            )
            raise RuntimeError("the message could not be built")

        before = db.execute("SELECT COUNT(*) FROM assignments").fetchone()[0]
        with pytest.raises(RuntimeError):
            review_assignments.create_assignment(
                db, _fields(s), coordinator, tz=DEFAULT_TIMEZONE, outbox=broken_outbox
            )
        assert db.execute("SELECT COUNT(*) FROM assignments").fetchone()[0] == before
        assert mail_store.ledger_rows(db, KIND) == []
    finally:
        db.conn.close()


def test_a_failed_assignment_email_stays_in_the_outbox_and_is_sent_once_later(
    tmp_path: Path,
    smtp_sink: SmtpSink,  # noqa: F811
) -> None:
    with fast_passwords():
        env = pages_env(tmp_path)  # SMTP on a closed port: the first send fails
        try:
            s = seed_basics(env)
            client = env.client("coordinator")
            r = client.post("/assignments/new", data={"csrf_token": client.csrf, **_fields(s)})
            assert r.status_code == 303
            assert "the email to analyst failed" in client.get("/assignments").text
            db = env.db()
            try:
                rows = mail_store.ledger_rows(db, KIND)
                assert len(rows) == 1 and rows[0]["status"] == "failed" and rows[0]["payload"]
                assert rows[0]["recipient"] == "analyst@example.gov.vn"
                message_id = rows[0]["message_id"]
                # The mail server is back: the next digest run's retry sends the stored message, once.
                cfg = env.cfg.model_copy(
                    update={
                        "smtp": env.cfg.smtp.model_copy(update={"port": smtp_sink.port, "retry_backoff": 0})
                    }
                )
                from datetime import UTC, datetime, timedelta

                later = datetime.now(UTC) + timedelta(hours=7)
                results = retry_failed(cfg, db, later)
                assert [(x.kind, x.status) for x in results] == [(KIND, "sent")]
                assert retry_failed(cfg, db, later) == []
                assert len(smtp_sink.messages) == 1 and smtp_sink.messages[0]["Message-ID"] == message_id
                assert mail_store.ledger_rows(db, KIND)[0]["status"] == "sent"
            finally:
                db.conn.close()
        finally:
            env.close()


def test_api_assignment_email_goes_through_the_outbox(tmp_path: Path, smtp_sink: SmtpSink) -> None:  # noqa: F811
    with fast_passwords():
        env = pages_env(tmp_path, smtp_port=smtp_sink.port)
        try:
            s = seed_basics(env)
            r = env.api("coordinator").post("/api/assignments", json=_fields(s))
            assert r.status_code == 201 and r.json()["notification_warning"] is None
            db = env.db()
            try:
                rows = mail_store.ledger_rows(db, KIND)
                assert [(x["period"], x["status"]) for x in rows] == [(period_of(r.json()["id"]), "sent")]
            finally:
                db.conn.close()
            assert len(smtp_sink.messages) == 1
        finally:
            env.close()


# --- no role tuples outside the table -------------------------------------------------------------------

# Files other engineers convert in this phase (remove a file from here once it asks the roles table).
NOT_YET_CONVERTED: set[str] = set()


def test_no_role_name_collections_outside_the_roles_table() -> None:
    names = set(roles.ROLE_NAMES)
    found = []
    for path in sorted((REPO / "monitor").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "monitor/review/roles.py" or rel in NOT_YET_CONVERTED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
                values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
                if all(v in names for v in values):
                    found.append(f"{rel}:{node.lineno}")
    assert not found, f"role names listed outside monitor/review/roles.py: {found}"
