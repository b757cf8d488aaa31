"""Figures for managers: volumes, breakdowns, response times and overdue work, as rows ready for CSV."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.store.db import from_db_time, to_db_time, utcnow

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Window:
    """The reporting period: the last `days` days, grouped into days of time zone `tz`.

    tz comes from the caller (web.timezone in the config); UTC only when none is given.
    """

    days: int = 30
    tz: str = "UTC"

    @property
    def since(self) -> str:
        """Start of the first local day in the window, as a store-format UTC string."""
        zone = ZoneInfo(self.tz)
        local_today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return to_db_time((local_today - timedelta(days=self.days - 1)).astimezone(UTC))

    @property
    def offset(self) -> str:
        """SQLite date modifier shifting UTC to local time ('+420 minutes' for Hanoi).

        Uses today's offset: exact for zones without daylight saving, off by an hour near a DST change.
        """
        delta = datetime.now(ZoneInfo(self.tz)).utcoffset() or timedelta(0)
        return f"{int(delta.total_seconds() // 60):+d} minutes"

    def local_days(self) -> list[str]:
        """Every local date in the window, oldest first, as YYYY-MM-DD."""
        today = datetime.now(ZoneInfo(self.tz)).date()
        return [(today - timedelta(days=n)).isoformat() for n in range(self.days - 1, -1, -1)]


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100) with linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return ordered[int(k)]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def volumes(db: sqlite_utils.Database, window: Window) -> Rows:
    """Items collected and items flagged per local day, every day of the window present (zeros included)."""
    since, offset = window.since, window.offset
    counts: dict[str, dict[str, int]] = {day: {"items": 0, "flags": 0} for day in window.local_days()}
    for column, table, time_col in (("items", "items", "fetched_at"), ("flags", "flags", "flagged_at")):
        sql = (
            f"SELECT date({time_col}, ?) AS day, COUNT(*) AS n FROM {table}"
            f" WHERE {time_col} >= ? GROUP BY day"
        )
        for row in db.query(sql, [offset, since]):
            if row["day"] in counts:
                counts[row["day"]][column] = row["n"]
    return [{"day": day, "items": c["items"], "flags": c["flags"]} for day, c in counts.items()]


def _merge(
    items: list[dict[str, Any]], flags: list[dict[str, Any]], key: str, columns: tuple[str, ...]
) -> dict[Any, dict[str, Any]]:
    """Join per-key item counts and per-key flag counts (either side may lack a key)."""
    out: dict[Any, dict[str, Any]] = {}
    for row in items:
        out[row[key]] = {"items": row["items"], **dict.fromkeys(columns, 0)}
    for row in flags:
        merged = out.setdefault(row[key], {"items": 0, **dict.fromkeys(columns, 0)})
        merged.update({c: row[c] or 0 for c in columns})
    return out


# Flags drive their own count (CROSS JOIN keeps SQLite from scanning all items first); items are counted
# from a covering index. Both read indexes only, so a million items take well under a second.
_FLAG_COUNTS = """
SELECT {group} AS k, COUNT(*) AS flagged, SUM(f.state = 'linked') AS linked,
       SUM(f.state = 'dismissed') AS dismissed, SUM(f.state = 'escalated') AS escalated
FROM flags f CROSS JOIN items i ON i.id = f.item_id
WHERE f.flagged_at >= ? GROUP BY k
"""


def by_source(db: sqlite_utils.Database, window: Window) -> Rows:
    """Per source: items collected in the window, and items flagged in it with what became of them."""
    items = list(
        db.query(
            "SELECT source_id AS k, COUNT(*) AS items FROM items WHERE fetched_at >= ? GROUP BY k",
            [window.since],
        )
    )
    flags = list(db.query(_FLAG_COUNTS.format(group="i.source_id"), [window.since]))
    names = {row["id"]: row["name"] for row in db.query("SELECT id, name FROM sources")}
    merged = _merge(items, flags, "k", ("flagged", "linked", "dismissed", "escalated"))
    rows = [{"source": names.get(k, "(none)") if k is not None else "(none)", **v} for k, v in merged.items()]
    return sorted(rows, key=lambda r: (-r["flagged"], -r["items"], r["source"]))


def by_language(db: sqlite_utils.Database, window: Window) -> Rows:
    """Per language: items collected and items flagged in the window."""
    group = "COALESCE(NULLIF(i.lang, ''), 'und')"
    items = list(
        db.query(
            f"SELECT {group} AS k, COUNT(*) AS items FROM items i WHERE i.fetched_at >= ? GROUP BY k",
            [window.since],
        )
    )
    flags = list(db.query(_FLAG_COUNTS.format(group=group), [window.since]))
    merged = _merge(items, flags, "k", ("flagged",))
    rows = [{"language": k, "items": v["items"], "flagged": v["flagged"]} for k, v in merged.items()]
    return sorted(rows, key=lambda r: (-r["flagged"], -r["items"], r["language"]))


def by_narrative(db: sqlite_utils.Database, window: Window) -> Rows:
    """Per narrative: items flagged and linked in the window, assignments and published responses."""
    sql = """
    SELECT COALESCE(n.name, '(no narrative)') AS narrative, COUNT(*) AS flagged,
           SUM(f.state = 'linked') AS linked,
           (SELECT COUNT(*) FROM assignments a WHERE a.narrative_id = n.id
                OR a.item_id IN (SELECT item_id FROM flags f2 WHERE f2.narrative_id = n.id)) AS assignments,
           (SELECT COUNT(*) FROM assignments a WHERE a.status = 'published' AND (a.narrative_id = n.id
                OR a.item_id IN (SELECT item_id FROM flags f2 WHERE f2.narrative_id = n.id))) AS published
    FROM flags f LEFT JOIN narratives n ON n.id = f.narrative_id
    WHERE f.flagged_at >= ?
    GROUP BY f.narrative_id ORDER BY flagged DESC, narrative
    """
    rows = [_zeros(row) for row in db.query(sql, [window.since])]
    for row in rows:
        if row["narrative"] == "(no narrative)":
            row["assignments"] = row["published"] = 0
    return rows


def _hours(start: str | None, end: str | None) -> float | None:
    a, b = from_db_time(start), from_db_time(end)
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0) / 3600


def response_times(db: sqlite_utils.Database, window: Window) -> Rows:
    """Hours from first seen (items.fetched_at) to first link and to first published response: n, median, p90."""
    linked = db.query(
        "SELECT i.fetched_at AS start, MIN(l.created_at) AS end FROM links l JOIN items i ON i.id = l.item_id"
        " WHERE i.fetched_at >= ? GROUP BY l.item_id",
        [window.since],
    )
    # A response published for a narrative answers every flagged item of that narrative seen before it.
    published = db.query(
        """
        SELECT start, MIN(end) AS end FROM (
            SELECT i.id, i.fetched_at AS start, a.published_at AS end
            FROM assignments a JOIN items i ON i.id = a.item_id
            WHERE a.status = 'published' AND a.published_at IS NOT NULL
            UNION ALL
            SELECT i.id, i.fetched_at AS start, a.published_at AS end
            FROM assignments a JOIN flags f ON f.narrative_id = a.narrative_id JOIN items i ON i.id = f.item_id
            WHERE a.status = 'published' AND a.published_at IS NOT NULL
        )
        WHERE start >= ? AND end >= start
        GROUP BY id
        """,
        [window.since],
    )
    rows: Rows = []
    for measure, pairs in (("first_seen_to_linked", linked), ("first_seen_to_published", published)):
        hours = [h for h in (_hours(p["start"], p["end"]) for p in pairs) if h is not None]
        median, p90 = percentile(hours, 50), percentile(hours, 90)
        rows.append(
            {
                "measure": measure,
                "n": len(hours),
                "median_hours": None if median is None else round(median, 2),
                "p90_hours": None if p90 is None else round(p90, 2),
            }
        )
    return rows


def overdue(db: sqlite_utils.Database, window: Window | None = None) -> Rows:
    """Open assignments past their due date, most overdue first (the window does not apply: overdue is now)."""
    now = utcnow()
    sql = """
    SELECT a.id, a.due_at, u.username AS assignee, a.channel, a.status, r.title AS rebuttal,
           a.item_id, i.title AS item, n.name AS narrative
    FROM assignments a JOIN users u ON u.id = a.assignee_id
    LEFT JOIN rebuttals r ON r.id = a.rebuttal_id
    LEFT JOIN items i ON i.id = a.item_id
    LEFT JOIN narratives n ON n.id = a.narrative_id
    WHERE a.status IN ('assigned', 'in_progress') AND a.due_at IS NOT NULL AND a.due_at < ?
    ORDER BY a.due_at, a.id
    """
    out: Rows = []
    for row in db.query(sql, [now]):
        late = _hours(row["due_at"], now) or 0.0
        out.append({**row, "hours_overdue": round(late, 1)})
    return out


def _zeros(row: dict[str, Any]) -> dict[str, Any]:
    """SUM over no rows is NULL in SQL; a report shows 0."""
    return {k: (0 if v is None else v) for k, v in row.items()}


TABLES: dict[str, tuple[str, Callable[[sqlite_utils.Database, Window], Rows]]] = {
    "volumes": ("Volumes per day", volumes),
    "sources": ("By source", by_source),
    "languages": ("By language", by_language),
    "narratives": ("By narrative", by_narrative),
    "response_times": ("Response times", response_times),
    "overdue": ("Overdue work", overdue),
}


def table(db: sqlite_utils.Database, name: str, window: Window) -> Rows:
    """One named report table (a key of TABLES)."""
    return TABLES[name][1](db, window)


def _covering_indexes(db: sqlite_utils.Database) -> None:
    """Indexes holding every column the report queries read, so they never touch item rows.

    Measured with 1M items, 316k in a 30-day window: by source 2.5 s -> 0.55 s, by language 2.1 s -> 0.5 s.
    """
    db.execute("CREATE INDEX IF NOT EXISTS items_fetched_source_lang ON items(fetched_at, source_id, lang)")
    db.execute(
        "CREATE INDEX IF NOT EXISTS flags_flagged_cover ON flags(flagged_at, state, item_id, narrative_id)"
    )


MIGRATIONS = [("reports_0001_covering_indexes", _covering_indexes)]
