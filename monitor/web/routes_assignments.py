"""Assignments: the board by status, the create form (from an item or a narrative), progress, email."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from monitor.config import Config
from monitor.errors import Conflict, MailError, MonitorError, PermissionDenied
from monitor.notify.mailer import send_email
from monitor.store import assignments as store
from monitor.store.db import to_db_time
from monitor.store.items import get_item
from monitor.store.users import get_user_by_id
from monitor.web import i18n
from monitor.web.deps import config, flash, get_db, language, localtime, render, require_roles, verify_csrf

log = logging.getLogger(__name__)
router = APIRouter()

MANAGE_ROLES = ("coordinator",)
COLUMNS = store.STATUSES
CLOSED_DAYS = 30


def _t(lang: str, msgid: str, **values: Any) -> str:
    return i18n.translate(lang, msgid, **values)


def _is_manager(user: dict[str, Any]) -> bool:
    return user["role"] in ("coordinator", "admin")


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def assignment_email(cfg: Config, row: dict[str, Any], lang: str) -> tuple[str, str]:
    """Subject and plain-text body telling the assignee what to publish, where and by when."""
    base = cfg.web.base_url.rstrip("/")
    what = (
        _t(lang, "Item: %(title)s", title=row.get("item_title") or f"#{row['item_id']}")
        if row.get("item_id")
        else _t(lang, "Narrative: %(name)s", name=row.get("narrative_name") or f"#{row['narrative_id']}")
    )
    due = localtime(row.get("due_at"), "%Y-%m-%d %H:%M", cfg.web.timezone) or _t(lang, "no due date")
    subject = _t(
        lang, "[misinfo-monitor] New assignment #%(id)s: %(title)s", id=row["id"], title=row["rebuttal_title"]
    )
    lines = [
        _t(lang, "You have been assigned a response by %(who)s.", who=row.get("created_by_name") or "?"),
        "",
        what,
        _t(lang, "Rebuttal: %(title)s", title=row["rebuttal_title"]),
        _t(lang, "Channel: %(channel)s", channel=_t(lang, row["channel"])),
        _t(lang, "Due: %(due)s (%(tz)s)", due=due, tz=cfg.web.timezone),
    ]
    if row.get("note"):
        lines.append(_t(lang, "Note: %(note)s", note=row["note"]))
    lines += [
        "",
        _t(
            lang,
            "Open the board to mark it in progress or published: %(url)s",
            url=f"{base}/assignments#a{row['id']}",
        ),
        f"{base}/rebuttals/{row['rebuttal_id']}",
    ]
    # Titles come from scraped items: strip line breaks so nothing can forge a header or a fake paragraph.
    return " ".join(subject.split()), "\n".join(lines) + "\n"


def notify_assignee(cfg: Config, row: dict[str, Any], lang: str) -> str | None:
    """Email the assignee; returns a warning to show (the assignment stays saved) or None when sent."""
    if not row.get("assignee_email"):
        return _t(
            lang,
            "%(user)s has no email address: tell them about the assignment yourself.",
            user=row["assignee"],
        )
    try:
        subject, text = assignment_email(cfg, row, lang)
        send_email(cfg, row["assignee_email"], subject, text)
    except (MailError, OSError) as exc:
        log.warning(
            "assignment %s saved but the email to %s failed: %s", row["id"], row["assignee_email"], exc
        )
        return _t(
            lang,
            "The assignment is saved, but the email to %(user)s failed: %(error)s",
            user=row["assignee"],
            error=str(exc),
        )
    return None


@router.get("/assignments", include_in_schema=False)
def board(
    request: Request,
    mine: int = 0,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles()),
) -> Response:
    """The board by status; coordinators see everyone's work, others see their own."""
    manager = _is_manager(user)
    only_mine = bool(mine) or not manager
    # Open work always shows; finished work for the last CLOSED_DAYS days, so the board stays short.
    since = to_db_time(datetime.now(UTC) - timedelta(days=CLOSED_DAYS))
    rows = store.list_assignments(db, assignee_id=user["id"] if only_mine else None, closed_since=since)
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
        transitions=store.TRANSITIONS,
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
        "channels": store.CHANNELS,
        "values": values,
    }


@router.get("/assignments/new", include_in_schema=False)
def new_form(
    request: Request,
    item_id: str = "",
    narrative_id: str = "",
    rebuttal_id: str = "",
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles(*MANAGE_ROLES)),
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
    user: dict[str, Any] = Depends(require_roles(*MANAGE_ROLES)),
    _csrf: None = Depends(verify_csrf),
) -> Response:
    """Save the assignment, then email the assignee; a mail failure is a warning, not a lost assignment."""
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
    fields = {**values, "timezone": cfg.web.timezone}
    try:
        new_id = store.create_assignment(db, fields, user)
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
    row = store.require_assignment(db, new_id)
    lang = language(request)
    flash(
        request,
        _t(lang, "Assignment #%(id)s saved for %(user)s.", id=new_id, user=row["assignee"]),
        "success",
    )
    # SMTP can be slow or hang until smtp.timeout: keep it off the event loop.
    warning = await run_in_threadpool(notify_assignee, cfg, row, _assignee_language(db, row, lang))
    if warning:
        flash(request, warning, "warning")
    else:
        flash(request, _t(lang, "%(user)s was notified by email.", user=row["assignee"]), "info")
    return RedirectResponse(f"/assignments#a{new_id}", status_code=303)


def _assignee_language(db: sqlite_utils.Database, row: dict[str, Any], default: str) -> str:
    """The email goes out in the assignee's interface language."""
    assignee = get_user_by_id(db, int(row["assignee_id"]))
    return i18n.normalise(assignee.get("language") if assignee else None, default)


@router.post("/assignments/{assignment_id}/status", include_in_schema=False)
async def change_status(
    assignment_id: int,
    request: Request,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles()),
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
        row = store.update_assignment(db, assignment_id, fields, user, expected_version=expected)
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
