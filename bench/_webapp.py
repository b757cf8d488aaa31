"""What bench/web.py, bench/web_http.py and bench/reports.py share: the synthetic large database (SQLite, or
PostgreSQL with --database) and a logged-in client."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The benchmark's own PostgreSQL (`--database pg`): kept between runs like the SQLite file is.
PG_DIR = Path("/tmp/misinfo-bench-pg")
PG_PORT = 55432
PG_BIN = Path(os.environ.get("MISINFO_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Sized for a 24 GiB machine; fsync & co. are switched off only while a database is being built (bench_pg_db).
# shared_buffers is a quarter of the RAM (PostgreSQL's usual advice): the server's own memory holds the 10M-item
# database's hot pages, which the OS page cache did not keep here (these machines reclaim idle cache pages
# proactively; a 20-client run fell to half its rate, I/O-bound, after a restart).
PG_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{folder}'
max_connections = 100
shared_buffers = 6GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
wal_level = minimal
max_wal_senders = 0
"""
BUILD_ONLY = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}


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


def _pg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL program, as the `postgres` user when this is root (root cannot run the server)."""
    cmd = [str(PG_BIN / args[0]), *args[1:]]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=300)


def pg_server(folder: Path = PG_DIR, port: int = PG_PORT) -> str:
    """The URL of the benchmark's PostgreSQL server (its `postgres` database): initdb'd under `folder` on the
    first call, started when not running, left running afterwards.

    Stop it with: runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/misinfo-bench-pg/data stop
    (drop the runuser part when not root); delete the folder to start over."""
    data = folder / "data"
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if not (data / "PG_VERSION").exists():
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam("postgres")
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        _pg("initdb", "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
        with (data / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(PG_CONF.format(port=port, folder=folder))
    if _pg("pg_ctl", "-D", str(data), "status", check=False).returncode != 0:
        print(f"  starting PostgreSQL in {data} on 127.0.0.1:{port}", file=sys.stderr)
        _pg("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "120", "start")
    return f"postgresql://{user}@127.0.0.1:{port}/postgres"


def _set_build_mode(server_url: str, on: bool) -> None:
    """fsync, full_page_writes and synchronous_commit off while building (ALTER SYSTEM, reloaded); back on
    after, with a CHECKPOINT and a sync so what was written unsynced reaches the disk."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        for name, value in BUILD_ONLY.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'" if on else f"ALTER SYSTEM RESET {name}")
        conn.execute("SELECT pg_reload_conf()")
        if not on:
            conn.execute("CHECKPOINT")
            os.sync()


def bench_pg_db(database: str, items: int, flagged: int, rebuild: bool = False) -> tuple[str, float | None]:
    """The synthetic database on PostgreSQL: `database` is 'pg' (the benchmark's own server, one database
    per size, built when missing) or a postgresql:// URL (built into it when it holds no items)."""
    import psycopg

    from monitor.demo import benchfill
    from monitor.store import connect

    server_url = None
    if database == "pg":
        server_url = pg_server()
        name = f"bench_{items}_{flagged}"
        target = server_url.rsplit("/", 1)[0] + f"/{name}"
        built = PG_DIR / f"{name}.build_s"
        with psycopg.connect(server_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists and (rebuild or not built.exists()):  # a build that did not finish, or asked
                conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
                built.unlink(missing_ok=True)
                exists = None
            if exists:
                return target, float(built.read_text())
            conn.execute(f"CREATE DATABASE {name}")
    else:
        target, built = database, None
    db = connect(target)  # the product's schema: its migrations
    have = int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    if have:
        db.conn.close()
        if have != items:
            print(f"  note: {target} holds {have:,} items, not {items:,}", file=sys.stderr)
        return target, None
    if server_url:
        _set_build_mode(server_url, True)
    started = time.perf_counter()
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        rate = done / max(1e-9, time.perf_counter() - started)
        print(f"\r  building: {done:,}/{items:,} items ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)

    try:
        counts = benchfill.fill(db, items, flagged, progress=tick)
    finally:
        db.conn.close()
        if server_url:
            _set_build_mode(server_url, False)
    build_s = time.perf_counter() - started
    if built:
        built.write_text(f"{build_s:.0f}")
    print(f"\n  built {counts} in {build_s:.0f} s", file=sys.stderr)
    return target, build_s


def database_target(
    database: str, folder: Path, items: int, flagged: int, rebuild: bool = False
) -> tuple[Path | str, float | None]:
    """--database sqlite (a file under `folder`), pg (the benchmark's PostgreSQL) or a postgresql:// URL."""
    if database == "sqlite":
        return bench_db(folder, items, flagged, rebuild)
    return bench_pg_db(database, items, flagged, rebuild)


def add_database_option(parser: Any) -> None:
    """The --database option of the web benchmarks."""
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a file under --dir, the default), pg (a PostgreSQL server of the benchmark's own, data in"
        f" {PG_DIR}, kept running) or a postgresql:// URL (filled when it holds no items).",
    )


def logged_in_client(db_path: Path | str, username: str, role: str) -> Any:
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
    folder = Path(tempfile.mkdtemp(prefix="misinfo-bench-")) if isinstance(db_path, str) else db_path.parent
    cfg = parse_config(f"database: '{db_path}'\nstate_dir: {folder / 'var'}\n", base_dir=folder)
    # Entered once: one event-loop portal for all requests, as a real server has one loop.
    client = TestClient(create_app(cfg), follow_redirects=False).__enter__()
    page = client.get("/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"username": username, "password": "bench-password", "csrf_token": token})
    assert r.status_code == 303, r.text[:300]
    return client
