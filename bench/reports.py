"""Time the reports page and a CSV export on a large synthetic database (the one bench/web.py builds).

Example:
    .venv/bin/python bench/reports.py --items 1000000 --flagged 200000 --requests 10
    .venv/bin/python bench/reports.py --database pg --items 10000000 --flagged 2000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._record import record  # noqa: E402
from bench._webapp import add_database_option, database_target, logged_in_client, percentile  # noqa: E402

# The builder marks flags 'linked' without link rows: give each one, an hour or so after it was seen, so the
# response-time table reads a realistic number of rows (one statement per backend).
LINKS_SQL = {
    "sqlite": (
        "INSERT OR IGNORE INTO links (item_id, rebuttal_id, created_at)"
        " SELECT f.item_id, n.rebuttal_id, strftime('%Y-%m-%dT%H:%M:%S+00:00', f.flagged_at, '+' || (f.id % 48) || ' hours')"
        " FROM flags f JOIN narratives n ON n.id = f.narrative_id WHERE f.state = 'linked' AND n.rebuttal_id IS NOT NULL"
    ),
    "postgresql": (
        "INSERT OR IGNORE INTO links (item_id, rebuttal_id, created_at)"
        " SELECT f.item_id, n.rebuttal_id, to_char((f.flagged_at::timestamptz AT TIME ZONE 'UTC')"
        " + (f.id % 48) * interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"
        " FROM flags f JOIN narratives n ON n.id = f.narrative_id WHERE f.state = 'linked' AND n.rebuttal_id IS NOT NULL"
    ),
}


def main() -> None:
    """Build (or reuse) the database, time /reports and /reports/sources.csv, print and record the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="Items in the database.")
    parser.add_argument("--flagged", type=int, default=200_000, help="How many of them are flagged.")
    parser.add_argument("--requests", type=int, default=10, help="Timed requests per page kind.")
    parser.add_argument(
        "--dir", default="/tmp/misinfo-bench-web", help="Folder for the database (not in the repo)."
    )
    add_database_option(parser)
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/benchmarks.md."
    )
    args = parser.parse_args()

    from monitor.store import connect
    from monitor.store.backend import dialect
    from monitor.store.db import write

    db_path, build_s = database_target(args.database, Path(args.dir), args.items, args.flagged)
    started = time.perf_counter()
    db = connect(db_path)  # applies pending migrations: the daily counts' back-fill on a first run
    migrate_s = time.perf_counter() - started
    if not db.execute("SELECT 1 FROM links LIMIT 1").fetchone():
        started = time.perf_counter()
        with write(db):
            db.execute(LINKS_SQL[dialect(db)])
        print(f"  links added in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    counts = {
        "items": db.execute("SELECT COUNT(*) FROM items").fetchone()[0],
        "flags": db.execute("SELECT COUNT(*) FROM flags").fetchone()[0],
        "links": db.execute("SELECT COUNT(*) FROM links").fetchone()[0],
    }
    db.conn.close()
    client = logged_in_client(db_path, "bench-coordinator", "coordinator")

    on_pg = dialect(db) == "postgresql"
    figures: dict[str, object] = {
        "database": f"{counts['items']:,} items, {counts['flags']:,} flagged, {counts['links']:,} links"
        + (" on PostgreSQL 15" if on_pg else ", SQLite"),
        "migrations on opening (daily-count back-fill on the first run)": f"{migrate_s:.1f} s",
    }
    if build_s is not None:
        figures["database build time"] = f"{build_s:.0f} s"
    if on_pg:
        import psycopg

        figures["psycopg"] = f"{psycopg.__version__}, {psycopg.pq.__impl__} implementation"
    for name, path in {
        "reports page, last 30 days": "/reports?days=30",
        "reports page, last 365 days": "/reports?days=365",
        "CSV export: sources, 30 days": "/reports/sources.csv?days=30",
    }.items():
        client.get(path)  # warm the page cache
        times: list[float] = []
        for _ in range(args.requests):
            started = time.perf_counter()
            resp = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert resp.status_code == 200, (name, resp.status_code, resp.text[:300])
        figures[name] = (
            f"p50 {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms ({args.requests} requests)"
        )
        print(f"{name}: {figures[name]}", file=sys.stderr)
    notes = (
        "In-process ASGI calls (fastapi TestClient). The reports page adds up daily counts kept by triggers "
        "(report_slots per UTC quarter-hour for volumes per local day; report_days per UTC day and source, "
        "language, narrative and state; report_link_times per linked item), reads the window's first partial UTC "
        "day from the indexed rows. Goal: p95 <= 300 ms at 1M items (issue #12)."
    )
    if on_pg:
        notes += " On PostgreSQL (issue #16): p95 <= 300 ms at 10M items."
    size = f"{counts['items'] / 1e6:g}M" if counts["items"] >= 1_000_000 else f"{counts['items']:,}"
    title = f"Web: reports page with {size} items" + (" on PostgreSQL" if on_pg else "")
    if args.no_record:
        for key, value in figures.items():
            print(f"- {key}: {value}")
    else:
        command = None
        if os.environ.get("PYTHONPATH"):  # e.g. psycopg-binary from a side folder: part of what was measured
            command = " ".join(["PYTHONPATH=" + os.environ["PYTHONPATH"], "python", *sys.argv])
        record(title, figures, command, notes)


if __name__ == "__main__":
    main()
