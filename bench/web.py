"""Web latency with a million items: p50/p95 of GET /queue (first, deep, filtered) and GET /items/{id}.

Builds (or reuses) a synthetic database under /tmp, then calls the ASGI app in-process (TestClient), so
the figures are the app's own time: routing, session, SQL, templates; no network.

Usage:
  .venv/bin/python bench/web.py                      # 1,000,000 items, 200,000 flagged
  .venv/bin/python bench/web.py --items 100000 --flagged 20000 --requests 50 --no-record
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
from bench._webapp import bench_db, logged_in_client, percentile  # noqa: E402


def main() -> None:
    """Build the database if needed, time the pages, print and record the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="Items in the database.")
    parser.add_argument("--flagged", type=int, default=200_000, help="How many of them are flagged.")
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per page kind.")
    parser.add_argument(
        "--dir", default="/tmp/misinfo-bench-web", help="Folder for the database (not in the repo)."
    )
    parser.add_argument("--rebuild", action="store_true", help="Delete and rebuild the database.")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/benchmarks.md."
    )
    args = parser.parse_args()

    from monitor.demo import benchfill
    from monitor.store import connect
    from monitor.store.queue import encode_cursor

    db_path, build_s = bench_db(Path(args.dir), args.items, args.flagged, rebuild=args.rebuild)
    db = connect(db_path)
    counts = {
        "items": db.execute("SELECT COUNT(*) FROM items").fetchone()[0],
        "flags": db.execute("SELECT COUNT(*) FROM flags").fetchone()[0],
        "open": db.execute("SELECT COUNT(*) FROM flags WHERE state IN ('new', 'in_review')").fetchone()[0],
    }
    deep_row = benchfill.flag_at_offset(db, "new", int(counts["open"] * 0.8))
    deep_cursor = encode_cursor(deep_row) if deep_row else None
    item_ids = benchfill.sample_item_ids(db, args.requests)
    source_id = db.execute("SELECT id FROM sources ORDER BY id LIMIT 1 OFFSET 3").fetchone()[0]
    narrative_id = db.execute("SELECT id FROM narratives ORDER BY id LIMIT 1 OFFSET 5").fetchone()[0]
    db.conn.close()

    client = logged_in_client(db_path, "bench", "analyst")

    kinds = {
        "queue first page": lambda n: "/queue",
        "queue deep page (cursor at 80%)": lambda n: f"/queue?cursor={deep_cursor}",
        "queue filtered: source": lambda n: f"/queue?source={source_id}",
        "queue filtered: source, deep": lambda n: f"/queue?source={source_id}&cursor={deep_cursor}",
        "queue filtered: narrative + min risk 80%": lambda n: f"/queue?narrative={narrative_id}&min_score=80",
        "queue filtered: language en, all states": lambda n: "/queue?lang=en&state=all",
        "item page": lambda n: f"/items/{item_ids[n % len(item_ids)]}",
    }
    figures: dict[str, object] = {
        "database": f"{counts['items']:,} items, {counts['flags']:,} flagged ({counts['open']:,} open)",
    }
    if build_s is not None:
        figures["database build time"] = f"{build_s:.0f} s"
    for name, path_for in kinds.items():
        for n in range(5):  # warm caches and the connection path
            client.get(path_for(n))
        times: list[float] = []
        cpu_started = time.process_time()
        for n in range(args.requests):
            started = time.perf_counter()
            resp = client.get(path_for(n))
            times.append((time.perf_counter() - started) * 1000)
            assert resp.status_code == 200, (name, resp.status_code, resp.text[:300])
        cpu_ms = (time.process_time() - cpu_started) * 1000 / args.requests
        figures[name] = (
            f"p50 {statistics.median(times):.1f} ms, p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms,"
            f" CPU {cpu_ms:.1f} ms/request ({args.requests} requests)"
        )
        print(f"{name}: {figures[name]}", file=sys.stderr)
    load = os.getloadavg()[0]
    figures["load average during the run"] = f"{load:.1f} on {os.cpu_count()} CPUs"
    notes = (
        "In-process ASGI calls (fastapi TestClient) on a synthetic database: 50 rows per queue page with the best "
        "suggestion each; goal p95 <= 100 ms. Wall times rise with the machine's load (other jobs share the CPUs); "
        "CPU ms/request is this process's own cost and does not."
    )
    if args.no_record:
        for key, value in figures.items():
            print(f"- {key}: {value}")
    else:
        record("Web: queue and item pages with 1M items", figures, notes=notes)


if __name__ == "__main__":
    main()
