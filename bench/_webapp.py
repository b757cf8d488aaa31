"""What bench/web.py and bench/reports.py share: the synthetic large database and a logged-in client."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def bench_db(folder: Path, items: int, flagged: int, rebuild: bool = False) -> tuple[Path, float | None]:
    """Path of the synthetic database (built with a progress line when missing) and its build seconds."""
    from monitor.demo import benchfill
    from monitor.store import connect

    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / f"bench-{items}-{flagged}.db"
    if rebuild:
        for suffix in ("", "-wal", "-shm", ".build_s"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    built = Path(f"{db_path}.build_s")
    if db_path.exists():
        return db_path, float(built.read_text()) if built.exists() else None
    db = connect(db_path)
    started = time.perf_counter()
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        print(f"\r  building: {done:,}/{items:,} items", end="", file=sys.stderr, flush=True)

    counts = benchfill.fill(db, items, flagged, progress=tick)
    build_s = time.perf_counter() - started
    built.write_text(f"{build_s:.0f}")
    print(f"\n  built {counts} in {build_s:.0f} s", file=sys.stderr)
    db.conn.close()
    return db_path, build_s


def logged_in_client(db_path: Path, username: str, role: str) -> Any:
    """A TestClient on the app over `db_path`, logged in as `username` (created with `role` if missing)."""
    os.environ.setdefault("MISINFO_SECRET_KEY", "bench-secret-key-bench-secret-key")
    from fastapi.testclient import TestClient

    from monitor.config import parse_config
    from monitor.store import connect
    from monitor.store import users as store_users
    from monitor.web.app import create_app

    db = connect(db_path)
    store_users.use_fast_hashing()
    if store_users.get_user(db, username) is None:
        store_users.create_user(db, username, "bench-password", role)
    db.conn.close()
    folder = db_path.parent
    cfg = parse_config(f"database: {db_path}\nstate_dir: {folder / 'var'}\n", base_dir=folder)
    # Entered once: one event-loop portal for all requests, as a real server has one loop.
    client = TestClient(create_app(cfg), follow_redirects=False).__enter__()
    page = client.get("/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"username": username, "password": "bench-password", "csrf_token": token})
    assert r.status_code == 303, r.text[:300]
    return client
