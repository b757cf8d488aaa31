"""Issue #12 item 14: the reports read daily counts kept by triggers, and those counts are always exact.

The reference figures below are the reports' former queries over the rows themselves; after any mix of
writes (collect, flags, decisions, narrative moves, item corrections, deletions) and for any window and time
zone (whole-hour, half-hour and 45-minute offsets), the reports built from the counts must equal them.
The speed at a million items is measured by bench/reports.py (docs/benchmarks.md), not asserted here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from monitor.store import connect, migrate
from monitor.store import reports as store_reports
from monitor.store.db import from_db_time, to_db_time, write
from monitor.store.queue import ensure_source, insert_flag
from tests import builders
from tests.pages_helpers import narrative_of, pweb  # noqa: F401  (pweb is a fixture)
from tests.web_helpers import WebEnv, seed_item, seed_rebuttal

ZONES = ["Asia/Ho_Chi_Minh", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"]
WINDOWS = [1, 2, 7, 30, 90]
TABLES = ["volumes", "sources", "languages", "narratives", "response_times"]


# --- the former queries, over the rows ------------------------------------------------------------------


def _reference(db: sqlite_utils.Database, name: str, window: store_reports.Window) -> list[dict[str, Any]]:
    since, offset = window.since, window.offset
    if name == "volumes":
        counts = {day: {"items": 0, "flags": 0} for day in window.local_days()}
        for column, table, col in (("items", "items", "fetched_at"), ("flags", "flags", "flagged_at")):
            for row in db.query(
                f"SELECT date({col}, ?) AS day, COUNT(*) AS n FROM {table} WHERE {col} >= ? GROUP BY day",
                [offset, since],
            ):
                if row["day"] in counts:
                    counts[row["day"]][column] = row["n"]
        return [{"day": d, **c} for d, c in counts.items()]
    if name in ("sources", "languages"):
        group = "i.source_id" if name == "sources" else "COALESCE(NULLIF(i.lang, ''), 'und')"
        out: dict[Any, dict[str, int]] = {}
        for row in db.query(
            f"SELECT {group} AS k, COUNT(*) AS n FROM items i WHERE fetched_at >= ? GROUP BY k", [since]
        ):
            out.setdefault(row["k"], {"items": 0, "flagged": 0, "linked": 0, "dismissed": 0, "escalated": 0})[
                "items"
            ] = row["n"]
        for row in db.query(
            f"SELECT {group} AS k, COUNT(*) AS flagged, SUM(f.state = 'linked') AS linked,"
            " SUM(f.state = 'dismissed') AS dismissed, SUM(f.state = 'escalated') AS escalated"
            " FROM flags f JOIN items i ON i.id = f.item_id WHERE f.flagged_at >= ? GROUP BY k",
            [since],
        ):
            out.setdefault(row["k"], {"items": 0}).update(
                {c: row[c] or 0 for c in ("flagged", "linked", "dismissed", "escalated")}
            )
        if name == "languages":
            rows = [{"language": k, "items": v["items"], "flagged": v["flagged"]} for k, v in out.items()]
            return sorted(rows, key=lambda r: (-r["flagged"], -r["items"], r["language"]))
        names = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM sources")}
        rows = [
            {"source": names.get(k, "(none)") if k is not None else "(none)", **v} for k, v in out.items()
        ]
        return sorted(rows, key=lambda r: (-r["flagged"], -r["items"], r["source"]))
    if name == "response_times":
        pairs = db.query(
            "SELECT i.fetched_at AS start, MIN(l.created_at) AS end FROM links l JOIN items i ON i.id = l.item_id"
            " WHERE i.fetched_at >= ? GROUP BY l.item_id",
            [since],
        )
        hours = []
        for p in pairs:
            start, end = from_db_time(p["start"]), from_db_time(p["end"])
            assert start is not None and end is not None
            hours.append(max((end - start).total_seconds(), 0.0) / 3600)
        median, p90 = store_reports.percentile(hours, 50), store_reports.percentile(hours, 90)
        return [
            {
                "measure": "first_seen_to_linked",
                "n": len(hours),
                "median_hours": None if median is None else round(median, 2),
                "p90_hours": None if p90 is None else round(p90, 2),
            }
        ]
    assert name == "narratives"
    sql = """
    SELECT COALESCE(n.name, '(no narrative)') AS narrative, COUNT(*) AS flagged,
           SUM(f.state = 'linked') AS linked,
           (SELECT COUNT(*) FROM assignments a WHERE a.narrative_id = n.id
                OR a.item_id IN (SELECT item_id FROM flags f2 WHERE f2.narrative_id = n.id)) AS assignments,
           (SELECT COUNT(*) FROM assignments a WHERE a.status = 'published' AND (a.narrative_id = n.id
                OR a.item_id IN (SELECT item_id FROM flags f2 WHERE f2.narrative_id = n.id))) AS published
    FROM flags f LEFT JOIN narratives n ON n.id = f.narrative_id
    WHERE f.flagged_at >= ? GROUP BY f.narrative_id ORDER BY flagged DESC, narrative
    """
    rows = [{k: (0 if v is None else v) for k, v in row.items()} for row in db.query(sql, [since])]
    for row in rows:
        if row["narrative"] == "(no narrative)":
            row["assignments"] = row["published"] = 0
    return rows


def _assert_reports_exact(db: sqlite_utils.Database) -> None:
    for tz in ZONES:
        for days in WINDOWS:
            window = store_reports.Window(days=days, tz=tz)
            for name in TABLES:
                got = store_reports.table(db, name, window)
                if name == "response_times":
                    got = got[:1]  # first seen -> first link: the part read from report_link_times
                assert got == _reference(db, name, window), (tz, days, name)


# --- a month of mixed writes ------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    database = connect(tmp_path / "reports.db")
    yield database
    database.conn.close()


def _fill(db: sqlite_utils.Database, seed: int = 5, count: int = 160) -> dict[str, Any]:
    """Items over 40 days at any minute (around every local and UTC midnight), flags, decisions, moves."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    r1 = seed_rebuttal(db, "Phản bác một", ["luận điệu một"], key="r1")
    r2 = seed_rebuttal(db, "Phản bác hai", ["luận điệu hai"], key="r2")
    n1, n2 = narrative_of(db, r1), narrative_of(db, r2)
    admin = builders.add_user(db, "admin-r", "admin", at=to_db_time(now))
    items: list[int] = []
    for k in range(count):
        at = now - timedelta(minutes=rng.randint(0, 40 * 1440))
        item = seed_item(
            db,
            f"Tin {k}",
            f"nội dung {k} {rng.random()}",
            source=rng.choice(["nguon-a", "nguon-b", "nguon-c", None]),
            lang=rng.choice(["vi", "vi", "en", ""]),
            fetched_at=to_db_time(at),
        )
        items.append(item)
        if rng.random() < 0.6:
            insert_flag(
                db,
                item,
                relevance=0.9,
                risk=0.8,
                narrative_id=rng.choice([n1, n2, None]),
                flagged_at=to_db_time(at + timedelta(minutes=rng.randint(0, 600))),
            )
    flagged = [int(r[0]) for r in db.execute("SELECT item_id FROM flags ORDER BY item_id").fetchall()]
    for k, item in enumerate(flagged[::4]):
        builders.mark_linked(db, item, r1, admin, at=to_db_time(now - timedelta(hours=k % 50)))
    for item in flagged[::8]:  # a second, later link: the first one counts
        builders.add_link(db, item, r2, at=to_db_time(now))
    for item in flagged[1::5]:
        builders.mark_dismissed(db, item)
    with write(db):
        for item in flagged[2::7]:
            db.execute("UPDATE flags SET state = 'escalated' WHERE item_id = ?", [item])
        for item in flagged[3::6]:  # a flag moved to another narrative
            db.execute("UPDATE flags SET narrative_id = ? WHERE item_id = ?", [n2, item])
        for item in items[::9]:  # the language detected again, the source corrected
            db.execute(
                "UPDATE items SET lang = 'en', source_id = ? WHERE id = ?",
                [ensure_source(db, "nguon-d"), item],
            )
        for item in items[5::11]:  # a time corrected across midnight
            db.execute(
                "UPDATE items SET fetched_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', fetched_at, '-13 hours')"
                " WHERE id = ?",
                [item],
            )
        for item in flagged[4::13]:  # flags and items removed (retention, a mistaken import)
            db.execute("DELETE FROM links WHERE item_id = ?", [item])
            db.execute("DELETE FROM flags WHERE item_id = ?", [item])
        for item in items[7::17]:
            if not db.execute("SELECT 1 FROM flags WHERE item_id = ?", [item]).fetchone():
                for table, column in _references_to_items(db):
                    db.execute(f"DELETE FROM {table} WHERE {column} = ?", [item])
                db.execute("DELETE FROM items WHERE id = ?", [item])
    return {"n1": n1, "n2": n2, "r1": r1, "admin": admin, "items": items}


def _references_to_items(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(table, column) of every foreign key to items, so a test can delete an item like retention would."""
    out = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for fk in db.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
            if fk[2] == "items" and table != "items":
                out.append((str(table), str(fk[3])))
    return out


def test_counts_follow_every_kind_of_write(db: sqlite_utils.Database) -> None:
    _fill(db)
    assert (
        db.execute("SELECT SUM(items), SUM(flags) FROM report_slots").fetchone()
        == db.execute("SELECT (SELECT COUNT(*) FROM items), (SELECT COUNT(*) FROM flags)").fetchone()
    )
    _assert_reports_exact(db)


def test_assignments_per_narrative_are_counted_once(db: sqlite_utils.Database) -> None:
    seeded = _fill(db, seed=9, count=60)
    item = int(
        db.execute("SELECT item_id FROM flags WHERE narrative_id = ? LIMIT 1", [seeded["n1"]]).fetchone()[0]
    )
    now = to_db_time(datetime.now(UTC))
    for item_id, narrative, status in (
        (item, None, "published"),
        (None, seeded["n1"], "assigned"),
        (item, seeded["n1"], "published"),
    ):
        builders.add_assignment(
            db,
            item_id=item_id,
            narrative_id=narrative,
            rebuttal_id=seeded["r1"],
            assignee_id=seeded["admin"],
            created_by=seeded["admin"],
            channel="website",
            status=status,
            published_at=now if status == "published" else None,
            created_at=now,
        )
    _assert_reports_exact(db)


def test_the_migration_back_fills_rows_written_before_it(db: sqlite_utils.Database) -> None:
    _fill(db, seed=11)
    seed_item(db, "written before the upgrade", fetched_at=to_db_time(datetime.now(UTC)))
    with write(db):  # the database as it was before the migration
        for trigger in [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'report_%'"
            )
        ]:
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ("report_slots", "report_days", "report_link_times"):
            db.execute(f"DROP TABLE {table}")
        db.execute(
            "DELETE FROM schema_migrations WHERE name LIKE 'reports_000%' AND name != 'reports_0001_covering_indexes'"
        )
    assert {"reports_0002_daily_counts", "reports_0003_link_times"} <= set(migrate(db))
    _assert_reports_exact(db)
    seed_item(db, "written after the upgrade", fetched_at=to_db_time(datetime.now(UTC)))
    _assert_reports_exact(db)


def test_the_page_reads_the_daily_counts(pweb: WebEnv) -> None:  # noqa: F811
    """The reports page adds up report_days/report_slots rather than counting a million item rows."""
    db = pweb.db()
    try:
        long_ago = to_db_time(datetime.now(UTC) - timedelta(days=5))
        seed_item(db, "Một tin", source="nguon-dem", fetched_at=long_ago)
        before = pweb.client("coordinator").get("/reports/sources.csv?days=30").text
        assert "nguon-dem,1," in before
        with write(db):  # a marker only the counts carry
            db.execute("UPDATE report_days SET n = n + 1000 WHERE dim = 'source' AND measure = 'items'")
            db.execute(
                "UPDATE report_slots SET items = items + 1000 WHERE slot = (SELECT MIN(slot) FROM report_slots)"
            )
    finally:
        db.conn.close()
    client = pweb.client("coordinator")
    assert "nguon-dem,1001," in client.get("/reports/sources.csv?days=30").text
    assert ",1001," in client.get("/reports/volumes.csv?days=30").text
