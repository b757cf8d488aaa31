"""Open the SQLite database (WAL, busy_timeout, foreign keys), run migrations, manage write transactions."""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.errors import StoreError

BUSY_TIMEOUT_MS = 30_000

# Modules that contribute migrations, applied in this order. Each has MIGRATIONS: list[(name, fn)].
# A migration is applied once and recorded by name in schema_migrations; re-running is harmless.
MIGRATION_MODULES = [
    "monitor.store.schema",
    "monitor.store.rebuttals",
    "monitor.store.collect",
    "monitor.store.users",
    "monitor.store.queue",
    "monitor.store.mail",
    "monitor.store.reports",
]

Migration = tuple[str, Callable[[sqlite_utils.Database], None]]

_tx_state = threading.local()


def utcnow() -> str:
    """Current time as the store writes it: ISO 8601, UTC, seconds precision, sortable as text."""
    return to_db_time(datetime.now(UTC))


def to_db_time(value: datetime) -> str:
    """A timezone-aware datetime as the store's text format (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def from_db_time(value: str | None) -> datetime | None:
    """Parse a time the store wrote."""
    if not value:
        return None
    return datetime.fromisoformat(value)


def connect(path: str | Path, migrate_now: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path`, set pragmas and apply pending migrations."""
    p = Path(path)
    if str(path) != ":memory:":
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the database {p}: {exc}") from None
    try:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see write()), so a writer takes the
        # lock up front and never hits the deferred-upgrade deadlock that surfaces as "database is locked".
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the database {p}: {exc} — check the path in `database:`") from None
    db = sqlite_utils.Database(conn)
    if migrate_now:
        migrate(db)
    return db


def migrations() -> list[Migration]:
    """All registered migrations in order."""
    out: list[Migration] = []
    for name in MIGRATION_MODULES:
        module = importlib.import_module(name)
        out.extend(getattr(module, "MIGRATIONS", []))
    return out


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; return the names applied. Safe to run any number of times, concurrently."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied: list[str] = []
    # Read without a lock first: connections opened per web request must not queue behind writers.
    done_names = {row[0] for row in db.execute("SELECT name FROM schema_migrations").fetchall()}
    for name, fn in migrations():
        if name in done_names:
            continue
        with write(db):
            done = db.execute("SELECT 1 FROM schema_migrations WHERE name = ?", [name]).fetchone()
            if done:
                continue
            fn(db)
            db.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", [name, utcnow()])
            applied.append(name)
    return applied


@contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction (BEGIN IMMEDIATE), or a savepoint when already inside one.

    Use raw SQL (db.execute) inside: sqlite-utils' table helpers commit on their own.
    """
    conn = db.conn
    depth = getattr(_tx_state, "depth", {})
    _tx_state.depth = depth
    key = id(conn)
    level = depth.get(key, 0)
    if level == 0 and conn.in_transaction:
        # Someone began a transaction without write(); treat it as ours to nest into.
        level = 1
        depth[key] = 0
    if level == 0:
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn.execute(f"SAVEPOINT sp{level}")
    depth[key] = depth.get(key, 0) + 1
    try:
        yield db
    except BaseException:
        depth[key] -= 1
        if level == 0:
            conn.execute("ROLLBACK")
        else:
            conn.execute(f"ROLLBACK TO sp{level}")
            conn.execute(f"RELEASE sp{level}")
        raise
    else:
        depth[key] -= 1
        if level == 0:
            conn.execute("COMMIT")
        else:
            conn.execute(f"RELEASE sp{level}")


def query_one(
    db: sqlite_utils.Database, sql: str, params: list[object] | dict[str, object] | None = None
) -> dict[str, object] | None:
    """First row of a query as a dict, or None."""
    for row in db.query(sql, params or []):
        return row
    return None


def scalar(db: sqlite_utils.Database, sql: str, params: list[object] | None = None) -> Any:
    """First column of the first row, or None."""
    row = db.execute(sql, params or []).fetchone()
    return row[0] if row else None
