"""Authorisation matrix for the library, assignments, reports, audit and digest pages: every role x route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pages_helpers import Seeded, make_assignment, menv, pweb, seed_basics  # noqa: F401  (fixtures)
from tests.web_helpers import ROLES, Case, WebEnv, check_matrix, seed_rebuttal

EDITORS = {"coordinator", "approver"}
EVERYONE = set(ROLES)


def _seeded(env: WebEnv) -> Seeded:
    return seed_basics(env)


def _fresh_draft(env: WebEnv) -> str:
    """A new draft for every call, so each role approves / retires / edits its own."""
    db = env.db()
    try:
        n = db.execute("SELECT COUNT(*) FROM rebuttals").fetchone()[0]
        rid = seed_rebuttal(db, f"Bản nháp {n}", [f"Thông tin sai số {n}"], approve=False)
    finally:
        db.conn.close()
    return f"/rebuttals/{rid}"


def rebuttal_page(env: WebEnv) -> str:
    return f"/rebuttals/{_seeded(env).rebuttal_id}"


def rebuttal_versions(env: WebEnv) -> str:
    return f"/rebuttals/{_seeded(env).rebuttal_id}/versions"


def edit_page(env: WebEnv) -> str:
    return f"/rebuttals/{_seeded(env).draft_id}/edit"


def edit_post(env: WebEnv) -> str:
    return _fresh_draft(env) + "/edit"


def approve_post(env: WebEnv) -> str:
    return _fresh_draft(env) + "/approve"


def retire_post(env: WebEnv) -> str:
    return _fresh_draft(env) + "/retire"


def draft_form(env: WebEnv) -> dict[str, Any]:
    return {"title": "Bản nháp mới", "claims": "Một thông tin sai\nMột thông tin sai khác", "language": "vi"}


def edit_form(env: WebEnv) -> dict[str, Any]:
    return {"title": "Tiêu đề đã sửa", "claims": "Thông tin sai đã sửa", "language": "vi"}


def new_assignment_page(env: WebEnv) -> str:
    return f"/assignments/new?item_id={_seeded(env).item_id}"


def assignment_form(env: WebEnv) -> dict[str, Any]:
    s = _seeded(env)
    return {
        "item_id": s.item_id,
        "target": "item",
        "rebuttal_id": s.rebuttal_id,
        "channel": "fanpage",
        "assignee": "analyst",
        "due_at": "2030-01-01",
    }


def status_post(env: WebEnv) -> str:
    """A fresh assignment given to the coordinator: only the coordinator (assignee) and admin may move it."""
    return f"/assignments/{make_assignment(env, _seeded(env), assignee='coordinator')}/status"


CASES = [
    Case("GET", "/rebuttals", allowed=EVERYONE),
    Case("GET", "/rebuttals?q=cccd&status=approved", allowed=EVERYONE),
    Case("GET", rebuttal_page, allowed=EVERYONE),
    Case("GET", rebuttal_versions, allowed=EVERYONE),
    Case("GET", "/rebuttals/new", allowed=EDITORS),
    Case("POST", "/rebuttals/new", allowed=EDITORS, data=draft_form),
    Case("GET", edit_page, allowed=EDITORS),
    Case("POST", edit_post, allowed=EDITORS, data=edit_form),
    Case("POST", approve_post, allowed={"approver"}),
    Case("POST", retire_post, allowed={"approver"}),
    Case("GET", "/assignments", allowed=EVERYONE),
    Case("GET", "/assignments?mine=1", allowed=EVERYONE),
    Case("GET", new_assignment_page, allowed={"coordinator"}),
    Case("POST", "/assignments/new", allowed={"coordinator"}, data=assignment_form),
    Case("POST", status_post, allowed={"coordinator"}, data={"status": "in_progress"}),
    Case("GET", "/reports", allowed={"coordinator"}),
    Case("GET", "/reports?days=7", allowed={"coordinator"}),
    *[
        Case("GET", f"/reports/{t}.csv", allowed={"coordinator"})
        for t in ("volumes", "sources", "languages", "narratives", "response_times", "overdue")
    ],
    Case("GET", "/audit", allowed=set()),
    Case("GET", "/audit?actor=admin&action=rebuttal&date_from=2020-01-01", allowed=set()),
    Case("GET", "/digest/preview?role=coordinator&lang=vi", allowed={"coordinator"}),
    Case("GET", "/digest/preview.html?role=analyst&lang=en", allowed={"coordinator"}),
    Case("GET", "/unanswered", allowed=EDITORS),
    Case("GET", "/unanswered?days=3", allowed=EDITORS),
    Case("GET", "/api/unanswered", allowed=EDITORS, api=True),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matrix(menv: WebEnv, case: Case) -> None:  # noqa: F811 - pytest fixture
    """Allowed roles get the page; others 403; anonymous is sent to /login."""
    check_matrix(menv, case)


def test_post_without_csrf_is_refused(pweb: WebEnv) -> None:  # noqa: F811
    """Every HTML POST of these pages needs the session's CSRF token."""
    s = _seeded(pweb)
    client = pweb.client("admin")
    for path, data in [
        ("/rebuttals/new", draft_form(pweb)),
        (f"/rebuttals/{s.draft_id}/approve", {}),
        (f"/rebuttals/{s.draft_id}/retire", {}),
        ("/assignments/new", assignment_form(pweb)),
    ]:
        r = client.post(path, data={**data, "csrf_token": "forged"})
        assert r.status_code == 403, (path, r.status_code)
    db = pweb.db()
    try:
        assert db.execute("SELECT status FROM rebuttals WHERE id = ?", [s.draft_id]).fetchone()[0] == "draft"
        assert db.execute("SELECT COUNT(*) FROM assignments").fetchone()[0] == 0
    finally:
        db.conn.close()
