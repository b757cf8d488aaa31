"""Unanswered claims: groups of flagged posts no approved rebuttal answers (page + JSON API).

Approvers, coordinators and admins; decisions go through monitor.review.groups, grouping through the
pipeline's group stage.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from monitor import i18n
from monitor.group.run import as_json, unanswered
from monitor.review import groups as review
from monitor.review import roles
from monitor.review.queue import DISMISS_REASONS
from monitor.web.deps import api_user, config, flash, get_db, language, render, require_user, verify_csrf
from monitor.web.inline import InlineRoute

router = APIRouter(route_class=InlineRoute)


def _t(request: Request, msgid: str, **values: Any) -> str:
    return i18n.translate(language(request), msgid, **values)


@router.get("/unanswered", include_in_schema=False)
def unanswered_page(
    request: Request,
    days: int = Query(default=0, ge=0, le=365),
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT)),
) -> Response:
    """The groups, ranked by size x growth, with their representative post and actions."""
    cfg = config(request)
    groups = unanswered(cfg, db, days=days or None)
    return render(
        request,
        "unanswered.html",
        groups=groups,
        days=days or cfg.group.days,
        reasons=[r for r in DISMISS_REASONS if r != "duplicate"],
        can_dismiss=roles.can(user, roles.QUEUE_ACT),
    )


@router.post("/unanswered/{group_id}/draft", include_in_schema=False)
def draft(
    group_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Create (or open) the draft rebuttal pre-filled with the group's representative sentences."""
    rid = review.draft_from_group(db, group_id, user)
    flash(request, _t(request, "Draft created from the group: edit it, then have it approved."), "success")
    return RedirectResponse(f"/rebuttals/{rid}/edit", status_code=303)


@router.post("/unanswered/{group_id}/dismiss", include_in_schema=False)
def dismiss(
    group_id: int,
    request: Request,
    reason: str = Form(...),
    note: str = Form(default=""),
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.LIBRARY_EDIT)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Dismiss every post of the group with one reason."""
    count = review.dismiss_group(db, group_id, reason, user, note=note or None)
    flash(request, _t(request, "%(count)s post(s) dismissed.", count=count), "success")
    return RedirectResponse("/unanswered", status_code=303)


@router.get("/api/unanswered", tags=["api"])
def api_unanswered(
    request: Request,
    days: int = Query(default=0, ge=0, le=365, description="Look back this many days (default group.days)."),
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(api_user(roles.LIBRARY_EDIT)),
) -> Response:
    """Unanswered-claim groups, ranked by size x growth: {"groups": [{id, size, item_ids, label, ...}]}."""
    return JSONResponse(as_json(unanswered(config(request), db, days=days or None)))
