"""The database behind the store: SQLite (a file path, the default) or PostgreSQL (a postgresql:// URL).

The store modules speak one API whichever backend holds the data: `db.execute(sql, params)` returns a cursor
(fetchone / fetchall / rowcount / lastrowid, tuple rows), `db.query(sql, params)` yields dict rows,
`db.conn.in_transaction` / `db.conn.execute` / `db.conn.executemany` serve `write()` and the bulk inserts.
For SQLite that is sqlite-utils' Database over sqlite3; for PostgreSQL, `PgDatabase` below, an adapter over
one psycopg 3 connection in autocommit mode (write() issues BEGIN itself, as it does for SQLite).

What the adapter translates, and nothing more (anything else SQLite-only is refused with "not supported yet
on PostgreSQL: ..." rather than guessed at):

- placeholders: `?` -> `%s`, `:name` -> `%(name)s` (dict parameters), a literal `%` -> `%%`;
- `INSERT OR IGNORE INTO t ...` -> `INSERT INTO t ... ON CONFLICT DO NOTHING`;
- `lastrowid`: an INSERT into a table whose `id` is an identity column gets `RETURNING id`;
- a few whole statements of modules whose SQL is shared verbatim (PG_STATEMENTS, exact text);
- `LIKE` -> `ILIKE` (SQLite's LIKE ignores case, PostgreSQL's does not; ILIKE also folds non-ASCII case,
  which SQLite's leaves alone);
- booleans sent as 0/1 (the schema keeps SQLite's integer flags), and boolean results (`x = y`, EXISTS)
  read back as 0/1 as SQLite returns them; numeric results as int/float;
- errors re-raised as the sqlite3 exception classes the callers already catch (IntegrityError,
  OperationalError, DatabaseError), with PostgreSQL's message.

Where the SQL itself must differ, the store module writes both versions side by side and picks one with
`dialect(db)`; the stages never see the difference.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import sqlite_utils

from monitor.errors import StoreError

if TYPE_CHECKING:
    import psycopg

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
URL_SCHEMES = ("postgresql", "postgres")

# write() serialises writers on PostgreSQL as BEGIN IMMEDIATE does on SQLite: one transaction-scoped advisory
# lock, so the store's read-then-write steps (dedup checks, leases) stay correct; readers never wait.
# write(exclusive=False) skips it: collection batches lock their items' dedup keys instead (items.lock_item_keys).
WRITE_LOCK_KEY = 0x6D6F6E69746F72  # "monitor"


def is_url(target: object) -> bool:
    """Whether a `database:` value names a server (postgresql://...) rather than a SQLite file."""
    return isinstance(target, str) and "://" in target


def check_url(url: str) -> str | None:
    """What is wrong with a database URL, or None when it has the shape the store accepts."""
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        return (
            f"'{parts.scheme}://' is not a supported database URL — use postgresql://user@host:5432/dbname"
            " or a SQLite file path"
        )
    if not parts.path.strip("/"):
        return (
            "the PostgreSQL URL names no database — end it with /dbname (postgresql://user@host:5432/dbname)"
        )
    try:
        parts.port  # noqa: B018  (raises on a non-numeric port)
    except ValueError:
        return f"the PostgreSQL URL has an invalid port: {parts.netloc}"
    if not parts.hostname and "host=" not in parts.query:
        return "the PostgreSQL URL names no host — postgresql://user@host:5432/dbname (or ?host=/socket/dir)"
    return None


def redact(target: object) -> str:
    """A database target fit for logs and messages: a URL's password replaced by ***."""
    text = str(target)
    if not is_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def dialect(db: sqlite_utils.Database) -> str:
    """'postgresql' or 'sqlite': for the few store statements written once per backend."""
    return POSTGRESQL if isinstance(db, PgDatabase) else SQLITE


def unsupported(what: str) -> StoreError:
    """The one error for a part of the store not ported to PostgreSQL yet."""
    return StoreError(f"not supported yet on PostgreSQL: {what} — use a SQLite database for this for now")


# --- SQL translation ----------------------------------------------------------------------------------------

# Whole statements shared verbatim by a module whose SQLite text cannot carry over (exact text, stripped).
PG_STATEMENTS: dict[str, str] = {
    # monitor/store/items.py search_items: FTS5 MATCH -> tsvector over the same folded text.
    "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rank LIMIT ? OFFSET ?": (
        "SELECT rowid FROM items_fts, fts_query(%s) AS q WHERE tsv @@ q"
        " ORDER BY ts_rank(tsv, q) DESC, rowid LIMIT %s OFFSET %s"
    ),
}

# SQLite-only constructs the adapter refuses instead of sending them to PostgreSQL.
_REFUSED = (
    ("INSERT OR REPLACE", "INSERT OR REPLACE"),
    ("REPLACE INTO", "REPLACE INTO"),
    ("PRAGMA ", "PRAGMA"),
    (" MATCH ", "FTS5 MATCH"),
    ("STRFTIME(", "strftime()"),
    ("JULIANDAY(", "julianday()"),
    ("GROUP_CONCAT(", "GROUP_CONCAT()"),
    ("PRINTF(", "printf()"),
    ("SQLITE_MASTER", "sqlite_master"),
    ("WITHOUT ROWID", "WITHOUT ROWID"),
    (" INDEXED BY ", "INDEXED BY"),
)
_INSERT = re.compile(r"\s*INSERT\s+(OR\s+IGNORE\s+)?INTO\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A translated INSERT of one row of placeholders (PgConnection._as_unnest sends many such rows as one statement).
_PLAIN_INSERT = re.compile(
    r"INSERT INTO ([A-Za-z_][A-Za-z0-9_]*) \(([A-Za-z0-9_,\s]+)\)\s+VALUES\s*\(((?:\s*%s\s*,)*\s*%s\s*)\)"
    r"( ON CONFLICT DO NOTHING)?",
    re.IGNORECASE,
)


class Translated:
    """One statement in PostgreSQL's form: its text, the table an INSERT writes (else None)."""

    __slots__ = ("insert_into", "returning", "sql")

    def __init__(self, sql: str, insert_into: str | None, returning: bool) -> None:
        self.sql = sql
        self.insert_into = insert_into
        self.returning = returning


@lru_cache(maxsize=4096)
def translate(sql: str, named: bool = False) -> Translated:
    """The PostgreSQL form of one store statement (see the module docstring for what is translated)."""
    text = sql.strip().rstrip(";").strip()
    override = PG_STATEMENTS.get(text)
    if override is not None:
        return Translated(override, None, False)
    out: list[str] = []
    code: list[str] = []  # the text outside literals and comments, for the checks below
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(text[i : j + 1].replace("%", "%%"))
            code.append(" " if ch == "'" else text[i : j + 1])
            i = j + 1
        elif ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif ch == "?":
            out.append("%s")
            code.append("?")
            i += 1
        elif ch == "%":
            out.append("%%")
            code.append("%")
            i += 1
        elif (
            ch in "lL"
            and text[i : i + 4].upper() == "LIKE"
            and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))
            and (i + 4 >= n or not (text[i + 4].isalnum() or text[i + 4] == "_"))
        ):
            out.append("ILIKE")  # SQLite's LIKE ignores case
            code.append("LIKE")
            i += 4
        elif named and ch == ":" and i + 1 < n and text[i + 1] != ":" and (i == 0 or text[i - 1] != ":"):
            m = _NAME.match(text, i + 1)
            if m:
                out.append(f"%({m.group(0)})s")
                code.append("?")
                i = m.end()
            else:
                out.append(ch)
                code.append(ch)
                i += 1
        else:
            out.append(ch)
            code.append(ch)
            i += 1
    result = "".join(out)
    upper = " ".join("".join(code).upper().split())
    for needle, name in _REFUSED:
        if needle in f" {upper} ":
            raise unsupported(f"{name} in `{' '.join(text.split())[:120]}`")
    m = _INSERT.match(result)
    if m is None:
        return Translated(result, None, " RETURNING " in upper)
    if m.group(1):
        if "ON CONFLICT" in upper:
            raise unsupported(f"INSERT OR IGNORE with ON CONFLICT in `{text[:120]}`")
        result = "INSERT " + result[m.end(1) :].lstrip()
        at = upper.find(" RETURNING ")
        if at >= 0:
            # RETURNING comes last: the conflict clause goes before it.
            head, _, tail = result.rpartition(" RETURNING ")
            result = f"{head} ON CONFLICT DO NOTHING RETURNING {tail}"
        else:
            result += " ON CONFLICT DO NOTHING"
    return Translated(result, m.group(2).lower(), " RETURNING " in upper)


def _params(params: Sequence[Any] | dict[str, Any] | None) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return {k: int(v) if isinstance(v, bool) else v for k, v in params.items()}
    return [int(v) if isinstance(v, bool) else v for v in params]


def _as_sqlite_error(exc: BaseException) -> sqlite3.Error:
    """psycopg's error as the sqlite3 class callers catch, PostgreSQL's message kept."""
    import psycopg

    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(message)
    if isinstance(exc, psycopg.errors.OperationalError | psycopg.errors.InterfaceError):
        return sqlite3.OperationalError(message)
    return sqlite3.DatabaseError(message)


# --- the adapter ----------------------------------------------------------------------------------------------


class PgCursor:
    """The part of sqlite3.Cursor the store uses, over a psycopg cursor (tuple rows)."""

    def __init__(
        self, cursor: psycopg.Cursor[Any], lastrowid: int | None = None, rows: list[Any] | None = None
    ):
        self._cursor = cursor
        self.lastrowid = lastrowid
        self._rows = rows  # rows already fetched (RETURNING id added for lastrowid): not the caller's
        self.rowcount = cursor.rowcount

    @property
    def description(self) -> Any:
        return None if self._rows is not None else self._cursor.description

    def fetchone(self) -> Any:
        if self._rows is not None or self._cursor.description is None:
            return None
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        if self._rows is not None or self._cursor.description is None:
            return []
        return self._cursor.fetchall()

    def fetchmany(self, size: int = 1) -> list[Any]:
        if self._rows is not None or self._cursor.description is None:
            return []
        return self._cursor.fetchmany(size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    def close(self) -> None:
        self._cursor.close()


class PgConnection:
    """The part of sqlite3.Connection the store uses (execute, executemany, in_transaction, close)."""

    def __init__(self, raw: psycopg.Connection[Any], identity_tables: set[str] | None = None) -> None:
        self.raw = raw
        self._identity_tables = identity_tables
        self._column_types: dict[str, dict[str, str]] | None = None

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    def identity_tables(self) -> set[str]:
        """Tables whose `id` is an identity column (an INSERT into one reports lastrowid)."""
        if self._identity_tables is None:
            cur = self.raw.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND column_name = 'id' AND is_identity = 'YES'"
            )
            self._identity_tables = {str(r[0]) for r in cur.fetchall()}
        return self._identity_tables

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> PgCursor:
        named = isinstance(params, dict)
        if params is None or (not named and len(params) == 0):
            # No parameters: the text goes as written (psycopg reads no placeholders), scripts included.
            stripped = sql.strip()
            upper = stripped.upper()
            if upper.startswith(
                ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "CREATE", "ALTER", "DROP")
            ):
                if upper.startswith(("CREATE", "ALTER", "DROP")):
                    self._identity_tables = None  # the schema changed
                    self._column_types = None
                return self._run(stripped, None, None)
        t = translate(sql, named)
        sql_params = _params(params if params is not None else [])
        if t.insert_into and not t.returning and t.insert_into in self.identity_tables():
            cur = self._run(t.sql + " RETURNING id", sql_params, t)
            rows = cur._cursor.fetchall()
            return PgCursor(cur._cursor, int(rows[-1][0]) if rows else None, rows)
        return self._run(t.sql, sql_params, t)

    def _run(self, sql: str, params: Any, t: Translated | None) -> PgCursor:
        import psycopg

        cursor = self.raw.cursor()
        try:
            cursor.execute(cast(Any, sql), params, prepare=False if params is None else None)
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        return PgCursor(cursor)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]] | Iterator[Sequence[Any]]) -> PgCursor:
        import psycopg

        t = translate(sql, False)
        rows = [_params(list(r)) for r in seq]
        cursor = self.raw.cursor()
        if rows:
            bulk = self._as_unnest(t.sql, rows) if len(rows) > 1 else None
            try:
                if bulk is not None:
                    cursor.execute(cast(Any, bulk[0]), bulk[1])
                else:
                    cursor.executemany(cast(Any, t.sql), rows)
            except psycopg.Error as exc:
                raise _as_sqlite_error(exc) from exc
        return PgCursor(cursor)

    def _as_unnest(self, sql: str, rows: list[list[Any]]) -> tuple[str, list[list[Any]]] | None:
        """A plain `INSERT INTO t (cols) VALUES (%s, …)` of many rows as ONE statement over arrays, one per column
        (`INSERT … SELECT * FROM unnest(%s::type[], …)`): row triggers and ON CONFLICT act as they do row by row,
        but PostgreSQL parses, plans and executes once (collecting 20 items x 12 near-duplicate bands cost it
        2.6x the CPU row by row, the client 5x). None when the statement or the values do not allow it."""
        m = _PLAIN_INSERT.fullmatch(sql)
        if m is None:
            return None
        table, columns = m.group(1), [c.strip() for c in m.group(2).split(",")]
        if len(columns) != m.group(3).count("%s") or any(len(r) != len(columns) for r in rows):
            return None
        types = self.column_types(table)
        if any(c not in types for c in columns):
            return None
        arrays: list[list[Any]] = []
        for values in zip(*rows, strict=True):
            kinds = {type(v) for v in values if v is not None}
            if len(kinds) > 1:
                if not kinds <= {int, float}:
                    return None  # psycopg sends one element type per array
                values = tuple(None if v is None else float(v) for v in values)
            arrays.append(list(values))
        casts = ", ".join(f"%s::{types[c]}[]" for c in columns)
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({casts}){m.group(4) or ''}",
            arrays,
        )

    def column_types(self, table: str) -> dict[str, str]:
        """Column name -> SQL type of a table (as format_type writes it), read once per connection."""
        if self._column_types is None:
            self._column_types = {}
        if table not in self._column_types:
            cur = self.raw.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                [table],
            )
            self._column_types[table] = {str(r[0]): str(r[1]) for r in cur.fetchall()}
        return self._column_types[table]

    def close(self) -> None:
        self.raw.close()

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")


class _PgTable:
    """db["name"].count, as sqlite-utils offers it (tests and tools read counts that way)."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db, self.name = db, name

    @property
    def count(self) -> int:
        if not _NAME.fullmatch(self.name):
            raise StoreError(f"not a table name: {self.name!r}")
        return int(self.db.execute(f'SELECT COUNT(*) FROM "{self.name}"').fetchone()[0])


class PgDatabase(sqlite_utils.Database):
    """A PostgreSQL database behind the store's API (see the module docstring).

    It subclasses sqlite-utils' Database only so every store signature accepts it unchanged; none of the
    parent's table helpers work on it (the store uses raw SQL through write() anyway)."""

    def __init__(self, url: str) -> None:  # noqa: D107  (the parent's __init__ opens SQLite: not called)
        import psycopg

        self.url = url
        try:
            raw = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the database {redact(url)}: {str(exc).strip()}") from None
        _register_loaders(raw)
        self.conn = cast(sqlite3.Connection, PgConnection(raw))
        self.memory = False
        self.memory_name = None
        self._tracer = None
        self._registered_functions = set()
        self.use_counts_table = False
        self.strict = False
        self.use_old_upsert = False

    @property
    def pg(self) -> PgConnection:
        return cast(PgConnection, self.conn)

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> sqlite3.Cursor:
        return cast(sqlite3.Cursor, self.pg.execute(sql, parameters))

    def executescript(self, sql: str) -> sqlite3.Cursor:
        self.pg._identity_tables = None  # a migration script may create tables with identity ids
        self.pg._column_types = None
        return cast(sqlite3.Cursor, self.pg._run(sql, None, None))

    def query(  # type: ignore[override]
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        cur = self.pg.execute(sql, params)
        description = cur._cursor.description
        if description is None:
            raise ValueError(
                "query() can only be used with SQL that returns rows - use execute() for other statements"
            )
        keys = [d.name for d in description]
        rows = cur.fetchall()
        return (dict(zip(keys, row, strict=True)) for row in rows)

    def table_names(self, fts4: bool = False, fts5: bool = False) -> list[str]:
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def __getitem__(self, table_name: str) -> Any:
        return _PgTable(self, table_name)

    def begin_write(self, exclusive: bool = True) -> None:
        """BEGIN and take the store's write lock (released at COMMIT / ROLLBACK); exclusive=False: BEGIN only,
        the caller takes the locks its rows need (monitor.store.items.lock_item_keys)."""
        self.pg.execute("BEGIN")
        if exclusive:
            self.pg._run(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})", None, None)

    def close(self) -> None:
        self.pg.close()


_loader_lock = threading.Lock()


def _register_loaders(raw: psycopg.Connection[Any]) -> None:
    """numeric (SUM of integers, AVG) as int when whole else float, and booleans as 0/1, as SQLite returns
    them."""
    from psycopg.adapt import Loader

    class NumericLoader(Loader):
        def load(self, data: Any) -> Any:
            text = bytes(data).decode()
            if "." not in text and "e" not in text.lower() and text not in ("NaN", "Infinity", "-Infinity"):
                return int(text)
            return float(text)

    class BoolAsIntLoader(Loader):
        def load(self, data: Any) -> Any:
            return 1 if bytes(data) in (b"t", b"\x01") else 0

    with _loader_lock:
        raw.adapters.register_loader("numeric", NumericLoader)
        raw.adapters.register_loader("bool", BoolAsIntLoader)


def open_pg(url: str) -> PgDatabase:
    """Open a PostgreSQL database (no migrations: monitor.store.connect applies them)."""
    problem = check_url(url)
    if problem:
        raise StoreError(f"database: {problem}")
    return PgDatabase(url)
