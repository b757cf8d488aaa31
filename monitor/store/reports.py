"""Figures for managers: volumes, breakdowns, response times and overdue work, as rows ready for CSV."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import from_db_time, to_db_time, utcnow, write

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
    return between(len(ordered), p, ordered[lo], ordered[hi])


def between(n: int, p: float, low: float, high: float) -> float | None:
    """percentile()'s answer from the two values it interpolates: of the n sorted values, those at
    0-based ranks floor(k) and ceil(k), k = (n - 1) * p / 100. The same float operations in the same order,
    so a database that picks the two values (PostgreSQL: _PG_PERCENTILES) gives the same figure."""
    if n == 0:
        return None
    k = (n - 1) * p / 100
    lo = math.floor(k)
    if lo == math.ceil(k):
        return low
    return low + (high - low) * (k - lo)


def _edge(window: Window) -> tuple[str, str, str]:
    """(since, the first whole UTC day of the window, that day's start): the daily counts answer from that
    day on, the rows themselves (through their time indexes) the part of the window before it."""
    since = window.since
    start = from_db_time(since)
    assert start is not None
    first = (
        start.date() if start.timetz().replace(tzinfo=None) == dtime() else start.date() + timedelta(days=1)
    )
    return since, first.isoformat(), to_db_time(datetime.combine(first, dtime(), tzinfo=UTC))


def _key(value: Any, dim: str = "lang") -> Any:
    """A report_days key as the rows give it: '' (none) is None; a source or narrative id an int (PostgreSQL
    keeps the keys as text)."""
    if value == "":
        return None
    if dim != "lang" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def volumes(db: sqlite_utils.Database, window: Window) -> Rows:
    """Items collected and items flagged per local day, every day of the window present (zeros included)."""
    counts: dict[str, dict[str, int]] = {day: {"items": 0, "flags": 0} for day in window.local_days()}
    sql = (
        "SELECT date(slot, ?) AS day, SUM(items) AS items, SUM(flags) AS flags FROM report_slots"
        " WHERE slot >= ? GROUP BY day"
    )
    if dialect(db) == POSTGRESQL:  # the same local day: the slot's UTC time shifted by the same minutes
        sql = (
            "SELECT to_char(slot::timestamp + CAST(? AS interval), 'YYYY-MM-DD') AS day, SUM(items) AS items,"
            " SUM(flags) AS flags FROM report_slots WHERE slot >= ? GROUP BY day"
        )
    for row in db.query(sql, [window.offset, window.since[:16]]):
        if row["day"] in counts:
            counts[row["day"]] = {"items": int(row["items"] or 0), "flags": int(row["flags"] or 0)}
    return [{"day": day, "items": c["items"], "flags": c["flags"]} for day, c in counts.items()]


FLAG_STATES = ("new", "in_review", "linked", "dismissed", "escalated")


def _counts(
    db: sqlite_utils.Database, window: Window, dim: str, item_key: str | None, flag_key: str
) -> dict[Any, dict[str, int]]:
    """{key: {'items': n, 'flagged': n, 'linked': n, ...}} for one dimension over the window."""
    since, first_day, edge = _edge(window)
    out: dict[Any, dict[str, int]] = {}

    def add(key: Any, measure: str, n: Any) -> None:
        row = out.setdefault(_key(key, dim), {"items": 0, "flagged": 0, **dict.fromkeys(FLAG_STATES, 0)})
        n = int(n or 0)
        if measure == "items":
            row["items"] += n
        else:
            row["flagged"] += n
            row[measure] = row.get(measure, 0) + n

    for row in db.query(
        "SELECT key, measure, SUM(n) AS n FROM report_days WHERE dim = ? AND day >= ? GROUP BY key, measure",
        [dim, first_day],
    ):
        add(row["key"], row["measure"], row["n"])
    if since < edge:  # the first, partial UTC day: from the rows (at most a day of them, read by index)
        if item_key is not None:
            for row in db.query(
                f"SELECT {item_key} AS k, COUNT(*) AS n FROM items i"
                " WHERE i.fetched_at >= ? AND i.fetched_at < ? GROUP BY k",
                [since, edge],
            ):
                add(row["k"], "items", row["n"])
        # A flag's source and language are its item's, copied onto it (queue_0001's triggers): read from the
        # flags_flagged_keys index alone (reports_0005), no item row per flag.
        for row in db.query(
            f"SELECT {flag_key} AS k, f.state AS state, COUNT(*) AS n FROM flags f"
            " WHERE f.flagged_at >= ? AND f.flagged_at < ? GROUP BY k, state",
            [since, edge],
        ):
            add(row["k"], row["state"], row["n"])
    return {k: v for k, v in out.items() if v["items"] or v["flagged"]}


def by_source(db: sqlite_utils.Database, window: Window) -> Rows:
    """Per source: items collected in the window, and items flagged in it with what became of them."""
    counts = _counts(db, window, "source", "i.source_id", "f.source_id")
    names = {row["id"]: row["name"] for row in db.query("SELECT id, name FROM sources")}
    rows = [
        {
            "source": names.get(k, "(none)") if k is not None else "(none)",
            "items": v["items"],
            "flagged": v["flagged"],
            "linked": v["linked"],
            "dismissed": v["dismissed"],
            "escalated": v["escalated"],
        }
        for k, v in counts.items()
    ]
    return sorted(rows, key=lambda r: (-r["flagged"], -r["items"], r["source"]))


def by_language(db: sqlite_utils.Database, window: Window) -> Rows:
    """Per language: items collected and items flagged in the window."""
    counts = _counts(db, window, "lang", _LANG.format(lang="i.lang"), _LANG.format(lang="f.lang"))
    rows = [{"language": k, "items": v["items"], "flagged": v["flagged"]} for k, v in counts.items()]
    return sorted(rows, key=lambda r: (-r["flagged"], -r["items"], r["language"]))


def by_narrative(db: sqlite_utils.Database, window: Window) -> Rows:
    """Per narrative: items flagged and linked in the window, assignments and published responses."""
    counts = _counts(db, window, "narrative", None, "f.narrative_id")
    names = {row["id"]: row["name"] for row in db.query("SELECT id, name FROM narratives")}
    # Assignments per narrative: those made for it, and those made for an item flagged under it.
    work: dict[int, dict[str, int]] = {}
    published = (
        "SUM(CASE WHEN a.status = 'published' THEN 1 ELSE 0 END)"
        if dialect(db) == POSTGRESQL
        else "SUM(a.status = 'published')"
    )
    for row in db.query(
        f"""
        SELECT pairs.nid AS nid, COUNT(*) AS assignments, {published} AS published
        FROM (SELECT id AS aid, narrative_id AS nid FROM assignments WHERE narrative_id IS NOT NULL
              UNION
              SELECT a2.id, f.narrative_id FROM assignments a2 JOIN flags f ON f.item_id = a2.item_id
              WHERE f.narrative_id IS NOT NULL) pairs
        JOIN assignments a ON a.id = pairs.aid
        GROUP BY pairs.nid
        """
    ):
        work[int(row["nid"])] = {
            "assignments": int(row["assignments"]),
            "published": int(row["published"] or 0),
        }
    merged: dict[str, dict[str, Any]] = {}
    for k, v in counts.items():
        name = names.get(k) if k is not None else None
        label = name if name is not None else "(no narrative)"
        row = merged.setdefault(
            label, {"narrative": label, "flagged": 0, "linked": 0, "assignments": 0, "published": 0}
        )
        row["flagged"] += v["flagged"]
        row["linked"] += v["linked"]
        if name is not None:
            row["assignments"] = work.get(int(k), {}).get("assignments", 0)
            row["published"] = work.get(int(k), {}).get("published", 0)
    rows = [r for r in merged.values() if r["flagged"]]
    return sorted(rows, key=lambda r: (-r["flagged"], r["narrative"]))


def _hours(start: str | None, end: str | None) -> float | None:
    a, b = from_db_time(start), from_db_time(end)
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0) / 3600


PERCENTILES = (50, 90)  # response_times' median and p90


def response_times(db: sqlite_utils.Database, window: Window) -> Rows:
    """Hours from first seen (items.fetched_at) to first link and to first published response: n, median, p90."""
    # First links come from report_link_times (kept by triggers); hours are computed by SQLite.
    linked = "SELECT hours FROM report_link_times WHERE seen_at >= ?"
    # A response published for a narrative answers every flagged item of that narrative seen before it.
    hours = (
        "report_hours(MIN(p.ended), p.started)"
        if dialect(db) == POSTGRESQL
        else _HOURS.format(end="MIN(p.ended)", start="p.started")
    )
    published = _PUBLISHED_HOURS.format(hours=hours)
    rows: Rows = []
    for measure, sql in (("first_seen_to_linked", linked), ("first_seen_to_published", published)):
        n, (median, p90) = _percentiles(db, sql, [window.since], PERCENTILES)
        rows.append(
            {
                "measure": measure,
                "n": n,
                "median_hours": None if median is None else round(median, 2),
                "p90_hours": None if p90 is None else round(p90, 2),
            }
        )
    return rows


def _percentiles(
    db: sqlite_utils.Database, sql: str, params: list[Any], ps: tuple[int, ...]
) -> tuple[int, list[float | None]]:
    """(n, [percentile(values, p) for p in ps]) of the non-NULL `hours` column of `sql`'s rows.

    SQLite: the values come back and are sorted here. PostgreSQL (400k linked items in a year at 10M items):
    the database sorts them and sends back the count and, per percentile, only the two values percentile()
    interpolates between (_PG_PERCENTILES), so the figures are the same to the last bit."""
    if dialect(db) != POSTGRESQL:
        values = [float(row["hours"]) for row in db.query(sql, params) if row["hours"] is not None]
        return len(values), [percentile(values, p) for p in ps]
    picks = "".join(_PG_PICK.format(p=int(p)) for p in ps)
    row = db.execute(_PG_PERCENTILES.format(picks=picks, values=sql), params).fetchone()
    n = int(row[0])
    return n, [between(n, p, row[1 + 2 * i], row[2 + 2 * i]) for i, p in enumerate(ps)]


# _percentiles on PostgreSQL: the values sorted once into an array; per percentile p the elements at 0-based
# ranks floor(k) and ceil(k), k = (n - 1) * p / 100, in integer arithmetic (exact: p is a whole number).
_PG_PERCENTILES = """
SELECT n{picks} FROM (
    SELECT COUNT(v.hours) AS n, array_agg(v.hours ORDER BY v.hours) FILTER (WHERE v.hours IS NOT NULL) AS a
    FROM ({values}) v
) s
"""
_PG_PICK = ", a[(n - 1) * {p} / 100 + 1], a[(n - 1) * {p} / 100 + 1 + CASE WHEN (n - 1) * {p} % 100 > 0 THEN 1 ELSE 0 END]"


# response_times' published hours, one query for both dialects: `started`/`ended` because `end` is a reserved
# word on PostgreSQL, the alias `p` because a PostgreSQL subquery needs a name. {hours} is _HOURS on SQLite
# and report_hours() (pg_schema: the same figure) on PostgreSQL. `started` is the item's fetched_at, the same
# in all the rows of one id, so grouping by (id, started) is grouping by id (PostgreSQL needs it named).
_PUBLISHED_HOURS = """
SELECT {hours} AS hours FROM (
    SELECT i.id, i.fetched_at AS started, a.published_at AS ended
    FROM assignments a JOIN items i ON i.id = a.item_id
    WHERE a.status = 'published' AND a.published_at IS NOT NULL
    UNION ALL
    SELECT i.id, i.fetched_at AS started, a.published_at AS ended
    FROM assignments a JOIN flags f ON f.narrative_id = a.narrative_id JOIN items i ON i.id = f.item_id
    WHERE a.status = 'published' AND a.published_at IS NOT NULL
) p
WHERE p.started >= ? AND p.ended >= p.started
GROUP BY p.id, p.started
"""


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


# --- daily counts, kept by triggers -----------------------------------------------------------------------
#
# The reports page must answer in well under a second at a million items, every day, for any window. Two
# small tables hold the counts the page adds up, maintained by triggers in the same transaction as every
# write to items and flags (collect, classify, the review decisions, imports, tests, the bench builder):
#
#   report_slots  per UTC quarter-hour: items collected, items flagged. Volumes per *local* day are summed
#                 from it with the time zone's offset (every zone's offset is a multiple of 15 minutes).
#   report_days   per UTC day and key: items per source / language, flags per source / language /
#                 narrative and state ('new', 'linked', ...). The breakdowns sum the whole UTC days of the
#                 window from it and count the first, partial UTC day (local midnight is not UTC midnight)
#                 from the indexed rows themselves.
#
# Keys: a source id, a language code ('und' for none), a narrative id; '' means none. An item's or a flag's
# time, source, language, state or narrative changing moves its count; deleting it removes it.

_SLOT = "strftime('%Y-%m-%dT%H:', {t}) || printf('%02d', CAST(strftime('%M', {t}) AS INTEGER) / 15 * 15)"
_DAY = "date({t})"
_LANG = "COALESCE(NULLIF({lang}, ''), 'und')"


def _bump_slot(t: str, column: str, delta: int) -> str:
    slot = _SLOT.format(t=t)
    return (
        f"INSERT INTO report_slots (slot, {column}) SELECT {slot}, {delta} WHERE {slot} IS NOT NULL"
        f" ON CONFLICT (slot) DO UPDATE SET {column} = {column} + {delta};"
    )


def _bump_day(dim: str, t: str, key: str, measure: str, delta: int, source: str = "") -> str:
    """One upsert of report_days; `source` is a FROM clause (with its WHERE) the values come from."""
    day = _DAY.format(t=t)
    where = f"{source} {'AND' if ' WHERE ' in f' {source} ' else 'WHERE'} {day} IS NOT NULL"
    return (
        f"INSERT INTO report_days (dim, day, key, measure, n) SELECT '{dim}', {day}, {key}, {measure}, {delta}"
        f" {where} ON CONFLICT (dim, day, key, measure) DO UPDATE SET n = n + {delta};"
    )


def _item_counts(row: str, delta: int) -> str:
    t = f"{row}.fetched_at"
    return "\n".join(
        [
            _bump_slot(t, "items", delta),
            _bump_day("source", t, f"COALESCE({row}.source_id, '')", "'items'", delta),
            _bump_day("lang", t, _LANG.format(lang=f"{row}.lang"), "'items'", delta),
        ]
    )


def _flag_counts(row: str, delta: int) -> str:
    """The counts of one flag `row` (NEW or OLD); its source and language are its item's."""
    t = f"{row}.flagged_at"
    item = f"FROM items i WHERE i.id = {row}.item_id"
    return "\n".join(
        [
            _bump_slot(t, "flags", delta),
            _bump_day("source", t, "COALESCE(i.source_id, '')", f"{row}.state", delta, item),
            _bump_day("lang", t, _LANG.format(lang="i.lang"), f"{row}.state", delta, item),
            _bump_day("narrative", t, f"COALESCE({row}.narrative_id, '')", f"{row}.state", delta),
        ]
    )


def _item_flag_keys(row: str, item_row: str, delta: int) -> str:
    """The source and language counts of the flag of item `item_row` (when it has one)."""
    t = "f.flagged_at"
    flag = f"FROM flags f WHERE f.item_id = {item_row}.id"
    return "\n".join(
        [
            _bump_day("source", t, f"COALESCE({row}.source_id, '')", "f.state", delta, flag),
            _bump_day("lang", t, _LANG.format(lang=f"{row}.lang"), "f.state", delta, flag),
        ]
    )


def _daily_counts_sql() -> str:
    item_keys = "OLD.fetched_at IS NOT NEW.fetched_at OR OLD.source_id IS NOT NEW.source_id OR OLD.lang IS NOT NEW.lang"
    flag_keys = (
        "OLD.flagged_at IS NOT NEW.flagged_at OR OLD.state IS NOT NEW.state"
        " OR OLD.narrative_id IS NOT NEW.narrative_id OR OLD.item_id IS NOT NEW.item_id"
    )
    return f"""
CREATE TABLE IF NOT EXISTS report_slots (
    slot TEXT PRIMARY KEY,
    items INTEGER NOT NULL DEFAULT 0,
    flags INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS report_days (
    dim TEXT NOT NULL,
    day TEXT NOT NULL,
    key NOT NULL,
    measure TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, day, key, measure)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS report_items_insert AFTER INSERT ON items BEGIN
{_item_counts("NEW", 1)}
END;
CREATE TRIGGER IF NOT EXISTS report_items_delete AFTER DELETE ON items BEGIN
{_item_counts("OLD", -1)}
END;
CREATE TRIGGER IF NOT EXISTS report_items_update AFTER UPDATE OF fetched_at, source_id, lang ON items
WHEN {item_keys} BEGIN
{_item_counts("OLD", -1)}
{_item_counts("NEW", 1)}
{_item_flag_keys("OLD", "OLD", -1)}
{_item_flag_keys("NEW", "NEW", 1)}
END;
CREATE TRIGGER IF NOT EXISTS report_flags_insert AFTER INSERT ON flags BEGIN
{_flag_counts("NEW", 1)}
END;
CREATE TRIGGER IF NOT EXISTS report_flags_delete AFTER DELETE ON flags BEGIN
{_flag_counts("OLD", -1)}
END;
CREATE TRIGGER IF NOT EXISTS report_flags_update AFTER UPDATE OF flagged_at, state, narrative_id, item_id ON flags
WHEN {flag_keys} BEGIN
{_flag_counts("OLD", -1)}
{_flag_counts("NEW", 1)}
END;
"""


def _backfill_sql() -> str:
    """The counts of the rows already there (the triggers keep them from then on)."""
    slot_i, slot_f = _SLOT.format(t="fetched_at"), _SLOT.format(t="flagged_at")
    lang_i = _LANG.format(lang="i.lang")
    return f"""
DELETE FROM report_slots;
DELETE FROM report_days;
INSERT INTO report_slots (slot, items, flags)
SELECT slot, SUM(items), SUM(flags) FROM (
    SELECT {slot_i} AS slot, COUNT(*) AS items, 0 AS flags FROM items GROUP BY 1
    UNION ALL
    SELECT {slot_f} AS slot, 0, COUNT(*) FROM flags GROUP BY 1
) WHERE slot IS NOT NULL GROUP BY slot;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'source', date(fetched_at), COALESCE(source_id, ''), 'items', COUNT(*) FROM items
WHERE date(fetched_at) IS NOT NULL GROUP BY 2, 3;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'lang', date(i.fetched_at), {lang_i}, 'items', COUNT(*) FROM items i
WHERE date(i.fetched_at) IS NOT NULL GROUP BY 2, 3;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'source', date(f.flagged_at), COALESCE(i.source_id, ''), f.state, COUNT(*)
FROM flags f JOIN items i ON i.id = f.item_id WHERE date(f.flagged_at) IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'lang', date(f.flagged_at), {lang_i}, f.state, COUNT(*)
FROM flags f JOIN items i ON i.id = f.item_id WHERE date(f.flagged_at) IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'narrative', date(flagged_at), COALESCE(narrative_id, ''), state, COUNT(*) FROM flags
WHERE date(flagged_at) IS NOT NULL GROUP BY 2, 3, 4;
"""


# The same back-fill on PostgreSQL (pg_schema's reports_0002 twin and recount run it): report_slot() and
# report_day() (pg_schema) are _SLOT and date(); keys are text there.
PG_BACKFILL_SQL = """
DELETE FROM report_slots;
DELETE FROM report_days;
INSERT INTO report_slots (slot, items, flags)
SELECT slot, SUM(items), SUM(flags) FROM (
    SELECT report_slot(fetched_at) AS slot, COUNT(*) AS items, 0 AS flags FROM items GROUP BY 1
    UNION ALL
    SELECT report_slot(flagged_at) AS slot, 0, COUNT(*) FROM flags GROUP BY 1
) s WHERE slot IS NOT NULL GROUP BY slot;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'source', report_day(fetched_at), COALESCE(source_id::text, ''), 'items', COUNT(*) FROM items
WHERE report_day(fetched_at) IS NOT NULL GROUP BY 2, 3;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'lang', report_day(i.fetched_at), COALESCE(NULLIF(i.lang, ''), 'und'), 'items', COUNT(*) FROM items i
WHERE report_day(i.fetched_at) IS NOT NULL GROUP BY 2, 3;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'source', report_day(f.flagged_at), COALESCE(i.source_id::text, ''), f.state, COUNT(*)
FROM flags f JOIN items i ON i.id = f.item_id WHERE report_day(f.flagged_at) IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'lang', report_day(f.flagged_at), COALESCE(NULLIF(i.lang, ''), 'und'), f.state, COUNT(*)
FROM flags f JOIN items i ON i.id = f.item_id WHERE report_day(f.flagged_at) IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO report_days (dim, day, key, measure, n)
SELECT 'narrative', report_day(flagged_at), COALESCE(narrative_id::text, ''), state, COUNT(*) FROM flags
WHERE report_day(flagged_at) IS NOT NULL GROUP BY 2, 3, 4;
"""


def _daily_counts(db: sqlite_utils.Database) -> None:
    """report_slots and report_days with their triggers, back-filled from the rows already stored."""
    for statement in _split(_daily_counts_sql()) + _split(_backfill_sql()):
        db.execute(statement)


def _split(script: str) -> list[str]:
    """Statements of a script (triggers kept whole: their bodies end with END;)."""
    out: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            current = []
    if "\n".join(current).strip():
        out.append("\n".join(current).strip())
    return out


def recount(db: sqlite_utils.Database) -> None:
    """Rebuild the daily counts from the rows (a repair tool; the triggers normally keep them exact)."""
    if dialect(db) == POSTGRESQL:
        with write(db):
            db.executescript(PG_BACKFILL_SQL)
        return
    for statement in _split(_backfill_sql()):
        db.execute(statement)


# --- first link per item, kept by triggers -----------------------------------------------------------------
#
# report_link_times: one row per linked item, its first-seen time and the hours to its first link, with a
# covering index on the time, so the response-time table reads the window's values in index order instead
# of one random item row per link.

# Whole seconds, then hours: the same double Python's timedelta arithmetic gives (julianday drifts).
_HOURS = (
    "MAX((CAST(strftime('%s', {end}) AS INTEGER) - CAST(strftime('%s', {start}) AS INTEGER)) / 3600.0, 0)"
)


def _link_time(item: str) -> str:
    """Recompute the row of one item (an expression for its id) from its links and its first-seen time."""
    first = f"(SELECT MIN(l.created_at) FROM links l WHERE l.item_id = {item})"
    return (
        f"DELETE FROM report_link_times WHERE item_id = {item};\n"
        f"INSERT INTO report_link_times (item_id, seen_at, hours)"
        f" SELECT i.id, i.fetched_at, {_HOURS.format(end=first, start='i.fetched_at')} FROM items i"
        f" WHERE i.id = {item} AND {first} IS NOT NULL;"
    )


_LINK_TIMES_SQL = f"""
CREATE TABLE IF NOT EXISTS report_link_times (
    item_id INTEGER PRIMARY KEY,
    seen_at TEXT NOT NULL,
    hours REAL
);
CREATE INDEX IF NOT EXISTS report_link_times_seen ON report_link_times(seen_at, hours);
CREATE TRIGGER IF NOT EXISTS report_links_insert AFTER INSERT ON links BEGIN
{_link_time("NEW.item_id")}
END;
CREATE TRIGGER IF NOT EXISTS report_links_delete AFTER DELETE ON links BEGIN
{_link_time("OLD.item_id")}
END;
CREATE TRIGGER IF NOT EXISTS report_links_update AFTER UPDATE OF item_id, created_at ON links BEGIN
{_link_time("OLD.item_id")}
{_link_time("NEW.item_id")}
END;
CREATE TRIGGER IF NOT EXISTS report_link_items_update AFTER UPDATE OF fetched_at ON items
WHEN OLD.fetched_at IS NOT NEW.fetched_at BEGIN
{_link_time("NEW.id")}
END;
CREATE TRIGGER IF NOT EXISTS report_link_items_delete AFTER DELETE ON items BEGIN
DELETE FROM report_link_times WHERE item_id = OLD.id;
END;
"""


def _link_times(db: sqlite_utils.Database) -> None:
    """report_link_times with its triggers, back-filled from the links already stored."""
    for statement in _split(_LINK_TIMES_SQL):
        db.execute(statement)
    db.execute("DELETE FROM report_link_times")
    db.execute(
        "INSERT INTO report_link_times (item_id, seen_at, hours)"
        f" SELECT i.id, i.fetched_at, {_HOURS.format(end='l.first', start='i.fetched_at')}"
        " FROM (SELECT item_id, MIN(created_at) AS first FROM links GROUP BY item_id) l"
        " JOIN items i ON i.id = l.item_id"
    )


PG_LINK_TIMES_BACKFILL_SQL = """
DELETE FROM report_link_times;
INSERT INTO report_link_times (item_id, seen_at, hours)
SELECT i.id, i.fetched_at, report_hours(l.first, i.fetched_at)
FROM (SELECT item_id, MIN(created_at) AS first FROM links GROUP BY item_id) l JOIN items i ON i.id = l.item_id;
"""


def count_new_items(db: sqlite_utils.Database, ids: list[int]) -> None:
    """Add the report counts of items just inserted (`ids`, inside the inserting transaction).

    Since reports_0004 new items are counted here, per batch — one upsert per quarter-hour, day and key of the
    batch (a feed's entries mostly share all three) — instead of three upserts per row in an insert trigger,
    which cost more than the row itself (docs/collection.md). Deleting or changing an item keeps its
    triggers. The store's only item writer (items.NewRows.write) calls this; so must any bulk loader."""
    if dialect(db) == POSTGRESQL:
        slot, day = "report_slot(fetched_at)", "report_day(fetched_at)"
        source, lang = "COALESCE(source_id::text, '')", "COALESCE(NULLIF(lang, ''), 'und')"
    else:
        slot, day = _SLOT.format(t="fetched_at"), _DAY.format(t="fetched_at")
        source, lang = "COALESCE(source_id, '')", _LANG.format(lang="lang")
    runs: list[tuple[int, int]] = []
    for item_id in sorted(ids):  # contiguous id ranges: one range read each (a batch is one range)
        if runs and item_id == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], item_id)
        else:
            runs.append((item_id, item_id))
    rows = "FROM items WHERE id BETWEEN ? AND ?"
    for first, last in runs:
        db.execute(
            f"INSERT INTO report_slots AS r (slot, items) SELECT s, COUNT(*) FROM (SELECT {slot} AS s {rows}) x"
            " WHERE s IS NOT NULL GROUP BY s ON CONFLICT (slot) DO UPDATE SET items = r.items + excluded.items",
            [first, last],
        )
        for dim, key in (("source", source), ("lang", lang)):
            db.execute(
                f"INSERT INTO report_days AS r (dim, day, key, measure, n) SELECT '{dim}', d, k, 'items', COUNT(*)"
                f" FROM (SELECT {day} AS d, {key} AS k {rows}) x WHERE d IS NOT NULL GROUP BY d, k"
                " ON CONFLICT (dim, day, key, measure) DO UPDATE SET n = r.n + excluded.n",
                [first, last],
            )


def _batch_item_counts(db: sqlite_utils.Database) -> None:
    """New items are counted per batch by count_new_items; their per-row insert trigger goes."""
    db.execute("DROP TRIGGER IF EXISTS report_items_insert")


# The first, partial UTC day of a window counts its flags by source, language, narrative and state from this
# index alone (flags carry their item's source and language since queue_0001): at 10M items on PostgreSQL
# the join to items cost 73-136 ms per breakdown (issue #16). pg_schema has the same statement.
FLAGS_FLAGGED_KEYS_SQL = (
    "CREATE INDEX IF NOT EXISTS flags_flagged_keys ON flags(flagged_at, state, source_id, lang, narrative_id)"
)


def _flags_flagged_keys(db: sqlite_utils.Database) -> None:
    db.execute(FLAGS_FLAGGED_KEYS_SQL)


MIGRATIONS = [
    ("reports_0001_covering_indexes", _covering_indexes),
    ("reports_0002_daily_counts", _daily_counts),
    ("reports_0003_link_times", _link_times),
    ("reports_0004_batch_item_counts", _batch_item_counts),
    ("reports_0005_flags_flagged_keys", _flags_flagged_keys),
]
