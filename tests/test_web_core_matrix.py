"""Authorisation matrix for the core web routes: every route x every role (+ anonymous)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from monitor.store.items import Evidence
from tests.web_helpers import Case, WebEnv, check_matrix, seed_flag, seed_rebuttal, web_shared  # noqa: F401

VIEW = {"analyst", "coordinator", "approver"}
ACT = {"analyst", "coordinator"}
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def env(web_shared: WebEnv) -> WebEnv:  # noqa: F811
    """Shared seeds: a flagged item with evidence, an approved rebuttal, a draft."""
    db = web_shared.db()
    item = seed_flag(
        db, "Tin cần xem", "Phải làm lại CCCD sau sáp nhập", evidence=[Evidence(body=b"<rss>x</rss>")]
    )
    evidence_id = db.execute("SELECT id FROM evidence WHERE item_id = ?", [item]).fetchone()[0]
    web_shared.seeds.update(
        item=item,
        evidence=evidence_id,
        rebuttal=seed_rebuttal(db, "CCCD vẫn còn giá trị", ["Phải làm lại CCCD sau sáp nhập"]),
    )
    db.conn.close()
    return web_shared


def fresh_item(env: WebEnv) -> int:
    """A new flagged item, so each role's decision meets an open flag."""
    db = env.db()
    try:
        return seed_flag(db, f"Mục mới {next(_counter)}", f"nội dung {next(_counter)}")
    finally:
        db.conn.close()


def fresh_draft(env: WebEnv) -> int:
    db = env.db()
    try:
        return seed_rebuttal(db, f"Bản nháp {next(_counter)}", [f"luận điệu {next(_counter)}"], approve=False)
    finally:
        db.conn.close()


def fresh_request(env: WebEnv) -> int:
    from monitor.review.queue import escalate_item
    from monitor.store.users import require_user

    db = env.db()
    try:
        item = seed_flag(db, f"Cần phản bác {next(_counter)}", f"x {next(_counter)}")
        return escalate_item(db, item, require_user(db, "analyst"), note="mới")
    finally:
        db.conn.close()


def fresh_assignment(env: WebEnv) -> int:
    from monitor.config import DEFAULT_TIMEZONE
    from monitor.review.assignments import create_assignment
    from monitor.store.users import require_user

    db = env.db()
    try:
        fields = {
            "item_id": env.seeds["item"],
            "rebuttal_id": env.seeds["rebuttal"],
            "channel": "website",
            "assignee": "analyst",
        }
        return create_assignment(db, fields, require_user(db, "coordinator"), tz=DEFAULT_TIMEZONE)
    finally:
        db.conn.close()


def _s(name: str) -> Any:
    def path(env: WebEnv) -> str:
        return name.format(**env.seeds)

    path.__name__ = name
    return path


def _fresh(template: str, maker: Any) -> Any:
    def path(env: WebEnv) -> str:
        return template.format(id=maker(env), **env.seeds)

    path.__name__ = template
    return path


CASES = [
    # HTML pages
    Case("GET", "/queue", VIEW),
    Case("GET", "/queue?state=all&min_score=50&lang=vi", VIEW),
    Case("GET", "/search?q=cccd", VIEW),
    Case("GET", _s("/items/{item}"), VIEW),
    Case("GET", _s("/items/{item}/evidence/{evidence}"), VIEW),
    Case("GET", _s("/items/{item}/rebuttal-search?q=cccd"), ACT),
    Case(
        "POST",
        _fresh("/items/{id}/link", fresh_item),
        ACT,
        data=lambda e: {"rebuttal_id": e.seeds["rebuttal"]},
    ),
    Case("POST", _fresh("/items/{id}/dismiss", fresh_item), ACT, data={"reason": "accurate"}),
    Case("POST", _fresh("/items/{id}/escalate", fresh_item), ACT, data={"note": "mới"}),
    Case("GET", "/requests", {"coordinator", "approver"}),
    Case(
        "POST",
        _fresh("/requests/{id}/close", fresh_request),
        {"coordinator", "approver"},
        data={"status": "rejected"},
    ),
    # JSON API
    Case("GET", "/api/queue", VIEW, api=True),
    Case("GET", "/api/items?q=cccd", VIEW, api=True),
    Case("GET", _s("/api/items/{item}"), VIEW, api=True),
    Case(
        "POST",
        _fresh("/api/items/{id}/link", fresh_item),
        ACT,
        api=True,
        json=lambda e: {"rebuttal_id": e.seeds["rebuttal"]},
    ),
    Case("POST", _fresh("/api/items/{id}/dismiss", fresh_item), ACT, api=True, json={"reason": "off_topic"}),
    Case("POST", _fresh("/api/items/{id}/escalate", fresh_item), ACT, api=True, json={"note": "x"}),
    Case("GET", "/api/rebuttals", VIEW, api=True),
    Case(
        "POST",
        "/api/rebuttals",
        {"coordinator", "approver"},
        api=True,
        json=lambda e: {"title": f"Phản bác {next(_counter)}", "claims": [f"luận điệu {next(_counter)}"]},
    ),
    Case("POST", _fresh("/api/rebuttals/{id}/approve", fresh_draft), {"approver"}, api=True),
    Case("GET", "/api/assignments", VIEW, api=True),
    Case(
        "POST",
        "/api/assignments",
        {"coordinator"},
        api=True,
        json=lambda e: {
            "item_id": e.seeds["item"],
            "rebuttal_id": e.seeds["rebuttal"],
            "channel": "fanpage",
            "assignee": "analyst",
        },
    ),
    # The assignee (analyst) and coordinators may change an assignment; an approver who is neither may not.
    Case(
        "PATCH",
        _fresh("/api/assignments/{id}", fresh_assignment),
        {"analyst", "coordinator"},
        api=True,
        json={"note": "ok"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matrix(env: WebEnv, case: Case) -> None:
    check_matrix(env, case)


def test_bad_token_and_wrong_scheme_get_401(env: WebEnv) -> None:
    client = env.api(None)
    assert client.get("/api/queue", headers={"Authorization": "Bearer mm_not-a-token"}).status_code == 401
    assert (
        client.get("/api/queue", headers={"Authorization": f"Basic {env.tokens['analyst']}"}).status_code
        == 401
    )
    r = client.get("/api/queue")
    assert r.status_code == 401 and "error" in r.json() and r.headers["www-authenticate"] == "Bearer"


def test_api_errors_are_json_with_status(env: WebEnv) -> None:
    api = env.api("analyst")
    missing = api.get("/api/items/999999")
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    bad = api.post(f"/api/items/{fresh_item(env)}/dismiss", json={"reason": "because"})
    assert bad.status_code == 400 and "reason" in bad.json()["error"]
    forbidden = env.api("approver").post(f"/api/items/{fresh_item(env)}/dismiss", json={"reason": "accurate"})
    assert forbidden.status_code == 403 and "error" in forbidden.json()


def test_every_role_sees_the_nav_it_may_use(env: WebEnv) -> None:
    analyst = env.client("analyst").get("/queue").text
    admin = env.client("admin").get("/queue").text
    assert 'href="/audit"' in admin and 'href="/audit"' not in analyst
    assert 'href="/reports"' in admin and 'href="/reports"' not in analyst
    assert all(f'href="{p}"' in analyst for p in ("/queue", "/search", "/rebuttals", "/assignments"))


def test_openapi_docs_are_served_without_cdn(env: WebEnv) -> None:
    client = env.api(None)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    spec = client.get("/openapi.json").json()
    assert {"/api/queue", "/api/items/{item_id}/link", "/api/assignments/{assignment_id}"} <= set(
        spec["paths"]
    )
    assert client.get("/static/htmx.min.js").status_code == 200


def test_bad_parameters_get_a_message_not_a_crash(env: WebEnv) -> None:
    page = env.client("analyst").get("/queue?limit=abc")
    assert page.status_code == 400 and "limit" in page.text
    api = env.api("analyst").post(f"/api/items/{env.seeds['item']}/link", json={"rebuttal_id": "x"})
    assert api.status_code == 422 and "rebuttal_id" in api.json()["error"]


def test_not_found_page_keeps_the_users_nav(env: WebEnv) -> None:
    r = env.client("analyst").get("/no-such-page")
    assert r.status_code == 404 and 'href="/queue"' in r.text and "analyst" in r.text
