"""Users, password hashes (argon2) and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from monitor.errors import Conflict, NotFound, UsageError
from monitor.store import audit
from monitor.store.db import query_one, utcnow, write

ROLES = ("analyst", "coordinator", "approver", "admin")
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
    """Create a user; Conflict when the name is taken."""
    if role not in ROLES:
        raise UsageError(f"role '{role}' does not exist — use one of {', '.join(ROLES)}")
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
