"""SQL for intake: analysts' submissions, the `submission` source row, OCR text read from item images."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from classifiers.text import fold
from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import query_one, utcnow, write
from monitor.store.schema import run_script

SUBMISSION_SOURCE = "submissions"  # the one sources row every submitted item hangs from (never collected)
SUBMISSION_KIND = "submission"


# Analysts' submissions, and the text read from an image of an item (a screenshot, a post's attachment),
# kept beside the item's own text. monitor.store.pg_schema maps the same text to PostgreSQL's types.
SUBMISSIONS_SQL = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    kind TEXT NOT NULL CHECK (kind IN ('url', 'text', 'image')),
    user_id INTEGER REFERENCES users(id),
    submitted_by TEXT NOT NULL,
    note TEXT,
    url TEXT,
    sha256 TEXT,
    created_item INTEGER NOT NULL DEFAULT 1,
    submitted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_item ON submissions(item_id);
CREATE INDEX IF NOT EXISTS submissions_at ON submissions(submitted_at);
CREATE TABLE IF NOT EXISTS item_ocr (
    item_id INTEGER NOT NULL REFERENCES items(id),
    sha256 TEXT NOT NULL REFERENCES evidence_blobs(sha256),
    text TEXT NOT NULL,
    lang TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    created_at TEXT NOT NULL,
    PRIMARY KEY (item_id, sha256)
);
"""


def _tables(db: sqlite_utils.Database) -> None:
    run_script(db, SUBMISSIONS_SQL)


MIGRATIONS = [
    ("submissions_0001_tables", _tables),
]


def submission_source_id(db: sqlite_utils.Database) -> int:
    """Id of the `submissions` source row (created disabled on first use: it is never collected)."""
    with write(db):
        row = db.execute("SELECT id FROM sources WHERE name = ?", [SUBMISSION_SOURCE]).fetchone()
        if row:
            return int(row[0])
        now = utcnow()
        cur = db.execute(
            "INSERT INTO sources (name, kind, url, enabled, config_json, created_at, updated_at)"
            " VALUES (?, ?, ?, 0, '{}', ?, ?)",
            [SUBMISSION_SOURCE, SUBMISSION_KIND, "submission:", now, now],
        )
        return int(cur.lastrowid or 0)


def add_submission(
    db: sqlite_utils.Database,
    *,
    item_id: int,
    kind: str,
    user_id: int | None,
    submitted_by: str,
    note: str | None,
    url: str | None,
    sha256: str | None,
    created_item: bool,
) -> int:
    """Record who submitted what, and when. Returns the submission id."""
    with write(db):
        cur = db.execute(
            "INSERT INTO submissions (item_id, kind, user_id, submitted_by, note, url, sha256, created_item,"
            " submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [item_id, kind, user_id, submitted_by, note, url, sha256, int(created_item), utcnow()],
        )
        return int(cur.lastrowid or 0)


def submissions_for(db: sqlite_utils.Database, item_id: int) -> list[dict[str, Any]]:
    """Submissions of an item, oldest first."""
    return list(db.query("SELECT * FROM submissions WHERE item_id = ? ORDER BY submitted_at, id", [item_id]))


def add_ocr(
    db: sqlite_utils.Database,
    item_id: int,
    sha256: str,
    text: str,
    *,
    lang: str,
    content_type: str,
    width: int | None,
    height: int | None,
) -> bool:
    """Keep the text read from one image of an item and make it searchable. False when already there."""
    with write(db):
        cur = db.execute(
            "INSERT OR IGNORE INTO item_ocr (item_id, sha256, text, lang, content_type, width, height,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [item_id, sha256, text, lang, content_type, width, height, utcnow()],
        )
        if not cur.rowcount or not text.strip():
            return bool(cur.rowcount)
        row = db.execute("SELECT text FROM items_fts WHERE rowid = ?", [item_id]).fetchone()
        if row is not None and fold(text) not in str(row[0] or ""):
            db.execute(
                "UPDATE items_fts SET text = ? WHERE rowid = ?", [f"{row[0] or ''}\n{fold(text)}", item_id]
            )
        # Scores were computed without this text: let classify see the item again.
        db.execute("DELETE FROM item_scores WHERE item_id = ?", [item_id])
    return True


def ocr_for(db: sqlite_utils.Database, item_id: int) -> list[dict[str, Any]]:
    """Images of an item with the text read from them (no bytes), oldest first."""
    return list(
        db.query(
            "SELECT o.*, b.size FROM item_ocr o JOIN evidence_blobs b USING (sha256)"
            " WHERE o.item_id = ? ORDER BY o.created_at, o.sha256",
            [item_id],
        )
    )


def item_image(db: sqlite_utils.Database, item_id: int, sha256: str) -> dict[str, Any] | None:
    """content_type of an image of an item (None when the item has no such image)."""
    return query_one(
        db, "SELECT content_type, sha256 FROM item_ocr WHERE item_id = ? AND sha256 = ?", [item_id, sha256]
    )


def approved_suggestions(db: sqlite_utils.Database, item_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The matcher's suggestions of approved rebuttals for an item: rebuttal_id, key, title, score, best first."""
    return list(
        db.query(
            "SELECT s.rebuttal_id, r.key, r.title, r.short_answer, s.score, s.claim FROM suggestions s"
            " JOIN rebuttals r ON r.id = s.rebuttal_id WHERE s.item_id = ? AND r.status = 'approved'"
            " ORDER BY s.rank, s.score DESC LIMIT ?",
            [item_id, limit],
        )
    )


def latest_score(db: sqlite_utils.Database, item_id: int) -> dict[str, Any] | None:
    """The newest relevance/risk of an item and whether it is flagged."""
    if dialect(db) == POSTGRESQL:
        # No rowid: a tie within one second goes to the row last written (its ctid, the physical position).
        return query_one(
            db,
            "SELECT s.relevance, s.risk, s.model_version, (SELECT COUNT(*) FROM flags f WHERE f.item_id = s.item_id)"
            " AS flagged FROM item_scores s WHERE s.item_id = ? ORDER BY s.scored_at DESC, s.ctid DESC LIMIT 1",
            [item_id],
        )
    return query_one(
        db,
        "SELECT s.relevance, s.risk, s.model_version, (SELECT COUNT(*) FROM flags f WHERE f.item_id = s.item_id)"
        " AS flagged FROM item_scores s WHERE s.item_id = ? ORDER BY s.scored_at DESC, s.rowid DESC LIMIT 1",
        [item_id],
    )


def flagged_representative(db: sqlite_utils.Database, item_id: int) -> int | None:
    """The id of the item's near-duplicate cluster representative when that one is in the review queue
    (whatever its state) and is not the item itself; None otherwise."""
    row = db.execute(
        "SELECT i.cluster_id FROM items i JOIN flags f ON f.item_id = i.cluster_id"
        " WHERE i.id = ? AND i.cluster_id != i.id",
        [item_id],
    ).fetchone()
    return None if row is None else int(row[0])


def item_text(db: sqlite_utils.Database, item_id: int) -> str:
    """An item's text with the text read from its images (as classification and matching see it)."""
    row = db.execute(
        "SELECT i.text, (SELECT string_agg(o.text, chr(10)) FROM item_ocr o WHERE o.item_id = i.id"
        " AND o.text != i.text) FROM items i WHERE i.id = ?"
        if dialect(db) == POSTGRESQL
        else "SELECT i.text, (SELECT group_concat(o.text, char(10)) FROM item_ocr o WHERE o.item_id = i.id"
        " AND o.text != i.text) FROM items i WHERE i.id = ?",
        [item_id],
    ).fetchone()
    if row is None:
        return ""
    return "\n".join(part for part in (row[0], row[1]) if part)
