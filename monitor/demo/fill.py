"""Figures the offline demo checks: what each pipeline stage left in the database."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.store.db import scalar


def _count(db: sqlite_utils.Database, sql: str, params: list[Any] | None = None) -> int:
    try:
        value = scalar(db, sql, params or [])
    except Exception:  # noqa: BLE001 - a table a feature adds may be missing when that feature is absent
        return 0
    return int(value) if isinstance(value, int | float | str) else 0


def demo_figures(db: sqlite_utils.Database) -> dict[str, Any]:
    """Counts for `misinfo demo --check`: items, sources, flags, suggestions, digests, robots violations."""
    per_source = {
        str(name): int(n)
        for name, n in db.execute(
            "SELECT s.name, COUNT(i.id) FROM sources s LEFT JOIN items i ON i.source_id = s.id"
            " WHERE s.enabled = 1 GROUP BY s.id ORDER BY s.name"
        ).fetchall()
    }
    source_errors = {
        str(name): str(err)
        for name, err in db.execute(
            "SELECT name, last_error FROM sources WHERE enabled = 1 AND last_error IS NOT NULL"
        ).fetchall()
    }
    return {
        "items": _count(db, "SELECT COUNT(*) FROM items"),
        "sightings": _count(db, "SELECT COUNT(*) FROM item_sightings"),
        "per_source": per_source,
        "source_errors": source_errors,
        "scored": _count(db, "SELECT COUNT(DISTINCT item_id) FROM item_scores"),
        "flagged": _count(db, "SELECT COUNT(*) FROM flags"),
        "flagged_with_suggestions": _count(
            db,
            "SELECT COUNT(*) FROM flags f WHERE EXISTS (SELECT 1 FROM suggestions s WHERE s.item_id = f.item_id)",
        ),
        "suggestions": _count(db, "SELECT COUNT(*) FROM suggestions"),
        "rebuttals_approved": _count(db, "SELECT COUNT(*) FROM rebuttals WHERE status = 'approved'"),
        "users": _count(db, "SELECT COUNT(*) FROM users"),
        "digests_sent": _count(
            db, "SELECT COUNT(*) FROM digests_sent WHERE kind = 'digest' AND status = 'sent'"
        ),
        "robots_violations": _count(db, "SELECT COUNT(*) FROM items WHERE url LIKE '%/press/noi-bo/%'"),
        "unanswered_groups": _count(
            db,
            "SELECT COUNT(*) FROM claim_groups g WHERE g.status = 'open'"
            " AND (SELECT COUNT(*) FROM claim_group_items m WHERE m.group_id = g.id) >= 2",
        ),
    }


def first_flagged_with_suggestion(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The riskiest open flagged item that has a suggestion (the browser walk links it)."""
    row = db.execute(
        "SELECT f.item_id, i.title, s.rebuttal_id, r.title FROM flags f JOIN items i ON i.id = f.item_id"
        " JOIN suggestions s ON s.item_id = f.item_id AND s.rank = (SELECT MIN(rank) FROM suggestions x"
        " WHERE x.item_id = f.item_id) JOIN rebuttals r ON r.id = s.rebuttal_id"
        " WHERE f.state IN ('new', 'in_review') AND r.status = 'approved'"
        " ORDER BY f.risk DESC, f.id LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return {
        "item_id": int(row[0]),
        "title": str(row[1]),
        "rebuttal_id": int(row[2]),
        "rebuttal_title": str(row[3]),
    }


def hostile_item_ids(db: sqlite_utils.Database) -> list[int]:
    """Items whose stored title or text carries a script payload from the samples (they must stay inert)."""
    rows = db.execute(
        "SELECT id FROM items WHERE title LIKE '%<script%' OR title LIKE '%onerror=%'"
        " OR text LIKE '%<script%' OR text LIKE '%onerror=%' OR text LIKE '%javascript:%'"
        " OR html LIKE '%<script%' OR html LIKE '%onerror=%' OR html LIKE '%javascript:%' ORDER BY id"
    ).fetchall()
    return [int(r[0]) for r in rows]
