"""Digest preview: today's digest for a role and language, shown in a sandboxed frame (no scripts run)."""

from __future__ import annotations

import logging
from html import escape
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from monitor.notify.digest import preview_html
from monitor.review import roles
from monitor.web.deps import config, get_db, language, render, require_roles
from monitor.web.inline import InlineRoute, blocking

log = logging.getLogger(__name__)
router = APIRouter(route_class=InlineRoute)

PREVIEW_ROLES = roles.roles_with(roles.DIGEST_PREVIEW)
DIGEST_ROLES = roles.ROLE_NAMES  # the roles a preview can be shown as
# The raw preview is a document of its own: nothing may load or run, and it cannot reach this app's cookies.
RAW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; sandbox"


def _build(
    request: Request, db: sqlite_utils.Database, role: str, lang: str
) -> tuple[str | None, str | None]:
    """(html, None) or (None, a message saying why there is no preview)."""
    try:
        return preview_html(config(request), db, role, lang), None
    except Exception as exc:  # a broken digest must not take the page down; say what failed
        log.exception("digest preview failed for role=%s lang=%s", role, lang)
        return None, f"the digest could not be built: {type(exc).__name__}: {exc}"


def _choices(request: Request, role: str, lang: str) -> tuple[str, str]:
    role = role if role in DIGEST_ROLES else "coordinator"
    lang = lang if lang in ("vi", "en") else language(request)
    return role, lang


@router.get("/digest/preview", include_in_schema=False)
@blocking  # builds the whole digest: a day of items and decisions
def preview_page(
    request: Request,
    role: str = "coordinator",
    lang: str = "",
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles(*PREVIEW_ROLES)),
) -> Response:
    """The digest inside `<iframe sandbox srcdoc>`: Jinja escapes it into the attribute, the sandbox blocks scripts."""
    role, lang = _choices(request, role, lang)
    html, problem = _build(request, db, role, lang)
    return render(
        request,
        "digest_preview.html",
        status_code=200,
        digest_html=html,
        problem=problem,
        role=role,
        digest_lang=lang,
        roles=DIGEST_ROLES,
    )


@router.get("/digest/preview.html", include_in_schema=False)
@blocking  # builds the whole digest: a day of items and decisions
def preview_raw(
    request: Request,
    role: str = "coordinator",
    lang: str = "",
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles(*PREVIEW_ROLES)),
) -> Response:
    """The digest email body as its own page, under a CSP that forbids scripts, loads and forms."""
    role, lang = _choices(request, role, lang)
    html, problem = _build(request, db, role, lang)
    if html is None:
        return HTMLResponse(
            f"<p>{escape(str(problem))}</p>", status_code=503, headers={"Content-Security-Policy": RAW_CSP}
        )
    return HTMLResponse(html, headers={"Content-Security-Policy": RAW_CSP})
