"""Rebuttal library: rebuttals, the claims they refute, versions, approval, suggestions.

Workflow: create -> draft; approve (approver/admin) -> approved, creating the rebuttal's narrative;
retire (approver/admin) -> retired. Editing an APPROVED rebuttal's content (title, answers, body, claims,
language, evidence, media, channels) returns it to draft: changed wording is not suggested or linked until
it is approved again. Metadata-only edits (author, date_published, url, verdict, key) keep it approved. Every change bumps `version`, keeps a
rebuttal_versions row (who, when, which fields) and an audit entry, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlite_utils

from classifiers.text import fold
from monitor.errors import Conflict, NotFound, PermissionDenied, UsageError
from monitor.store import audit
from monitor.store.db import query_one, utcnow, write
from rebuttals.library import (
    RowError,
    can_approve,
    can_edit,
    changed_fields,
    clean_fields,
    edit_status,
    guess_language,
    next_status,
    snapshot,
)


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


def _check_role(user: dict[str, Any], approve: bool = False) -> None:
    role = str(user.get("role") or "")
    if approve and not can_approve(role):
        raise PermissionDenied(
            f"user '{user.get('username')}' ({role}) cannot approve or retire rebuttals — ask an approver"
        )
    if not approve and not can_edit(role):
        raise PermissionDenied(
            f"user '{user.get('username')}' ({role}) cannot write rebuttals — ask a coordinator"
        )


def _clean(fields: dict[str, Any], partial: bool) -> dict[str, Any]:
    try:
        return clean_fields(fields, partial=partial)
    except RowError as exc:
        raise UsageError(str(exc)) from None


def _index(db: sqlite_utils.Database, rebuttal_id: int) -> None:
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


def _set_claims(db: sqlite_utils.Database, rebuttal_id: int, claims: list[str], language: str) -> None:
    """Keep claim ids of unchanged texts (suggestions and caches point at them); drop the rest."""
    existing = {c["text"]: c["id"] for c in _claims_of(db, rebuttal_id)}
    for text, cid in existing.items():
        if text not in claims:
            db.execute("UPDATE suggestions SET claim_id = NULL WHERE claim_id = ?", [cid])
            db.execute("DELETE FROM rebuttal_claims WHERE id = ?", [cid])
    for text in claims:
        if text not in existing:
            db.execute(
                "INSERT INTO rebuttal_claims (rebuttal_id, text, language) VALUES (?, ?, ?)",
                [rebuttal_id, text, guess_language(text, language)],
            )


def _record_version(
    db: sqlite_utils.Database, rebuttal_id: int, version: int, changes: str, user: dict[str, Any]
) -> None:
    current = get_rebuttal(db, rebuttal_id) or {}
    snap = snapshot({**current, "claims": [c["text"] for c in current.get("claims", [])]})
    snap["status"] = current.get("status")
    db.execute(
        "INSERT INTO rebuttal_versions (rebuttal_id, version, snapshot_json, changes, changed_by, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            rebuttal_id,
            version,
            json.dumps(snap, ensure_ascii=False, sort_keys=True),
            changes,
            user.get("id"),
            utcnow(),
        ],
    )


def create_rebuttal(db: sqlite_utils.Database, fields: dict[str, Any], user: dict[str, Any]) -> int:
    """Create a draft rebuttal with its claims; returns its id. Coordinators, approvers, admins only."""
    _check_role(user)
    f = _clean(fields, partial=False)
    now = utcnow()
    with write(db):
        if f.get("key") and query_one(db, "SELECT id FROM rebuttals WHERE key = ?", [f["key"]]):
            raise Conflict(f"a rebuttal with key '{f['key']}' exists already — edit it or choose another key")
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
                user.get("id"),
                now,
                now,
            ],
        )
        rid = int(cur.lastrowid or 0)
        _set_claims(db, rid, f["claims"], f["language"])
        _index(db, rid)
        _record_version(db, rid, 1, "created", user)
        audit.record(db, str(user.get("username")), "rebuttal.create", "rebuttal", rid, {"title": f["title"]})
    return rid


def update_rebuttal(
    db: sqlite_utils.Database,
    rebuttal_id: int,
    fields: dict[str, Any],
    user: dict[str, Any],
    expected_version: int | None = None,
) -> int:
    """Apply changed fields; returns the new version (unchanged when nothing differs).

    Conflict when `expected_version` is stale. An approved rebuttal goes back to draft.
    """
    _check_role(user)
    f = _clean(fields, partial=True)
    if not f.get("key"):
        f.pop("key", None)  # an empty key in a form means "keep the key", never "erase it"
    with write(db):
        current = get_rebuttal(db, rebuttal_id)
        if current is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist")
        version = int(current["version"])
        if expected_version is not None and expected_version != version:
            raise Conflict(
                f"rebuttal {rebuttal_id} was changed by someone else (now version {version}, you edited "
                f"{expected_version}) — reload it and apply your change again"
            )
        before = snapshot({**current, "claims": [c["text"] for c in current["claims"]]})
        changed = changed_fields(before, f)
        if not changed:
            return version
        if "key" in changed and f.get("key"):
            other = query_one(
                db, "SELECT id FROM rebuttals WHERE key = ? AND id != ?", [f["key"], rebuttal_id]
            )
            if other:
                raise Conflict(f"key '{f['key']}' is used by rebuttal {other['id']} — choose another key")
        status = edit_status(str(current["status"]), changed)
        sets = {name: f[name] for name in changed if name not in ("claims", "evidence", "media", "channels")}
        for name in ("evidence", "media", "channels"):
            if name in changed:
                sets[f"{name}_json"] = json.dumps(f[name], ensure_ascii=False)
        sets.update(status=status, version=version + 1, updated_at=utcnow())
        if status != current["status"]:
            sets.update(approved_by=None, approved_at=None)
        db.execute(
            f"UPDATE rebuttals SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",  # noqa: S608 - names are ours
            [*sets.values(), rebuttal_id],
        )
        if "claims" in changed:
            _set_claims(db, rebuttal_id, f["claims"], str(f.get("language") or current["language"]))
        _index(db, rebuttal_id)
        note = ", ".join(changed) + (
            f"; status {current['status']} -> {status}" if status != current["status"] else ""
        )
        _record_version(db, rebuttal_id, version + 1, note, user)
        audit.record(
            db,
            str(user.get("username")),
            "rebuttal.update",
            "rebuttal",
            rebuttal_id,
            {"changed": changed, "version": version + 1, "status": status},
        )
    return version + 1


def _transition(db: sqlite_utils.Database, rebuttal_id: int, user: dict[str, Any], action: str) -> None:
    _check_role(user, approve=True)
    with write(db):
        current = query_one(
            db, "SELECT id, title, status, version FROM rebuttals WHERE id = ?", [rebuttal_id]
        )
        if current is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist")
        try:
            status = next_status(str(current["status"]), action)
        except RowError as exc:
            raise Conflict(str(exc)) from None
        now = utcnow()
        version = int(current["version"]) + 1  # type: ignore[call-overload]
        if action == "approve":
            db.execute(
                "UPDATE rebuttals SET status = ?, version = ?, approved_by = ?, approved_at = ?, retired_at = NULL,"
                " updated_at = ? WHERE id = ?",
                [status, version, user.get("id"), now, now, rebuttal_id],
            )
            db.execute(
                "INSERT OR IGNORE INTO narratives (name, description, rebuttal_id, created_at) VALUES (?, ?, ?, ?)",
                [current["title"], None, rebuttal_id, now],
            )
        else:
            db.execute(
                "UPDATE rebuttals SET status = ?, version = ?, retired_at = ?, updated_at = ? WHERE id = ?",
                [status, version, now, now, rebuttal_id],
            )
        _record_version(db, rebuttal_id, version, f"status {current['status']} -> {status}", user)
        audit.record(
            db,
            str(user.get("username")),
            f"rebuttal.{action}",
            "rebuttal",
            rebuttal_id,
            {"from": current["status"], "to": status, "version": version},
        )


def approve_rebuttal(db: sqlite_utils.Database, rebuttal_id: int, user: dict[str, Any]) -> None:
    """Approve a draft (or retired) rebuttal and create its narrative if missing. Approvers/admins only."""
    _transition(db, rebuttal_id, user, "approve")


def retire_rebuttal(db: sqlite_utils.Database, rebuttal_id: int, user: dict[str, Any]) -> None:
    """Retire a rebuttal: it is no longer suggested or linkable. Approvers/admins only."""
    _transition(db, rebuttal_id, user, "retire")


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
    tokens = [t for t in fold(text).replace('"', " ").split() if any(ch.isalnum() for ch in t)]
    return " ".join(f'"{t}"' for t in tokens) if tokens else None


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
            "INSERT OR REPLACE INTO match_state (item_id, library_version, computed_at) VALUES (?, ?, ?)",
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
    """Title and text of items, joined, for matching."""
    out: dict[int, str] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for iid, title, text in db.execute(
            f"SELECT id, title, text FROM items WHERE id IN ({marks})",
            chunk,  # noqa: S608 - placeholders only
        ).fetchall():
            out[int(iid)] = f"{title or ''}\n{text or ''}".strip()
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
