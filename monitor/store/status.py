"""Counts for `misinfo status` and the dashboard."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.store.db import scalar
from monitor.store.sources import source_health

FLAG_STATES = ("new", "in_review", "linked", "dismissed", "escalated")
REBUTTAL_STATUSES = ("draft", "approved", "retired")
ASSIGNMENT_STATUSES = ("assigned", "in_progress", "published", "cancelled")


def _by(db: sqlite_utils.Database, table: str, column: str, keys: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    for value, n in db.execute(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}").fetchall():
        counts[value] = n
    return counts


def status(db: sqlite_utils.Database) -> dict[str, Any]:
    """Everything `misinfo status --json` prints."""
    meta = {k: v for k, v in db.execute("SELECT key, value FROM meta").fetchall()}
    return {
        "items": int(scalar(db, "SELECT COUNT(*) FROM items") or 0),
        "flagged": _by(db, "flags", "state", FLAG_STATES),
        "rebuttals": _by(db, "rebuttals", "status", REBUTTAL_STATUSES),
        "assignments": _by(db, "assignments", "status", ASSIGNMENT_STATUSES),
        "users": int(scalar(db, "SELECT COUNT(*) FROM users WHERE disabled = 0") or 0),
        "sources": source_health(db),
        "model": {
            "configured": meta.get("model.configured"),
            "loaded": meta.get("model.loaded"),
            "fallback_reason": meta.get("model.fallback_reason"),
            "classifier_version": meta.get("classifier.version"),
        },
    }


def set_meta(db: sqlite_utils.Database, key: str, value: str | None) -> None:
    """Set a key in the meta table (caller provides the transaction or autocommit applies)."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def get_meta(db: sqlite_utils.Database, key: str) -> str | None:
    """Read a key from the meta table."""
    value = scalar(db, "SELECT value FROM meta WHERE key = ?", [key])
    return None if value is None else str(value)
