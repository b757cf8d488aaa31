"""Rebuttal library pages: drafts, edits with lost-update protection, approval, retirement, history, escaping."""

from __future__ import annotations

import re

from tests.pages_helpers import pweb, seed_basics  # noqa: F401  (pweb is a fixture)
from tests.web_helpers import WebEnv


def _new_draft(client, **fields: str):  # type: ignore[no-untyped-def]
    data = {
        "title": "VNeID không đọc tin nhắn",
        "claims": "VNeID đọc tin nhắn riêng tư\nVNeID làm lộ dữ liệu",
        "short_answer": "VNeID không truy cập tin nhắn.",
        "language": "vi",
        "csrf_token": client.csrf,
        **fields,
    }
    return client.post("/rebuttals/new", data=data)


def test_coordinator_creates_a_draft_with_every_field(pweb: WebEnv) -> None:  # noqa: F811
    client = pweb.client("coordinator")
    r = client.post(
        "/rebuttals/new",
        data={
            "csrf_token": client.csrf,
            "title": "VNeID không phải phần mềm gián điệp",
            "key": "vneid-spyware",
            "claims": "VNeID đọc tin nhắn riêng tư\n\nVNeID làm lộ dữ liệu của mọi người",
            "short_answer": "VNeID không đọc tin nhắn.",
            "body": "Đoạn một.\nĐoạn hai.",
            "language": "vi",
            "evidence": "https://example.gov.vn/vneid\nhttps://example.gov.vn/bao-mat",
            "media": "infographic: https://example.gov.vn/anh.png\nhttps://example.gov.vn/video",
            "channels": ["facebook", "zalo"],
            "verdict": "Sai",
        },
    )
    assert r.status_code == 303
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/rebuttals/{rid}").text
    assert "VNeID không phải phần mềm gián điệp" in page
    assert "VNeID làm lộ dữ liệu của mọi người" in page
    assert 'href="https://example.gov.vn/bao-mat"' in page
    assert 'href="https://example.gov.vn/anh.png"' in page
    assert "Zalo" in page and "draft" in page
    db = pweb.db()
    try:
        row = db.execute(
            "SELECT status, channels_json, media_json, created_by FROM rebuttals WHERE id = ?", [rid]
        ).fetchone()
        assert row[0] == "draft"
        assert row[1] == '["facebook", "zalo"]'
        assert '"type": "infographic"' in row[2] and '"type": "link"' in row[2]
        assert (
            db.execute("SELECT COUNT(*) FROM rebuttal_claims WHERE rebuttal_id = ?", [rid]).fetchone()[0] == 2
        )
        actions = [a for (a,) in db.execute("SELECT action FROM audit_log WHERE object_id = ?", [str(rid)])]
        assert "rebuttal.create" in actions
    finally:
        db.conn.close()


def test_invalid_draft_is_shown_again_with_the_reason(pweb: WebEnv) -> None:  # noqa: F811
    client = pweb.client("coordinator")
    r = _new_draft(client, claims="", title="Giữ lại tiêu đề này")
    assert r.status_code == 400
    assert "claims is empty" in r.text
    assert 'value="Giữ lại tiêu đề này"' in r.text
    r = _new_draft(client, evidence="javascript:alert(1)")
    assert r.status_code == 400 and "is not a link" in r.text


def test_analyst_reads_but_cannot_write(pweb: WebEnv) -> None:  # noqa: F811
    seeded = seed_basics(pweb)
    client = pweb.client("analyst")
    page = client.get(f"/rebuttals/{seeded.rebuttal_id}").text
    assert "/edit" not in page and "/approve" not in page and "/assignments/new" not in page
    coordinator_view = pweb.client("coordinator").get(f"/rebuttals/{seeded.rebuttal_id}").text
    assert f'href="/assignments/new?rebuttal_id={seeded.rebuttal_id}"' in coordinator_view
    assert _new_draft(client).status_code == 403


def test_search_folds_accents_and_filters_status(pweb: WebEnv) -> None:  # noqa: F811
    seeded = seed_basics(pweb)
    client = pweb.client("analyst")
    hits = client.get("/rebuttals", params={"q": "lam lai cccd"}).text
    assert f'href="/rebuttals/{seeded.rebuttal_id}"' in hits
    assert f'href="/rebuttals/{seeded.draft_id}"' not in hits
    drafts = client.get("/rebuttals", params={"status": "draft"}).text
    assert f'href="/rebuttals/{seeded.draft_id}"' in drafts
    assert f'href="/rebuttals/{seeded.rebuttal_id}"' not in drafts


def test_edit_approve_retire_and_history(pweb: WebEnv) -> None:  # noqa: F811
    seeded = seed_basics(pweb)
    coordinator, approver = pweb.client("coordinator"), pweb.client("approver")
    form = coordinator.get(f"/rebuttals/{seeded.draft_id}/edit").text
    version = re.search(r'name="version" value="(\d+)"', form)
    assert version
    r = coordinator.post(
        f"/rebuttals/{seeded.draft_id}/edit",
        data={
            "csrf_token": coordinator.csrf,
            "version": version.group(1),
            "title": "Lương hưu không bị cắt 30%",
            "claims": "Lương hưu bị cắt 30%",
            "language": "vi",
        },
    )
    assert r.status_code == 303
    # The coordinator sees no approve button; the approver does.
    assert (
        f'action="/rebuttals/{seeded.draft_id}/approve"'
        not in coordinator.get(f"/rebuttals/{seeded.draft_id}").text
    )
    assert (
        f'action="/rebuttals/{seeded.draft_id}/approve"' in approver.get(f"/rebuttals/{seeded.draft_id}").text
    )
    assert (
        approver.post(f"/rebuttals/{seeded.draft_id}/approve", data={"csrf_token": approver.csrf}).status_code
        == 303
    )
    assert (
        approver.post(f"/rebuttals/{seeded.draft_id}/retire", data={"csrf_token": approver.csrf}).status_code
        == 303
    )
    history = approver.get(f"/rebuttals/{seeded.draft_id}/versions").text
    assert "status draft -&gt; approved" in history and "status approved -&gt; retired" in history
    assert "Lương hưu không bị cắt 30%" in history
    db = pweb.db()
    try:
        actions = [
            a
            for (a,) in db.execute(
                "SELECT action FROM audit_log WHERE object_type = 'rebuttal' AND object_id = ? ORDER BY id",
                [str(seeded.draft_id)],
            )
        ]
        assert actions[-3:] == ["rebuttal.update", "rebuttal.approve", "rebuttal.retire"]
    finally:
        db.conn.close()


def test_second_editor_gets_a_conflict_not_a_lost_update(pweb: WebEnv) -> None:  # noqa: F811
    seeded = seed_basics(pweb)
    a, b = pweb.client("coordinator"), pweb.client("approver")
    data = {"version": "", "claims": "Lương hưu bị cắt 30%", "language": "vi"}
    v = re.search(r'name="version" value="(\d+)"', a.get(f"/rebuttals/{seeded.draft_id}/edit").text).group(1)  # type: ignore[union-attr]
    first = a.post(
        f"/rebuttals/{seeded.draft_id}/edit",
        data={**data, "version": v, "title": "Sửa lần A", "csrf_token": a.csrf},
    )
    assert first.status_code == 303
    second = b.post(
        f"/rebuttals/{seeded.draft_id}/edit",
        data={**data, "version": v, "title": "Sửa lần B", "csrf_token": b.csrf},
    )
    assert second.status_code == 409
    assert "changed by someone else" in second.text
    assert "Sửa lần A" in b.get(f"/rebuttals/{seeded.draft_id}").text


def test_hostile_text_in_a_rebuttal_is_escaped(pweb: WebEnv) -> None:  # noqa: F811
    client = pweb.client("coordinator")
    r = _new_draft(
        client,
        title="<script>alert(1)</script>",
        claims="<img src=x onerror=alert(1)>",
        body='<a href="javascript:alert(1)">x</a>',
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page
    assert 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_vietnamese_interface(pweb: WebEnv) -> None:  # noqa: F811
    seed_basics(pweb)
    client = pweb.client("coordinator")
    client.post("/language", data={"lang": "vi", "csrf_token": client.csrf, "next": "/rebuttals"})
    page = client.get("/rebuttals").text
    assert "Thư viện bài phản bác" in page and "Bản nháp mới" in page
