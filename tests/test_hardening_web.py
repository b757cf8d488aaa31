"""Issue #12, part 2 (web and accounts): revocable sessions, bounded login input, one refusal wording,
Secure cookies derived from base_url, bad input answered 400/404, API token lifecycle, bidi controls
neutralised, a read-only database answered with a page, not a bare 500.

Real parts only: the real app on a real SQLite file, click's CliRunner on a real config file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from monitor.cli import cli
from monitor.config import parse_config
from monitor.errors import UsageError
from monitor.store import users as store_users
from monitor.store.items import fts_query
from monitor.store.rebuttals import _fts_query as rebuttal_fts_query
from tests.web_helpers import PASSWORD, WebEnv, get_csrf, login, make_web_env, seed_flag, web  # noqa: F401

BIG = str(2**63)


def _cli(env: WebEnv) -> Callable[..., Result]:
    """`misinfo ...` against the web env's database, through a real config file."""
    path = env.tmp / "cli-config.yaml"
    path.write_text(
        yaml.safe_dump(
            {"database": str(env.cfg.database_path), "state_dir": str(env.tmp / "var"), "sources": []}
        ),
        encoding="utf-8",
    )

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--config", str(path), *args], input=input, catch_exceptions=False)

    return run


def _post_login(client: TestClient, username: str, password: str) -> Any:
    token = get_csrf(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def _replay(env: WebEnv, cookie: str) -> TestClient:
    c = TestClient(env.app, follow_redirects=False)
    c.cookies.set("misinfo_session", cookie)
    return c


# --- item 2: sessions are revocable server-side --------------------------------------------------------


def test_logout_revokes_a_replayed_session_cookie(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "tin đồn", "nội dung")
    db.conn.close()
    client = web.client("analyst", fresh=True)
    page = client.get(f"/items/{item}")
    assert page.status_code == 200
    token = get_csrf(client, f"/items/{item}")
    saved = client.cookies.get("misinfo_session")
    assert saved
    assert client.post("/logout", data={"csrf_token": client.csrf}).status_code == 303  # type: ignore[attr-defined]

    thief = _replay(web, saved)
    r = thief.get(f"/items/{item}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = thief.post(f"/items/{item}/escalate", data={"note": "replayed", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    db = web.db()
    assert db.execute("SELECT state FROM flags WHERE item_id = ?", [item]).fetchone()[0] == "new"
    assert not db.execute("SELECT 1 FROM audit_log WHERE action LIKE '%escalate%'").fetchall()
    db.conn.close()


def test_password_change_and_disable_end_every_session(web: WebEnv) -> None:  # noqa: F811
    first = web.client("coordinator", fresh=True)
    second = web.client("approver", fresh=True)
    assert first.get("/queue").status_code == 200 and second.get("/queue").status_code == 200
    db = web.db()
    store_users.set_password(db, "coordinator", "another-long-password", actor="admin")
    store_users.disable_user(db, "approver", actor="admin")
    store_users.enable_user(db, "approver", actor="admin")
    db.conn.close()
    assert first.get("/queue").status_code == 303
    # Enabling the user again does not bring the old session back.
    assert second.get("/queue").status_code == 303


def test_cli_logs_a_user_out_everywhere(web: WebEnv) -> None:  # noqa: F811
    run = _cli(web)
    a = web.client("analyst", fresh=True)
    b = web.client("analyst", fresh=True)
    other = web.client("coordinator", fresh=True)
    assert a.get("/queue").status_code == b.get("/queue").status_code == 200
    out = run("users", "logout", "analyst")
    assert out.exit_code == 0 and "2 session(s)" in out.output, out.output
    assert a.get("/queue").status_code == 303 and b.get("/queue").status_code == 303
    assert other.get("/queue").status_code == 200
    assert run("users", "logout", "nobody").exit_code == 1


def test_cli_password_change_ends_sessions(web: WebEnv) -> None:  # noqa: F811
    run = _cli(web)
    client = web.client("analyst", fresh=True)
    out = run("users", "password", "analyst", "--password-stdin", input="a-new-long-password\n")
    assert out.exit_code == 0, out.output
    assert client.get("/queue").status_code == 303
    fresh = TestClient(web.app, follow_redirects=False)
    assert _post_login(fresh, "analyst", "a-new-long-password").status_code == 303


# --- item 5: the unauthenticated surface writes bounded rows -----------------------------------------


def test_huge_login_name_is_not_stored_or_echoed_whole(web: WebEnv) -> None:  # noqa: F811
    client = TestClient(web.app, follow_redirects=False)
    huge = "x" * 1_000_000
    r = _post_login(client, huge, "wrong-password")
    assert r.status_code == 401
    assert "x" * (store_users.MAX_NAME_LENGTH + 1) not in r.text
    db = web.db()
    longest = db.execute("SELECT MAX(LENGTH(actor)), MAX(LENGTH(detail_json)) FROM audit_log").fetchone()
    db.conn.close()
    assert longest[0] <= store_users.MAX_NAME_LENGTH and longest[1] < 2000


def test_user_names_are_bounded_at_creation(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    with pytest.raises(UsageError):
        store_users.create_user(db, "n" * (store_users.MAX_NAME_LENGTH + 1), PASSWORD, "analyst")
    db.conn.close()


# --- item 6: no user enumeration through the lockout wording -------------------------------------------


def test_real_and_unknown_names_get_the_same_answer_and_work(
    web: WebEnv,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verified: dict[str, int] = {}
    real_check = store_users.check_password
    current = {"name": ""}

    def counting(password_hash: str | None, password: str) -> bool:
        verified[current["name"]] = verified.get(current["name"], 0) + 1
        return real_check(password_hash, password)

    monkeypatch.setattr(store_users, "check_password", counting)
    client = TestClient(web.app, follow_redirects=False)
    for attempt in range(1, 8):
        answers = {}
        for name in ("coordinator", "no-such-user"):
            current["name"] = name
            r = _post_login(client, name, "wrong-password")
            answers[name] = (r.status_code, r.text.replace(name, "NAME"))
        assert answers["coordinator"] == answers["no-such-user"], f"attempt {attempt} differs"
    # Every attempt ran one password check, locked or not, known name or not.
    assert verified == {"coordinator": 7, "no-such-user": 7}
    # The right password while locked gets the same answer as well.
    current["name"] = "coordinator"
    locked = _post_login(client, "coordinator", PASSWORD)
    current["name"] = "no-such-user"
    unknown = _post_login(client, "no-such-user", PASSWORD)
    assert locked.status_code == unknown.status_code == 401
    assert locked.text.replace("coordinator", "NAME") == unknown.text.replace("no-such-user", "NAME")


# --- item 7: Secure cookies derived from base_url --------------------------------------------------------


def test_secure_cookie_is_derived_from_an_https_base_url(tmp_path: Path) -> None:
    env = make_web_env(tmp_path, web={"base_url": "https://monitor.example.gov.vn"})
    client = TestClient(env.app, base_url="https://testserver", follow_redirects=False)
    r = _post_login(client, "analyst", PASSWORD)
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
    env.close()


def test_explicit_secure_cookies_overrides_and_check_warns(tmp_path: Path) -> None:
    def web_cfg(**section: Any) -> Any:
        return parse_config(yaml.safe_dump({"web": section}), base_dir=tmp_path).web

    assert web_cfg().cookies_secure is False
    assert web_cfg(base_url="https://m.example").cookies_secure is True
    assert web_cfg(base_url="https://m.example", secure_cookies=False).cookies_secure is False
    assert web_cfg(base_url="http://m.example", secure_cookies=True).cookies_secure is True
    assert web_cfg(base_url="https://m.example").cookie_warnings() == []
    assert web_cfg(base_url="https://m.example", secure_cookies=False).cookie_warnings()
    assert web_cfg(base_url="http://m.example", secure_cookies=True).cookie_warnings()

    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database": str(tmp_path / "m.db"),
                "state_dir": str(tmp_path / "var"),
                "web": {"base_url": "https://m.example", "secure_cookies": False},
            }
        ),
        encoding="utf-8",
    )
    out = CliRunner().invoke(cli, ["--config", str(path), "check"], catch_exceptions=False)
    assert out.exit_code == 0
    assert "secure_cookies" in out.output and "https" in out.output


# --- item 8: bad input is 400 / 404 / empty, never 500 ----------------------------------------------------


HTML_BAD = [
    "/search?q=a%00b",
    "/rebuttals?q=a%00b",
    "/items/{item}/rebuttal-search?q=a%00b",
    f"/items/{BIG}",
    f"/items/{BIG}/rebuttal-search?q=x",
    f"/rebuttals/{BIG}",
    f"/rebuttals/{BIG}/versions",
    f"/queue?source={BIG}",
    f"/queue?narrative={BIG}",
    f"/audit?before={BIG}",
    f"/rebuttals?page={BIG}",
    f"/search?q=x&page={BIG}",
    f"/assignments/new?item_id={BIG}",
    "/queue?from=0001-01-01",
    "/queue?to=9999-12-31",
    "/queue?from=0001-01-01&to=9999-12-31&state=all",
    "/audit?date_from=0001-01-01&date_to=9999-12-31",
]
API_BAD = [
    "/api/items?q=a%00b",
    "/api/rebuttals?q=a%00b",
    f"/api/items/{BIG}",
    f"/api/items?q=x&offset={BIG}",
    f"/api/queue?source={BIG}",
    f"/api/queue?narrative={BIG}",
    "/api/queue?from=0001-01-01",
    "/api/queue?to=9999-12-31",
    f"/api/assignments?assignee_id={BIG}",
]


def test_bad_input_is_refused_not_a_server_error(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "hello world", "hello")
    db.conn.close()
    page = TestClient(web.app, raise_server_exceptions=False, follow_redirects=False)
    login(page, "admin")
    api = TestClient(web.app, raise_server_exceptions=False, follow_redirects=False)
    api.headers["Authorization"] = f"Bearer {web.tokens['admin']}"
    failures = []
    for client, urls, allowed in ((page, HTML_BAD, {200, 400, 404}), (api, API_BAD, {200, 400, 404, 422})):
        for url in urls:
            r = client.get(url.format(item=item))
            if r.status_code not in allowed:
                failures.append(f"{url}: {r.status_code}")
    big_posts = [
        (f"/items/{BIG}/dismiss", {"reason": "accurate"}),
        (f"/items/{BIG}/escalate", {"note": "x"}),
        (f"/items/{BIG}/link", {"rebuttal_id": BIG}),
    ]
    for url, data in big_posts:
        r = page.post(url, data={**data, "csrf_token": page.csrf})  # type: ignore[attr-defined]
        if r.status_code not in (400, 404):
            failures.append(f"POST {url}: {r.status_code}")
    assert not failures, failures


def test_search_queries_are_capped_and_deduplicated() -> None:
    typed = "hello " * 5000 + " ".join(f"w{n}" for n in range(500))
    for build in (fts_query, rebuttal_fts_query):
        query = build(typed)
        assert query is not None
        terms = query.split()
        assert len(terms) == len(set(terms)) <= 32 and '"hell"' not in terms
        assert build("a\x00b") in ('"a" "b"', '"ab"') and "\x00" not in str(build("a\x00b"))


@pytest.mark.timeout(60)
def test_a_long_search_finishes(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    for n in range(30):
        seed_flag(db, f"hello world {n}", "hello")
    db.conn.close()
    client = web.client("analyst")
    r = client.get("/search", params={"q": "hello " * 5000})
    assert r.status_code == 200 and "hello world" in r.text


# --- item 12: API tokens: list, revoke, expiry, last use; enable; unlock wording ---------------------------


def test_tokens_list_revoke_expire_and_record_last_use(web: WebEnv) -> None:  # noqa: F811
    run = _cli(web)
    out = run("users", "token", "analyst", "--expires", "30d")
    assert out.exit_code == 0, out.output
    token = out.output.strip().splitlines()[-1]
    api = TestClient(web.app)
    api.headers["Authorization"] = f"Bearer {token}"
    assert api.get("/api/queue").status_code == 200

    listed = run("users", "token", "analyst", "--list")
    assert listed.exit_code == 0
    lines = [line for line in listed.output.splitlines() if line.strip() and line.split()[0] != "id"]
    assert len(lines) == 2, listed.output  # the fixture's token and this one
    db = web.db()
    rows = store_users.list_tokens(db, "analyst")
    db.conn.close()
    newest = max(rows, key=lambda row: row["id"])
    assert newest["last_used_at"] and newest["expires_at"] and not newest["revoked"]

    assert run("users", "token", "analyst", "--revoke", str(newest["id"])).exit_code == 0
    assert api.get("/api/queue").status_code == 401
    # A token id of another user is not revoked through this user's name.
    other = run("users", "token", "coordinator", "--revoke", str(min(r["id"] for r in rows)))
    assert other.exit_code == 1
    assert web.api("analyst").get("/api/queue").status_code == 200


def test_an_expired_token_is_refused(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    token = store_users.create_token(db, "approver", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    db.conn.close()
    api = TestClient(web.app)
    api.headers["Authorization"] = f"Bearer {token}"
    assert api.get("/api/queue").status_code == 401


def test_enable_and_unlock_wording(web: WebEnv) -> None:  # noqa: F811
    run = _cli(web)
    assert run("users", "disable", "analyst").exit_code == 0
    unlocked = run("users", "unlock", "analyst")
    assert unlocked.exit_code == 0 and "can log in again" not in unlocked.output
    assert "disabled" in unlocked.output
    assert _post_login(TestClient(web.app, follow_redirects=False), "analyst", PASSWORD).status_code == 401
    enabled = run("users", "enable", "analyst")
    assert enabled.exit_code == 0, enabled.output
    assert _post_login(TestClient(web.app, follow_redirects=False), "analyst", PASSWORD).status_code == 303
    assert "disabled" not in run("users", "list").output
    assert run("users", "enable", "nobody").exit_code == 1


# --- item 13 (bidi part): bidi controls never reach the page raw ----------------------------------------


def test_bidi_controls_are_neutralised_in_pages(web: WebEnv) -> None:  # noqa: F811
    rlo = "\u202e"
    db = web.db()
    item = seed_flag(db, f"tin {rlo}gnp.exe", f"nội dung {rlo}\u2066x\u2069")
    db.conn.close()
    client = web.client("analyst")
    for url in ("/queue", f"/items/{item}", f"/search?q=tin+{rlo}gnp", "/search?q=" + rlo):
        r = client.get(url)
        assert r.status_code == 200, url
        for ch in ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"):
            assert ch not in r.text, (url, hex(ord(ch)))
    assert "tin" in client.get(f"/items/{item}").text


# --- item 9 (web part): a read-only database is a page, not a bare 500 ----------------------------------


def test_login_on_a_read_only_database_answers_with_a_message(
    web: WebEnv,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.store import db as store_db

    real_open = store_db.open_db

    def read_only(path: Any) -> Any:
        # SQLite's own read-only mode (a root test user ignores file permissions).
        db = real_open(path)
        db.execute("PRAGMA query_only = ON")
        return db

    monkeypatch.setattr(store_db, "open_db", read_only)
    web.app.state.db_pool = store_db.ConnectionPool(web.cfg.database_path)  # no connection opened before
    client = TestClient(web.app, raise_server_exceptions=False, follow_redirects=False)
    r = _post_login(client, "analyst", PASSWORD)
    assert r.status_code == 503, r.status_code
    assert "read-only" in r.text or "readonly" in r.text
    assert "Traceback" not in r.text
    with pytest.raises(sqlite3.OperationalError):
        db = store_db.open_db(web.cfg.database_path)
        try:
            db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        finally:
            db.conn.close()
