"""Assignment rules: channels, status transitions, due dates (in the configured time zone), who may do what.

The SQL is in monitor.store.assignments. `create_assignment` takes an `outbox` callback that runs inside the
creating transaction with the new row, so the assignee's e-mail is queued atomically with the assignment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.errors import Conflict, NotFound, PermissionDenied, UsageError
from monitor.review import roles
from monitor.store import assignments as store
from monitor.store import audit
from monitor.store.db import to_db_time, utcnow, write

CHANNELS = ("website", "fanpage", "press_release", "newsletter", "social", "broadcast", "other")
STATUSES = ("assigned", "in_progress", "published", "cancelled")
OPEN_STATUSES = ("assigned", "in_progress")

# Allowed status moves. Published and cancelled are final: a new assignment records new work.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "assigned": ("in_progress", "published", "cancelled"),
    "in_progress": ("assigned", "published", "cancelled"),
    "published": (),
    "cancelled": (),
}

# Called inside the creating transaction with (db, the new assignment row).
Outbox = Callable[[sqlite_utils.Database, dict[str, Any]], None]


def _actor(user: dict[str, Any]) -> str:
    return str(user.get("username") or f"user:{user.get('id')}")


def is_manager(user: dict[str, Any]) -> bool:
    """Whether the user assigns work and sees everyone's (coordinators, admins)."""
    return roles.can(user, roles.ASSIGN)


def parse_due(value: object, tz: str) -> str | None:
    """An ISO date or datetime as a store-format UTC string; a bare date means the end of that local day.

    `tz` is the configured time zone (web.timezone) naive times are read in.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    zone = ZoneInfo(tz)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59))
    else:
        text = str(value).strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                moment = datetime.combine(date.fromisoformat(text), time(23, 59, 59))
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"due date '{text}' is not an ISO date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time)"
            ) from None
    if moment.tzinfo is None:
        # Naive times come from people filling in a form: they mean the office's local time.
        moment = moment.replace(tzinfo=zone)
    return to_db_time(moment.astimezone(UTC))


def _int(value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise UsageError(f"{name} must be a number, not '{value}'") from None


def _resolve_assignee(db: sqlite_utils.Database, value: object) -> dict[str, Any]:
    """A user by id or username; disabled users cannot receive work."""
    if value is None or value == "":
        raise UsageError("choose an assignee (a user id or user name)")
    row = store.find_user(db, value)
    if row is None:
        raise NotFound(f"no user '{value}' to assign to — list users with `misinfo users list`")
    if row["disabled"]:
        raise UsageError(f"user '{row['username']}' is disabled and cannot be assigned work")
    return row


def _check_url(url: object) -> str:
    text = str(url or "").strip()
    if not re.match(r"^https?://[^/\s]+\S*$", text):
        raise UsageError("a published assignment needs the http(s) URL of what was published")
    return text


def list_assignments(
    db: sqlite_utils.Database,
    status: str | None = None,
    assignee_id: int | None = None,
    overdue_only: bool = False,
    limit: int = 500,
    closed_since: str | None = None,
) -> list[dict[str, Any]]:
    """Assignments (see monitor.store.assignments.list_assignments); UsageError for an unknown status."""
    if status and status not in STATUSES:
        raise UsageError(f"status '{status}' does not exist — use one of {', '.join(STATUSES)}")
    return store.list_assignments(db, status, assignee_id, overdue_only, limit, closed_since)


def create_assignment(
    db: sqlite_utils.Database,
    fields: dict[str, Any],
    user: dict[str, Any],
    *,
    tz: str,
    outbox: Outbox | None = None,
) -> int:
    """Create an assignment (coordinator or admin); the rebuttal must be approved. Returns its id.

    `tz`: the configured time zone of a typed due date. `outbox`, when given, runs in the same transaction
    with the new row (it queues the assignee's e-mail): both are saved or neither.
    """
    roles.require(user, roles.ASSIGN, "only a coordinator or an admin can assign responses")
    item_id = _int(fields.get("item_id"), "item_id")
    narrative_id = _int(fields.get("narrative_id"), "narrative_id")
    rebuttal_id = _int(fields.get("rebuttal_id"), "rebuttal_id")
    channel = str(fields.get("channel") or "").strip()
    note = str(fields.get("note") or "").strip() or None
    if item_id is None and narrative_id is None:
        raise UsageError("an assignment answers an item or a narrative: give item_id or narrative_id")
    if rebuttal_id is None:
        raise UsageError("choose the approved rebuttal to publish (rebuttal_id)")
    if channel not in CHANNELS:
        raise UsageError(f"channel '{channel}' does not exist — use one of {', '.join(CHANNELS)}")
    due_at = parse_due(fields.get("due_at"), tz)
    with write(db):
        if item_id is not None and not store.exists(db, "items", item_id):
            raise NotFound(f"item {item_id} does not exist")
        if narrative_id is not None and not store.exists(db, "narratives", narrative_id):
            raise NotFound(f"narrative {narrative_id} does not exist")
        rebuttal = store.rebuttal_row(db, rebuttal_id)
        if rebuttal is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist")
        if rebuttal["status"] != "approved":
            raise UsageError(
                f"rebuttal {rebuttal_id} is {rebuttal['status']}: only approved rebuttals can be assigned — ask an approver"
            )
        assignee = _resolve_assignee(db, fields.get("assignee", fields.get("assignee_id")))
        new_id = store.insert_assignment(
            db,
            {
                "item_id": item_id,
                "narrative_id": narrative_id,
                "rebuttal_id": rebuttal_id,
                "channel": channel,
                "assignee_id": assignee["id"],
                "due_at": due_at,
                "note": note,
            },
            user.get("id"),
        )
        audit.record(
            db,
            _actor(user),
            "assignment.create",
            "assignment",
            new_id,
            {
                "item_id": item_id,
                "narrative_id": narrative_id,
                "rebuttal_id": rebuttal_id,
                "channel": channel,
                "assignee": assignee["username"],
                "due_at": due_at,
            },
        )
        if outbox is not None:
            outbox(db, store.require_assignment(db, new_id))
    return new_id


def update_assignment(
    db: sqlite_utils.Database,
    assignment_id: int,
    fields: dict[str, Any],
    user: dict[str, Any],
    expected_version: int | None = None,
    *,
    tz: str,
) -> dict[str, Any]:
    """Change status (assignee or coordinator) or details (coordinator); returns the updated assignment.

    With `expected_version`, a change made by someone else in between raises Conflict instead of being lost.
    `tz`: the configured time zone of a typed due date.
    """
    with write(db):
        row = store.require_assignment(db, assignment_id)
        manager = is_manager(user)
        is_assignee = user.get("id") == row["assignee_id"]
        if not (manager or is_assignee):
            raise PermissionDenied("only the assignee or a coordinator can change this assignment")
        if expected_version is not None and int(expected_version) != row["version"]:
            who = store.last_actor(db, row["id"]) or "someone else"
            raise Conflict(
                f"assignment {row['id']} was already changed by {who} — reload the page and try again"
            )
        changes: dict[str, Any] = {}
        new_status = fields.get("status")
        if new_status is not None and new_status != row["status"]:
            if new_status not in STATUSES:
                raise UsageError(f"status '{new_status}' does not exist — use one of {', '.join(STATUSES)}")
            if new_status not in TRANSITIONS[row["status"]]:
                raise UsageError(f"an assignment that is {row['status']} cannot become {new_status}")
            if new_status == "cancelled" and not manager:
                raise PermissionDenied("only a coordinator can cancel an assignment")
            changes["status"] = new_status
            if new_status == "published":
                changes["published_url"] = _check_url(fields.get("published_url") or row["published_url"])
                changes["published_at"] = utcnow()
        elif fields.get("published_url") and row["status"] == "published":
            changes["published_url"] = _check_url(fields["published_url"])
        details = {
            k: fields[k] for k in ("channel", "due_at", "note", "assignee", "rebuttal_id") if k in fields
        }
        # The assignee reports progress; what to publish, where and by when is the coordinator's call.
        if details and not manager and set(details) - {"note"}:
            raise PermissionDenied(
                "only a coordinator can change the channel, due date, assignee or rebuttal"
            )
        if "channel" in details:
            if details["channel"] not in CHANNELS:
                raise UsageError(
                    f"channel '{details['channel']}' does not exist — use one of {', '.join(CHANNELS)}"
                )
            changes["channel"] = details["channel"]
        if "due_at" in details:
            changes["due_at"] = parse_due(details["due_at"], tz)
        if "note" in details:
            changes["note"] = str(details["note"] or "").strip() or None
        if "assignee" in details:
            changes["assignee_id"] = _resolve_assignee(db, details["assignee"])["id"]
        if "rebuttal_id" in details:
            rebuttal_id = _int(details["rebuttal_id"], "rebuttal_id")
            rebuttal = store.rebuttal_row(db, rebuttal_id)
            if rebuttal is None or rebuttal["status"] != "approved":
                raise UsageError(
                    f"rebuttal {rebuttal_id} is not approved: only approved rebuttals can be assigned"
                )
            changes["rebuttal_id"] = rebuttal_id
        changes = {k: v for k, v in changes.items() if row.get(k) != v}
        if not changes:
            return row
        if not store.update_assignment_row(db, row["id"], int(row["version"]), changes):
            raise Conflict(
                f"assignment {row['id']} was changed at the same time — reload the page and try again"
            )
        audit.record(
            db,
            _actor(user),
            "assignment.status" if "status" in changes else "assignment.update",
            "assignment",
            row["id"],
            {"from": row["status"], **changes},
        )
        return store.require_assignment(db, row["id"])
