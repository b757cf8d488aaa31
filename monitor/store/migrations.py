"""Schema migrations of every store module, applied in order, and `connect` (open + migrate).

A migration is applied once and recorded by name in schema_migrations; re-running is harmless. On PostgreSQL
the same names run their twins from pg_schema.PG_MIGRATIONS (one not ported yet stays pending, unrecorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

from monitor.store import collect, groups, mail, queue, rebuttals, reports, schema, submissions, users
from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import Migration, open_db, utcnow, write
from monitor.store.pg_schema import PG_MIGRATIONS

# Modules that contribute migrations (each has MIGRATIONS: list[(name, fn)]), in the order applied.
MIGRATIONS: dict[str, Sequence[Migration]] = {
    "monitor.store.schema": schema.MIGRATIONS,
    "monitor.store.rebuttals": rebuttals.MIGRATIONS,
    "monitor.store.collect": collect.MIGRATIONS,
    "monitor.store.users": users.MIGRATIONS,
    "monitor.store.queue": queue.MIGRATIONS,
    "monitor.store.mail": mail.MIGRATIONS,
    "monitor.store.reports": reports.MIGRATIONS,
    "monitor.store.groups": groups.MIGRATIONS,
    "monitor.store.submissions": submissions.MIGRATIONS,
}


def connect(path: str | Path, migrate_now: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path`, set pragmas and apply pending migrations."""
    db = open_db(path)
    if migrate_now:
        migrate(db)
    return db


def migrations(db: sqlite_utils.Database | None = None) -> list[Migration]:
    """All registered migrations in order (for `db`'s backend: on PostgreSQL, the twins ported so far)."""
    every = [m for module_migrations in MIGRATIONS.values() for m in module_migrations]
    if db is None or dialect(db) != POSTGRESQL:
        return every
    ported: list[Migration] = []
    for name, _ in every:
        twin = PG_MIGRATIONS.get(name)
        if twin is not None:
            ported.append((name, twin))
    return ported


def pending_on_postgresql() -> list[str]:
    """Migration names with no PostgreSQL twin yet (kept pending there)."""
    every = [name for module_migrations in MIGRATIONS.values() for name, _ in module_migrations]
    return [name for name in every if PG_MIGRATIONS.get(name) is None]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; return the names applied. Safe to run any number of times, concurrently."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied: list[str] = []
    # Read without a lock first: connections opened per web request must not queue behind writers.
    done_names = {row[0] for row in db.execute("SELECT name FROM schema_migrations").fetchall()}
    for name, fn in migrations(db):
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
