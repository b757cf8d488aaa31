"""Response assignments: who answers which item or narrative, with which rebuttal, on which channel, by when."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.errors import Conflict, NotFound, PermissionDenied, UsageError
from monitor.store import audit
from monitor.store.db import query_one, to_db_time, utcnow, write

CHANNELS = ("website", "fanpage", "press_release", "newsletter", "social", "broadcast", "other")
STATUSES = ("assigned", "in_progress", "published", "cancelled")
OPEN_STATUSES = ("assigned", "in_progress")
MANAGER_ROLES = ("coordinator", "admin")
DEFAULT_TZ = "Asia/Ho_Chi_Minh"

# Allowed status moves. Published and cancelled are final: a new assignment records new work.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "assigned": ("in_progress", "published", "cancelled"),
    "in_progress": ("assigned", "published", "cancelled"),
    "published": (),
    "cancelled": (),
}

_SELECT = """
SELECT a.*, u.username AS assignee, u.email AS assignee_email, c.username AS created_by_name,
       r.title AS rebuttal_title, r.status AS rebuttal_status, i.title AS item_title, n.name AS narrative_name,
       CASE WHEN a.status IN ('assigned', 'in_progress') AND a.due_at IS NOT NULL AND a.due_at < :now
            THEN 1 ELSE 0 END AS overdue
FROM assignments a
JOIN users u ON u.id = a.assignee_id
LEFT JOIN users c ON c.id = a.created_by
LEFT JOIN rebuttals r ON r.id = a.rebuttal_id
LEFT JOIN items i ON i.id = a.item_id
LEFT JOIN narratives n ON n.id = a.narrative_id
"""


def _actor(user: dict[str, Any]) -> str:
    return str(user.get("username") or f"user:{user.get('id')}")


def _is_manager(user: dict[str, Any]) -> bool:
    return user.get("role") in MANAGER_ROLES


def parse_due(value: object, tz: str = DEFAULT_TZ) -> str | None:
    """An ISO date or datetime as a store-format UTC string; a bare date means the end of that local day."""
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
    row = None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        row = query_one(db, "SELECT * FROM users WHERE id = ?", [int(value)])
    if row is None:
        row = query_one(db, "SELECT * FROM users WHERE username = ?", [str(value)])
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
    """Assignments with assignee, rebuttal, item and narrative names and an `overdue` flag; soonest due first.

    With `closed_since` (store time), published and cancelled ones are kept only if they changed since then.
    """
    where: list[str] = []
    params: dict[str, Any] = {"now": utcnow(), "limit": limit}
    if status:
        if status not in STATUSES:
            raise UsageError(f"status '{status}' does not exist — use one of {', '.join(STATUSES)}")
        where.append("a.status = :status")
        params["status"] = status
    if assignee_id is not None:
        where.append("a.assignee_id = :assignee")
        params["assignee"] = int(assignee_id)
    if closed_since:
        where.append("(a.status IN ('assigned', 'in_progress') OR a.updated_at >= :closed_since)")
        params["closed_since"] = closed_since
    if overdue_only:
        where.append("a.status IN ('assigned', 'in_progress') AND a.due_at IS NOT NULL AND a.due_at < :now")
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY a.due_at IS NULL, a.due_at, a.id LIMIT :limit"
    return [dict(row) for row in db.query(sql, params)]


def get_assignment(db: sqlite_utils.Database, assignment_id: int) -> dict[str, Any] | None:
    """One assignment with its joined names, or None."""
    return query_one(db, _SELECT + " WHERE a.id = :id", {"now": utcnow(), "id": int(assignment_id)})


def require_assignment(db: sqlite_utils.Database, assignment_id: int) -> dict[str, Any]:
    """One assignment; NotFound when it does not exist."""
    row = get_assignment(db, assignment_id)
    if row is None:
        raise NotFound(f"assignment {assignment_id} does not exist")
    return row


def create_assignment(db: sqlite_utils.Database, fields: dict[str, Any], user: dict[str, Any]) -> int:
    """Create an assignment (coordinator or admin); the rebuttal must be approved. Returns its id."""
    if not _is_manager(user):
        raise PermissionDenied("only a coordinator or an admin can assign responses")
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
    due_at = parse_due(fields.get("due_at"), str(fields.get("timezone") or DEFAULT_TZ))
    now = utcnow()
    with write(db):
        if item_id is not None and query_one(db, "SELECT id FROM items WHERE id = ?", [item_id]) is None:
            raise NotFound(f"item {item_id} does not exist")
        if (
            narrative_id is not None
            and query_one(db, "SELECT id FROM narratives WHERE id = ?", [narrative_id]) is None
        ):
            raise NotFound(f"narrative {narrative_id} does not exist")
        rebuttal = query_one(db, "SELECT id, status, title FROM rebuttals WHERE id = ?", [rebuttal_id])
        if rebuttal is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist")
        if rebuttal["status"] != "approved":
            raise UsageError(
                f"rebuttal {rebuttal_id} is {rebuttal['status']}: only approved rebuttals can be assigned — ask an approver"
            )
        assignee = _resolve_assignee(db, fields.get("assignee", fields.get("assignee_id")))
        cur = db.execute(
            "INSERT INTO assignments (item_id, narrative_id, rebuttal_id, channel, assignee_id, due_at, note,"
            " status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'assigned', ?, ?, ?)",
            [
                item_id,
                narrative_id,
                rebuttal_id,
                channel,
                assignee["id"],
                due_at,
                note,
                user.get("id"),
                now,
                now,
            ],
        )
        new_id = int(cur.lastrowid or 0)
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
    return new_id


def update_assignment(
    db: sqlite_utils.Database,
    assignment_id: int,
    fields: dict[str, Any],
    user: dict[str, Any],
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Change status (assignee or coordinator) or details (coordinator); returns the updated assignment.

    With `expected_version`, a change made by someone else in between raises Conflict instead of being lost.
    """
    with write(db):
        row = require_assignment(db, assignment_id)
        manager = _is_manager(user)
        is_assignee = user.get("id") == row["assignee_id"]
        if not (manager or is_assignee):
            raise PermissionDenied("only the assignee or a coordinator can change this assignment")
        if expected_version is not None and int(expected_version) != row["version"]:
            last = query_one(
                db,
                "SELECT actor FROM audit_log WHERE object_type = 'assignment' AND object_id = ? ORDER BY id DESC LIMIT 1",
                [str(row["id"])],
            )
            who = last["actor"] if last else "someone else"
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
            changes["due_at"] = parse_due(details["due_at"], str(fields.get("timezone") or DEFAULT_TZ))
        if "note" in details:
            changes["note"] = str(details["note"] or "").strip() or None
        if "assignee" in details:
            changes["assignee_id"] = _resolve_assignee(db, details["assignee"])["id"]
        if "rebuttal_id" in details:
            rebuttal_id = _int(details["rebuttal_id"], "rebuttal_id")
            status = query_one(db, "SELECT status FROM rebuttals WHERE id = ?", [rebuttal_id])
            if status is None or status["status"] != "approved":
                raise UsageError(
                    f"rebuttal {rebuttal_id} is not approved: only approved rebuttals can be assigned"
                )
            changes["rebuttal_id"] = rebuttal_id
        changes = {k: v for k, v in changes.items() if row.get(k) != v}
        if not changes:
            return row
        sets = ", ".join(f"{k} = ?" for k in changes)
        cur = db.execute(
            f"UPDATE assignments SET {sets}, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
            [*changes.values(), utcnow(), row["id"], row["version"]],
        )
        if cur.rowcount != 1:
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
        return require_assignment(db, row["id"])


def due_soon(db: sqlite_utils.Database, within: timedelta = timedelta(days=1)) -> list[dict[str, Any]]:
    """Open assignments due within `within` from now (overdue ones included)."""
    limit = to_db_time(datetime.now(UTC) + within)
    return [
        row
        for row in list_assignments(db)
        if row["status"] in OPEN_STATUSES and row["due_at"] is not None and row["due_at"] <= limit
    ]


def assignable_users(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Active users who can receive an assignment: id, username, role, email."""
    return list(db.query("SELECT id, username, role, email FROM users WHERE disabled = 0 ORDER BY username"))


def list_narratives(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Narratives with their rebuttal, for choosing what an assignment answers."""
    return list(db.query("SELECT id, name, rebuttal_id FROM narratives ORDER BY name, id"))


def rebuttals_for_item(db: sqlite_utils.Database, item_id: int) -> list[int]:
    """Approved rebuttals linked to or suggested for an item, linked first: the likely answer to assign."""
    rows = db.query(
        """
        SELECT rebuttal_id FROM (
            SELECT l.rebuttal_id, 0 AS pri, -COALESCE(l.score, 1) AS rank FROM links l WHERE l.item_id = :item
            UNION ALL
            SELECT s.rebuttal_id, 1 AS pri, s.rank FROM suggestions s WHERE s.item_id = :item
        ) x JOIN rebuttals r ON r.id = x.rebuttal_id AND r.status = 'approved'
        ORDER BY pri, rank
        """,
        {"item": int(item_id)},
    )
    return list(dict.fromkeys(int(r["rebuttal_id"]) for r in rows))


def approved_rebuttal_choices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Approved rebuttals (id, title, language) for the assignment form's list."""
    return list(
        db.query("SELECT id, title, language FROM rebuttals WHERE status = 'approved' ORDER BY title, id")
    )
