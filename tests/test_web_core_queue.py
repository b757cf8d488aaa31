"""The queue, search and item pages: ordering, keyset pagination, filters, hostile content, decisions."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import Conflict
from monitor.review import queue as review
from monitor.store import queue as q
from monitor.store.db import to_db_time
from monitor.store.items import Evidence
from monitor.store.users import require_user
from tests.builders import put_in_cluster, set_item_html
from tests.web_helpers import WebEnv, seed_flag, seed_item, seed_rebuttal, seed_suggestion, web  # noqa: F401

HOSTILE_TITLE = '<script>alert("t")</script><img src=x onerror=alert(1)>'
HOSTILE_TEXT = '<a href="javascript:alert(2)">bấm</a> <svg onload=alert(3)> onerror=alert(4)'


def _walk(db: object, filt: q.QueueFilter, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        rows, cursor = review.list_queue(db, filt, cursor, limit)  # type: ignore[arg-type]
        ids += [r["flag_id"] for r in rows]
        if cursor is None:
            return ids


def test_keyset_pages_match_the_full_order_with_ties(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    base = datetime(2026, 11, 1, tzinfo=UTC)
    user = require_user(db, "analyst")
    for n in range(75):
        # Many equal risks and equal times, so the id tie-breaker matters.
        item = seed_flag(
            db,
            f"mục {n}",
            f"nội dung số {n}",
            risk=[0.9, 0.7, 0.7, 0.5][n % 4],
            flagged_at=to_db_time(base + timedelta(minutes=n % 5)),
        )
        if n % 3 == 0:
            review.dismiss_item(db, item, "accurate", user)
    rows = list(db.query("SELECT id, state, risk, flagged_at FROM flags"))
    # risk desc, then flagged_at desc, then id desc.
    expected_all = [
        r["id"] for r in sorted(rows, key=lambda r: (r["risk"], r["flagged_at"], r["id"]), reverse=True)
    ]
    for limit in (1, 7, 20, 200):
        assert _walk(db, q.QueueFilter(states=()), limit) == expected_all
    merged = q.QueueFilter(states=("new", "dismissed"))
    assert _walk(db, merged, 9) == expected_all
    only_new = [i for i in expected_all if next(r for r in rows if r["id"] == i)["state"] == "new"]
    assert _walk(db, q.QueueFilter(), 8) == only_new
    db.conn.close()


def test_queue_query_uses_the_indexes_without_sorting(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    cases = [
        (q.QueueFilter(), "new", None),
        (q.QueueFilter(), "new", (0.5, "2026-11-01T00:00:00+00:00", 10)),
        (q.QueueFilter(source_id=1, lang="vi", min_risk=0.6), "new", (0.5, "2026-11-01T00:00:00+00:00", 10)),
        (q.QueueFilter(states=()), None, (0.5, "2026-11-01T00:00:00+00:00", 10)),
    ]
    for filt, state, after in cases:
        sql, params = q.queue_sql(filt, state, after, 51)
        plan = " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        assert "flags_queue" in plan or "flags_order" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    db.conn.close()


def test_queue_page_orders_filters_and_paginates(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    low = seed_flag(db, "Rủi ro thấp", "a b c", risk=0.55, source="bao-a", lang="vi")
    high = seed_flag(db, "Rủi ro cao", "d e f", risk=0.95, source="bao-b", lang="en")
    mid = seed_flag(db, "Rủi ro vừa", "g h i", risk=0.75, source="bao-a", lang="vi")
    source_a = db.execute("SELECT id FROM sources WHERE name = 'bao-a'").fetchone()[0]
    db.conn.close()
    client = web.client("analyst")
    page = client.get("/queue").text
    assert (
        page.index(f'data-row="{high}"') < page.index(f'data-row="{mid}"') < page.index(f'data-row="{low}"')
    )
    only_a = client.get(f"/queue?source={source_a}").text
    assert f'data-row="{high}"' not in only_a and f'data-row="{low}"' in only_a
    assert f'data-row="{low}"' not in client.get("/queue?min_score=70").text
    assert f'data-row="{high}"' in client.get("/queue?lang=en").text
    assert f'data-row="{mid}"' not in client.get("/queue?lang=en").text
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert "data-row=" not in client.get(f"/queue?from={tomorrow}").text
    first = client.get("/queue?limit=2").text
    assert 'rel="next"' in first
    next_href = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(next_href).text
    assert f'data-row="{low}"' in second and f'data-row="{high}"' not in second
    assert client.get("/queue?cursor=not-a-cursor").status_code == 400
    assert client.get("/queue?state=bogus").status_code == 400


def test_near_duplicates_are_collapsed_with_a_count(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    first = seed_flag(db, "Bài gốc về CCCD", "Phải làm lại CCCD sau khi sáp nhập tỉnh", risk=0.9)
    copy = seed_flag(db, "Bài chép lại về CCCD", "Phải làm lại CCCD sau khi sáp nhập tỉnh nhé", risk=0.8)
    put_in_cluster(db, first, copy)  # as the collector's clustering does
    seed_item(
        db, "Bài gốc về CCCD", "Phải làm lại CCCD sau khi sáp nhập tỉnh", source="bao-khac"
    )  # a re-post
    db.conn.close()
    page = web.client("analyst").get("/queue").text
    assert f'data-row="{first}"' in page and f'data-row="{copy}"' not in page
    assert "+3 similar" in page  # one cluster member, one more sighting, one collapsed on the page


def test_search_finds_vietnamese_typed_without_accents(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    hit = seed_item(db, "Người dân phải làm lại căn cước", "Đồng bào lo lắng về chi phí")
    seed_item(db, "Tin khác hoàn toàn", "thời tiết hôm nay")
    db.conn.close()
    client = web.client("analyst")
    for query in ("lam lai can cuoc", "LÀM LẠI", "dong bao"):
        page = client.get("/search", params={"q": query}).text
        assert f'href="/items/{hit}"' in page, query
    assert "data-row=" not in client.get("/search", params={"q": "khong co tu nay"}).text
    api = web.api("analyst").get("/api/items", params={"q": "can cuoc"}).json()
    assert [i["id"] for i in api["items"]] == [hit]


def test_hostile_content_is_escaped_on_queue_item_and_search(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, HOSTILE_TITLE, HOSTILE_TEXT, url="javascript:alert(5)")
    set_item_html(
        db,
        item,
        '<p>ok<script>alert(6)</script><img src="http://127.0.0.1:9/x.png"><a href="javascript:alert(7)">x</a></p>',
    )
    db.conn.close()
    client = web.client("analyst")
    for page in (
        client.get("/queue").text,
        client.get(f"/items/{item}").text,
        client.get("/search?q=alert").text,
    ):
        assert "<script>alert" not in page
        assert "<img src=x" not in page and "<svg onload" not in page
        assert 'href="javascript:' not in page
        assert "&lt;script&gt;" in page or "&lt;img" in page
    detail = client.get(f"/items/{item}")
    assert "alert(6)" not in detail.text and "127.0.0.1:9/x.png" not in detail.text  # sanitised kept HTML
    assert "default-src 'self'" in detail.headers["content-security-policy"]
    assert "script-src 'self'" in detail.headers["content-security-policy"]


def test_evidence_is_a_plain_text_download(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    body = b"<html><script>alert(1)</script></html>"
    item = seed_flag(db, "có bằng chứng", "x y z", evidence=[Evidence(body=body, content_type="text/html")])
    ev = db.execute("SELECT id FROM evidence WHERE item_id = ?", [item]).fetchone()[0]
    other = seed_flag(db, "mục khác", "u v w")
    db.conn.close()
    client = web.client("analyst")
    r = client.get(f"/items/{item}/evidence/{ev}")
    assert r.status_code == 200 and r.content == body
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/items/{other}/evidence/{ev}").status_code == 404  # evidence of another item


def test_link_sets_narrative_writes_link_and_audit(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    rid = seed_rebuttal(db, "VNeID không rút tiền", ["VNeID rút tiền trong tài khoản"])
    item = seed_flag(db, "VNeID rút tiền của dân", "app VNeID rút tiền")
    seed_suggestion(db, item, rid, 0.81, "VNeID rút tiền trong tài khoản")
    client = web.client("analyst")
    page = client.get(f"/items/{item}").text
    assert "VNeID không rút tiền" in page and "0.81" in page and "VNeID rút tiền trong tài khoản" in page
    r = client.post(f"/items/{item}/link", data={"rebuttal_id": rid, "version": 1, "csrf_token": client.csrf})
    assert r.status_code == 303
    flag = q.get_flag(db, item)
    narrative = db.execute("SELECT id FROM narratives WHERE rebuttal_id = ?", [rid]).fetchone()[0]
    assert flag is not None and flag["state"] == "linked" and flag["narrative_id"] == narrative
    assert flag["handled_by_name"] == "analyst" and flag["version"] == 2
    link = db.execute(
        "SELECT user_id, score FROM links WHERE item_id = ? AND rebuttal_id = ?", [item, rid]
    ).fetchone()
    assert link[1] == pytest.approx(0.81)
    audit = db.execute("SELECT actor, detail_json FROM audit_log WHERE action = 'item.link'").fetchall()
    assert audit[0][0] == "analyst" and json.loads(audit[0][1])["rebuttal_id"] == rid
    db.conn.close()


def test_only_approved_rebuttals_can_be_linked(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    draft = seed_rebuttal(db, "Bản nháp", ["luận điệu nháp"], approve=False)
    item = seed_flag(db, "mục", "nội dung")
    db.conn.close()
    r = web.api("analyst").post(f"/api/items/{item}/link", json={"rebuttal_id": draft})
    assert r.status_code == 409 and "not approved" in r.json()["error"]


def test_second_analyst_gets_already_handled_by(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    rid = seed_rebuttal(db, "Không phải đổi biển số", ["phải đổi biển số xe"])
    item = seed_flag(db, "Đổi biển số xe", "tốn tiền")
    db.conn.close()
    first, second = web.client("analyst"), web.client("coordinator")
    page_version = 1  # both opened the page at version 1
    r1 = first.post(
        f"/items/{item}/link", data={"rebuttal_id": rid, "version": page_version, "csrf_token": first.csrf}
    )
    assert r1.status_code == 303
    r2 = second.post(
        f"/items/{item}/dismiss",
        data={"reason": "accurate", "version": page_version, "csrf_token": second.csrf},
    )
    assert r2.status_code == 409 and "already handled by analyst" in r2.text
    r3 = web.api("coordinator").post(f"/api/items/{item}/escalate", json={})
    assert r3.status_code == 409 and "already handled by analyst" in r3.json()["error"]
    htmx = second.post(
        f"/items/{item}/dismiss",
        data={"reason": "accurate"},
        headers={"HX-Request": "true", "X-CSRF-Token": second.csrf},
    )
    assert (
        htmx.status_code == 409 and htmx.headers["hx-retarget"] == "#flash" and "already handled" in htmx.text
    )


def test_concurrent_decisions_lose_no_update(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    rid = seed_rebuttal(db, "Lương hưu không bị cắt", ["cắt 30% lương hưu"])
    items = [seed_flag(db, f"Cắt lương hưu {n}", f"cắt 30% lương hưu lần {n}") for n in range(5)]
    users = [require_user(db, "analyst"), require_user(db, "coordinator")]
    db.conn.close()
    for item in items:
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def act(
            who: int, item: int = item, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes
        ) -> None:
            conn = web.db()
            try:
                barrier.wait()
                if who == 0:
                    review.link_item(conn, item, rid, users[0], expected_version=1)
                else:
                    review.dismiss_item(conn, item, "duplicate", users[1], expected_version=1)
                outcomes.append("ok")
            except Conflict as exc:
                outcomes.append(str(exc))
            finally:
                conn.conn.close()

        threads = [threading.Thread(target=act, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("ok") == 1, outcomes
        assert any("already handled by" in o for o in outcomes), outcomes
    db = web.db()
    assert (
        db.execute("SELECT COUNT(*) FROM audit_log WHERE action IN ('item.link', 'item.dismiss')").fetchone()[
            0
        ]
        == 5
    )
    db.conn.close()


def test_stale_version_is_refused(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "mục", "nội dung")
    db.conn.close()
    r = web.api("analyst").post(f"/api/items/{item}/dismiss", json={"reason": "accurate", "version": 7})
    assert r.status_code == 409 and "changed while you were looking" in r.json()["error"]


def test_dismiss_other_needs_a_note_and_escalate_opens_a_request(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    a, b = seed_flag(db, "mục a", "aaa"), seed_flag(db, "mục b", "bbb")
    client = web.client("analyst")
    r = client.post(f"/items/{a}/dismiss", data={"reason": "other", "csrf_token": client.csrf})
    assert r.status_code == 400 and "note" in r.text
    assert (
        client.post(
            f"/items/{a}/dismiss", data={"reason": "other", "note": "quảng cáo", "csrf_token": client.csrf}
        ).status_code
        == 303
    )
    assert (
        client.post(
            f"/items/{b}/escalate", data={"note": "luận điệu mới", "csrf_token": client.csrf}
        ).status_code
        == 303
    )
    requests = q.open_requests(db)
    assert [(r["item_id"], r["note"], r["requested_by"]) for r in requests] == [
        (b, "luận điệu mới", "analyst")
    ]
    assert "luận điệu mới" in web.client("coordinator").get("/requests").text
    db.conn.close()


def test_api_queue_shape_and_cursor(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    rid = seed_rebuttal(db, "Không cấm tiền mặt", ["cấm tiền mặt từ năm sau"])
    ids = [seed_flag(db, f"Cấm tiền mặt {n}", f"cấm tiền mặt {n}", risk=0.9 - n / 100) for n in range(3)]
    seed_suggestion(db, ids[0], rid, 0.77, "cấm tiền mặt từ năm sau")
    db.conn.close()
    api = web.api("analyst")
    page = api.get("/api/queue", params={"limit": 2}).json()
    assert [i["id"] for i in page["items"]] == ids[:2] and page["next"]
    first = page["items"][0]
    assert set(first) >= {"id", "title", "source", "state", "risk", "relevance", "suggestions"}
    assert first["suggestions"] == [
        {"rebuttal_id": rid, "score": 0.77, "claim": "cấm tiền mặt từ năm sau", "title": "Không cấm tiền mặt"}
    ]
    rest = api.get("/api/queue", params={"limit": 2, "cursor": page["next"]}).json()
    assert [i["id"] for i in rest["items"]] == ids[2:] and rest["next"] is None
    detail = api.get(f"/api/items/{ids[0]}").json()
    assert detail["state"] == "new" and detail["suggestions"][0]["rebuttal_id"] == rid


def test_conflict_message_speaks_the_users_language(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "mục tranh chấp", "nội dung tranh chấp", flagged_at="2026-11-01T00:00:00+00:00")
    review.dismiss_item(db, item, "duplicate", require_user(db, "analyst"))
    db.conn.close()
    client = web.client("coordinator", fresh=True)
    client.post("/language", data={"lang": "vi", "csrf_token": client.csrf})
    r = client.post(f"/items/{item}/escalate", data={"csrf_token": client.csrf})
    assert r.status_code == 409 and "đã được analyst xử lý (đã bỏ qua," in r.text
    api = web.api("coordinator").post(f"/api/items/{item}/escalate", json={})
    assert "already handled by analyst (dismissed," in api.json()["error"]  # the API stays English


def test_readers_see_no_decision_forms_and_unflagged_items_have_none(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    flagged = seed_flag(db, "mục gắn cờ", "nội dung một")
    plain = seed_item(db, "mục thường", "nội dung hai")
    db.conn.close()
    approver = web.client("approver").get(f"/items/{flagged}").text
    assert (
        'id="dismiss"' not in approver
        and 'data-action="dismiss"' not in web.client("approver").get("/queue").text
    )
    analyst = web.client("analyst")
    assert 'id="dismiss"' in analyst.get(f"/items/{flagged}").text
    assert 'id="dismiss"' not in analyst.get(f"/items/{plain}").text
    assert analyst.get("/items/999999").status_code == 404


def test_htmx_request_without_session_is_sent_to_login(web: WebEnv) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    r = TestClient(web.app, follow_redirects=False).get("/queue", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["hx-redirect"].startswith("/login?next=")
