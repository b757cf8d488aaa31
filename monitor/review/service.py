"""The review service: what the JSON API (monitor.web.api) and the HTML pages (monitor.web.routes_*) both
call, so neither imports the other. It binds the review rules to the configuration (time zone, languages)
and to the e-mail outbox.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor import i18n
from monitor.config import Config
from monitor.notify.assignment import queue_assignment_email, send_assignment_email, valid_address
from monitor.review import assignments, roles
from monitor.review.queue import QueueFilter, build_filter
from monitor.store import assignments as assignments_store
from monitor.store.users import get_user_by_id

__all__ = [
    "assignee_language",
    "create_assignment",
    "notify_assignee",
    "queue_filter",
    "update_assignment",
    "visible_assignments",
]


def queue_filter(cfg: Config, **values: str | None) -> QueueFilter:
    """The queue filter from query-string values; dates are read in the configured web time zone."""
    return build_filter(str(cfg.web.timezone), **values)


def assignee_language(cfg: Config, db: sqlite_utils.Database, row: dict[str, Any]) -> str:
    """The assignee's interface language: their e-mail (and the warnings about it) are in it."""
    assignee = get_user_by_id(db, int(row["assignee_id"]))
    return i18n.normalise(assignee.get("language") if assignee else None, cfg.web.default_language)


def create_assignment(
    cfg: Config, db: sqlite_utils.Database, fields: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    """Create an assignment and queue the assignee's e-mail in the same transaction; the new row."""

    def outbox(tx: sqlite_utils.Database, row: dict[str, Any]) -> None:
        queue_assignment_email(cfg, tx, row, assignee_language(cfg, tx, row))

    new_id = assignments.create_assignment(db, fields, user, tz=str(cfg.web.timezone), outbox=outbox)
    return assignments_store.require_assignment(db, new_id)


def notify_assignee(cfg: Config, db: sqlite_utils.Database, row: dict[str, Any]) -> str | None:
    """Send the queued e-mail now; a warning to show (the assignment stays saved) or None when sent."""
    lang = assignee_language(cfg, db, row)
    if not row.get("assignee_email"):
        return i18n.translate(
            lang,
            "%(user)s has no email address: tell them about the assignment yourself.",
            user=row["assignee"],
        )
    if valid_address(row) is None:  # stored before addresses were checked: nothing was queued
        return i18n.translate(
            lang,
            "%(user)s's email address is not valid: tell them about the assignment yourself and ask an admin to correct it.",
            user=row["assignee"],
        )
    result = send_assignment_email(cfg, db, row)
    if result is None or result.status in ("sent", "already_sent"):
        return None
    return i18n.translate(
        lang,
        "The assignment is saved, but the email to %(user)s failed: %(error)s",
        user=row["assignee"],
        error=result.error or result.status,
    )


def update_assignment(
    cfg: Config,
    db: sqlite_utils.Database,
    assignment_id: int,
    fields: dict[str, Any],
    user: dict[str, Any],
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Change an assignment (rules: monitor.review.assignments); typed due dates in the web time zone."""
    return assignments.update_assignment(
        db, assignment_id, fields, user, expected_version, tz=str(cfg.web.timezone)
    )


def visible_assignments(
    db: sqlite_utils.Database,
    user: dict[str, Any],
    *,
    status: str | None = None,
    only_mine: bool = False,
    closed_since: str | None = None,
) -> list[dict[str, Any]]:
    """Coordinators (and admins) see everyone's assignments; the others (or only_mine) their own."""
    mine = only_mine or not roles.can(user, roles.ASSIGN)
    return assignments.list_assignments(
        db, status=status, assignee_id=int(user["id"]) if mine else None, closed_since=closed_since
    )
