"""Copy a SQLite store into an empty PostgreSQL database (`misinfo migrate --to postgresql://...`).

The SQLite file is opened read-only and never changes. On PostgreSQL, in ONE transaction (a failure leaves
the database as empty as it was): the schema through the same migrations every store gets
(monitor.store.migrations), then every table in foreign-key order with COPY (rows streamed in batches, the
tables' own triggers paused so the copied report counters and queue columns arrive exactly as they were and
the append-only audit log can be filled), identity sequences moved past the largest id. Afterwards the rows
of every table are counted on both sides.

Everything lives in the database, evidence bodies included (evidence_blobs); files under state_dir (models,
logs, the scheduler's job store) are not part of the store and stay where they are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from monitor.errors import StoreError
from monitor.store.backend import PgDatabase, open_pg
from monitor.store.db import write
from monitor.store.items import sync_item_ids
from monitor.store.migrations import migrate, migrations

# SQLite's own bookkeeping and the FTS5 shadow tables; schema_migrations is written by the migrations.
_SKIPPED_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")
_FTS = ("items_fts", "rebuttals_fts")


@dataclass(frozen=True)
class TableCount:
    """Rows of one table on both sides after the copy."""

    table: str
    sqlite: int
    postgresql: int

    @property
    def ok(self) -> bool:
        return self.sqlite == self.postgresql


def open_sqlite_read_only(path: str | Path) -> sqlite3.Connection:
    """The SQLite store at `path`, read-only (mode=ro: no write can reach the file)."""
    p = Path(path)
    if not p.is_file():
        raise StoreError(f"no SQLite database at {p}")
    try:
        conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read the SQLite database {p}: {exc}") from None
    return conn


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    names = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    shadow = {f"{fts}{suffix}" for fts in _FTS for suffix in _SKIPPED_SUFFIXES}
    return [n for n in names if not n.startswith("sqlite_") and n not in shadow and n != "schema_migrations"]


def _pending(conn: sqlite3.Connection) -> list[str]:
    try:
        done = {str(r[0]) for r in conn.execute("SELECT name FROM schema_migrations")}
    except sqlite3.DatabaseError:
        done = set()
    return [name for name, _ in migrations() if name not in done]


def _pg_order(pg: PgDatabase) -> list[str]:
    """PostgreSQL's tables, every table after those its foreign keys refer to."""
    tables = pg.table_names()
    refs: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in pg.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    ).fetchall():
        if str(child) in refs and str(parent) != str(child):
            refs[str(child)].add(str(parent))
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in ordered and refs[t] <= set(ordered))
        if not ready:
            raise StoreError(f"foreign keys form a cycle among {sorted(set(tables) - set(ordered))}")
        ordered.extend(ready)
    return ordered


def _columns(pg: PgDatabase, table: str) -> list[str]:
    rows = pg.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ? AND is_generated = 'NEVER' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _count(conn: Any, table: str) -> int:
    return int(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])


def copy_to_postgresql(
    source: str | Path, url: str, batch: int = 5000, progress: Callable[[str, int], None] | None = None
) -> list[TableCount]:
    """Copy the SQLite store at `source` into the EMPTY PostgreSQL database at `url`; the per-table counts.

    Raises StoreError (nothing written) for an unreadable or not fully migrated SQLite file, an unreachable
    server, a database that already holds tables, or a row PostgreSQL refuses."""
    lite = open_sqlite_read_only(source)
    try:
        pending = _pending(lite)
        if pending:
            raise StoreError(
                f"the SQLite database {source} is not up to date (pending migrations: {', '.join(pending)})"
                " — run any misinfo command on it once (e.g. misinfo status), then copy it"
            )
        pg = open_pg(url)
        try:
            return _copy(lite, pg, batch, progress)
        finally:
            pg.close()
    finally:
        lite.close()


def _copy(
    lite: sqlite3.Connection, pg: PgDatabase, batch: int, progress: Callable[[str, int], None] | None
) -> list[TableCount]:
    import psycopg  # lazy: psycopg is only needed (and installed) for PostgreSQL

    existing = pg.table_names()
    if existing:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        raise StoreError(
            f"the PostgreSQL database is not empty ({len(existing)} table(s): {shown}) — copy into an empty"
            " database (or schema)"
        )
    source_tables = _sqlite_tables(lite)
    copied: list[str] = []
    with write(pg):
        migrate(pg)
        order = _pg_order(pg)
        missing = sorted(set(source_tables) - set(order))
        if missing:
            raise StoreError(f"no PostgreSQL table for SQLite table(s) {', '.join(missing)}")
        raw = pg.pg.raw
        tables = [t for t in order if t in source_tables]
        for table in tables:
            raw.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        for table in tables:
            columns = _columns(pg, table)
            names = ", ".join(f'"{c}"' for c in columns)
            rows = lite.execute(f'SELECT {names} FROM "{table}"')
            written = 0
            try:
                with raw.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as out:
                    while chunk := rows.fetchmany(batch):
                        for row in chunk:
                            out.write_row(row)
                        written += len(chunk)
                        if progress:
                            progress(table, written)
            except psycopg.Error as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StoreError(f"copying table {table}: {message} (nothing was written)") from None
            copied.append(table)
        for table in tables:
            raw.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        for table in sorted(pg.pg.identity_tables() & set(tables)):
            raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                f' FROM "{table}"'
            )
        sync_item_ids(pg)  # items take their ids from a sequence of their own (items.ItemIds)
    return [TableCount(t, _count(lite, t), _count(pg, t)) for t in copied]
