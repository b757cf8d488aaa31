"""Time the reports page and a CSV export on a large synthetic database (the one bench/web.py builds).

Example:
    .venv/bin/python bench/reports.py --items 1000000 --flagged 200000 --requests 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._record import record  # noqa: E402
from bench._webapp import bench_db, logged_in_client, percentile  # noqa: E402


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
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/benchmarks.md."
    )
    args = parser.parse_args()

    from monitor.store import connect

    db_path, _ = bench_db(Path(args.dir), args.items, args.flagged)
    db = connect(db_path)
    counts = {
        "items": db.execute("SELECT COUNT(*) FROM items").fetchone()[0],
        "flags": db.execute("SELECT COUNT(*) FROM flags").fetchone()[0],
    }
    db.conn.close()
    client = logged_in_client(db_path, "bench-coordinator", "coordinator")

    figures: dict[str, object] = {"database": f"{counts['items']:,} items, {counts['flags']:,} flagged"}
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
        "In-process ASGI calls (fastapi TestClient). The reports page runs six aggregate queries over the "
        "window (volumes per local day, by source, language, narrative, response times, overdue); it is a "
        "manager's page, not a per-item one, so it has no 100 ms goal."
    )
    if args.no_record:
        for key, value in figures.items():
            print(f"- {key}: {value}")
    else:
        record("Web: reports page with 1M items", figures, notes=notes)


if __name__ == "__main__":
    main()
