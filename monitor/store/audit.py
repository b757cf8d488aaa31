"""The append-only audit log (the database refuses UPDATE and DELETE on it)."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from monitor.store.db import utcnow

# Bounds on every field: the log is append-only, so nothing written to it can be taken back.
MAX_ACTOR = 150
MAX_ACTION = 100
MAX_DETAIL_TEXT = 10_000


def _bounded(value: Any) -> Any:
    """Detail values with long strings cut (recursively); other values as they are."""
    if isinstance(value, str):
        return value if len(value) <= MAX_DETAIL_TEXT else value[:MAX_DETAIL_TEXT] + "…"
    if isinstance(value, dict):
        return {str(k)[:MAX_ACTION]: _bounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value]
    return value


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
            actor[:MAX_ACTOR],
            action[:MAX_ACTION],
            object_type,
            None if object_id is None else str(object_id)[:MAX_ACTOR],
            json.dumps(_bounded(detail or {}), ensure_ascii=False, sort_keys=True),
        ],
    )


def entries(
    db: sqlite_utils.Database, limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest entries first, keyset-paginated by id."""
    if before_id is None:
        return list(db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
    return list(db.query("SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", [before_id, limit]))
