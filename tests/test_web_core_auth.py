"""Login, sessions, throttling, CSRF, disabled users, language, secret key, CLI for users."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient

from monitor import i18n
from monitor.store import users as store_users
from tests.web_helpers import PASSWORD, WebEnv, get_csrf, make_web_env, seed_flag, web  # noqa: F401

TEMPLATES = Path(__file__).resolve().parent.parent / "monitor" / "web" / "templates"
CORE_TEMPLATES = [
    "base.html",
    "error.html",
    "_flash_error.html",
    "login.html",
    "_macros.html",
    "queue.html",
    "search.html",
    "item.html",
    "_rebuttal_choices.html",
    "requests.html",
]


def _post_login(client: TestClient, username: str, password: str, next: str = "/queue") -> object:
    token = get_csrf(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next},
        follow_redirects=False,
    )


def test_login_redirects_and_sets_a_safe_cookie(web: WebEnv) -> None:  # noqa: F811
    client = TestClient(web.app, follow_redirects=False)
    r = client.get("/queue?state=all")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/queue%3Fstate%3Dall"
    r = _post_login(client, "analyst", PASSWORD, next="/queue?state=all")
    assert r.status_code == 303 and r.headers["location"] == "/queue?state=all"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert client.get("/queue").status_code == 200
    # An open redirect through ?next= is refused.
    other = TestClient(web.app, follow_redirects=False)
    assert _post_login(other, "analyst", PASSWORD, next="//evil.example/x").headers["location"] == "/queue"


def test_secure_cookies_when_configured(tmp_path: Path) -> None:
    env = make_web_env(tmp_path, web={"secure_cookies": True})
    client = TestClient(env.app, base_url="https://testserver", follow_redirects=False)
    r = _post_login(client, "analyst", PASSWORD)
    assert "secure" in r.headers["set-cookie"].lower()


def test_wrong_password_is_refused_without_saying_which_part(web: WebEnv) -> None:  # noqa: F811
    client = TestClient(web.app, follow_redirects=False)
    wrong = _post_login(client, "analyst", "not-the-password")
    unknown = _post_login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    refused = "Sai tên đăng nhập hoặc mật khẩu"  # anonymous pages use web.default_language (vi)
    assert refused in wrong.text and refused in unknown.text
    assert client.get("/queue").status_code == 303


def test_failed_logins_lock_the_account(web: WebEnv) -> None:  # noqa: F811
    client = TestClient(web.app, follow_redirects=False)
    for _ in range(store_users.FREE_FAILURES):
        _post_login(client, "coordinator", "wrong-password")
    locked = _post_login(client, "coordinator", PASSWORD)
    assert locked.status_code == 401 and "đăng nhập sai quá nhiều lần" in locked.text
    db = web.db()
    row = store_users.require_user(db, "coordinator")
    # Tries refused while locked are not counted again.
    assert row["failed_logins"] == store_users.FREE_FAILURES and row["locked_until"]
    failures = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'user.login_failed'").fetchone()[0]
    assert failures >= store_users.FREE_FAILURES
    store_users.unlock_user(db, "coordinator")
    db.conn.close()
    assert _post_login(client, "coordinator", PASSWORD).status_code == 303


def test_many_failures_from_one_address_lock_that_address(web: WebEnv) -> None:  # noqa: F811
    client = TestClient(web.app, follow_redirects=False)
    for n in range(store_users.FREE_FAILURES_PER_ADDRESS + 1):
        _post_login(client, f"guess{n}", "wrong-password")  # spraying many names, none locked on its own
    r = _post_login(client, "approver", PASSWORD)
    assert r.status_code == 401 and "đăng nhập sai quá nhiều lần" in r.text
    db = web.db()
    assert store_users.login_locked_for(db, "approver", "another-address") == 0
    db.conn.close()


def test_lock_grows_with_each_failure() -> None:
    waits = [store_users._lock_seconds(n, store_users.FREE_FAILURES) for n in range(1, 12)]
    assert waits[: store_users.FREE_FAILURES - 1] == [0] * (store_users.FREE_FAILURES - 1)
    growing = waits[store_users.FREE_FAILURES - 1 :]
    assert growing == sorted(growing) and growing[0] > 0 and growing[-1] <= store_users.MAX_LOCK_S


def test_disabled_user_loses_session_and_tokens(web: WebEnv) -> None:  # noqa: F811
    client = web.client("analyst", fresh=True)
    api = web.api("analyst")
    assert client.get("/queue").status_code == 200 and api.get("/api/queue").status_code == 200
    db = web.db()
    store_users.disable_user(db, "analyst", actor="admin")
    db.conn.close()
    assert client.get("/queue").status_code == 303
    assert api.get("/api/queue").status_code == 401
    assert _post_login(TestClient(web.app, follow_redirects=False), "analyst", PASSWORD).status_code == 401


def test_post_without_csrf_token_is_refused(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "mục", "nội dung")
    db.conn.close()
    client = web.client("analyst")
    assert client.post(f"/items/{item}/dismiss", data={"reason": "accurate"}).status_code == 403
    assert (
        client.post(f"/items/{item}/dismiss", data={"reason": "accurate", "csrf_token": "forged"}).status_code
        == 403
    )
    assert client.post("/logout", data={}).status_code == 403
    # The header htmx sends works as well as the form field.
    r = client.post(
        f"/items/{item}/dismiss", data={"reason": "accurate"}, headers={"X-CSRF-Token": client.csrf}
    )
    assert r.status_code == 303
    anon = TestClient(web.app, follow_redirects=False)
    assert anon.post("/login", data={"username": "analyst", "password": PASSWORD}).status_code == 403


def test_logout_ends_the_session(web: WebEnv) -> None:  # noqa: F811
    client = web.client("coordinator", fresh=True)
    assert client.post("/logout", data={"csrf_token": client.csrf}).status_code == 303
    assert client.get("/queue").status_code == 303


def test_language_switch_is_saved_and_vietnamese_is_shown(web: WebEnv) -> None:  # noqa: F811
    client = web.client("analyst", fresh=True)
    assert ">Queue<" in client.get("/queue").text
    r = client.post("/language", data={"lang": "vi", "next": "/queue", "csrf_token": client.csrf})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    page = client.get("/queue").text
    assert "Hàng đợi xem xét" in page and 'lang="vi"' in page
    db = web.db()
    assert store_users.require_user(db, "analyst")["language"] == "vi"
    db.conn.close()
    # Anonymous visitors get the configured default (vi) and may switch too.
    anon = TestClient(web.app, follow_redirects=False)
    assert "Đăng nhập" in anon.get("/login").text


def test_times_are_shown_in_the_configured_zone(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "mục giờ", "nội dung", flagged_at="2026-11-01T17:30:00+00:00")
    db.conn.close()
    assert (
        "2026-11-02 00:30" not in web.client("analyst").get(f"/items/{item}").text
    )  # fetched now, not flagged
    page = web.client("analyst").get("/queue?state=all").text
    assert "2026-11-02 00:30" in page  # 17:30 UTC is 00:30 the next day in Asia/Ho_Chi_Minh


def test_secret_key_is_generated_private_when_env_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import parse_config
    from monitor.web.app import secret_key

    monkeypatch.delenv("MISINFO_SECRET_KEY", raising=False)
    cfg = parse_config(f"database: {tmp_path}/x.db\nstate_dir: {tmp_path}/var\n", base_dir=tmp_path)
    key = secret_key(cfg)
    path = tmp_path / "var" / "secret_key"
    assert path.read_text() == key and len(key) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_key(cfg) == key  # stable across restarts
    monkeypatch.setenv("MISINFO_SECRET_KEY", "from-the-environment")
    assert secret_key(cfg) == "from-the-environment"


def test_every_core_string_has_a_vietnamese_translation() -> None:
    pattern = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
    catalogue = i18n.load_catalogues()["vi"]
    missing = []
    for name in CORE_TEMPLATES:
        for m in pattern.finditer((TEMPLATES / name).read_text(encoding="utf-8")):
            msgid = m.group(1) if m.group(1) is not None else m.group(2)
            if msgid.endswith(":"):  # prefixes such as "state:" ~ value, checked below
                continue
            if msgid not in catalogue:
                missing.append(f"{name}: {msgid}")
    for prefix, values in (
        ("state:", ("new", "in_review", "linked", "dismissed", "escalated")),
        ("reason:", ("accurate", "off_topic", "duplicate", "other")),
    ):
        missing += [prefix + v for v in values if prefix + v not in catalogue]
    assert not missing, missing


def test_users_cli(run_cli: Callable[..., Result]) -> None:
    store_users.use_fast_hashing()
    added = run_cli(
        "users",
        "add",
        "lan",
        "--role",
        "analyst",
        "--email",
        "lan@example.gov.vn",
        "--password-stdin",
        input="mat-khau-dai-du\n",
    )
    assert added.exit_code == 0, added.output
    assert (
        run_cli(
            "users", "add", "lan", "--role", "analyst", "--password-stdin", input="mat-khau-dai-du\n"
        ).exit_code
        == 1
    )
    assert (
        run_cli(
            "users", "add", "x", "--role", "boss", "--password-stdin", input="mat-khau-dai-du\n"
        ).exit_code
        == 2
    )
    listed = json.loads(run_cli("users", "list", "--json").output)
    assert [u["username"] for u in listed] == ["lan"] and "password_hash" not in listed[0]
    token = run_cli("users", "token", "lan").output.strip().splitlines()[-1]
    assert token.startswith("mm_")
    assert run_cli("users", "disable", "lan").exit_code == 0
    assert "disabled" in run_cli("users", "list").output
    assert run_cli("users", "token", "lan").exit_code == 2
    assert run_cli("users", "disable", "nobody").exit_code == 1
