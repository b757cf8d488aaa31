"""SQL for the rebuttal library: rebuttals, the claims they refute, versions, narratives, suggestions.

The workflow rules (validation, who may write or approve, what an edit does to the status) live in
monitor.review.library, which calls the functions here with validated values inside one transaction.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlite_utils

from classifiers.text import fold
from monitor.store.backend import POSTGRESQL, PgDatabase, dialect, redact
from monitor.store.db import query_one, utcnow, write
from monitor.store.items import fts_query


def _match_state(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS match_state (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            library_version TEXT NOT NULL,
            computed_at TEXT NOT NULL
        )
        """
    )


# match_state remembers which library version each item was matched against, so an item whose
# suggestions came out empty is not recomputed on every run.
MIGRATIONS = [("rebuttals_0001_match_state", _match_state)]


def database_key(db: sqlite_utils.Database) -> str:
    """What names this database in the matcher's cache: the SQLite file, or the PostgreSQL URL (its
    search_path included; password left out)."""
    if isinstance(db, PgDatabase):
        return redact(db.url)
    row = db.execute("PRAGMA database_list").fetchone()
    return str(row[2] if row and row[2] else id(db))


def approved_claims(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every claim refuted by an approved rebuttal: claim_id, rebuttal_id, text, language, title, narrative_id."""
    return list(
        db.query(
            """
            SELECT c.id AS claim_id, c.rebuttal_id, c.text, COALESCE(c.language, r.language) AS language,
                   r.title, n.id AS narrative_id
            FROM rebuttal_claims c
            JOIN rebuttals r ON r.id = c.rebuttal_id
            LEFT JOIN narratives n ON n.rebuttal_id = r.id
            WHERE r.status = 'approved'
            ORDER BY c.id
            """
        )
    )


def _claims_of(db: sqlite_utils.Database, rebuttal_id: int) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT id, text, language FROM rebuttal_claims WHERE rebuttal_id = ? ORDER BY id", [rebuttal_id]
        )
    )


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("evidence", "media", "channels"):
        out[name] = json.loads(out.pop(f"{name}_json") or "[]")
    return out


def index_rebuttal(db: sqlite_utils.Database, rebuttal_id: int) -> None:
    """Refresh the folded full-text row (accents optional in searches)."""
    r = query_one(db, "SELECT title, short_answer, body FROM rebuttals WHERE id = ?", [rebuttal_id])
    if r is None:
        return
    claims = " \n".join(c["text"] for c in _claims_of(db, rebuttal_id))
    db.execute("DELETE FROM rebuttals_fts WHERE rowid = ?", [rebuttal_id])
    db.execute(
        "INSERT INTO rebuttals_fts (rowid, title, body, claims) VALUES (?, ?, ?, ?)",
        [rebuttal_id, fold(str(r["title"])), fold(f"{r['short_answer']}\n{r['body']}"), fold(claims)],
    )


def set_claims(db: sqlite_utils.Database, rebuttal_id: int, claims: list[tuple[str, str]]) -> None:
    """Make the claims (text, language) those of the rebuttal, keeping the ids of unchanged texts
    (suggestions and caches point at them); drop the rest."""
    texts = [text for text, _ in claims]
    existing = {c["text"]: c["id"] for c in _claims_of(db, rebuttal_id)}
    for text, cid in existing.items():
        if text not in texts:
            db.execute("UPDATE suggestions SET claim_id = NULL WHERE claim_id = ?", [cid])
            db.execute("DELETE FROM rebuttal_claims WHERE id = ?", [cid])
    for text, language in claims:
        if text not in existing:
            db.execute(
                "INSERT INTO rebuttal_claims (rebuttal_id, text, language) VALUES (?, ?, ?)",
                [rebuttal_id, text, language],
            )


def record_version(
    db: sqlite_utils.Database,
    rebuttal_id: int,
    version: int,
    snapshot: dict[str, Any],
    changes: str,
    user_id: object,
) -> None:
    """A rebuttal_versions row: the full record at `version`, what changed, who and when."""
    db.execute(
        "INSERT INTO rebuttal_versions (rebuttal_id, version, snapshot_json, changes, changed_by, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            rebuttal_id,
            version,
            json.dumps(snapshot, ensure_ascii=False, sort_keys=True),
            changes,
            user_id,
            utcnow(),
        ],
    )


def id_for_key(db: sqlite_utils.Database, key: str, other_than: int | None = None) -> int | None:
    """The id of the rebuttal with this key (other than `other_than`), or None."""
    # PostgreSQL spells SQLite's null-safe `IS NOT` as IS DISTINCT FROM.
    sql = (
        "SELECT id FROM rebuttals WHERE key = ? AND id IS DISTINCT FROM ?"
        if dialect(db) == POSTGRESQL
        else "SELECT id FROM rebuttals WHERE key = ? AND id IS NOT ?"
    )
    row = query_one(db, sql, [key, other_than])
    return int(str(row["id"])) if row else None


def insert_rebuttal(db: sqlite_utils.Database, f: dict[str, Any], user_id: object) -> int:
    """Insert a validated draft (version 1) without its claims; returns its id."""
    now = utcnow()
    cur = db.execute(
        "INSERT INTO rebuttals (key, title, short_answer, body, language, verdict, url, author, date_published,"
        " evidence_json, media_json, channels_json, status, version, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', 1, ?, ?, ?)",
        [
            f.get("key") or None,
            f["title"],
            f.get("short_answer") or "",
            f.get("body") or "",
            f["language"],
            f.get("verdict"),
            f.get("url"),
            f.get("author"),
            f.get("date_published"),
            json.dumps(f.get("evidence", []), ensure_ascii=False),
            json.dumps(f.get("media", []), ensure_ascii=False),
            json.dumps(f.get("channels", []), ensure_ascii=False),
            user_id,
            now,
            now,
        ],
    )
    return int(cur.lastrowid or 0)


LIST_COLUMNS = ("evidence", "media", "channels")  # stored as <name>_json


def update_rebuttal_row(db: sqlite_utils.Database, rebuttal_id: int, values: dict[str, Any]) -> None:
    """Set validated columns (list fields given by name are stored as JSON; names come from the review
    layer, never from users)."""
    sets: dict[str, Any] = {}
    for name, value in values.items():
        if name in LIST_COLUMNS:
            sets[f"{name}_json"] = json.dumps(value, ensure_ascii=False)
        else:
            sets[name] = value
    db.execute(
        f"UPDATE rebuttals SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",  # noqa: S608 - names are ours
        [*sets.values(), rebuttal_id],
    )


def ensure_narrative(db: sqlite_utils.Database, rebuttal_id: int, name: str, now: str) -> None:
    """The rebuttal's narrative, created (named after it) when missing."""
    db.execute(
        "INSERT OR IGNORE INTO narratives (name, description, rebuttal_id, created_at) VALUES (?, ?, ?, ?)",
        [name, None, rebuttal_id, now],
    )


def get_rebuttal(db: sqlite_utils.Database, rebuttal_id: int) -> dict[str, Any] | None:
    """All fields; evidence/media/channels as lists; claims as [{id, text, language}]."""
    row = query_one(db, "SELECT * FROM rebuttals WHERE id = ?", [rebuttal_id])
    if row is None:
        return None
    out = _decode(row)
    out["claims"] = _claims_of(db, rebuttal_id)
    return out


def rebuttal_keys(db: sqlite_utils.Database) -> dict[int, str]:
    """Every rebuttal's key by id (rebuttals without a key are left out)."""
    return {int(r[0]): str(r[1]) for r in db.execute("SELECT id, key FROM rebuttals WHERE key IS NOT NULL")}


def get_rebuttal_by_key(db: sqlite_utils.Database, key: str) -> dict[str, Any] | None:
    """The rebuttal with this key, or None."""
    row = query_one(db, "SELECT id FROM rebuttals WHERE key = ?", [key])
    return get_rebuttal(db, int(row["id"])) if row else None  # type: ignore[call-overload]


def _fts_query(text: str) -> str | None:
    """The FTS5 query for a typed search, bounded like items' (monitor.store.items.fts_query)."""
    return fts_query(text)


def list_rebuttals(
    db: sqlite_utils.Database,
    status: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rebuttals (newest change first, or best match for `q`), each with its claim texts."""
    where, params, join, order = [], [], "", "r.updated_at DESC, r.id DESC"
    if status:
        where.append("r.status = ?")
        params.append(status)
    if q and q.strip():
        fq = _fts_query(q)
        if fq is None:
            return []
        if dialect(db) == POSTGRESQL:
            # tsvector over the same folded text (pg_schema.rebuttals_fts); best rank first, as FTS5's rank.
            join = "JOIN rebuttals_fts ON rebuttals_fts.rowid = r.id CROSS JOIN fts_query(?) AS fq"
            params.insert(0, fq)  # the join's placeholder comes before the WHERE's
            where.append("rebuttals_fts.tsv @@ fq")
            order = "ts_rank(rebuttals_fts.tsv, fq) DESC, r.id"
        else:
            join = "JOIN rebuttals_fts ON rebuttals_fts.rowid = r.id"
            where.append("rebuttals_fts MATCH ?")
            params.append(fq)
            order = "rebuttals_fts.rank, r.id"
    sql = (
        f"SELECT r.id, r.key, r.title, r.short_answer, r.status, r.language, r.version, r.updated_at"
        f" FROM rebuttals r {join} {'WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY {order} LIMIT ? OFFSET ?"
    )
    rows = list(db.query(sql, [*params, limit, offset]))
    for row in rows:
        row["claims"] = [c["text"] for c in _claims_of(db, int(row["id"]))]
    return rows


def rebuttal_versions(db: sqlite_utils.Database, rebuttal_id: int) -> list[dict[str, Any]]:
    """Version history, newest first: version, changes, changed_by (username), changed_at, snapshot."""
    rows = list(
        db.query(
            "SELECT v.version, v.changes, v.changed_at, v.snapshot_json, u.username AS changed_by"
            " FROM rebuttal_versions v LEFT JOIN users u ON u.id = v.changed_by"
            " WHERE v.rebuttal_id = ? ORDER BY v.version DESC",
            [rebuttal_id],
        )
    )
    for row in rows:
        row["snapshot"] = json.loads(row.pop("snapshot_json") or "{}")
    return rows


# --- suggestions -------------------------------------------------------------------------------------


def library_version(db: sqlite_utils.Database) -> str:
    """Changes whenever the approved set or any approved rebuttal's content changes (ids + versions)."""
    rows = db.execute("SELECT id, version FROM rebuttals WHERE status = 'approved' ORDER BY id").fetchall()
    basis = ";".join(f"{r[0]}:{r[1]}" for r in rows)
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def suggestions_for(db: sqlite_utils.Database, item_id: int) -> list[dict[str, Any]]:
    """Suggested APPROVED rebuttals for an item, best first: rebuttal_id, title, short_answer, score, claim, rank."""
    return list(
        db.query(
            "SELECT s.rebuttal_id, r.title, r.short_answer, s.score, s.claim, s.claim_id, s.rank"
            " FROM suggestions s JOIN rebuttals r ON r.id = s.rebuttal_id"
            " WHERE s.item_id = ? AND r.status = 'approved' ORDER BY s.rank, s.score DESC",
            [item_id],
        )
    )


def replace_suggestions(
    db: sqlite_utils.Database, item_id: int, rows: list[dict[str, Any]], library_version: str
) -> None:
    """Store an item's suggestions (rows in rank order: rebuttal_id, claim_id, score, claim)."""
    now = utcnow()
    with write(db):
        db.execute("DELETE FROM suggestions WHERE item_id = ?", [item_id])
        for rank, row in enumerate(rows, 1):
            db.execute(
                "INSERT OR IGNORE INTO suggestions (item_id, rebuttal_id, claim_id, rank, score, claim,"
                " library_version, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    item_id,
                    row["rebuttal_id"],
                    row.get("claim_id"),
                    rank,
                    float(row["score"]),
                    row.get("claim"),
                    library_version,
                    now,
                ],
            )
        db.execute(
            "INSERT INTO match_state (item_id, library_version, computed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (item_id) DO UPDATE SET library_version = excluded.library_version,"
            " computed_at = excluded.computed_at"
            if dialect(db) == POSTGRESQL
            else "INSERT OR REPLACE INTO match_state (item_id, library_version, computed_at) VALUES (?, ?, ?)",
            [item_id, library_version, now],
        )


def stale_flagged_items(db: sqlite_utils.Database) -> list[int]:
    """Flagged (not dismissed) items not yet matched against the current library version."""
    current = library_version(db)
    rows = db.execute(
        "SELECT f.item_id FROM flags f LEFT JOIN match_state m ON m.item_id = f.item_id"
        " WHERE f.state != 'dismissed' AND (m.library_version IS NULL OR m.library_version != ?)"
        " ORDER BY f.item_id",
        [current],
    ).fetchall()
    return [int(r[0]) for r in rows]


def item_texts(db: sqlite_utils.Database, item_ids: list[int]) -> dict[int, str]:
    """Title and text of items, joined, for matching (with text read from their images, item_ocr)."""
    out: dict[int, str] = {}
    ocr_text = (
        "string_agg(o.text, chr(10))" if dialect(db) == POSTGRESQL else "group_concat(o.text, char(10))"
    )
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for iid, title, text, ocr in db.execute(
            f"SELECT i.id, i.title, i.text, (SELECT {ocr_text} FROM item_ocr o"
            f" WHERE o.item_id = i.id AND o.text != i.text) FROM items i WHERE i.id IN ({marks})",
            chunk,  # noqa: S608 - placeholders only
        ).fetchall():
            out[int(iid)] = f"{title or ''}\n{text or ''}\n{ocr or ''}".strip()
    return out


def link_training_pairs(db: sqlite_utils.Database, limit: int = 20_000) -> list[dict[str, Any]]:
    """Analysts' decisions as matcher training data: linked items (text, rebuttal_id) and items dismissed
    as accurate/off-topic (text, rebuttal_id None: no rebuttal applies), newest first."""
    linked = list(
        db.query(
            "SELECT i.id AS item_id, i.title, i.text, l.rebuttal_id FROM links l JOIN items i ON i.id = l.item_id"
            " ORDER BY l.id DESC LIMIT ?",
            [limit],
        )
    )
    dismissed = list(
        db.query(
            "SELECT i.id AS item_id, i.title, i.text, NULL AS rebuttal_id FROM flags f JOIN items i ON i.id = f.item_id"
            " WHERE f.state = 'dismissed' AND f.dismiss_reason IN ('accurate', 'off_topic')"
            " AND NOT EXISTS (SELECT 1 FROM links l WHERE l.item_id = f.item_id) ORDER BY f.id DESC LIMIT ?",
            [limit],
        )
    )
    return [{**r, "text": f"{r['title'] or ''}\n{r['text'] or ''}".strip()} for r in linked + dismissed]


def flagged_item_ids(db: sqlite_utils.Database) -> list[int]:
    """Every flagged, not dismissed item (to recompute all suggestions, e.g. after re-training)."""
    return [
        int(r[0]) for r in db.execute("SELECT item_id FROM flags WHERE state != 'dismissed' ORDER BY item_id")
    ]
