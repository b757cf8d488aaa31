"""Assignments: create form from an item, email to the assignee (real SMTP server), board, progress, locking."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import DEFAULT_TIMEZONE
from monitor.errors import Conflict, PermissionDenied, UsageError
from monitor.review import assignments as review
from monitor.store import assignments as store
from monitor.store.users import get_user
from tests.builders import mark_published_long_ago
from tests.pages_helpers import (  # noqa: F401  (fixtures)
    SmtpSink,
    fast_passwords,
    make_assignment,
    pages_env,
    pweb,
    seed_basics,
    smtp_sink,
)
from tests.web_helpers import WebEnv, seed_flag, seed_suggestion


@pytest.fixture
def mailweb(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[WebEnv]:  # noqa: F811
    """A WebEnv whose SMTP settings point at the running aiosmtpd sink."""
    with fast_passwords():
        env = pages_env(tmp_path, smtp_port=smtp_sink.port)
        yield env
        env.close()


def _count(env: WebEnv, sql: str, params: list[object] | None = None) -> int:
    db = env.db()
    try:
        return int(db.execute(sql, params or []).fetchone()[0])
    finally:
        db.conn.close()


def test_item_link_opens_a_prefilled_form_with_approved_rebuttals_only(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    db = pweb.db()
    try:
        seed_suggestion(db, s.item_id, s.rebuttal_id, 0.91, "Phải làm lại CCCD")
    finally:
        db.conn.close()
    page = pweb.client("coordinator").get(f"/assignments/new?item_id={s.item_id}").text
    assert "Phải đổi CCCD sau khi sáp nhập tỉnh" in page
    assert f'<option value="{s.rebuttal_id}" selected>' in page  # the suggested rebuttal is preselected
    assert "Lương hưu không bị cắt" not in page  # drafts cannot be assigned
    for channel in review.CHANNELS:
        assert f'value="{channel}"' in page


def test_assignment_is_saved_audited_and_emailed(mailweb: WebEnv, smtp_sink: SmtpSink) -> None:  # noqa: F811
    s = seed_basics(mailweb)
    client = mailweb.client("coordinator")
    r = client.post(
        "/assignments/new",
        data={
            "csrf_token": client.csrf,
            "item_id": s.item_id,
            "target": "item",
            "rebuttal_id": s.rebuttal_id,
            "channel": "fanpage",
            "assignee": mailweb.user("analyst")["id"],
            "due_at": "2030-05-01T09:30",
            "note": "Đăng trước 10 giờ\nSubject: injected",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/assignments#a")
    board = client.get("/assignments").text
    assert "was notified by email" in board
    assert len(smtp_sink.messages) == 1
    msg = smtp_sink.messages[0]
    assert smtp_sink.envelopes[0][1] == ["analyst@example.gov.vn"]
    assert msg["To"] == "analyst@example.gov.vn"
    assert msg["Subject"].startswith("[misinfo-monitor] New assignment #1: CCCD không phải làm lại")
    body = msg.get_content() if not msg.is_multipart() else msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Channel: fanpage" in body
    assert "Due: 2030-05-01 09:30 (Asia/Ho_Chi_Minh)" in body  # shown in local time, stored in UTC
    assert "http://127.0.0.1:8000/assignments#a1" in body
    assert "Subject: injected" not in str(msg["Subject"])
    db = mailweb.db()
    try:
        row = db.execute("SELECT channel, due_at, status, created_by FROM assignments").fetchone()
        assert row[0] == "fanpage" and row[1] == "2030-05-01T02:30:00+00:00" and row[2] == "assigned"
        audit = db.execute(
            "SELECT actor, detail_json FROM audit_log WHERE action = 'assignment.create'"
        ).fetchone()
        assert audit[0] == "coordinator" and '"assignee": "analyst"' in audit[1]
    finally:
        db.conn.close()


def test_mail_failure_is_a_warning_and_the_assignment_stays(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    client = pweb.client("coordinator")
    r = client.post(
        "/assignments/new",
        data={
            "csrf_token": client.csrf,
            "narrative_id": s.narrative_id,
            "rebuttal_id": s.rebuttal_id,
            "channel": "press_release",
            "assignee": "analyst",
        },
    )
    assert r.status_code == 303
    board = client.get("/assignments").text
    assert "the email to analyst failed" in board
    assert "flash-warning" in board
    assert _count(pweb, "SELECT COUNT(*) FROM assignments WHERE narrative_id = ?", [s.narrative_id]) == 1


def test_draft_rebuttal_and_missing_target_are_refused_with_reasons(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    client = pweb.client("coordinator")
    base = {"csrf_token": client.csrf, "channel": "website", "assignee": "analyst"}
    r = client.post("/assignments/new", data={**base, "item_id": s.item_id, "rebuttal_id": s.draft_id})
    assert r.status_code == 400 and "only approved rebuttals can be assigned" in r.text
    r = client.post("/assignments/new", data={**base, "rebuttal_id": s.rebuttal_id})
    assert r.status_code == 400 and "give item_id or narrative_id" in r.text
    r = client.post(
        "/assignments/new",
        data={**base, "item_id": s.item_id, "rebuttal_id": s.rebuttal_id, "due_at": "soon"},
    )
    assert r.status_code == 400 and "is not an ISO date" in r.text
    assert _count(pweb, "SELECT COUNT(*) FROM assignments") == 0


def test_board_columns_overdue_and_own_work(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    late = make_assignment(pweb, s, due_at="2020-01-01")
    fine = make_assignment(pweb, s, due_at="2099-01-01")
    other = make_assignment(pweb, s, assignee="approver")
    page = pweb.client("coordinator").get("/assignments").text
    cards = dict(re.findall(r'<article class="(card[^"]*)" id="a(\d+)"', page)[i][::-1] for i in range(3))
    assert cards[str(late)] == "card overdue"
    assert cards[str(fine)] == "card"
    assert "1 overdue" in page
    db = pweb.db()
    try:  # finished long ago: off the board (open work always stays)
        mark_published_long_ago(db, fine, "https://example.gov.vn/o", at="2020-01-01T00:00:00+00:00")
    finally:
        db.conn.close()
    assert f'id="a{fine}"' not in pweb.client("coordinator").get("/assignments").text
    mine = pweb.client("analyst").get("/assignments").text
    assert f'id="a{late}"' in mine and f'id="a{other}"' not in mine


def test_assignee_moves_work_to_published_with_the_url(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    aid = make_assignment(pweb, s, due_at="2099-01-01")
    analyst = pweb.client("analyst")
    ok = analyst.post(
        f"/assignments/{aid}/status", data={"csrf_token": analyst.csrf, "status": "in_progress", "version": 1}
    )
    assert ok.status_code == 303
    no_url = analyst.post(
        f"/assignments/{aid}/status", data={"csrf_token": analyst.csrf, "status": "published", "version": 2}
    )
    assert no_url.status_code == 303
    assert "needs the http(s) URL" in analyst.get("/assignments").text
    stale = analyst.post(
        f"/assignments/{aid}/status",
        data={
            "csrf_token": analyst.csrf,
            "status": "published",
            "published_url": "https://example.gov.vn/a",
            "version": 1,
        },
    )
    assert stale.status_code == 409 and "already changed by analyst" in stale.text
    done = analyst.post(
        f"/assignments/{aid}/status",
        data={
            "csrf_token": analyst.csrf,
            "status": "published",
            "published_url": "https://example.gov.vn/bai-viet",
            "version": 2,
        },
    )
    assert done.status_code == 303
    page = analyst.get("/assignments").text
    assert 'href="https://example.gov.vn/bai-viet"' in page
    approver = pweb.client("approver")
    assert (
        approver.post(
            f"/assignments/{aid}/status", data={"csrf_token": approver.csrf, "status": "cancelled"}
        ).status_code
        == 403
    )
    db = pweb.db()
    try:
        row = db.execute(
            "SELECT status, published_url, published_at, version FROM assignments WHERE id = ?", [aid]
        ).fetchone()
        assert (
            row[0] == "published" and row[1] == "https://example.gov.vn/bai-viet" and row[2] and row[3] == 3
        )
        actions = [
            a
            for (a,) in db.execute(
                "SELECT action FROM audit_log WHERE object_type = 'assignment' ORDER BY id"
            )
        ]
        assert actions == ["assignment.create", "assignment.status", "assignment.status"]
    finally:
        db.conn.close()


def test_store_rules(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    db = pweb.db()
    try:
        analyst, coordinator = get_user(db, "analyst"), get_user(db, "coordinator")
        assert analyst and coordinator
        with pytest.raises(PermissionDenied):
            review.create_assignment(
                db,
                {
                    "item_id": s.item_id,
                    "rebuttal_id": s.rebuttal_id,
                    "channel": "website",
                    "assignee": "analyst",
                },
                analyst,
                tz=DEFAULT_TIMEZONE,
            )
        with pytest.raises(UsageError, match="channel 'tiktok' does not exist"):
            review.create_assignment(
                db,
                {
                    "item_id": s.item_id,
                    "rebuttal_id": s.rebuttal_id,
                    "channel": "tiktok",
                    "assignee": "analyst",
                },
                coordinator,
                tz=DEFAULT_TIMEZONE,
            )
        aid = review.create_assignment(
            db,
            {
                "item_id": s.item_id,
                "rebuttal_id": s.rebuttal_id,
                "channel": "social",
                "assignee": "analyst",
                "due_at": "2030-01-02",
            },
            coordinator,
            tz=DEFAULT_TIMEZONE,
        )
        row = store.get_assignment(db, aid)
        assert row and row["due_at"] == "2030-01-02T16:59:59+00:00"  # end of the local day, in UTC
        with pytest.raises(PermissionDenied):
            review.update_assignment(
                db, aid, {"due_at": "2031-01-01"}, analyst, tz=DEFAULT_TIMEZONE
            )  # the assignee cannot move the date
        with pytest.raises(PermissionDenied):
            review.update_assignment(db, aid, {"status": "cancelled"}, analyst, tz=DEFAULT_TIMEZONE)
        review.update_assignment(
            db, aid, {"status": "cancelled"}, coordinator, expected_version=1, tz=DEFAULT_TIMEZONE
        )
        with pytest.raises(UsageError, match="cannot become in_progress"):
            review.update_assignment(db, aid, {"status": "in_progress"}, coordinator, tz=DEFAULT_TIMEZONE)
        with pytest.raises(Conflict):
            review.update_assignment(
                db, aid, {"note": "x"}, coordinator, expected_version=1, tz=DEFAULT_TIMEZONE
            )
        assert [r["id"] for r in store.list_assignments(db, status="cancelled")] == [aid]
        assert store.list_assignments(db, overdue_only=True) == []
    finally:
        db.conn.close()


def test_hostile_titles_are_escaped_on_board_and_form(pweb: WebEnv) -> None:  # noqa: F811
    s = seed_basics(pweb)
    db = pweb.db()
    try:
        evil = seed_flag(db, "<img src=x onerror=alert(1)> <script>alert(1)</script>", "x")
    finally:
        db.conn.close()
    make_assignment(pweb, s, item_id=evil)
    client = pweb.client("coordinator")
    for page in (client.get("/assignments").text, client.get(f"/assignments/new?item_id={evil}").text):
        assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
