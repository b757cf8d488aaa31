"""SQL for the review queue: listing with filters and keyset pagination, item detail, and the rows the
analyst's decisions write (flag claims with optimistic locking on flags.version, links, requests).

The rules (which states and reasons exist, what may be linked, the conflict messages) live in
monitor.review.queue; the functions here receive values already validated there.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from monitor.errors import NotFound, UsageError
from monitor.store.backend import SQLITE, dialect
from monitor.store.db import query_one, utcnow, write
from monitor.store.items import get_item, item_evidence, read_blob, search_items
from monitor.store.rebuttals import suggestions_for
from monitor.store.schema import run_script

MAX_PAGE = 200

# Columns every queue row carries. The snippet is cut in SQL so a page never moves whole articles.
_ROW_SQL = """
SELECT f.id AS flag_id, f.item_id AS id, f.state, f.risk, f.relevance, f.flagged_at, f.narrative_id,
       f.version, f.handled_at, f.dismiss_reason, hu.username AS handled_by_name,
       i.title, substr(i.text, 1, 280) AS snippet, i.lang, i.url, i.published_at, i.fetched_at,
       i.cluster_id, i.sightings, s.name AS source, n.name AS narrative
FROM flags f
JOIN items i ON i.id = f.item_id
LEFT JOIN sources s ON s.id = i.source_id
LEFT JOIN narratives n ON n.id = f.narrative_id
LEFT JOIN users hu ON hu.id = f.handled_by
"""


@dataclass
class QueueFilter:
    """What the analyst asked to see (validated by monitor.review.queue): the states to read, each one slice."""

    states: tuple[str, ...] = ("new", "in_review")
    source_id: int | None = None
    lang: str | None = None
    date_from: str | None = None  # store-format UTC bounds on flagged_at
    date_to: str | None = None
    min_risk: float | None = None
    narrative_id: int | None = None


# --- cursors ---------------------------------------------------------------------------------------------


def encode_cursor(row: dict[str, Any]) -> str:
    """An opaque cursor after `row`: its (risk, flagged_at, flag id)."""
    raw = json.dumps([float(row["risk"]), row["flagged_at"], int(row["flag_id"])], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str, int]:
    """(risk, flagged_at, flag id) from a cursor; UsageError when it is malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        risk, flagged_at, flag_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(risk), str(flagged_at), int(flag_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise UsageError("the page cursor is malformed — start again from the first page") from None


# --- listing ------------------------------------------------------------------------------------------------


def _where(
    filt: QueueFilter, state: str | None, after: tuple[float, str, int] | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if state == OPEN:
        clauses.append(OPEN_CLAUSE)
    elif state is not None:
        clauses.append("f.state = ?")
        params.append(state)
    if after is not None:
        # Keyset: strictly after the cursor in (risk DESC, flagged_at DESC, id DESC) order. The leading
        # `risk <= ?` gives SQLite a range on the index; the row-value comparison does the rest.
        clauses.append("f.risk <= ? AND (f.risk, f.flagged_at, f.id) < (?, ?, ?)")
        params += [after[0], after[0], after[1], after[2]]
    if filt.min_risk is not None:
        clauses.append("f.risk >= ?")
        params.append(filt.min_risk)
    if filt.date_from:
        clauses.append("f.flagged_at >= ?")
        params.append(filt.date_from)
    if filt.date_to:
        clauses.append("f.flagged_at < ?")
        params.append(filt.date_to)
    if filt.narrative_id is not None:
        clauses.append("f.narrative_id = ?")
        params.append(filt.narrative_id)
    if filt.source_id is not None:
        clauses.append("f.source_id = ?")  # copied from items by trigger, so an index can serve the filter
        params.append(filt.source_id)
    if filt.lang:
        clauses.append("f.lang = ?")
        params.append(filt.lang)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


OPEN = "__open__"  # queue_sql's state for the open queue (new + in review) read in one slice


def is_unfiltered(filt: QueueFilter) -> bool:
    """No filter besides the states."""
    return (
        filt.source_id is None
        and not filt.lang
        and not filt.date_from
        and not filt.date_to
        and filt.min_risk is None
        and filt.narrative_id is None
    )


def queue_sql(
    filt: QueueFilter,
    state: str | None,
    after: tuple[float, str, int] | None,
    limit: int,
    sql_dialect: str = SQLITE,
) -> tuple[str, list[Any]]:
    """The SQL for one state's slice of the queue (exposed for EXPLAIN QUERY PLAN checks)."""
    where, params = _where(filt, state, after)
    rows_sql = _ROW_SQL
    # PostgreSQL has no INDEXED BY: its planner takes the partial index flags_open_queue on its own.
    if (
        state == OPEN and sql_dialect == SQLITE
    ):  # left to itself the planner picks a state index and sorts the whole open queue
        rows_sql = _ROW_SQL.replace("FROM flags f\n", "FROM flags f INDEXED BY flags_open_queue\n")
    sql = f"{rows_sql}{where} ORDER BY f.risk DESC, f.flagged_at DESC, f.id DESC LIMIT ?"
    return sql, [*params, limit]


def _order_key(row: dict[str, Any]) -> tuple[float, str, int]:
    return (float(row["risk"]), str(row["flagged_at"]), int(row["flag_id"]))


def list_queue(
    db: sqlite_utils.Database, filt: QueueFilter | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of flagged items, highest risk then newest first; returns (rows, next cursor or None).

    Each state is read with its own index range (flags_queue) and the slices are merged here, because
    `state IN (...)` with ORDER BY would make SQLite sort every open flag on every page.
    """
    filt = filt or QueueFilter()
    limit = max(1, min(int(limit), MAX_PAGE))
    after = decode_cursor(cursor) if cursor else None
    slices: list[list[dict[str, Any]]] = []
    # "Every state" arrives as one slice per state too: each slice then has an index in queue order.
    # The unfiltered open queue is one slice read from its own partial index (flags_open_queue).
    states: tuple[str | None, ...] = filt.states
    if set(filt.states) == {"new", "in_review"} and is_unfiltered(filt):
        states = (OPEN,)
    sql_dialect = dialect(db)
    for state in states:
        sql, params = queue_sql(filt, state, after, limit + 1, sql_dialect)
        slices.append(list(db.query(sql, params)))
    # Every key descends (risk, flagged_at, id): one reverse sort of the few slices merges them.
    rows = sorted((row for part in slices for row in part), key=_order_key, reverse=True)[: limit + 1]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def collapse_duplicates(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the first row of each near-duplicate cluster on the page; count the rest and the cluster's size."""
    out: list[dict[str, Any]] = []
    by_cluster: dict[int, dict[str, Any]] = {}
    for row in rows:
        cluster = row.get("cluster_id")
        if cluster is not None and cluster in by_cluster:
            by_cluster[cluster]["collapsed"].append(row["id"])
            continue
        row = dict(row, collapsed=[])
        if cluster is not None:
            by_cluster[cluster] = row
        out.append(row)
    clusters = sorted({int(row["cluster_id"]) for row in out if row.get("cluster_id") is not None})
    sizes: dict[int, int] = {}
    if clusters:
        marks = ",".join("?" for _ in clusters)
        sizes = {
            int(cluster): int(count)
            for cluster, count in db.execute(
                f"SELECT cluster_id, COUNT(*) FROM items WHERE cluster_id IN ({marks}) GROUP BY cluster_id",
                clusters,
            ).fetchall()
        }
    for row in out:
        size = sizes.get(int(row["cluster_id"]), 1) if row.get("cluster_id") is not None else 1
        row["cluster_size"] = max(size, 1)
        row["duplicates"] = max(size - 1, 0) + max(int(row.get("sightings") or 1) - 1, 0)
    return out


def suggestions(db: sqlite_utils.Database, item_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """Suggested approved rebuttals for an item (empty while the matcher has not run)."""
    return suggestions_for(db, item_id)[:limit]


def attach_suggestions(db: sqlite_utils.Database, rows: list[dict[str, Any]], limit: int = 3) -> None:
    """Add `suggestions` (best few approved ones, as suggestions_for gives them) to each row, in one query."""
    ids = [int(row["id"]) for row in rows]
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        marks = ",".join("?" for _ in ids)
        alias = "" if dialect(db) == SQLITE else " AS best"  # PostgreSQL 15 wants a name for a subquery
        # Only the best `limit` per item leave SQLite (a window over the approved ones), not every suggestion.
        for s in db.query(
            "SELECT item_id, rebuttal_id, title, short_answer, score, claim, claim_id, rank FROM ("
            " SELECT s.item_id, s.rebuttal_id, r.title, r.short_answer, s.score, s.claim, s.claim_id, s.rank,"
            " ROW_NUMBER() OVER (PARTITION BY s.item_id ORDER BY s.rank, s.score DESC) AS n"
            " FROM suggestions s JOIN rebuttals r ON r.id = s.rebuttal_id"
            f" WHERE s.item_id IN ({marks}) AND r.status = 'approved'){alias}"
            " WHERE n <= ? ORDER BY item_id, n",
            [*ids, limit],
        ):
            bucket = found[int(s.pop("item_id"))]
            if len(bucket) < limit:
                bucket.append(s)
    for row in rows:
        row["suggestions"] = found[int(row["id"])]


def rows_for_items(db: sqlite_utils.Database, item_ids: list[int]) -> list[dict[str, Any]]:
    """Rows for search results (flagged or not), in the given order."""
    if not item_ids:
        return []
    marks = ",".join("?" for _ in item_ids)
    found = {
        int(r["id"]): r
        for r in db.query(
            "SELECT i.id, i.title, substr(i.text, 1, 280) AS snippet, i.lang, i.url, i.published_at, i.fetched_at,"
            " i.cluster_id, i.sightings, s.name AS source, f.state, f.risk, f.relevance, f.flagged_at,"
            " f.id AS flag_id FROM items i LEFT JOIN sources s ON s.id = i.source_id"
            f" LEFT JOIN flags f ON f.item_id = i.id WHERE i.id IN ({marks})",
            item_ids,
        )
    }
    return [found[i] for i in item_ids if i in found]


def search(db: sqlite_utils.Database, q: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Full-text search across all items (accents optional), best match first."""
    return rows_for_items(db, search_items(db, q, limit=limit, offset=offset))


# --- choices for filters ------------------------------------------------------------------------------------


def choices_version(db: sqlite_utils.Database) -> tuple[Any, ...]:
    """Changes whenever the filter menus' sources or narratives change (rows are only ever added, and a
    source's or narrative's name never changes): one aggregate read instead of every row."""
    row = db.execute(
        "SELECT (SELECT COUNT(*) FROM sources), (SELECT MAX(id) FROM sources),"
        " (SELECT COUNT(*) FROM narratives), (SELECT MAX(id) FROM narratives)"
    ).fetchone()
    return tuple(row)


def source_choices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Sources for the filter menu."""
    return list(db.query("SELECT id, name FROM sources ORDER BY name"))


def narrative_choices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Narratives for the filter menu."""
    return list(db.query("SELECT id, name FROM narratives ORDER BY name"))


# --- one item ------------------------------------------------------------------------------------------------


def get_flag(db: sqlite_utils.Database, item_id: int) -> dict[str, Any] | None:
    """The flag of an item with the handler's name, or None when the item is not flagged."""
    return query_one(
        db,
        "SELECT f.*, u.username AS handled_by_name, n.name AS narrative FROM flags f"
        " LEFT JOIN users u ON u.id = f.handled_by LEFT JOIN narratives n ON n.id = f.narrative_id"
        " WHERE f.item_id = ?",
        [item_id],
    )


def item_detail(db: sqlite_utils.Database, item_id: int) -> dict[str, Any]:
    """Everything the item page shows; NotFound when the item does not exist."""
    item = get_item(db, item_id)
    if item is None:
        raise NotFound(f"item {item_id} does not exist — it may have been typed wrong; search for it instead")
    flag = get_flag(db, item_id)
    if flag is not None:
        flag["reasons"] = _json(flag.get("reasons_json"))
    scores = list(
        db.query(
            "SELECT model_id, model_version, relevance, risk, reasons_json, scored_at FROM item_scores"
            " WHERE item_id = ? ORDER BY scored_at DESC LIMIT 5",
            [item_id],
        )
    )
    for score in scores:
        score["reasons"] = _json(score.pop("reasons_json"))
    sightings = list(
        db.query(
            "SELECT st.url, st.author, st.seen_at, s.name AS source FROM item_sightings st"
            " LEFT JOIN sources s ON s.id = st.source_id WHERE st.item_id = ? ORDER BY st.seen_at LIMIT 50",
            [item_id],
        )
    )
    cluster = []
    if item.get("cluster_id") is not None:
        cluster = list(
            db.query(
                "SELECT i.id, i.title, i.fetched_at, s.name AS source FROM items i LEFT JOIN sources s"
                " ON s.id = i.source_id WHERE i.cluster_id = ? AND i.id != ? ORDER BY i.id LIMIT 20",
                [item["cluster_id"], item_id],
            )
        )
    links = list(
        db.query(
            "SELECT l.rebuttal_id, l.score, l.created_at, r.title, u.username FROM links l"
            " JOIN rebuttals r ON r.id = l.rebuttal_id LEFT JOIN users u ON u.id = l.user_id"
            " WHERE l.item_id = ? ORDER BY l.created_at",
            [item_id],
        )
    )
    requests = list(
        db.query(
            "SELECT rr.id, rr.note, rr.status, rr.created_at, u.username FROM rebuttal_requests rr"
            " LEFT JOIN users u ON u.id = rr.requested_by WHERE rr.item_id = ? ORDER BY rr.id",
            [item_id],
        )
    )
    return {
        "item": item,
        "flag": flag,
        "scores": scores,
        "evidence": item_evidence(db, item_id),
        "sightings": sightings,
        "cluster": cluster,
        "links": links,
        "requests": requests,
        "suggestions": suggestions(db, item_id, limit=10),
    }


def evidence_body(db: sqlite_utils.Database, item_id: int, evidence_id: int) -> tuple[dict[str, Any], bytes]:
    """An evidence row of this item and its original bytes; NotFound otherwise."""
    row = query_one(db, "SELECT * FROM evidence WHERE id = ? AND item_id = ?", [evidence_id, item_id])
    body = read_blob(db, str(row["sha256"])) if row else None
    if row is None or body is None:
        raise NotFound(f"evidence {evidence_id} of item {item_id} does not exist")
    return row, body


def _json(text: Any) -> Any:
    try:
        return json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}


# --- decisions: the rows they write (rules and messages: monitor.review.queue) ---------------------------


def claim_flag(
    db: sqlite_utils.Database,
    item_id: int,
    user_id: object,
    expected_version: int | None,
    sets: dict[str, Any],
    open_states: tuple[str, ...],
    keep_when_none: tuple[str, ...] = (),
) -> bool:
    """Move an open flag to a decided state; False when no row matched (someone else was first).

    The WHERE clause is the lock: only one of two concurrent analysts can match state IN open AND the
    version they saw; the other's UPDATE changes no row. `sets` maps flags columns (names from the
    review layer, never from users) to values; columns in `keep_when_none` keep their value when given None.
    """
    now = utcnow()
    parts: list[str] = []
    args: list[Any] = []
    for column, value in sets.items():
        parts.append(f"{column} = COALESCE(?, {column})" if column in keep_when_none else f"{column} = ?")
        args.append(value)
    marks = ", ".join("?" for _ in open_states)
    sql = (
        f"UPDATE flags SET {', '.join(parts)}, handled_by = ?, handled_at = ?, updated_at = ?,"
        f" version = version + 1 WHERE item_id = ? AND state IN ({marks})"
    )
    args += [user_id, now, now, item_id, *open_states]
    if expected_version is not None:
        sql += " AND version = ?"
        args.append(int(expected_version))
    return db.execute(sql, args).rowcount == 1


def item_exists(db: sqlite_utils.Database, item_id: int) -> bool:
    """Whether an item with this id exists."""
    return query_one(db, "SELECT id FROM items WHERE id = ?", [item_id]) is not None


def rebuttal_status(db: sqlite_utils.Database, rebuttal_id: int) -> dict[str, Any] | None:
    """id, title and status of a rebuttal, or None."""
    return query_one(db, "SELECT id, title, status FROM rebuttals WHERE id = ?", [rebuttal_id])


def narrative_of_rebuttal(db: sqlite_utils.Database, rebuttal_id: int) -> int | None:
    """The id of the narrative a rebuttal answers, or None."""
    row = query_one(db, "SELECT id FROM narratives WHERE rebuttal_id = ?", [rebuttal_id])
    return int(str(row["id"])) if row else None


def suggestion_score(db: sqlite_utils.Database, item_id: int, rebuttal_id: int) -> tuple[bool, Any]:
    """(whether the matcher suggested this rebuttal for the item, its score or None)."""
    row = query_one(
        db, "SELECT score FROM suggestions WHERE item_id = ? AND rebuttal_id = ?", [item_id, rebuttal_id]
    )
    return (row is not None, row["score"] if row else None)


def add_link(db: sqlite_utils.Database, item_id: int, rebuttal_id: int, user_id: object, score: Any) -> None:
    """A links row (kept once per item and rebuttal)."""
    db.execute(
        "INSERT OR IGNORE INTO links (item_id, rebuttal_id, user_id, score, created_at) VALUES (?, ?, ?, ?, ?)",
        [item_id, rebuttal_id, user_id, score, utcnow()],
    )


def add_request(db: sqlite_utils.Database, item_id: int, user_id: object, note: str | None) -> int:
    """Open a rebuttal_requests row; returns its id."""
    now = utcnow()
    cur = db.execute(
        "INSERT INTO rebuttal_requests (item_id, requested_by, note, status, created_at, updated_at)"
        " VALUES (?, ?, ?, 'open', ?, ?)",
        [item_id, user_id, note, now, now],
    )
    return int(cur.lastrowid or 0)


def open_requests(db: sqlite_utils.Database, limit: int = 100) -> list[dict[str, Any]]:
    """Open requests for a new rebuttal, oldest first, with the item's title."""
    return list(
        db.query(
            "SELECT rr.id, rr.item_id, rr.note, rr.created_at, u.username AS requested_by, i.title"
            " FROM rebuttal_requests rr JOIN items i ON i.id = rr.item_id"
            " LEFT JOIN users u ON u.id = rr.requested_by WHERE rr.status = 'open' ORDER BY rr.id LIMIT ?",
            [limit],
        )
    )


def close_request_row(
    db: sqlite_utils.Database, request_id: int, status: str, rebuttal_id: int | None
) -> bool:
    """Close an open request; False when it is not open (or does not exist)."""
    cur = db.execute(
        "UPDATE rebuttal_requests SET status = ?, rebuttal_id = ?, updated_at = ? WHERE id = ? AND status = 'open'",
        [status, rebuttal_id, utcnow(), request_id],
    )
    return cur.rowcount == 1


# --- migration: queue filters served by indexes -----------------------------------------------------------

_QUEUE_INDEX_SQL = """
CREATE INDEX IF NOT EXISTS flags_source_queue ON flags(state, source_id, risk DESC, flagged_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS flags_lang_queue ON flags(state, lang, risk DESC, flagged_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS flags_narrative_queue ON flags(state, narrative_id, risk DESC, flagged_at DESC, id DESC);
CREATE TRIGGER IF NOT EXISTS flags_copy_item AFTER INSERT ON flags BEGIN
    UPDATE flags SET source_id = (SELECT source_id FROM items WHERE id = NEW.item_id),
                     lang = (SELECT lang FROM items WHERE id = NEW.item_id)
    WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS items_copy_to_flags AFTER UPDATE OF source_id, lang ON items BEGIN
    UPDATE flags SET source_id = NEW.source_id, lang = NEW.lang WHERE item_id = NEW.id;
END;
"""


def _queue_indexes(db: sqlite_utils.Database) -> None:
    """flags.source_id / flags.lang copied from items (kept by triggers) + one index per queue filter.

    Filtering on items' columns would make SQLite walk the whole state's slice of the queue when a filter
    matches few rows; with the copies every filter reads an index already in queue order.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(flags)").fetchall()}
    if "source_id" not in columns:
        db.execute("ALTER TABLE flags ADD COLUMN source_id INTEGER")
    if "lang" not in columns:
        db.execute("ALTER TABLE flags ADD COLUMN lang TEXT")
    db.execute(
        "UPDATE flags SET source_id = (SELECT source_id FROM items WHERE items.id = flags.item_id),"
        " lang = (SELECT lang FROM items WHERE items.id = flags.item_id)"
    )
    run_script(db, _QUEUE_INDEX_SQL)


# The default view (open = new + in review, no other filter) is the page analysts load all day: one partial
# index in queue order serves it with one range read of exactly one page, instead of one slice per state
# merged in Python. The IN list must stay literal in the query (see OPEN_CLAUSE) for SQLite to use it.
OPEN_STATES_SQL = "('new', 'in_review')"
OPEN_CLAUSE = f"f.state IN {OPEN_STATES_SQL}"


def _open_queue_index(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE INDEX IF NOT EXISTS flags_open_queue ON flags(risk DESC, flagged_at DESC, id DESC)"
        f" WHERE state IN {OPEN_STATES_SQL}"
    )


MIGRATIONS = [
    ("queue_0001_filter_indexes", _queue_indexes),
    ("queue_0002_open_queue_index", _open_queue_index),
]


# --- writing flags (the classify stage owns this in production; tests, demo and bench use it) -------------


def ensure_source(
    db: sqlite_utils.Database, name: str, kind: str = "rss", url: str = "https://example.gov.vn/feed"
) -> int:
    """The id of a source by name, creating a minimal row when missing."""
    with write(db):
        row = query_one(db, "SELECT id FROM sources WHERE name = ?", [name])
        if row:
            return int(str(row["id"]))
        now = utcnow()
        cur = db.execute(
            "INSERT INTO sources (name, kind, url, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            [name, kind, url, now, now],
        )
        return int(cur.lastrowid or 0)


def insert_flag(
    db: sqlite_utils.Database,
    item_id: int,
    *,
    relevance: float,
    risk: float,
    reasons: dict[str, Any] | None = None,
    model_version: str | None = None,
    narrative_id: int | None = None,
    flagged_at: str | None = None,
) -> None:
    """Flag an item (state new) unless it is flagged already."""
    now = utcnow()
    with write(db):
        db.execute(
            "INSERT OR IGNORE INTO flags (item_id, state, relevance, risk, reasons_json, model_version, narrative_id,"
            " flagged_at, updated_at) VALUES (?, 'new', ?, ?, ?, ?, ?, ?, ?)",
            [
                item_id,
                relevance,
                risk,
                json.dumps(reasons or {}, ensure_ascii=False),
                model_version,
                narrative_id,
                flagged_at or now,
                now,
            ],
        )
