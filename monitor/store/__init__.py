"""The only package that talks SQL. Everything else calls these functions.

Modules: db (connect, migrate, write transactions), schema (core tables), items, sources, users,
audit, status, embeddings; feature modules add their own (scores, rebuttals, queue, assignments, mail).
"""

from __future__ import annotations

from monitor.store.db import connect, migrate, utcnow, write

__all__ = ["connect", "migrate", "utcnow", "write"]
