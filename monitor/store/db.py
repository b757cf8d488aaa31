"""Open the database (SQLite: WAL, busy_timeout, foreign keys; PostgreSQL: a postgresql:// URL, see
backend.py), manage write transactions, convert times."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.errors import StoreError
from monitor.store.backend import PgDatabase, is_url, open_pg

WAL_AUTOCHECKPOINT_PAGES = 4000
BUSY_TIMEOUT_MS = 30_000

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


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path` and set pragmas; no migrations.

    `path` is a SQLite file, or a postgresql:// URL (backend.PgDatabase, the same store API).
    Use monitor.store.connect, which also applies pending migrations (monitor.store.migrations).
    """
    if is_url(path):
        return open_pg(str(path))
    p = Path(path)
    if str(path) != ":memory:":
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if not p.exists():
                # It holds password and token hashes: owner-only from the start (the -wal and -shm files
                # SQLite creates take the database file's mode).
                os.close(os.open(p, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the database {p}: {exc}") from None
    try:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see write()), so a writer takes the
        # lock up front and never hits the deferred-upgrade deadlock that surfaces as "database is locked".
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _journal_mode_wal(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~16 MB of WAL instead of SQLite's 4 MB: a collect pass rewrites the same index pages
        # (near-duplicate bands, report counts) batch after batch, and each checkpoint copies a page once
        # however often it changed since the last one (bench/collect.py: ~2% less CPU per item).
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    except sqlite3.DatabaseError as exc:
        if read_only_error(exc):
            raise read_only(p) from None
        raise StoreError(f"cannot open the database {p}: {exc} — check the path in `database:`") from None
    return sqlite_utils.Database(conn)


def _journal_mode_wal(conn: sqlite3.Connection) -> None:
    """PRAGMA journal_mode = WAL, tried again while another connection holds the lock it needs. Two processes
    opening a new database at once both switch it to WAL; SQLite answers one of them "database is locked"
    at once, without its busy handler (waiting could deadlock there), so open_db waits here instead."""
    _while_busy(conn, "PRAGMA journal_mode = WAL", first_pause=0.01, max_pause=0.01)


def read_only_error(exc: BaseException) -> bool:
    """Whether SQLite refused a write because the file (or its folder) is read-only."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("readonly" in text or "read-only" in text)


def read_only(path: object = None) -> StoreError:
    """The one-line error for a database that cannot be written."""
    where = f" {path}" if path else ""
    return StoreError(
        f"the database{where} is read-only — give this user write access to the file and its folder"
        " (SQLite writes -wal and -shm files beside it)"
    )


@contextmanager
def write(db: sqlite_utils.Database, exclusive: bool = True) -> Iterator[sqlite_utils.Database]:
    """A write transaction (BEGIN IMMEDIATE), or a savepoint when already inside one.

    Use raw SQL (db.execute) inside: sqlite-utils' table helpers commit on their own.

    exclusive=False matters on PostgreSQL only: the transaction does not take the store-wide write lock, so
    writers that touch different rows run at once; the caller must lock what it relies on (collection's
    batches lock their items' dedup keys: monitor.store.items.lock_item_keys). SQLite has one writer anyway.
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
    if level == 0 and isinstance(db, PgDatabase):
        db.begin_write(exclusive)  # BEGIN + the store's write lock: writers one at a time, as on SQLite
    elif level == 0:
        try:
            _begin_immediate(conn)
        except sqlite3.OperationalError as exc:
            if read_only_error(exc):
                raise read_only(_path_of(conn)) from None
            raise
    else:
        conn.execute(f"SAVEPOINT sp{level}")
    depth[key] = depth.get(key, 0) + 1
    try:
        yield db
    except BaseException as exc:
        depth[key] -= 1
        if level == 0:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        else:
            conn.execute(f"ROLLBACK TO sp{level}")
            conn.execute(f"RELEASE sp{level}")
        if level == 0 and read_only_error(exc):
            raise read_only(_path_of(conn)) from None
        raise
    else:
        depth[key] -= 1
        if level == 0:
            conn.execute("COMMIT")
        else:
            conn.execute(f"RELEASE sp{level}")


# Waiting for another process's write transaction: SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ms …
# between tries, so a writer that could have started 0.2 ms after the other committed often waits 3–8 ms more
# (two collect workers on one file spent a fifth of their time so). write() polls in short, growing steps.
BUSY_FIRST_PAUSE_S = 0.0002
BUSY_MAX_PAUSE_S = 0.004


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc)


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to BUSY_TIMEOUT_MS for the write lock in short steps (see above); SQLite's
    busy handler stays on for every other statement."""
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        _while_busy(conn, "BEGIN IMMEDIATE", first_pause=BUSY_FIRST_PAUSE_S, max_pause=BUSY_MAX_PAUSE_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _while_busy(conn: sqlite3.Connection, sql: str, first_pause: float, max_pause: float) -> None:
    """Run `sql` until SQLite no longer answers "database is locked", pausing first_pause, growing x1.5 up to
    max_pause; past BUSY_TIMEOUT_MS the last error is raised."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = first_pause
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 1.5, max_pause)


def _path_of(conn: sqlite3.Connection) -> str | None:
    if not isinstance(conn, sqlite3.Connection):
        return None
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return None
    return str(row[2]) if row and row[2] else None


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


class ConnectionPool:
    """Open connections kept for reuse by one process (the web app: one per request otherwise).

    Opening a connection costs a file open and four PRAGMAs per request. A connection goes back to the pool
    with no transaction open (one left open is rolled back); one whose file was replaced under it (a restore
    from backup, a new database at the same path) is closed and a fresh one opened on the next checkout.
    At most `keep` idle connections are kept; busier moments open extra ones and close them afterwards.
    """

    def __init__(self, path: str | Path, keep: int = 16) -> None:
        self.path = str(path)
        self.keep = keep
        self._idle: list[tuple[sqlite_utils.Database, tuple[int, int] | None]] = []
        self._lock = threading.Lock()

    def _identity(self) -> tuple[int, int] | None:
        if is_url(self.path):
            return (0, 0)  # a server: the same database for as long as the pool lives
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def get(self) -> sqlite_utils.Database:
        """A connection: an idle one on the same file, else a new one (pragmas set, no migrations)."""
        identity = self._identity()
        while True:
            with self._lock:
                if not self._idle:
                    break
                db, opened_on = self._idle.pop()
            if opened_on == identity and identity is not None:
                return db
            db.conn.close()  # the file changed (or vanished) since this connection was opened
        db = open_db(self.path)
        db._pool_identity = self._identity()  # type: ignore[attr-defined]
        return db

    def put(self, db: sqlite_utils.Database) -> None:
        """Give a connection back (closed instead when the pool is full or it is unusable)."""
        try:
            if getattr(db.conn, "closed", False):
                return  # a PostgreSQL connection the server dropped
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
        except sqlite3.Error:
            db.conn.close()
            return
        identity = getattr(db, "_pool_identity", None)
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append((db, identity))
                return
        db.conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for db, _ in idle:
            db.conn.close()
