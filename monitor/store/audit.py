"""The append-only audit log (the database refuses UPDATE and DELETE on it)."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from monitor.store.db import utcnow


def record(
    db: sqlite_utils.Database,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: object = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry. Call inside the same write() transaction as the action it records."""
    db.execute(
        "INSERT INTO audit_log (at, actor, action, object_type, object_id, detail_json) VALUES (?, ?, ?, ?, ?, ?)",
        [
            utcnow(),
            actor,
            action,
            object_type,
            None if object_id is None else str(object_id),
            json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ],
    )


def entries(
    db: sqlite_utils.Database, limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest entries first, keyset-paginated by id."""
    if before_id is None:
        return list(db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
    return list(db.query("SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", [before_id, limit]))
