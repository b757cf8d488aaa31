"""Classifier storage: item scores, new flags, the model registry, analysts' decisions for training."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from monitor.store.audit import record
from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import scalar, utcnow, write
from monitor.store.status import get_meta, set_meta

# An item's text as the classifier sees it: title and body (the title often carries the claim).
# Text read from the item's images (item_ocr, store/submissions.py) follows, unless it is the item's own text.
_ITEM_TEXT = (
    "TRIM(COALESCE(i.title, '') || char(10) || COALESCE(i.text, '') || COALESCE((SELECT char(10) ||"
    " group_concat(o.text, char(10)) FROM item_ocr o WHERE o.item_id = i.id AND o.text != i.text), ''))"
)
# The same on PostgreSQL: chr() and string_agg() for char() and group_concat().
_ITEM_TEXT_PG = (
    "TRIM(COALESCE(i.title, '') || chr(10) || COALESCE(i.text, '') || COALESCE((SELECT chr(10) ||"
    " string_agg(o.text, chr(10)) FROM item_ocr o WHERE o.item_id = i.id AND o.text != i.text), ''))"
)


def _item_text(db: sqlite_utils.Database) -> str:
    return _ITEM_TEXT_PG if dialect(db) == POSTGRESQL else _ITEM_TEXT


@dataclass
class ScoreRow:
    """One item's scores under one model version; `flag` asks for a queue entry."""

    item_id: int
    model_id: str
    model_version: str
    relevance: float
    risk: float
    reasons: dict[str, Any]
    flag: bool = False
    narrative_id: int | None = None


def unscored_items(
    db: sqlite_utils.Database, model_version: str, after_id: int = 0, limit: int = 256
) -> list[dict[str, Any]]:
    """Items with no score under `model_version`, by id after `after_id` (keyset pagination)."""
    return list(
        db.query(
            f"""
            SELECT i.id, {_item_text(db)} AS text, i.lang, i.cluster_id
            FROM items i
            WHERE i.id > ? AND NOT EXISTS (
                SELECT 1 FROM item_scores s WHERE s.item_id = i.id AND s.model_version = ?)
            ORDER BY i.id
            LIMIT ?
            """,
            [after_id, model_version, limit],
        )
    )


def count_unscored(db: sqlite_utils.Database, model_version: str) -> int:
    """How many items have no score under `model_version`."""
    return int(
        scalar(
            db,
            "SELECT COUNT(*) FROM items i WHERE NOT EXISTS "
            "(SELECT 1 FROM item_scores s WHERE s.item_id = i.id AND s.model_version = ?)",
            [model_version],
        )
        or 0
    )


def recent_unflagged_items(
    db: sqlite_utils.Database, days: int, after_id: int = 0, limit: int = 256
) -> list[dict[str, Any]]:
    """Items fetched in the last `days` days that are not in the queue (keyset pagination by id)."""
    if dialect(db) == POSTGRESQL:
        # The cut-off as SQLite's strftime writes it (UTC, seconds, no offset), compared as text alike.
        since = (datetime.now(UTC) - timedelta(days=int(days))).strftime("%Y-%m-%dT%H:%M:%S")
        return list(
            db.query(
                f"""
                SELECT i.id, {_ITEM_TEXT_PG} AS text, i.lang, i.cluster_id
                FROM items i
                WHERE i.id > ? AND i.fetched_at >= ?
                  AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.item_id = i.id)
                ORDER BY i.id
                LIMIT ?
                """,
                [after_id, since, limit],
            )
        )
    return list(
        db.query(
            f"""
            SELECT i.id, {_ITEM_TEXT} AS text, i.lang, i.cluster_id
            FROM items i
            WHERE i.id > ? AND i.fetched_at >= strftime('%Y-%m-%dT%H:%M:%S', 'now', ?)
              AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.item_id = i.id)
            ORDER BY i.id
            LIMIT ?
            """,
            [after_id, f"-{int(days)} days", limit],
        )
    )


_LIBRARY_SCAN = "classify.library_scanned"


def get_library_scan(db: sqlite_utils.Database) -> str | None:
    """The approved-library version recent items were last re-checked against."""
    return get_meta(db, _LIBRARY_SCAN)


def set_library_scan(db: sqlite_utils.Database, version: str) -> None:
    """Remember that recent items were re-checked against this library version."""
    with write(db):
        set_meta(db, _LIBRARY_SCAN, version)


_SCORE_UPSERT = (
    "INSERT OR REPLACE INTO item_scores"
    " (item_id, model_id, model_version, relevance, risk, reasons_json, scored_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SCORE_UPSERT_PG = (
    "INSERT INTO item_scores (item_id, model_id, model_version, relevance, risk, reasons_json, scored_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, model_version) DO UPDATE SET"
    " model_id = excluded.model_id, relevance = excluded.relevance, risk = excluded.risk,"
    " reasons_json = excluded.reasons_json, scored_at = excluded.scored_at"
)


def save_scores(db: sqlite_utils.Database, rows: list[ScoreRow]) -> int:
    """Store scores; insert a new flag for rows asking for one. Returns how many flags were created.

    Only a cluster representative (cluster_id = id, or no cluster yet) is flagged, and an item already
    in the queue is never flagged again, whatever its state.
    """
    now = utcnow()
    created = 0
    upsert = _SCORE_UPSERT_PG if dialect(db) == POSTGRESQL else _SCORE_UPSERT
    with write(db):
        for r in rows:
            reasons = json.dumps(r.reasons, ensure_ascii=False, sort_keys=True)
            db.execute(
                upsert,
                [r.item_id, r.model_id, r.model_version, r.relevance, r.risk, reasons, now],
            )
            if not r.flag:
                continue
            cur = db.execute(
                """
                INSERT INTO flags (item_id, state, relevance, risk, reasons_json, model_version, narrative_id,
                                   flagged_at, updated_at)
                SELECT i.id, 'new', ?, ?, ?, ?, ?, ?, ?
                FROM items i
                WHERE i.id = ? AND (i.cluster_id IS NULL OR i.cluster_id = i.id)
                ON CONFLICT(item_id) DO NOTHING
                """,
                [r.relevance, r.risk, reasons, r.model_version, r.narrative_id, now, now, r.item_id],
            )
            created += max(cur.rowcount, 0)
    return created


def flag_for(db: sqlite_utils.Database, item_id: int) -> dict[str, Any] | None:
    """The queue entry of an item, reasons decoded."""
    for row in db.query("SELECT * FROM flags WHERE item_id = ?", [item_id]):
        row["reasons"] = json.loads(row.pop("reasons_json") or "{}")
        return row
    return None


def scores_for(db: sqlite_utils.Database, item_id: int) -> list[dict[str, Any]]:
    """All scores of an item, newest first, reasons decoded."""
    out = []
    for row in db.query("SELECT * FROM item_scores WHERE item_id = ? ORDER BY scored_at DESC", [item_id]):
        row["reasons"] = json.loads(row.pop("reasons_json") or "{}")
        out.append(row)
    return out


# --- decisions ----------------------------------------------------------------------------------------


def training_decisions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Analysts' decisions usable as labels: item id, text, flag state, dismiss reason."""
    return list(
        db.query(
            f"""
            SELECT i.id AS item_id, {_item_text(db)} AS text, i.lang, f.state, f.dismiss_reason
            FROM flags f JOIN items i ON i.id = f.item_id
            WHERE f.state IN ('linked', 'escalated')
               OR (f.state = 'dismissed' AND f.dismiss_reason IN ('accurate', 'off_topic'))
            ORDER BY i.id
            """
        )
    )


# --- model registry -----------------------------------------------------------------------------------


def register_model(
    db: sqlite_utils.Database, kind: str, version: str, path: str, card: dict[str, Any], activate: bool
) -> None:
    """Record a trained model; when `activate`, it becomes the only active one of its kind."""
    with write(db):
        db.execute(
            "INSERT INTO models (kind, version, path, card_json, active, created_at) VALUES (?, ?, ?, ?, 0, ?)",
            [kind, version, path, json.dumps(card, ensure_ascii=False, sort_keys=True), utcnow()],
        )
        record(db, "system:train", "model.trained", "model", version, {"kind": kind, "active": activate})
        if activate:
            activate_model(db, kind, version)


def activate_model(db: sqlite_utils.Database, kind: str, version: str) -> None:
    """Make `version` the active model of `kind` (and the version `misinfo status` shows)."""
    with write(db):
        db.execute("UPDATE models SET active = 0 WHERE kind = ? AND version != ?", [kind, version])
        db.execute("UPDATE models SET active = 1 WHERE kind = ? AND version = ?", [kind, version])
        set_meta(db, "classifier.version", version)
        record(db, "system:train", "model.activated", "model", version, {"kind": kind})


def active_model(db: sqlite_utils.Database, kind: str) -> dict[str, Any] | None:
    """The active model row of `kind` (card decoded), or None."""
    for row in db.query(
        "SELECT * FROM models WHERE kind = ? AND active = 1 ORDER BY id DESC LIMIT 1", [kind]
    ):
        row["card"] = json.loads(row.pop("card_json") or "{}")
        return row
    return None


def list_models(db: sqlite_utils.Database, kind: str | None = None) -> list[dict[str, Any]]:
    """Registered models, newest first."""
    sql = "SELECT * FROM models" + (" WHERE kind = ?" if kind else "") + " ORDER BY id DESC"
    out = []
    for row in db.query(sql, [kind] if kind else []):
        row["card"] = json.loads(row.pop("card_json") or "{}")
        out.append(row)
    return out


def update_card(db: sqlite_utils.Database, kind: str, version: str, card: dict[str, Any]) -> None:
    """Replace a model's card (e.g. after evaluation)."""
    with write(db):
        db.execute(
            "UPDATE models SET card_json = ? WHERE kind = ? AND version = ?",
            [json.dumps(card, ensure_ascii=False, sort_keys=True), kind, version],
        )


def record_model_load(
    db: sqlite_utils.Database, configured: str, loaded: str, fallback_reason: str | None
) -> None:
    """What `misinfo status` shows about the encoder: configured, loaded, and why it fell back."""
    with write(db):
        set_meta(db, "model.configured", configured)
        set_meta(db, "model.loaded", loaded)
        set_meta(db, "model.fallback_reason", fallback_reason)
