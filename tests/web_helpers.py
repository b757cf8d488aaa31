"""Shared machinery for web tests: an app on a real SQLite file, users of every role, logged-in clients,
CSRF tokens, seed data, and the authorisation matrix runner.

Use from a test module:

    from tests.web_helpers import ANON, ROLES, Case, check_matrix, web  # noqa: F401  (web is a fixture)

    CASES = [Case("GET", "/reports", allowed={"coordinator"}), ...]

    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_matrix(web, case):
        check_matrix(web, case)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from fastapi.testclient import TestClient

from monitor.config import Config, parse_config
from monitor.store import connect
from monitor.store import users as store_users
from monitor.store.items import Evidence, NewItem, add_item

ROLES = ("analyst", "coordinator", "approver", "admin")
ANON = "anonymous"
PASSWORD = "correct-horse-battery-staple"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token in a rendered page."""
    m = _CSRF_META.search(html) or _CSRF_FIELD.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def get_csrf(client: TestClient, path: str = "/login") -> str:
    """Fetch a page and return the session's CSRF token."""
    r = client.get(path)
    return csrf_from(r.text)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Log a TestClient in through the real form; the client keeps the cookie and `client.csrf`."""
    token = get_csrf(client, "/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, f"login as {username} failed: {r.status_code} {r.text[:300]}"
    client.csrf = get_csrf(client, "/queue")  # type: ignore[attr-defined]  # rotated at login
    return client


@dataclass
class WebEnv:
    """An app on a real database file with one user per role (user name = role name)."""

    cfg: Config
    app: Any
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)
    _clients: list[TestClient] = field(default_factory=list)
    _by_role: dict[str, TestClient] = field(default_factory=dict)
    seeds: dict[str, Any] = field(default_factory=dict)  # ids a test module wants to share between cases

    def db(self) -> sqlite_utils.Database:
        """A fresh connection to the app's database (close it or let the fixture do so)."""
        return connect(self.cfg.database_path, migrate_now=False)

    def user(self, role: str) -> dict[str, Any]:
        """The user row for a role."""
        db = self.db()
        try:
            return store_users.require_user(db, role)
        finally:
            db.conn.close()

    def client(self, role: str | None = None, fresh: bool = False) -> TestClient:
        """A TestClient logged in as `role` (None or ANON: anonymous, with a CSRF token from /login).

        Clients are reused per role (logging in costs a password check) unless fresh=True.
        """
        key = str(role or ANON)
        if not fresh and key in self._by_role:
            return self._by_role[key]
        c = self._new_client(role)
        if not fresh:
            self._by_role[key] = c
        return c

    def _new_client(self, role: str | None) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        self._clients.append(c)
        if role in (None, ANON):
            c.csrf = get_csrf(c, "/login")  # type: ignore[attr-defined]
            return c
        return login(c, str(role))

    def api(self, role: str | None = None) -> TestClient:
        """A TestClient sending `Authorization: Bearer` for `role` (None/ANON: no header)."""
        c = TestClient(self.app, follow_redirects=False)
        self._clients.append(c)
        if role not in (None, ANON):
            c.headers["Authorization"] = f"Bearer {self.tokens[str(role)]}"
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()


def make_web_env(tmp_path: Path, **config: Any) -> WebEnv:
    """Create config, database, one user per role (+ a token each) and the app."""
    import yaml

    from monitor.web.app import create_app

    store_users.use_fast_hashing()
    data: dict[str, Any] = {"database": str(tmp_path / "web.db"), "state_dir": str(tmp_path / "var")}
    data.update(config)
    cfg = parse_config(yaml.safe_dump(data), base_dir=tmp_path)
    db = connect(cfg.database_path)
    tokens: dict[str, str] = {}
    for role in ROLES:
        # Every test user gets the same password; argon2 hashing is the slow part of setup.
        store_users.create_user(db, role, PASSWORD, role, email=f"{role}@example.gov.vn", language="en")
        tokens[role] = store_users.create_token(db, role)
    db.conn.close()
    app = create_app(cfg)
    return WebEnv(cfg=cfg, app=app, tmp=tmp_path, tokens=tokens)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebEnv]:
    """A WebEnv: app + users analyst/coordinator/approver/admin (password PASSWORD, language en)."""
    env = make_web_env(tmp_path)
    yield env
    env.close()


@pytest.fixture(scope="module")
def web_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    """One WebEnv for a whole test module (matrix tables): create fresh objects per case where they change."""
    env = make_web_env(tmp_path_factory.mktemp("web"))
    yield env
    env.close()


# --- seed data -------------------------------------------------------------------------------------


def seed_item(
    db: sqlite_utils.Database,
    title: str,
    text: str = "",
    *,
    source: str | None = "seed-source",
    lang: str = "vi",
    url: str | None = None,
    fetched_at: str | None = None,
    evidence: list[Evidence] | None = None,
) -> int:
    """Insert one item (through store.items.add_item) and return its id."""
    from monitor.store.queue import ensure_source

    source_id = ensure_source(db, source) if source else None
    item_id, _ = add_item(
        db,
        NewItem(
            title=title,
            text=text or title,
            source_id=source_id,
            lang=lang,
            url=url,
            canonical_url=url,
            fetched_at=fetched_at,
            evidence=list(evidence or []),
        ),
    )
    return item_id


def seed_flag(
    db: sqlite_utils.Database,
    title: str,
    text: str = "",
    *,
    risk: float = 0.8,
    relevance: float = 0.9,
    reasons: dict[str, Any] | None = None,
    flagged_at: str | None = None,
    narrative_id: int | None = None,
    **item: Any,
) -> int:
    """Insert an item and flag it (state new); return the item id."""
    from monitor.store.queue import insert_flag

    item_id = seed_item(db, title, text, **item)
    insert_flag(
        db,
        item_id,
        relevance=relevance,
        risk=risk,
        reasons=reasons or {},
        flagged_at=flagged_at,
        narrative_id=narrative_id,
        model_version="test",
    )
    return item_id


def seed_rebuttal(
    db: sqlite_utils.Database,
    title: str,
    claims: list[str],
    *,
    approve: bool = True,
    key: str | None = None,
    short_answer: str = "Thông tin này sai.",
) -> int:
    """Create a rebuttal (approved unless approve=False) through the review stage; return its id."""
    from monitor.review import library as review

    admin = store_users.get_user(db, "admin") or {"id": None, "username": "admin", "role": "admin"}
    fields = {
        "title": title,
        "claims": claims,
        "short_answer": short_answer,
        "body": short_answer,
        "language": "vi",
    }
    if key:
        fields["key"] = key
    rid = review.create_rebuttal(db, fields, admin)
    if approve:
        review.approve_rebuttal(db, rid, admin)
    return rid


def seed_suggestion(
    db: sqlite_utils.Database, item_id: int, rebuttal_id: int, score: float, claim: str
) -> None:
    """Store one suggestion for an item (as the matcher would)."""
    from monitor.store import rebuttals

    rebuttals.replace_suggestions(
        db,
        item_id,
        [{"rebuttal_id": rebuttal_id, "score": score, "claim": claim}],
        rebuttals.library_version(db),
    )


# --- the authorisation matrix ------------------------------------------------------------------------


@dataclass
class Case:
    """One route in the authorisation matrix.

    allowed: roles that may use it (admin is always added). api=True: bearer-token route (anonymous -> 401),
    else an HTML route (anonymous -> redirect to /login; POSTs carry the session's CSRF token).
    path / data / json may be callables taking the WebEnv, to create fresh objects for each role.
    ok: statuses that count as "allowed" (a redirect elsewhere than /login counts too).
    """

    method: str
    path: str | Callable[[WebEnv], str]
    allowed: set[str]
    api: bool = False
    data: dict[str, Any] | Callable[[WebEnv], dict[str, Any]] | None = None
    json: Any = None
    ok: tuple[int, ...] = (200, 201, 204, 303)
    roles: tuple[str, ...] = (ANON, *ROLES)

    def __str__(self) -> str:
        path = self.path if isinstance(self.path, str) else getattr(self.path, "__name__", "path")
        return f"{self.method} {path}"


def _resolve(value: Any, env: WebEnv) -> Any:
    return value(env) if callable(value) else value


def call(env: WebEnv, case: Case, role: str) -> Any:
    """Make the case's request as `role`; return the response."""
    client = env.api(role) if case.api else env.client(role)
    path = _resolve(case.path, env)
    kwargs: dict[str, Any] = {}
    if case.method.upper() != "GET":
        if case.api:
            kwargs["json"] = _resolve(case.json, env) if case.json is not None else {}
        else:
            data = dict(_resolve(case.data, env) or {})
            data.setdefault("csrf_token", client.csrf)  # type: ignore[attr-defined]
            kwargs["data"] = data
    return client.request(case.method.upper(), path, **kwargs)


def check_matrix(env: WebEnv, case: Case) -> None:
    """Call the route as every role in case.roles and assert allowed / 401 / login redirect / 403."""
    allowed = set(case.allowed) | {"admin"}
    failures: list[str] = []
    for role in case.roles:
        r = call(env, case, role)
        location = r.headers.get("location", "")
        if role == ANON:
            if case.api:
                good = r.status_code == 401
            else:
                good = r.status_code in (302, 303, 307) and location.startswith("/login")
            expect = "401" if case.api else "redirect to /login"
        elif role in allowed:
            good = r.status_code in case.ok and not location.startswith("/login")
            expect = f"one of {case.ok}"
        else:
            good = r.status_code == 403
            expect = "403"
        if not good:
            failures.append(f"{role}: got {r.status_code} {location} {r.text[:200]!r}, expected {expect}")
    assert not failures, f"{case}:\n" + "\n".join(failures)
