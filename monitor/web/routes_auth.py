"""Login, logout and the language switcher."""

from __future__ import annotations

import secrets
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from monitor import i18n
from monitor.store import users as store_users
from monitor.web.deps import (
    SESSION_CSRF,
    SESSION_ID,
    SESSION_LANG,
    SESSION_USER,
    current_user,
    flash,
    get_db,
    render,
    verify_csrf,
)
from monitor.web.inline import InlineRoute, blocking

router = APIRouter(include_in_schema=False, route_class=InlineRoute)


def safe_next(target: str | None) -> str:
    """Only same-site paths may be redirect targets (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_page(
    request: Request, next: str = "/queue", user: dict[str, Any] | None = Depends(current_user)
) -> Response:
    """The login form (a logged-in user goes straight on)."""
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="")


@router.post("/login", dependencies=[Depends(verify_csrf)])
@blocking  # password hashing takes tens of milliseconds by design
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/queue"),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Check the password (throttled), start a fresh session.

    Every refusal (wrong name or password, disabled, locked user or address) gets the same answer, so it
    never tells which names exist; the name typed is echoed cut to the longest a user name may be.
    """
    _ = i18n.translator(request.session.get(SESSION_LANG) or request.app.state.cfg.web.default_language)
    address = _address(request)
    username = username.strip()
    user = store_users.authenticate(db, username, password, address)
    if user is None:
        message = _(
            "Wrong user name or password, or the account is disabled or locked after too many failed "
            "attempts. Wait a few minutes before trying again."
        )
        request.state.user = None
        return render(
            request,
            "login.html",
            status_code=401,
            next=safe_next(next),
            username=username[: store_users.MAX_NAME_LENGTH],
            error=message,
        )
    # A new session on login: nothing an attacker planted before login survives it.
    sid = store_users.start_session(db, int(user["id"]))
    lang = user["language"]
    request.session.clear()
    request.session[SESSION_USER] = int(user["id"])
    request.session[SESSION_ID] = sid
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    request.session[SESSION_LANG] = lang
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request, db: sqlite_utils.Database = Depends(get_db)) -> Response:
    """End the session, on the server too: the cookie, even if copied, no longer logs anyone in."""
    sid = request.session.get(SESSION_ID)
    if isinstance(sid, str) and sid:
        store_users.end_session(db, sid)
    lang = request.session.get(SESSION_LANG)
    request.session.clear()
    if lang:
        request.session[SESSION_LANG] = lang
    return RedirectResponse("/login", status_code=303)


@router.post("/language", dependencies=[Depends(verify_csrf)])
def set_language(
    request: Request,
    lang: str = Form(...),
    next: str = Form("/queue"),
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] | None = Depends(current_user),
) -> Response:
    """Switch the interface language; saved on the user for next time."""
    lang = i18n.normalise(lang, request.app.state.cfg.web.default_language)
    request.session[SESSION_LANG] = lang
    if user is not None:
        store_users.set_language(db, int(user["id"]), lang)
        user["language"] = lang
    flash(request, i18n.translate(lang, "Language changed."), "success")
    return RedirectResponse(safe_next(next), status_code=303)
