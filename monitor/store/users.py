"""Users, password hashes (argon2) and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monitor.errors import Conflict, NotFound, UsageError
from monitor.store import audit
from monitor.store.db import from_db_time, query_one, to_db_time, utcnow, write

_hasher = PasswordHasher()

# Bounds on what the unauthenticated surface (the login form) can make the app store or echo.
MAX_NAME_LENGTH = 150
MAX_PASSWORD_LENGTH = 1024


def hash_password(password: str) -> str:
    """argon2id hash of a password."""
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches the stored hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def get_user(db: sqlite_utils.Database, username: str) -> dict[str, Any] | None:
    """A user row by name, or None."""
    return query_one(db, "SELECT * FROM users WHERE username = ?", [username])


def get_user_by_id(db: sqlite_utils.Database, user_id: int) -> dict[str, Any] | None:
    """A user row by id, or None."""
    return query_one(db, "SELECT * FROM users WHERE id = ?", [user_id])


def require_user(db: sqlite_utils.Database, username: str) -> dict[str, Any]:
    """A user row by name; NotFound names the fix."""
    user = get_user(db, username)
    if user is None:
        raise NotFound(f"no user named '{username}' — list users with `misinfo users list`")
    return user


def create_user(
    db: sqlite_utils.Database,
    username: str,
    password: str,
    role: str,
    *,
    email: str | None = None,
    language: str = "vi",
    actor: str = "system",
) -> int:
    """Create a user; Conflict when the name is taken. `role` is checked by the caller against the roles
    table (monitor.review.roles.check_role)."""
    if not role:
        raise UsageError("a user needs a role")
    if not username or not username.strip():
        raise UsageError("a user name cannot be empty")
    if len(username) > MAX_NAME_LENGTH:
        raise UsageError(f"a user name has at most {MAX_NAME_LENGTH} characters")
    _check_password_length(password)
    now = utcnow()
    with write(db):
        if get_user(db, username) is not None:
            raise Conflict(f"user '{username}' already exists — choose another name")
        cur = db.execute(
            "INSERT INTO users (username, password_hash, role, email, language, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [username, hash_password(password), role, email, language, now, now],
        )
        user_id = int(cur.lastrowid or 0)
        audit.record(db, actor, "user.create", "user", user_id, {"username": username, "role": role})
    return user_id


def _check_password_length(password: str) -> None:
    if len(password) < 8:
        raise UsageError("the password must have at least 8 characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsageError(f"the password has at most {MAX_PASSWORD_LENGTH} characters")


def set_password(db: sqlite_utils.Database, username: str, password: str, actor: str = "system") -> None:
    """Replace a user's password; every session of the user ends."""
    _check_password_length(password)
    with write(db):
        user = require_user(db, username)
        db.execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
            [hash_password(password), utcnow(), user["id"]],
        )
        ended = _end_user_sessions(db, int(user["id"]))
        audit.record(
            db, actor, "user.password", "user", user["id"], {"username": username, "sessions_ended": ended}
        )


def token_hash(token: str) -> str:
    """Tokens are stored hashed; sha256 is enough for 256-bit random tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    db: sqlite_utils.Database,
    username: str,
    actor: str = "system",
    *,
    expires_at: datetime | None = None,
) -> str:
    """Create and return a new API token for the user (only its hash is stored); None: never expires."""
    token = "mm_" + secrets.token_urlsafe(32)
    expires = to_db_time(expires_at) if expires_at is not None else None
    with write(db):
        user = require_user(db, username)
        cur = db.execute(
            "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [user["id"], token_hash(token), utcnow(), expires],
        )
        audit.record(
            db,
            actor,
            "user.token",
            "user",
            user["id"],
            {"username": username, "token_id": int(cur.lastrowid or 0), "expires_at": expires},
        )
    return token


def user_for_token(db: sqlite_utils.Database, token: str) -> dict[str, Any] | None:
    """The active user owning an API token that is neither revoked nor expired, or None.

    The row carries `token_id` and `token_last_used_at` (see touch_token)."""
    return query_one(
        db,
        "SELECT users.*, api_tokens.id AS token_id, api_tokens.last_used_at AS token_last_used_at"
        " FROM api_tokens JOIN users ON users.id = api_tokens.user_id"
        " WHERE api_tokens.token_hash = ? AND api_tokens.revoked = 0 AND users.disabled = 0"
        " AND (api_tokens.expires_at IS NULL OR api_tokens.expires_at > ?)",
        [token_hash(token), utcnow()],
    )


TOKEN_TOUCH_EVERY_S = 60


def touch_token(db: sqlite_utils.Database, token_id: int, last_used_at: str | None) -> None:
    """Record a token's use (api_tokens.last_used_at), at most once a minute so reads stay reads."""
    now = datetime.now(UTC)
    previous = from_db_time(last_used_at) if last_used_at else None
    if previous is not None and (now - previous).total_seconds() < TOKEN_TOUCH_EVERY_S:
        return
    with write(db):
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [to_db_time(now), token_id])


def list_tokens(db: sqlite_utils.Database, username: str) -> list[dict[str, Any]]:
    """A user's API tokens (never the hashes): id, created_at, expires_at, last_used_at, revoked."""
    user = require_user(db, username)
    return list(
        db.query(
            "SELECT id, created_at, expires_at, last_used_at, revoked FROM api_tokens"
            " WHERE user_id = ? ORDER BY id",
            [user["id"]],
        )
    )


def revoke_token(db: sqlite_utils.Database, username: str, token_id: int, actor: str = "system") -> None:
    """Revoke one of the user's tokens; NotFound when the user has no token with that id."""
    with write(db):
        user = require_user(db, username)
        row = query_one(db, "SELECT id FROM api_tokens WHERE id = ? AND user_id = ?", [token_id, user["id"]])
        if row is None:
            raise NotFound(
                f"user '{username}' has no token {token_id} — list them with `misinfo users token {username} --list`"
            )
        db.execute("UPDATE api_tokens SET revoked = 1 WHERE id = ?", [token_id])
        audit.record(
            db, actor, "user.token_revoke", "user", user["id"], {"username": username, "token_id": token_id}
        )


# --- web sessions (server-side, so they can be ended) ----------------------------------------------
# The signed cookie carries a random session id; only its sha256 is stored. Logout deletes the row;
# a password change, disabling the user and `misinfo users logout` delete all of the user's rows.

SESSION_LIFETIME_S = 12 * 3600


def start_session(db: sqlite_utils.Database, user_id: int, lifetime_s: int = SESSION_LIFETIME_S) -> str:
    """A new session for the user; returns the id to put in the cookie. Expired rows are pruned here."""
    sid = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with write(db):
        db.execute("DELETE FROM web_sessions WHERE expires_at <= ?", [to_db_time(now)])
        db.execute(
            "INSERT INTO web_sessions (sid_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [token_hash(sid), user_id, to_db_time(now), to_db_time(now + timedelta(seconds=lifetime_s))],
        )
    return sid


def user_for_session(db: sqlite_utils.Database, sid: str) -> dict[str, Any] | None:
    """The active user of a live session, or None (ended, expired, disabled or unknown)."""
    return query_one(
        db,
        "SELECT users.* FROM web_sessions JOIN users ON users.id = web_sessions.user_id"
        " WHERE web_sessions.sid_hash = ? AND web_sessions.expires_at > ? AND users.disabled = 0",
        [token_hash(sid), utcnow()],
    )


def end_session(db: sqlite_utils.Database, sid: str) -> None:
    """End one session (logout)."""
    with write(db):
        db.execute("DELETE FROM web_sessions WHERE sid_hash = ?", [token_hash(sid)])


def _end_user_sessions(db: sqlite_utils.Database, user_id: int) -> int:
    cur = db.execute("DELETE FROM web_sessions WHERE user_id = ?", [user_id])
    return int(cur.rowcount or 0)


def end_sessions(db: sqlite_utils.Database, username: str, actor: str = "system") -> int:
    """End every session of a user ("log out everywhere"); returns how many ended."""
    with write(db):
        user = require_user(db, username)
        ended = _end_user_sessions(db, int(user["id"]))
        audit.record(
            db, actor, "user.logout_all", "user", user["id"], {"username": username, "sessions_ended": ended}
        )
    return ended


# --- listing, disabling, language -----------------------------------------------------------------

LANGUAGES = ("vi", "en")


def list_users(db: sqlite_utils.Database, include_disabled: bool = True) -> list[dict[str, Any]]:
    """Every user (without password hashes), by name."""
    where = "" if include_disabled else " WHERE disabled = 0"
    return list(
        db.query(
            "SELECT id, username, role, email, language, disabled, failed_logins, locked_until, created_at,"
            f" updated_at FROM users{where} ORDER BY username"
        )
    )


def users_with_role(db: sqlite_utils.Database, *roles: str) -> list[dict[str, Any]]:
    """Active users holding one of `roles` (give monitor.review.roles.roles_with(capability)), by name."""
    marks = ", ".join("?" for _ in roles) or "''"
    return list(
        db.query(
            "SELECT id, username, role, email, language FROM users WHERE disabled = 0"
            f" AND role IN ({marks}) ORDER BY username",
            list(roles),
        )
    )


def disable_user(db: sqlite_utils.Database, username: str, actor: str = "system") -> None:
    """Disable a user: no login, no API token works; their history stays."""
    with write(db):
        user = require_user(db, username)
        db.execute("UPDATE users SET disabled = 1, updated_at = ? WHERE id = ?", [utcnow(), user["id"]])
        db.execute("UPDATE api_tokens SET revoked = 1 WHERE user_id = ?", [user["id"]])
        _end_user_sessions(db, int(user["id"]))
        audit.record(db, actor, "user.disable", "user", user["id"], {"username": username})


def enable_user(db: sqlite_utils.Database, username: str, actor: str = "system") -> None:
    """Let a disabled user log in again (tokens revoked when disabling stay revoked; the lock is cleared)."""
    with write(db):
        user = require_user(db, username)
        db.execute(
            "UPDATE users SET disabled = 0, failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?",
            [utcnow(), user["id"]],
        )
        audit.record(db, actor, "user.enable", "user", user["id"], {"username": username})


def set_language(db: sqlite_utils.Database, user_id: int, language: str) -> None:
    """Set a user's interface language (vi or en)."""
    if language not in LANGUAGES:
        raise UsageError(f"language '{language}' is not supported — use one of {', '.join(LANGUAGES)}")
    with write(db):
        db.execute(
            "UPDATE users SET language = ?, updated_at = ? WHERE id = ?", [language, utcnow(), user_id]
        )


# --- login throttling -------------------------------------------------------------------------------
# Per user (users.failed_logins / locked_until) and per client address (login_throttle table):
# after FREE_FAILURES failures, each further failure locks for BASE_LOCK_S doubling up to MAX_LOCK_S.

FREE_FAILURES = 5
FREE_FAILURES_PER_ADDRESS = 20
BASE_LOCK_S = 30
MAX_LOCK_S = 3600

_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to verify against when the user does not exist, so both paths take as long (made on first use)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("timing-equaliser-not-a-password")
    return _dummy_hash


def use_fast_hashing() -> None:
    """TESTS ONLY: cheap argon2 parameters so suites that create many users stay fast."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    _dummy_hash = None


def _lock_seconds(failures: int, free: int) -> int:
    over = failures - free
    if over < 0:
        return 0
    return int(min(MAX_LOCK_S, BASE_LOCK_S * (2 ** min(over, 12))))


def _later(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return to_db_time(datetime.now(UTC) + timedelta(seconds=seconds))


def login_locked_for(db: sqlite_utils.Database, username: str, address: str) -> int:
    """Seconds until `username` may try again from `address` (0: not locked)."""
    now = from_db_time(utcnow())
    assert now is not None
    waits = [0]
    for row in (
        query_one(db, "SELECT locked_until FROM users WHERE username = ?", [username]),
        query_one(db, "SELECT locked_until FROM login_throttle WHERE address = ?", [address]),
    ):
        until = from_db_time(str(row["locked_until"])) if row and row["locked_until"] else None
        if until is not None and until > now:
            waits.append(int((until - now).total_seconds()) + 1)
    return max(waits)


def authenticate(
    db: sqlite_utils.Database, username: str, password: str, address: str
) -> dict[str, Any] | None:
    """The user when the password is right and neither the user nor the address is locked; else None.

    Every attempt does the same work whatever the outcome (one password check, against a dummy hash for
    unknown names; one write), and failures are counted and audited whether or not the user exists, so
    neither the answer nor its timing tells an attacker which names exist or are locked. Names and
    passwords longer than the bounds never match and are stored (audited) cut to MAX_NAME_LENGTH.
    """
    name = username[:MAX_NAME_LENGTH]
    fits = len(username) <= MAX_NAME_LENGTH and len(password) <= MAX_PASSWORD_LENGTH
    locked = login_locked_for(db, name, address) > 0
    user = get_user(db, name) if fits else None
    right = check_password(user["password_hash"] if user else _dummy(), password[:MAX_PASSWORD_LENGTH])
    ok = right and fits and user is not None
    now = utcnow()
    with write(db):
        if ok and not locked and user is not None and not user["disabled"]:
            db.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?",
                [user["id"]],
            )
            db.execute("DELETE FROM login_throttle WHERE address = ?", [address])
            audit.record(db, name, "user.login", "user", user["id"], {"address": address})
            return user
        if user is not None and not locked:
            # Tries refused while locked do not lengthen the user's lock (the address pays for them).
            failures = int(user["failed_logins"]) + 1
            lock = _lock_seconds(failures, FREE_FAILURES)
            db.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                [failures, _later(lock) if lock else None, user["id"]],
            )
        row = query_one(db, "SELECT failures FROM login_throttle WHERE address = ?", [address])
        failures_addr = (int(str(row["failures"])) if row else 0) + 1
        lock_addr = _lock_seconds(failures_addr, FREE_FAILURES_PER_ADDRESS)
        db.execute(
            "INSERT INTO login_throttle (address, failures, locked_until, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(address) DO UPDATE SET failures = excluded.failures,"
            " locked_until = excluded.locked_until, updated_at = excluded.updated_at",
            [address, failures_addr, _later(lock_addr) if lock_addr else None, now],
        )
        reason = "locked" if locked else "disabled" if ok else "bad_password"
        audit.record(
            db,
            name or "?",
            "user.login_failed",
            "user",
            user["id"] if user else None,
            {"address": address, "reason": reason},
        )
    return None


def unlock_user(db: sqlite_utils.Database, username: str, actor: str = "system") -> None:
    """Clear a user's failed-login lock."""
    with write(db):
        user = require_user(db, username)
        db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", [user["id"]])
        audit.record(db, actor, "user.unlock", "user", user["id"], {"username": username})


def _throttle_table(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS login_throttle (address TEXT PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0,"
        " locked_until TEXT, updated_at TEXT NOT NULL)"
    )


def _role_check_off(db: sqlite_utils.Database) -> None:
    """Drop the list of role names from users.role's CHECK: roles come from one table
    (monitor.review.roles, which added the read-only 'manager'), validated before a row is written.

    Removing a CHECK constraint does not change what is on disk, so SQLite's documented writable_schema
    procedure edits the stored CREATE TABLE text in place (no table rebuild, foreign keys untouched).
    """
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").fetchone()
    if row is None:
        return
    old = str(row[0])
    new = re.sub(r"role TEXT NOT NULL CHECK \(role IN \([^)]*\)\)", "role TEXT NOT NULL", old)
    if new == old:
        return
    version = int(db.execute("PRAGMA schema_version").fetchone()[0])
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'users'", [new])
        db.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")


def _sessions_and_token_expiry(db: sqlite_utils.Database) -> None:
    """Server-side web sessions (so logout, password change and disabling end them) and token expiry."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS web_sessions (sid_hash TEXT PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id), created_at TEXT NOT NULL, expires_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_id)")
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(api_tokens)").fetchall()}
    if "expires_at" not in columns:
        db.execute("ALTER TABLE api_tokens ADD COLUMN expires_at TEXT")


MIGRATIONS = [
    ("users_0001_login_throttle", _throttle_table),
    ("users_0002_roles_from_the_roles_table", _role_check_off),
    ("users_0003_sessions_and_token_expiry", _sessions_and_token_expiry),
]
