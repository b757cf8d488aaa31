"""SQL for collection: fetch log, source health and back-off, conditional-GET validators, clusters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import query_one, to_db_time, utcnow, write

MAX_BACKOFF = 6 * 3600.0  # a failing source is retried at least this often


def _bands_table(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS item_bands (band INTEGER NOT NULL, value INTEGER NOT NULL,"
        " item_id INTEGER NOT NULL REFERENCES items(id), PRIMARY KEY (band, value, item_id)) WITHOUT ROWID"
    )


def _sightings_index(db: sqlite_utils.Database) -> None:
    # seen_in_source looks sightings up by (source, external id) once per collected entry.
    db.execute(
        "CREATE INDEX IF NOT EXISTS item_sightings_source_ext ON item_sightings(source_id, external_id)"
    )


def _item_id_sequence(db: sqlite_utils.Database) -> None:
    """SQLite: nothing (new ids are MAX(id) + 1 under its one write lock). The PostgreSQL twin creates
    items_id_seq past the ids written explicitly so far: new ids come from it there (items.ItemIds)."""


MIGRATIONS = [
    ("collect_0001_item_bands", _bands_table),
    ("collect_0002_sightings_index", _sightings_index),
    ("collect_0003_item_id_sequence", _item_id_sequence),
]


# --- fetch log and source state -------------------------------------------------------------------


INTERRUPTED = "interrupted (process stopped mid-run)"


def close_interrupted(db: sqlite_utils.Database, source_id: int) -> int:
    """Mark this source's fetch_log rows left 'running' by a killed process as errors; returns how many.

    Called while holding the source's lease, so no live run of this source can own such a row. The
    source shows the interruption as its last error until a pass succeeds.
    """
    now = utcnow()
    with write(db):
        cur = db.execute(
            "UPDATE fetch_log SET status = 'error', finished_at = ?, error = ?"
            " WHERE status = 'running' AND source_id = ?",
            [now, INTERRUPTED, source_id],
        )
        if cur.rowcount:
            db.execute(
                "UPDATE sources SET last_error = ?, last_error_at = ? WHERE id = ?",
                [INTERRUPTED, now, source_id],
            )
    return cur.rowcount


def close_abandoned(db: sqlite_utils.Database) -> int:
    """Close the running passes no live process owns any more (killed with kill -9); returns how many.

    A pass runs under its source's lease 'collect:<name>': a running row whose lease is gone, expired or
    held by a dead process on this host was abandoned. `misinfo status` calls this so it never shows such
    a source as ok."""
    import json

    rows = db.execute(
        "SELECT DISTINCT s.id, s.name FROM fetch_log f JOIN sources s ON s.id = f.source_id"
        " WHERE f.status = 'running'"
    ).fetchall()
    closed = 0
    now = to_db_time(datetime.now(UTC))
    for source_id, name in rows:
        value = db.execute("SELECT value FROM meta WHERE key = ?", [f"lease:collect:{name}"]).fetchone()
        held = json.loads(value[0]) if value and value[0] else {}
        if held.get("owner") and held.get("until", "") > now and _alive(str(held["owner"])):
            continue
        closed += close_interrupted(db, int(source_id))
    return closed


def start_fetch(db: sqlite_utils.Database, source_id: int) -> int:
    """Open a fetch_log row and stamp the source's last_attempt."""
    now = utcnow()
    with write(db):
        cur = db.execute(
            "INSERT INTO fetch_log (source_id, started_at, status) VALUES (?, ?, 'running')", [source_id, now]
        )
        db.execute("UPDATE sources SET last_attempt = ? WHERE id = ?", [now, source_id])
    return int(cur.lastrowid or 0)


def source_state(db: sqlite_utils.Database, source_id: int) -> dict[str, Any]:
    """etag, last_modified, consecutive_failures, next_attempt_after of a source."""
    row = query_one(
        db,
        "SELECT etag, last_modified, consecutive_failures, next_attempt_after FROM sources WHERE id = ?",
        [source_id],
    )
    return row or {}


def finish_ok(
    db: sqlite_utils.Database,
    log_id: int,
    source_id: int,
    *,
    status: str,
    http_status: int | None,
    nbytes: int,
    items_new: int,
    items_seen: int,
    note: str | None,
    etag: str | None,
    last_modified: str | None,
) -> None:
    """Close the log row as ok/not_modified; clear the source's error and back-off; keep the validators.

    The validators are saved only here, after every item is stored: a run killed earlier
    re-fetches the whole body next time instead of getting a 304 for items it never stored.
    """
    now = utcnow()
    with write(db):
        db.execute(
            "UPDATE fetch_log SET finished_at = ?, status = ?, http_status = ?, bytes = ?, items_new = ?,"
            " items_seen = ?, error = ? WHERE id = ?",
            [now, status, http_status, nbytes, items_new, items_seen, note, log_id],
        )
        db.execute(
            "UPDATE sources SET last_success = ?, last_error = NULL, consecutive_failures = 0,"
            " next_attempt_after = NULL, etag = ?, last_modified = ? WHERE id = ?",
            [now, etag, last_modified, source_id],
        )


def finish_error(
    db: sqlite_utils.Database,
    log_id: int,
    source_id: int,
    *,
    error: str,
    interval: float,
    nbytes: int = 0,
    items_new: int = 0,
    items_seen: int = 0,
) -> str:
    """Close the log row as an error, record last_error and back off exponentially. Returns next attempt."""
    now = datetime.now(UTC)
    with write(db):
        row = db.execute("SELECT consecutive_failures FROM sources WHERE id = ?", [source_id]).fetchone()
        failures = int(row[0] if row else 0) + 1
        wait = min(max(interval, 60.0) * (2 ** (failures - 1)), MAX_BACKOFF)
        next_at = to_db_time(now + timedelta(seconds=wait))
        db.execute(
            "UPDATE fetch_log SET finished_at = ?, status = 'error', error = ?, bytes = ?, items_new = ?,"
            " items_seen = ? WHERE id = ?",
            [to_db_time(now), error, nbytes, items_new, items_seen, log_id],
        )
        db.execute(
            "UPDATE sources SET last_error = ?, last_error_at = ?, consecutive_failures = ?,"
            " next_attempt_after = ? WHERE id = ?",
            [error, to_db_time(now), failures, next_at, source_id],
        )
    return next_at


def fetch_log(
    db: sqlite_utils.Database, source_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Recent fetch_log rows, newest first."""
    where, params = ("WHERE source_id = ?", [source_id]) if source_id is not None else ("", [])
    return list(db.query(f"SELECT * FROM fetch_log {where} ORDER BY id DESC LIMIT ?", [*params, limit]))


# --- de-duplication helpers -------------------------------------------------------------------------


def seen_in_source(
    db: sqlite_utils.Database, source_id: int, external_id: str | None, canonical_url: str | None, chash: str
) -> int | None:
    """Item id when this source already delivered this entry (same id, URL or content), else None.

    Re-reading a feed must not add a sighting per pass: only a new source (or a new URL) is news.
    """
    if external_id:
        row = db.execute(
            "SELECT item_id FROM item_sightings WHERE source_id = ? AND external_id = ? LIMIT 1",
            [source_id, external_id],
        ).fetchone()
        if row:
            return int(row[0])
    if canonical_url:
        row = db.execute(
            "SELECT s.item_id FROM items i JOIN item_sightings s ON s.item_id = i.id"
            " WHERE i.canonical_url = ? AND s.source_id = ? LIMIT 1",
            [canonical_url, source_id],
        ).fetchone()
        if row:
            return int(row[0])
    row = db.execute(
        "SELECT s.item_id FROM items i JOIN item_sightings s ON s.item_id = i.id"
        " WHERE i.content_hash = ? AND s.source_id = ? LIMIT 1",
        [chash, source_id],
    ).fetchone()
    return int(row[0]) if row else None


@dataclass
class KnownKeys:
    """Which of a batch's dedup keys the store already holds (seen_in_source and items.find_duplicate
    can only find an entry none of whose keys is here)."""

    sighting_ids: set[str] = field(default_factory=set)  # external ids this source already delivered
    item_ids: set[str] = field(default_factory=set)  # external ids of this source's items
    urls: set[str] = field(default_factory=set)  # canonical URLs of any item
    hashes: set[str] = field(default_factory=set)  # content hashes of any item


CHUNK = 500  # values bound per IN (...) query


def _present(db: sqlite_utils.Database, sql: str, fixed: list[object], values: set[str]) -> set[str]:
    found: set[str] = set()
    wanted = sorted(values)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = db.execute(sql.format(marks=", ".join("?" * len(chunk))), [*fixed, *chunk]).fetchall()
        found.update(str(r[0]) for r in rows)
    return found


def known_keys(
    db: sqlite_utils.Database, source_id: int, external_ids: set[str], urls: set[str], hashes: set[str]
) -> KnownKeys:
    """The keys of a batch of entries already in the store, in four indexed queries (per 500 keys)."""
    return KnownKeys(
        sighting_ids=_present(
            db,
            "SELECT DISTINCT external_id FROM item_sightings WHERE source_id = ? AND external_id IN ({marks})",
            [source_id],
            external_ids,
        ),
        item_ids=_present(
            db,
            "SELECT external_id FROM items WHERE source_id = ? AND external_id IN ({marks})",
            [source_id],
            external_ids,
        ),
        urls=_present(db, "SELECT canonical_url FROM items WHERE canonical_url IN ({marks})", [], urls),
        hashes=_present(db, "SELECT content_hash FROM items WHERE content_hash IN ({marks})", [], hashes),
    )


def known_urls(db: sqlite_utils.Database, source_id: int, limit: int) -> list[str]:
    """Canonical URLs this source already delivered, newest first (a crawl need not fetch them again)."""
    rows = db.execute(
        "SELECT i.canonical_url FROM item_sightings s JOIN items i ON i.id = s.item_id"
        " WHERE s.source_id = ? AND i.canonical_url IS NOT NULL ORDER BY s.id DESC LIMIT ?",
        [source_id, limit],
    ).fetchall()
    return [str(r[0]) for r in rows]


def cluster_candidates(db: sqlite_utils.Database, item_id: int, keys: list[int]) -> list[int]:
    """Other items sharing at least one MinHash band key with this one (ids ascending, at most 20 per band)."""
    candidates: set[int] = set()
    for band, value in enumerate(keys):  # one indexed lookup per band (faster than one IN (VALUES ...))
        rows = db.execute(
            "SELECT item_id FROM item_bands WHERE band = ? AND value = ? AND item_id != ? LIMIT 20",
            [band, value, item_id],
        ).fetchall()
        candidates.update(int(r[0]) for r in rows)
    return sorted(candidates)


def band_candidates(
    db: sqlite_utils.Database, keys: set[tuple[int, int]], per_key: int = 20
) -> dict[tuple[int, int], list[int]]:
    """cluster_candidates for many (band, value) keys at once: the first `per_key` item ids (ascending)
    indexed under each key, as one query per 300 keys instead of one per key."""
    out: dict[tuple[int, int], list[int]] = {}
    wanted = sorted(keys)
    for start in range(0, len(wanted), 300):
        chunk = wanted[start : start + 300]
        rows = db.execute(
            f"WITH k(band, value) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))})"
            " SELECT k.band, k.value, b.item_id FROM k JOIN item_bands b ON b.band = k.band AND b.value = k.value"
            " AND b.item_id <= COALESCE((SELECT c.item_id FROM item_bands c WHERE c.band = k.band"
            " AND c.value = k.value ORDER BY c.item_id LIMIT 1 OFFSET ?), 9223372036854775807)"
            " ORDER BY k.band, k.value, b.item_id",
            [v for key in chunk for v in key] + [per_key - 1],
        ).fetchall()
        for band, value, item_id in rows:
            out.setdefault((int(band), int(value)), []).append(int(item_id))
    return out


def cluster_text(db: sqlite_utils.Database, item_id: int) -> tuple[str, int] | None:
    """('title\ntext', cluster id) of an item, or None when there is no such item."""
    row = db.execute("SELECT title, text, cluster_id FROM items WHERE id = ?", [item_id]).fetchone()
    return (f"{row[0]}\n{row[1]}", int(row[2] or item_id)) if row else None


def save_cluster(db: sqlite_utils.Database, item_id: int, cluster: int, keys: list[int]) -> None:
    """Put the item in `cluster` (when it is not its own) and index its band keys."""
    with write(db):
        if cluster != item_id:
            db.execute("UPDATE items SET cluster_id = ? WHERE id = ?", [cluster, item_id])
        db.conn.executemany(
            "INSERT OR IGNORE INTO item_bands (band, value, item_id) VALUES (?, ?, ?)",
            [(band, value, item_id) for band, value in enumerate(keys)],
        )


def save_bands(db: sqlite_utils.Database, rows: list[tuple[int, int, int]]) -> None:
    """Index (band, value, item_id) rows of many items at once (their clusters are set on insert)."""
    if not rows:
        return
    with write(db):
        db.conn.executemany("INSERT OR IGNORE INTO item_bands (band, value, item_id) VALUES (?, ?, ?)", rows)


def cluster_members(db: sqlite_utils.Database, cluster_id: int) -> list[int]:
    """Ids of the items in a near-duplicate cluster, representative first."""
    rows = db.execute("SELECT id FROM items WHERE cluster_id = ? ORDER BY id", [cluster_id]).fetchall()
    return [int(r[0]) for r in rows]


# --- leases: never two collections of one source at once, across processes ------------------------


def _alive(owner: str) -> bool:
    """Whether a lease owner 'host:pid:thread' may still be running (a dead pid on this host is not)."""
    import os
    import socket

    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lease(db: sqlite_utils.Database, name: str, owner: str, ttl: float) -> bool:
    """Take the named lease unless another live owner holds an unexpired one."""
    import json

    key = f"lease:{name}"
    now = datetime.now(UTC)
    with write(db):
        row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        if row and row[0]:
            held = json.loads(row[0])
            if (
                held.get("owner") != owner
                and held.get("until", "") > to_db_time(now)
                and _alive(held["owner"])
            ):
                return False
        value = json.dumps({"owner": owner, "until": to_db_time(now + timedelta(seconds=ttl))})
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
    return True


def release_lease(db: sqlite_utils.Database, name: str, owner: str) -> None:
    """Give the lease back if we hold it."""
    import json

    key = f"lease:{name}"
    with write(db):
        row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        if row and row[0] and json.loads(row[0]).get("owner") == owner:
            db.execute("DELETE FROM meta WHERE key = ?", [key])


# --- retention --------------------------------------------------------------------------------------


def _blob_references(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(table, column) of every foreign key to evidence_blobs.sha256 (evidence, OCR text, ...)."""
    if dialect(db) == POSTGRESQL:
        rows = db.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
            " WHERE c.contype = 'f' AND c.confrelid = 'evidence_blobs'::regclass ORDER BY 1, 2"
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]
    refs: list[tuple[str, str]] = []
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    for table in tables:
        for fk in db.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
            if fk[2] == "evidence_blobs":
                refs.append((table, str(fk[3])))
    return refs


def prune(
    db: sqlite_utils.Database, evidence_before: str | None, fetch_log_before: str | None, batch: int = 5000
) -> dict[str, int]:
    """Delete evidence rows fetched before `evidence_before`, the bodies nothing refers to any more, and
    finished fetch_log rows started before `fetch_log_before` (store-format times). Items are kept.

    Works in batches, each its own short transaction, so collection and the web app are never held up."""
    counts = {"evidence": 0, "evidence_blobs": 0, "fetch_log": 0}
    if evidence_before is not None:
        while True:
            with write(db):
                cur = db.execute(
                    "DELETE FROM evidence WHERE id IN (SELECT id FROM evidence WHERE fetched_at < ? LIMIT ?)",
                    [evidence_before, batch],
                )
            counts["evidence"] += cur.rowcount
            if cur.rowcount < batch:
                break
        refs = _blob_references(db)
        unused = " AND ".join(f"sha256 NOT IN (SELECT {col} FROM {table})" for table, col in refs) or "1"
        while True:
            with write(db):
                cur = db.execute(
                    f"DELETE FROM evidence_blobs WHERE sha256 IN (SELECT sha256 FROM evidence_blobs WHERE {unused}"
                    " LIMIT ?)",
                    [batch],
                )
            counts["evidence_blobs"] += cur.rowcount
            if cur.rowcount < batch:
                break
    if fetch_log_before is not None:
        with write(db):
            cur = db.execute(
                "DELETE FROM fetch_log WHERE status != 'running' AND started_at < ?", [fetch_log_before]
            )
        counts["fetch_log"] = cur.rowcount
    return counts
