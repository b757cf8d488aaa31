"""Assignments: the board by status, the create form (from an item or a narrative), progress, email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from monitor import i18n
from monitor.errors import Conflict, MonitorError, PermissionDenied
from monitor.review import assignments as review
from monitor.review import roles, service
from monitor.store import assignments as store
from monitor.store.db import to_db_time
from monitor.store.items import get_item
from monitor.web.deps import config, flash, get_db, language, render, require_user, verify_csrf
from monitor.web.inline import InlineRoute

router = APIRouter(route_class=InlineRoute)

COLUMNS = review.STATUSES
CLOSED_DAYS = 30


def _t(lang: str, msgid: str, **values: Any) -> str:
    return i18n.translate(lang, msgid, **values)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


@router.get("/assignments", include_in_schema=False)
def board(
    request: Request,
    mine: int = 0,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user()),
) -> Response:
    """The board by status; coordinators see everyone's work, others see their own."""
    manager = review.is_manager(user)
    only_mine = bool(mine) or not manager
    # Open work always shows; finished work for the last CLOSED_DAYS days, so the board stays short.
    since = to_db_time(datetime.now(UTC) - timedelta(days=CLOSED_DAYS))
    rows = service.visible_assignments(db, user, only_mine=only_mine, closed_since=since)
    columns: dict[str, list[dict[str, Any]]] = {status: [] for status in COLUMNS}
    for row in rows:
        columns[row["status"]].append(row)
    for status in ("published", "cancelled"):
        # Finished work: the latest first (open work stays in due-date order, soonest first).
        columns[status].sort(key=lambda r: r["published_at"] or r["updated_at"] or "", reverse=True)
    overdue = sum(1 for row in rows if row["overdue"])
    return render(
        request,
        "assignments_board.html",
        columns=columns,
        overdue_count=overdue,
        manager=manager,
        only_mine=only_mine,
        transitions=review.TRANSITIONS,
        closed_days=CLOSED_DAYS,
    )


def _form_context(db: sqlite_utils.Database, values: dict[str, Any]) -> dict[str, Any]:
    item = get_item(db, int(values["item_id"])) if values.get("item_id") else None
    preferred = store.rebuttals_for_item(db, int(values["item_id"])) if item else []
    choices = store.approved_rebuttal_choices(db)
    # Linked and suggested rebuttals first: the analyst's decision is the likely answer.
    choices.sort(
        key=lambda r: (preferred.index(r["id"]) if r["id"] in preferred else len(preferred), r["title"])
    )
    if not values.get("rebuttal_id") and preferred:
        values["rebuttal_id"] = preferred[0]
    return {
        "item": item,
        "narratives": store.list_narratives(db),
        "rebuttals": choices,
        "suggested": set(preferred),
        "users": store.assignable_users(db),
        "channels": review.CHANNELS,
        "values": values,
    }


@router.get("/assignments/new", include_in_schema=False)
def new_form(
    request: Request,
    item_id: str = "",
    narrative_id: str = "",
    rebuttal_id: str = "",
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.ASSIGN)),
) -> Response:
    """The create form, prefilled from ?item_id= (the item page's link) or ?narrative_id=."""
    values = {
        "item_id": _int_or_none(item_id),
        "narrative_id": _int_or_none(narrative_id),
        "rebuttal_id": _int_or_none(rebuttal_id),
        "channel": "website",
        "assignee": "",
        "due_at": "",
        "note": "",
    }
    return render(request, "assignments_new.html", error=None, **_form_context(db, values))


@router.post("/assignments/new", include_in_schema=False)
async def create(
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.ASSIGN)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Save the assignment with its queued e-mail, then send it; a mail failure is a warning, not a lost
    assignment (the outbox row is retried by the next digest run)."""
    form = await request.form()
    values: dict[str, Any] = {
        k: str(form.get(k) or "").strip()
        for k in ("item_id", "narrative_id", "rebuttal_id", "channel", "assignee", "due_at", "note")
    }
    if values["item_id"] and values["narrative_id"] and form.get("target") == "item":
        values["narrative_id"] = ""
    elif values["item_id"] and values["narrative_id"] and form.get("target") == "narrative":
        values["item_id"] = ""
    cfg = config(request)
    try:
        row = service.create_assignment(cfg, db, values, user)
    except PermissionDenied:
        raise
    except MonitorError as exc:
        values["item_id"] = _int_or_none(values["item_id"])
        values["narrative_id"] = _int_or_none(values["narrative_id"])
        values["rebuttal_id"] = _int_or_none(values["rebuttal_id"])
        status = 409 if isinstance(exc, Conflict) else 400
        return render(
            request, "assignments_new.html", status_code=status, error=str(exc), **_form_context(db, values)
        )
    new_id = int(row["id"])
    lang = language(request)
    flash(
        request,
        _t(lang, "Assignment #%(id)s saved for %(user)s.", id=new_id, user=row["assignee"]),
        "success",
    )
    # SMTP can be slow or hang until smtp.timeout: keep it off the event loop.
    warning = await run_in_threadpool(service.notify_assignee, cfg, db, row)
    if warning:
        flash(request, warning, "warning")
    else:
        flash(request, _t(lang, "%(user)s was notified by email.", user=row["assignee"]), "info")
    return RedirectResponse(f"/assignments#a{new_id}", status_code=303)


@router.post("/assignments/{assignment_id}/status", include_in_schema=False)
async def change_status(
    assignment_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user()),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """The assignee (or a coordinator) moves an assignment on; published needs the URL of what went out."""
    form = await request.form()
    fields: dict[str, Any] = {"status": str(form.get("status") or "")}
    if form.get("published_url"):
        fields["published_url"] = str(form.get("published_url")).strip()
    expected = _int_or_none(form.get("version"))
    lang = language(request)
    try:
        row = service.update_assignment(
            config(request), db, assignment_id, fields, user, expected_version=expected
        )
    except (PermissionDenied, Conflict):
        raise
    except MonitorError as exc:
        flash(request, str(exc), "error")
        return RedirectResponse(f"/assignments#a{assignment_id}", status_code=303)
    flash(
        request,
        _t(lang, "Assignment #%(id)s is now %(status)s.", id=assignment_id, status=_t(lang, row["status"])),
        "success",
    )
    return RedirectResponse(f"/assignments#a{assignment_id}", status_code=303)
