"""What every route shares: the database, the logged-in user, role checks, CSRF, rendering."""

from __future__ import annotations

import hmac
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from monitor import i18n
from monitor.config import Config
from monitor.errors import PermissionDenied
from monitor.review import roles
from monitor.store.db import ConnectionPool, from_db_time
from monitor.store.users import touch_token, user_for_session, user_for_token

log = logging.getLogger(__name__)

SESSION_USER = "uid"
SESSION_ID = "sid"  # the server-side session (monitor.store.users.start_session); ended at logout
SESSION_CSRF = "csrf"
SESSION_LANG = "lang"
SESSION_FLASH = "flash"


class LoginRequired(Exception):
    """An HTML page needs a logged-in user: the app redirects to /login?next=..."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class AuthRequired(Exception):
    """An API route needs a valid bearer token: the app answers 401 JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfError(PermissionDenied):
    """A POST came without a valid CSRF token."""


def config(request: Request) -> Config:
    """The app's Config."""
    cfg: Config = request.app.state.cfg
    return cfg


async def get_db(request: Request) -> AsyncIterator[sqlite_utils.Database]:
    """A connection from the app's pool for the request (migrations ran at app start), returned afterwards.

    Async (it only takes and returns a pooled connection): it runs on the event loop, not on a pool thread."""
    pool: ConnectionPool = request.app.state.db_pool
    db = pool.get()
    request.state.db = db
    try:
        yield db
    finally:
        pool.put(db)


def _session_user(request: Request, db: sqlite_utils.Database) -> dict[str, Any] | None:
    uid = request.session.get(SESSION_USER)
    sid = request.session.get(SESSION_ID)
    if uid is None:
        return None
    user = user_for_session(db, str(sid)) if isinstance(sid, str) and sid else None
    if user is None or int(user["id"]) != int(uid):
        # An ended (logout, password change, log out everywhere), expired or pre-upgrade session, or a
        # disabled or deleted user: the cookie no longer logs anyone in.
        request.session.pop(SESSION_USER, None)
        request.session.pop(SESSION_ID, None)
        return None
    return user


async def current_user(
    request: Request, db: sqlite_utils.Database = Depends(get_db)
) -> dict[str, Any] | None:
    """The logged-in (and not disabled) user's row, or None (one indexed read, on the event loop)."""
    if not hasattr(request.state, "user"):
        request.state.user = _session_user(request, db)
    user: dict[str, Any] | None = request.state.user
    return user


def has_role(user: dict[str, Any] | None, *names: str) -> bool:
    """True when the user holds one of the roles `names` (admin holds every role).

    Pages and routes ask `can(user, capability)` instead; templates still use this for a few links.
    """
    return bool(user) and (roles.can(user, roles.ADMIN) or user["role"] in names)  # type: ignore[index]


def can(user: dict[str, Any] | None, capability: str) -> bool:
    """Whether the user holds a capability of the roles table (monitor.review.roles); False when anonymous."""
    return bool(user) and roles.can(user, capability)


def _denied(capability: str, user: dict[str, Any], who: str) -> PermissionDenied:
    allowed = " or ".join(name for name in roles.roles_with(capability) if name != "admin") or "admin"
    return PermissionDenied(
        f"this {who} needs the role {allowed}; you are '{user['role']}' — ask an administrator"
    )


def require_user(capability: str | None = None) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Dependency for HTML pages: the user row; redirect to login when anonymous, 403 without `capability`.

    With no capability, any logged-in user passes.
    """

    async def dependency(
        request: Request, user: dict[str, Any] | None = Depends(current_user)
    ) -> dict[str, Any]:
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if capability is not None and not roles.can(user, capability):
            raise _denied(capability, user, "page")
        return user

    return dependency


def require_roles(*names: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Dependency for HTML pages by role names (admin passes); prefer require_user(capability).

    With no roles given, any logged-in user passes.
    """

    async def dependency(
        request: Request, user: dict[str, Any] | None = Depends(current_user)
    ) -> dict[str, Any]:
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if names and not has_role(user, *names):
            raise PermissionDenied(
                f"this page needs the role {' or '.join(names)}; you are '{user['role']}' — ask an administrator"
            )
        return user

    return dependency


# Declared so /docs shows an "Authorize" button; we raise our own 401 (auto_error=False).
_bearer = HTTPBearer(auto_error=False, description="An API token from `misinfo users token NAME`.")


def api_user(capability: str | None = None) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Dependency for API routes: the bearer token's user; 401 without a valid token, 403 without `capability`."""

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        db: sqlite_utils.Database = Depends(get_db),
    ) -> dict[str, Any]:
        if (
            credentials is None
            or credentials.scheme.lower() != "bearer"
            or not credentials.credentials.strip()
        ):
            raise AuthRequired(
                "missing bearer token: send 'Authorization: Bearer <token>' (misinfo users token NAME)"
            )
        user = user_for_token(db, credentials.credentials.strip())
        if user is None:
            raise AuthRequired(
                "invalid, expired, revoked or disabled token — create a new one with `misinfo users token NAME`"
            )
        try:
            touch_token(db, int(user["token_id"]), user.get("token_last_used_at"))
        except sqlite3.OperationalError as exc:  # a read-only or busy database must not refuse reads
            log.warning("could not record the use of API token %s: %s", user["token_id"], exc)
        if capability is not None and not roles.can(user, capability):
            allowed = " or ".join(n for n in roles.roles_with(capability) if n != "admin")
            raise PermissionDenied(
                f"this route needs the role {allowed}; the token's user is '{user['role']}'"
            )
        request.state.user = user
        return user

    return dependency


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return str(token)


async def verify_csrf(request: Request) -> None:
    """Dependency for every HTML POST: the form field `csrf_token` or header `X-CSRF-Token` must match."""
    expected = request.session.get(SESSION_CSRF)
    sent = request.headers.get("x-csrf-token")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # Starlette caches the parsed form for the route
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise CsrfError("the form expired or did not come from this site — reload the page and try again")


def flash(request: Request, message: str, kind: str = "info") -> None:
    """Queue a message shown once on the next rendered page (kind: info, success, warning, error)."""
    messages = list(request.session.get(SESSION_FLASH, []))
    messages.append([kind, message])
    request.session[SESSION_FLASH] = messages[-5:]


def pop_flashes(request: Request) -> list[list[str]]:
    """The queued flash messages, removed from the session."""
    return list(request.session.pop(SESSION_FLASH, []) or [])


def language(request: Request) -> str:
    """The interface language: the user's choice, else the session's, else the configured default."""
    default = config(request).web.default_language
    user = getattr(request.state, "user", None)
    if user:
        return i18n.normalise(user.get("language"), default)
    return i18n.normalise(request.session.get(SESSION_LANG), default)


def localtime(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M", tz: str | None = None) -> str:
    """A stored UTC time shown in `tz`, the configured time zone (web.timezone): callers always pass it."""
    if tz is None:
        raise TypeError("localtime() needs the configured time zone: pass tz=cfg.web.timezone")
    if not value:
        return ""
    if isinstance(value, str):
        return _localtime_of_text(value, fmt, tz)
    return _localtime_of(value, fmt, tz)


@lru_cache(maxsize=8192)
def _localtime_of_text(value: str, fmt: str, tz: str) -> str:
    # A queue page shows ~100 stored times; many repeat across requests (pages are re-read all day).
    return _localtime_of(from_db_time(value), fmt, tz)


def _localtime_of(dt: datetime | None, fmt: str, tz: str) -> str:
    if dt is None:
        return ""
    try:
        return dt.astimezone(ZoneInfo(tz)).strftime(fmt)
    except ValueError:
        return str(dt)


def render(request: Request, template_name: str, status_code: int = 200, **context: Any) -> Response:
    """Render a template with user, csrf_token, `_`, lang, flashes and the app's filters."""
    templates = request.app.state.templates
    if not hasattr(request.state, "user") and request.session.get(SESSION_USER) is not None:
        # Pages without a user dependency (404s, error pages) still show the nav and the user's language.
        pool: ConnectionPool = request.app.state.db_pool
        db = pool.get()
        try:
            request.state.user = _session_user(request, db)
        finally:
            pool.put(db)
    lang = language(request)
    context.setdefault("user", getattr(request.state, "user", None))
    context.update(
        request=request,
        csrf_token=csrf_token(request),
        _=i18n.translator(lang),
        lang=lang,
        languages=i18n.LANGUAGE_NAMES,
        # Fragments (templates named _*.html) leave queued messages for the next full page.
        flashes=[] if template_name.rsplit("/", 1)[-1].startswith("_") else pop_flashes(request),
        has_role=has_role,
        can=can,
    )
    response: Response = templates.TemplateResponse(request, template_name, context, status_code=status_code)
    return response


def is_api(request: Request) -> bool:
    """True for JSON API requests."""
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def is_htmx(request: Request) -> bool:
    """True for requests htmx made (partial page updates)."""
    return request.headers.get("hx-request") == "true"
