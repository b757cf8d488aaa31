"""Rebuttal library pages: list and search, drafts, approval and retirement, version history."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from monitor import i18n
from monitor.errors import Conflict, MonitorError, NotFound, PermissionDenied
from monitor.review import library as review
from monitor.review import roles
from monitor.review.library import CHANNELS, MEDIA_TYPES, STATUSES
from monitor.store import rebuttals as rebuttals_store
from monitor.web.deps import can, flash, get_db, language, render, require_user, verify_csrf
from monitor.web.inline import InlineRoute

log = logging.getLogger(__name__)
router = APIRouter(route_class=InlineRoute)

# Any logged-in user reads the library; roles.LIBRARY_EDIT writes drafts, roles.LIBRARY_APPROVE approves.
PAGE_SIZE = 50


def _t(request: Request, msgid: str, **values: Any) -> str:
    return i18n.translate(language(request), msgid, **values)


def _require(db: sqlite_utils.Database, rebuttal_id: int) -> dict[str, Any]:
    row = rebuttals_store.get_rebuttal(db, rebuttal_id)
    if row is None:
        raise NotFound(f"rebuttal {rebuttal_id} does not exist")
    return dict(row)


def _claim_texts(rebuttal: dict[str, Any]) -> list[str]:
    return [c["text"] if isinstance(c, dict) else str(c) for c in rebuttal.get("claims") or []]


def _form_values(rebuttal: dict[str, Any] | None) -> dict[str, Any]:
    """What the edit form shows: list fields as one entry per line."""
    r = rebuttal or {}
    media = r.get("media") or []
    return {
        "key": r.get("key") or "",
        "title": r.get("title") or "",
        "short_answer": r.get("short_answer") or "",
        "body": r.get("body") or "",
        "language": r.get("language") or "vi",
        "verdict": r.get("verdict") or "",
        "url": r.get("url") or "",
        "author": r.get("author") or "",
        "date_published": r.get("date_published") or "",
        "claims": "\n".join(_claim_texts(r)),
        "evidence": "\n".join(str(e) for e in r.get("evidence") or []),
        "media": "\n".join(
            f"{m.get('type', 'link')}: {m.get('url', '')}" if isinstance(m, dict) else str(m) for m in media
        ),
        "channels": list(r.get("channels") or []),
        "version": r.get("version"),
    }


def _fields_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """Form values as store fields; text areas hold one claim, link or media entry per line."""

    def lines(name: str) -> list[str]:
        return [line.strip() for line in str(form.get(name) or "").splitlines() if line.strip()]

    fields: dict[str, Any] = {
        name: str(form.get(name) or "").strip()
        for name in (
            "title",
            "short_answer",
            "body",
            "language",
            "verdict",
            "url",
            "author",
            "date_published",
        )
    }
    for name in ("verdict", "url", "author", "date_published"):
        fields[name] = fields[name] or None
    key = str(form.get("key") or "").strip()
    fields["key"] = key or None
    fields["claims"] = lines("claims")
    fields["evidence"] = lines("evidence")
    media: list[dict[str, str]] = []
    for entry in lines("media"):
        kind, sep, url = entry.partition(":")
        if sep and kind.strip().lower() in MEDIA_TYPES:
            media.append({"type": kind.strip().lower(), "url": url.strip()})
        else:
            media.append({"type": "link", "url": entry})
    fields["media"] = media
    fields["channels"] = [c for c in form.get("channels", []) if c]
    return fields


def _render_form(
    request: Request,
    rebuttal: dict[str, Any] | None,
    values: dict[str, Any],
    error: str | None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "library_form.html",
        status_code=status,
        rebuttal=rebuttal,
        values=values,
        error=error,
        channels=CHANNELS,
        media_types=MEDIA_TYPES,
    )


@router.get("/rebuttals", include_in_schema=False)
def list_page(
    request: Request,
    q: str = "",
    status: str = "",
    page: int = 1,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user()),
) -> Response:
    """The library: search (accents optional) and filter by status."""
    status = status if status in STATUSES else ""
    page = max(page, 1)
    rows = rebuttals_store.list_rebuttals(
        db, status=status or None, q=q.strip() or None, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "library_list.html",
        rows=rows[:PAGE_SIZE],
        has_next=len(rows) > PAGE_SIZE,
        page=page,
        q=q,
        status=status,
        statuses=STATUSES,
    )


@router.get("/rebuttals/new", include_in_schema=False)
def new_form(request: Request, user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT))) -> Response:
    """An empty draft form."""
    return _render_form(request, None, _form_values(None), None)


@router.post("/rebuttals/new", include_in_schema=False)
async def create(
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Create a draft; a validation error re-shows the form with what was typed."""
    form = await request.form()
    raw = {k: (form.getlist(k) if k == "channels" else form.get(k)) for k in form}
    fields = _fields_from_form(raw)
    try:
        new_id = review.create_rebuttal(db, fields, user)
    except PermissionDenied:
        raise
    except MonitorError as exc:
        values = {**_form_values(None), **{k: v for k, v in raw.items() if k != "csrf_token"}}
        return _render_form(request, None, values, str(exc), status=409 if isinstance(exc, Conflict) else 400)
    flash(
        request, _t(request, "Draft saved. An approver must approve it before it can be linked."), "success"
    )
    return RedirectResponse(f"/rebuttals/{new_id}", status_code=303)


@router.get("/rebuttals/{rebuttal_id}", include_in_schema=False)
def detail(
    rebuttal_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user()),
) -> Response:
    """One rebuttal with claims, evidence, media, channels and the actions the user may take."""
    rebuttal = _require(db, rebuttal_id)
    return render(
        request,
        "library_detail.html",
        r=rebuttal,
        claims=_claim_texts(rebuttal),
        can_edit=can(user, roles.LIBRARY_EDIT),
        can_approve=can(user, roles.LIBRARY_APPROVE),
    )


@router.get("/rebuttals/{rebuttal_id}/edit", include_in_schema=False)
def edit_form(
    rebuttal_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT)),
) -> Response:
    """The edit form; it carries the version so a concurrent edit is refused, not overwritten."""
    rebuttal = _require(db, rebuttal_id)
    return _render_form(request, rebuttal, _form_values(rebuttal), None)


@router.post("/rebuttals/{rebuttal_id}/edit", include_in_schema=False)
async def update(
    rebuttal_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Save an edit. Editing an approved rebuttal returns it to draft (the store's rule)."""
    rebuttal = _require(db, rebuttal_id)
    form = await request.form()
    raw = {k: (form.getlist(k) if k == "channels" else form.get(k)) for k in form}
    fields = _fields_from_form(raw)
    try:
        expected = int(str(raw.get("version") or rebuttal["version"]))
    except ValueError:
        expected = int(rebuttal["version"])
    try:
        review.update_rebuttal(db, rebuttal_id, fields, user, expected_version=expected)
    except PermissionDenied:
        raise
    except MonitorError as exc:
        values = {**_form_values(rebuttal), **{k: v for k, v in raw.items() if k != "csrf_token"}}
        return _render_form(
            request, rebuttal, values, str(exc), status=409 if isinstance(exc, Conflict) else 400
        )
    flash(request, _t(request, "Changes saved."), "success")
    return RedirectResponse(f"/rebuttals/{rebuttal_id}", status_code=303)


@router.post("/rebuttals/{rebuttal_id}/approve", include_in_schema=False)
def approve(
    rebuttal_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_APPROVE)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Approve: the rebuttal can now be suggested, linked and assigned."""
    return _change_status(request, db, rebuttal_id, user, review.approve_rebuttal, "Rebuttal approved.")


@router.post("/rebuttals/{rebuttal_id}/retire", include_in_schema=False)
def retire(
    rebuttal_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_APPROVE)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Retire: no longer suggested or linkable; existing links stay."""
    return _change_status(request, db, rebuttal_id, user, review.retire_rebuttal, "Rebuttal retired.")


def _change_status(
    request: Request,
    db: sqlite_utils.Database,
    rebuttal_id: int,
    user: dict[str, Any],
    action: Callable[[sqlite_utils.Database, int, dict[str, Any]], Any],
    done: str,
) -> Response:
    """Run approve/retire (it checks the role and audits) and go back to the rebuttal."""
    _require(db, rebuttal_id)
    action(db, rebuttal_id, user)
    flash(request, _t(request, done), "success")
    return RedirectResponse(f"/rebuttals/{rebuttal_id}", status_code=303)


@router.get("/rebuttals/{rebuttal_id}/versions", include_in_schema=False)
def versions(
    rebuttal_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user()),
) -> Response:
    """Every version: who, when, what changed, and the full text at that version."""
    rebuttal = _require(db, rebuttal_id)
    rows = rebuttals_store.rebuttal_versions(db, rebuttal_id)
    for row in rows:
        snap = row.get("snapshot")
        if snap is None and row.get("snapshot_json"):
            snap = json.loads(row["snapshot_json"])
        row["snapshot_text"] = json.dumps(snap or {}, ensure_ascii=False, indent=2, sort_keys=True)
    return render(request, "library_versions.html", r=rebuttal, versions=rows)
