"""Sources as configured, plus their health (last success / error, back-off)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import query_one, to_db_time, utcnow, write


def sync_sources(db: sqlite_utils.Database, sources: Sequence[Any]) -> dict[str, int]:
    """Upsert the configured sources (pydantic models); disable rows no longer configured. name -> id.

    One read of every row, then writes only for what differs: a collect run (one per source per task in
    distributed mode) with an unchanged configuration writes nothing here and takes no write lock. When
    something differs the rows are read again under the write lock (another process may have just synced)."""
    ids, changes, gone = _sync_plan(db, sources)
    if not changes and not gone:
        return ids
    now = utcnow()
    with write(db):
        ids, changes, gone = _sync_plan(db, sources)
        for src, config_json, row_id in changes:
            if row_id is not None:
                # A validator (ETag, Last-Modified) belongs to the URL that sent it: a new URL starts without.
                db.execute(
                    "UPDATE sources SET kind = ?, enabled = ?, config_json = ?, updated_at = ?,"
                    " etag = CASE WHEN url = ? THEN etag END,"
                    " last_modified = CASE WHEN url = ? THEN last_modified END, url = ? WHERE id = ?",
                    [src.kind, int(src.enabled), config_json, now, src.url, src.url, src.url, row_id],
                )
                continue
            cur = db.execute(
                "INSERT INTO sources (name, kind, url, enabled, config_json, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [src.name, src.kind, src.url, int(src.enabled), config_json, now, now],
            )
            ids[src.name] = int(cur.lastrowid or 0)
        for name in gone:
            db.execute(
                "UPDATE sources SET enabled = 0, updated_at = ? WHERE name = ? AND enabled = 1", [now, name]
            )
    return ids


# Each source's configuration as stored (JSON), per configuration object: a distributed worker syncs the same
# configuration before every collect task, and dumping 1,000 sources was ~5 ms of each task's CPU.
_CONFIG_JSON: dict[int, tuple[Sequence[Any], list[tuple[Any, str]]]] = {}


def _configured_json(sources: Sequence[Any]) -> list[tuple[Any, str]]:
    cached = _CONFIG_JSON.get(id(sources))
    if cached is not None and cached[0] is sources and len(cached[1]) == len(sources):
        return cached[1]
    dumped = [(src, json.dumps(src.model_dump(mode="json"), sort_keys=True)) for src in sources]
    if len(_CONFIG_JSON) >= 8:
        _CONFIG_JSON.clear()
    _CONFIG_JSON[id(sources)] = (sources, dumped)
    return dumped


def _sync_plan(
    db: sqlite_utils.Database, sources: Sequence[Any]
) -> tuple[dict[str, int], list[tuple[Any, str, int | None]], list[str]]:
    """(ids of the rows already right, changes as (source, config json, row id or None for a new row), names
    of enabled rows no longer configured)."""
    existing = {
        str(r[0]): (int(r[1]), r[2], r[3], int(r[4] or 0), r[5])
        for r in db.execute("SELECT name, id, kind, url, enabled, config_json FROM sources").fetchall()
    }
    configured = {src.name for src in sources}
    ids: dict[str, int] = {}
    changes: list[tuple[Any, str, int | None]] = []
    for src, config_json in _configured_json(sources):
        row = existing.get(src.name)
        if row is None:
            changes.append((src, config_json, None))
            continue
        ids[src.name] = row[0]
        if (row[1], row[2], row[3], row[4]) != (src.kind, src.url, int(src.enabled), config_json):
            changes.append((src, config_json, row[0]))
    gone = [name for name, row in existing.items() if name not in configured and row[3] == 1]
    return ids, changes, gone


def get_source(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    """A source row by name."""
    return query_one(db, "SELECT * FROM sources WHERE name = ?", [name])


def source_health(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Per-source health for `misinfo status`: name, kind, last_success, last_error, items_24h."""
    if dialect(db) == POSTGRESQL:
        # The cut-off as the store writes times (to_db_time), compared as text as on SQLite.
        since = to_db_time(datetime.now(UTC) - timedelta(days=1))
        rows = db.query(
            """
            SELECT s.name, s.kind, s.enabled, s.last_success, s.last_error, s.last_error_at,
                   s.consecutive_failures,
                   (SELECT COUNT(*) FROM items i WHERE i.source_id = s.id AND i.fetched_at >= ?) AS items_24h,
                   (SELECT f.status || chr(31) || COALESCE(f.error, '') FROM fetch_log f
                      WHERE f.source_id = s.id AND f.status != 'running' ORDER BY f.id DESC LIMIT 1) AS last_pass
            FROM sources s ORDER BY s.name
            """,
            [since],
        )
    else:
        rows = db.query(
            """
        SELECT s.name, s.kind, s.enabled, s.last_success, s.last_error, s.last_error_at, s.consecutive_failures,
               (SELECT COUNT(*) FROM items i WHERE i.source_id = s.id
                  AND i.fetched_at >= strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-1 day')) AS items_24h,
               (SELECT f.status || char(31) || COALESCE(f.error, '') FROM fetch_log f
                  WHERE f.source_id = s.id AND f.status != 'running' ORDER BY f.id DESC LIMIT 1) AS last_pass
        FROM sources s ORDER BY s.name
        """
        )
    return [
        {
            "name": r["name"],
            "kind": r["kind"],
            "enabled": bool(r["enabled"]),
            "last_success": r["last_success"],
            "last_error": r["last_error"],
            "last_error_at": r["last_error_at"],
            "consecutive_failures": r["consecutive_failures"],
            "items_24h": r["items_24h"],
            "warning": _warning(r["last_pass"]),
        }
        for r in rows
    ]


def _warning(last_pass: str | None) -> str | None:
    """The note of the last pass when it succeeded with partial failures (e.g. pages a crawl could not get)."""
    status, _, note = (last_pass or "").partition(chr(31))
    return note or None if status in ("ok", "not_modified") else None
