"""SQL for response assignments: who answers which item or narrative, with which rebuttal, on which channel,
by when. The rules (channels, status transitions, due dates, who may do what) live in monitor.review.assignments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from monitor.errors import NotFound
from monitor.store.db import query_one, to_db_time, utcnow

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


def find_user(db: sqlite_utils.Database, value: object) -> dict[str, Any] | None:
    """A user row by id (a number) or else by username, or None."""
    row = None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        row = query_one(db, "SELECT * FROM users WHERE id = ?", [int(value)])
    if row is None:
        row = query_one(db, "SELECT * FROM users WHERE username = ?", [str(value)])
    return row


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


def insert_assignment(db: sqlite_utils.Database, values: dict[str, Any], created_by: object) -> int:
    """Insert a validated assignment (status 'assigned'); returns its id. Call inside write()."""
    now = utcnow()
    cur = db.execute(
        "INSERT INTO assignments (item_id, narrative_id, rebuttal_id, channel, assignee_id, due_at, note,"
        " status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'assigned', ?, ?, ?)",
        [
            values["item_id"],
            values["narrative_id"],
            values["rebuttal_id"],
            values["channel"],
            values["assignee_id"],
            values["due_at"],
            values["note"],
            created_by,
            now,
            now,
        ],
    )
    return int(cur.lastrowid or 0)


# Columns an update may set (names come from the review layer, never from users).
UPDATABLE = (
    "status",
    "published_url",
    "published_at",
    "channel",
    "due_at",
    "note",
    "assignee_id",
    "rebuttal_id",
)


def update_assignment_row(
    db: sqlite_utils.Database, assignment_id: int, version: int, changes: dict[str, Any]
) -> bool:
    """Apply validated changes if the row still has `version` (then bumped); False when it changed meanwhile."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not an updatable assignment column: {sorted(unknown)}")
    sets = ", ".join(f"{k} = ?" for k in changes)
    cur = db.execute(
        f"UPDATE assignments SET {sets}, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
        [*changes.values(), utcnow(), assignment_id, version],
    )
    return cur.rowcount == 1


def last_actor(db: sqlite_utils.Database, assignment_id: int) -> str | None:
    """Who made the latest audited change to an assignment."""
    row = query_one(
        db,
        "SELECT actor FROM audit_log WHERE object_type = 'assignment' AND object_id = ? ORDER BY id DESC LIMIT 1",
        [str(assignment_id)],
    )
    return str(row["actor"]) if row else None


def exists(db: sqlite_utils.Database, table: str, row_id: int) -> bool:
    """Whether items / narratives has a row with this id."""
    if table not in ("items", "narratives"):
        raise ValueError(table)
    return query_one(db, f"SELECT id FROM {table} WHERE id = ?", [row_id]) is not None  # noqa: S608


def rebuttal_row(db: sqlite_utils.Database, rebuttal_id: int | None) -> dict[str, Any] | None:
    """id, status and title of a rebuttal, or None."""
    return query_one(db, "SELECT id, status, title FROM rebuttals WHERE id = ?", [rebuttal_id])


def due_soon(db: sqlite_utils.Database, within: timedelta = timedelta(days=1)) -> list[dict[str, Any]]:
    """Open assignments due within `within` from now (overdue ones included)."""
    limit = to_db_time(datetime.now(UTC) + within)
    return [
        row
        for row in list_assignments(db)
        if row["status"] in ("assigned", "in_progress")
        and row["due_at"] is not None
        and row["due_at"] <= limit
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
