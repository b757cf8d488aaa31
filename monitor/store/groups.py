"""Unanswered-claim groups: flagged items no approved rebuttal answers, grouped by meaning. SQL only.

The group stage (monitor.group) decides membership; this module stores it and answers its queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import utcnow, write
from monitor.store.schema import run_script

GROUPS_SQL = """
CREATE TABLE IF NOT EXISTS claim_groups (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'dismissed')),
    label TEXT NOT NULL DEFAULT '',
    terms_json TEXT NOT NULL DEFAULT '[]',
    representative_item_id INTEGER REFERENCES items(id),
    rebuttal_id INTEGER REFERENCES rebuttals(id),
    decided_by INTEGER REFERENCES users(id),
    decided_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS claim_groups_status ON claim_groups(status);

CREATE TABLE IF NOT EXISTS claim_group_items (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    group_id INTEGER NOT NULL REFERENCES claim_groups(id),
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS claim_group_items_group ON claim_group_items(group_id);
"""


def _groups_0001(db: sqlite_utils.Database) -> None:
    run_script(db, GROUPS_SQL)


MIGRATIONS = [("groups_0001_claim_groups", _groups_0001)]

# A flagged item is unanswered when it is still open (new, in review) with no suggestion at or above the
# threshold, or escalated (a new rebuttal was asked for). Only one item per near-duplicate cluster counts.
_CANDIDATES = """
SELECT MIN(i.id) AS id
FROM flags f JOIN items i ON i.id = f.item_id
WHERE (f.state = 'escalated'
       OR (f.state IN ('new', 'in_review')
           AND NOT EXISTS (SELECT 1 FROM suggestions s WHERE s.item_id = f.item_id AND s.score >= ?)))
GROUP BY COALESCE(i.cluster_id, -i.id)
"""


def candidate_item_ids(db: sqlite_utils.Database, threshold: float) -> list[int]:
    """Flagged items no approved rebuttal answers (one per near-duplicate cluster), ascending."""
    return sorted(int(r[0]) for r in db.execute(_CANDIDATES, [threshold]).fetchall())


def open_membership(db: sqlite_utils.Database) -> dict[int, list[int]]:
    """Open groups and their item ids."""
    out: dict[int, list[int]] = {}
    for gid, iid in db.execute(
        "SELECT m.group_id, m.item_id FROM claim_group_items m JOIN claim_groups g ON g.id = m.group_id"
        " WHERE g.status = 'open' ORDER BY m.group_id, m.item_id"
    ).fetchall():
        out.setdefault(int(gid), []).append(int(iid))
    return out


def grouped_item_ids(db: sqlite_utils.Database) -> set[int]:
    """Every item already placed in a group (open or closed)."""
    return {int(r[0]) for r in db.execute("SELECT item_id FROM claim_group_items").fetchall()}


def remove_items(db: sqlite_utils.Database, item_ids: Sequence[int]) -> None:
    """Take items out of their open groups (they were answered or decided one by one)."""
    with write(db):
        for iid in item_ids:
            db.execute(
                "DELETE FROM claim_group_items WHERE item_id = ? AND group_id IN"
                " (SELECT id FROM claim_groups WHERE status = 'open')",
                [iid],
            )
        db.execute(
            "DELETE FROM claim_groups WHERE status = 'open' AND rebuttal_id IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM claim_group_items m WHERE m.group_id = claim_groups.id)"
        )


def add_items(db: sqlite_utils.Database, group_id: int, item_ids: Sequence[int]) -> None:
    """Put items in an existing group."""
    now = utcnow()
    sql = (
        "INSERT INTO claim_group_items (item_id, group_id, added_at) VALUES (?, ?, ?)"
        " ON CONFLICT (item_id) DO UPDATE SET group_id = excluded.group_id, added_at = excluded.added_at"
        if dialect(db) == POSTGRESQL
        else "INSERT OR REPLACE INTO claim_group_items (item_id, group_id, added_at) VALUES (?, ?, ?)"
    )
    with write(db):
        for iid in item_ids:
            db.execute(sql, [iid, group_id, now])
        db.execute("UPDATE claim_groups SET updated_at = ? WHERE id = ?", [now, group_id])


def create_group(db: sqlite_utils.Database, item_ids: Sequence[int]) -> int:
    """A new open group holding these items; its id."""
    now = utcnow()
    with write(db):
        cur = db.execute("INSERT INTO claim_groups (created_at, updated_at) VALUES (?, ?)", [now, now])
        gid = int(cur.lastrowid or 0)
        add_items(db, gid, item_ids)
    return gid


def set_summary(
    db: sqlite_utils.Database, group_id: int, label: str, terms: list[str], representative_item_id: int
) -> None:
    """Store a group's label, top folded terms and representative post."""
    with write(db):
        db.execute(
            "UPDATE claim_groups SET label = ?, terms_json = ?, representative_item_id = ? WHERE id = ?",
            [label, json.dumps(terms, ensure_ascii=False), representative_item_id, group_id],
        )


def list_groups(
    db: sqlite_utils.Database, since: str | None = None, min_size: int = 2, status: str = "open"
) -> list[dict[str, Any]]:
    """Groups with their members' facts: item ids, first/last seen, sources, languages (no ranking)."""
    groups: dict[int, dict[str, Any]] = {}
    for row in db.execute(
        "SELECT id, label, terms_json, representative_item_id, rebuttal_id, status FROM claim_groups"
        " WHERE status = ?",
        [status],
    ).fetchall():
        groups[int(row[0])] = {
            "id": int(row[0]),
            "label": row[1],
            "terms": json.loads(row[2] or "[]"),
            "representative_item_id": row[3],
            "rebuttal_id": row[4],
            "status": row[5],
            "items": [],
        }
    for gid, iid, seen, source, lang in db.execute(
        "SELECT m.group_id, i.id, COALESCE(i.published_at, i.fetched_at), s.name, i.lang"
        " FROM claim_group_items m JOIN claim_groups g ON g.id = m.group_id JOIN items i ON i.id = m.item_id"
        " LEFT JOIN sources s ON s.id = i.source_id WHERE g.status = ? ORDER BY i.id",
        [status],
    ).fetchall():
        if int(gid) in groups:
            groups[int(gid)]["items"].append({"id": int(iid), "seen": seen, "source": source, "lang": lang})
    out = []
    for g in groups.values():
        items = g.pop("items")
        if len(items) < min_size:
            continue
        seen = sorted(str(i["seen"]) for i in items if i["seen"])
        if since is not None and (not seen or seen[-1] < since):
            continue
        g.update(
            item_ids=[i["id"] for i in items],
            seen=seen,
            size=len(items),
            first_seen=seen[0] if seen else None,
            last_seen=seen[-1] if seen else None,
            sources=sorted({str(i["source"]) for i in items if i["source"]}),
            languages=sorted({str(i["lang"]) for i in items if i["lang"]}),
        )
        out.append(g)
    return out


def get_group(db: sqlite_utils.Database, group_id: int) -> dict[str, Any] | None:
    """One group row with its item ids (any status)."""
    row = db.execute(
        "SELECT id, status, label, terms_json, representative_item_id, rebuttal_id FROM claim_groups WHERE id = ?",
        [group_id],
    ).fetchone()
    if row is None:
        return None
    ids = [
        int(r[0])
        for r in db.execute(
            "SELECT item_id FROM claim_group_items WHERE group_id = ? ORDER BY item_id", [group_id]
        ).fetchall()
    ]
    return {
        "id": int(row[0]),
        "status": row[1],
        "label": row[2],
        "terms": json.loads(row[3] or "[]"),
        "representative_item_id": row[4],
        "rebuttal_id": row[5],
        "item_ids": ids,
    }


def set_rebuttal(db: sqlite_utils.Database, group_id: int, rebuttal_id: int) -> None:
    """Remember the draft rebuttal written for a group."""
    with write(db):
        db.execute(
            "UPDATE claim_groups SET rebuttal_id = ?, updated_at = ? WHERE id = ?",
            [rebuttal_id, utcnow(), group_id],
        )


def close_group(db: sqlite_utils.Database, group_id: int, status: str, user_id: int | None) -> None:
    """Mark a group answered or dismissed."""
    now = utcnow()
    with write(db):
        db.execute(
            "UPDATE claim_groups SET status = ?, decided_by = ?, decided_at = ?, updated_at = ? WHERE id = ?",
            [status, user_id, now, now, group_id],
        )


def answered_by_approved(db: sqlite_utils.Database) -> list[tuple[int, int]]:
    """(group id, rebuttal id) of open groups whose draft rebuttal has been approved."""
    return [
        (int(r[0]), int(r[1]))
        for r in db.execute(
            "SELECT g.id, g.rebuttal_id FROM claim_groups g JOIN rebuttals r ON r.id = g.rebuttal_id"
            " WHERE g.status = 'open' AND r.status = 'approved'"
        ).fetchall()
    ]


def item_texts(
    db: sqlite_utils.Database, item_ids: Sequence[int], langs: dict[int, str | None] | None = None
) -> dict[int, str]:
    """Title and text of items, joined (the text every stage encodes). With `langs`, also each item's stored
    language (what collection detected; None where it could not tell), put in that dict."""
    out: dict[int, str] = {}
    ids = list(item_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        # The same SQL on SQLite and PostgreSQL (items.lang is TEXT in both schemas).
        for iid, title, text, lang in db.execute(
            f"SELECT id, title, text, lang FROM items WHERE id IN ({marks})",  # noqa: S608 - placeholders only
            chunk,
        ).fetchall():
            out[int(iid)] = f"{title or ''}\n{text or ''}".strip()
            if langs is not None:
                langs[int(iid)] = str(lang) if lang else None
    return out


def add_suggestion(
    db: sqlite_utils.Database, item_id: int, rebuttal_id: int, score: float, claim: str
) -> None:
    """Give an item a rebuttal as its top suggestion (kept if the matcher already suggests it)."""
    with write(db):
        db.execute(
            "INSERT OR IGNORE INTO suggestions (item_id, rebuttal_id, claim_id, rank, score, claim,"
            " library_version, computed_at) VALUES (?, ?, NULL, 0, ?, ?, 'group', ?)",
            [item_id, rebuttal_id, score, claim, utcnow()],
        )


def group_volumes(db: sqlite_utils.Database, start: str, end: str) -> dict[int, int]:
    """Open group id -> its items flagged in (start, end] (the surge alerts' count, like narratives')."""
    rows = db.execute(
        "SELECT m.group_id, COUNT(*) FROM claim_group_items m JOIN claim_groups g ON g.id = m.group_id"
        " JOIN flags f ON f.item_id = m.item_id WHERE g.status = 'open' AND f.flagged_at > ?"
        " AND f.flagged_at <= ? GROUP BY m.group_id",
        [start, end],
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def group_examples(
    db: sqlite_utils.Database, group_id: int, start: str, end: str, limit: int = 3
) -> list[dict[str, Any]]:
    """The riskiest items of one group flagged in (start, end]; a post without a title shows its text."""
    return list(
        db.query(
            """
            SELECT f.item_id, f.risk, f.flagged_at, COALESCE(NULLIF(i.title, ''), SUBSTR(i.text, 1, 240)) AS title,
                   i.url, s.name AS source_name
              FROM claim_group_items m JOIN flags f ON f.item_id = m.item_id JOIN items i ON i.id = m.item_id
              LEFT JOIN sources s ON s.id = i.source_id
             WHERE m.group_id = ? AND f.flagged_at > ? AND f.flagged_at <= ?
             ORDER BY f.risk DESC, f.flagged_at DESC LIMIT ?
            """,
            [group_id, start, end, limit],
        )
    )
