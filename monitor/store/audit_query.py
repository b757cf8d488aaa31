"""Reading the audit log with filters, newest first, keyset-paginated (writing lives in store.audit)."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def search_audit(
    db: sqlite_utils.Database,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Entries matching every given filter: exact actor, action or action prefix ('assignment' matches
    'assignment.create'), time range [since, until) in store format; newest first, ids below before_id."""
    where: list[str] = []
    params: list[Any] = []
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action:
        where.append("(action = ? OR action LIKE ? ESCAPE '\\')")
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.extend([action, escaped + ".%"])
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at < ?")
        params.append(until)
    if before_id is not None:
        where.append("id < ?")
        params.append(int(before_id))
    sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(int(limit))
    return list(db.query(sql, params))


def audit_actions(db: sqlite_utils.Database) -> list[str]:
    """Distinct action names, for the filter list."""
    return [row["action"] for row in db.query("SELECT DISTINCT action FROM audit_log ORDER BY action")]


def audit_actors(db: sqlite_utils.Database) -> list[str]:
    """Distinct actors, for the filter list."""
    return [row["actor"] for row in db.query("SELECT DISTINCT actor FROM audit_log ORDER BY actor LIMIT 500")]
