"""Users, password hashes (argon2) and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monitor.errors import Conflict, NotFound, UsageError
from monitor.store import audit
from monitor.store.db import from_db_time, query_one, to_db_time, utcnow, write

_hasher = PasswordHasher()


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
    if len(password) < 8:
        raise UsageError("the password must have at least 8 characters")
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


def set_password(db: sqlite_utils.Database, username: str, password: str, actor: str = "system") -> None:
    """Replace a user's password."""
    if len(password) < 8:
        raise UsageError("the password must have at least 8 characters")
    with write(db):
        user = require_user(db, username)
        db.execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
            [hash_password(password), utcnow(), user["id"]],
        )
        audit.record(db, actor, "user.password", "user", user["id"], {"username": username})


def token_hash(token: str) -> str:
    """Tokens are stored hashed; sha256 is enough for 256-bit random tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: sqlite_utils.Database, username: str, actor: str = "system") -> str:
    """Create and return a new API token for the user (only its hash is stored)."""
    token = "mm_" + secrets.token_urlsafe(32)
    with write(db):
        user = require_user(db, username)
        db.execute(
            "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)",
            [user["id"], token_hash(token), utcnow()],
        )
        audit.record(db, actor, "user.token", "user", user["id"], {"username": username})
    return token


def user_for_token(db: sqlite_utils.Database, token: str) -> dict[str, Any] | None:
    """The active user owning an API token, or None."""
    return query_one(
        db,
        "SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id"
        " WHERE api_tokens.token_hash = ? AND api_tokens.revoked = 0 AND users.disabled = 0",
        [token_hash(token)],
    )


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
        audit.record(db, actor, "user.disable", "user", user["id"], {"username": username})


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

    Failures are counted (and audited) whether or not the user exists, so the answer never tells
    an attacker which names exist.
    """
    if login_locked_for(db, username, address):
        return None
    user = get_user(db, username)
    ok = check_password(user["password_hash"] if user else _dummy(), password) and user is not None
    now = utcnow()
    with write(db):
        if ok and user is not None and not user["disabled"]:
            db.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?",
                [user["id"]],
            )
            db.execute("DELETE FROM login_throttle WHERE address = ?", [address])
            audit.record(db, username, "user.login", "user", user["id"], {"address": address})
            return user
        if user is not None:
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
        reason = "disabled" if (ok and user is not None) else "bad_password"
        audit.record(
            db,
            username or "?",
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


MIGRATIONS = [
    ("users_0001_login_throttle", _throttle_table),
    ("users_0002_roles_from_the_roles_table", _role_check_off),
]
