"""The only package that talks SQL. Everything else calls these functions.

Modules: db (open, write transactions, times), migrations (connect, migrate), schema (core tables), items,
sources, users, audit, status, embeddings; feature modules add their own (scores, rebuttals, queue,
assignments, mail).
"""

from __future__ import annotations

from monitor.store.db import utcnow, write
from monitor.store.migrations import connect, migrate

__all__ = ["connect", "migrate", "utcnow", "write"]
