"""Embedding cache: vectors keyed by (text hash, model id), so models never mix.

SQL only: the encoder that fills it is called by monitor.classify.encoder.encode_cached."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import sqlite_utils

from monitor.store.db import utcnow, write

Vectors = npt.NDArray[np.float32]  # one row per text (classifiers.embed.Vectors; the store names it itself)

_CHUNK = 500


def cached_vectors(db: sqlite_utils.Database, model_id: str, hashes: Sequence[str]) -> dict[str, Vectors]:
    """Vectors already stored for these text hashes under this model."""
    found: dict[str, Vectors] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ",".join("?" for _ in chunk)
        for h, dim, blob in db.execute(
            f"SELECT text_hash, dim, vector FROM embeddings WHERE model_id = ? AND text_hash IN ({marks})",
            [model_id, *chunk],
        ).fetchall():
            found[h] = np.frombuffer(blob, dtype=np.float32, count=dim)
    return found


def store_vectors(
    db: sqlite_utils.Database, model_id: str, hashes: Sequence[str], vectors: Sequence[Vectors]
) -> None:
    """Store (or replace) the vectors of these text hashes under this model, in one transaction."""
    now = utcnow()
    with write(db):
        for h, vec in zip(hashes, vectors, strict=True):
            v = np.ascontiguousarray(vec, dtype=np.float32)
            db.execute(
                # Portable upsert (SQLite and PostgreSQL): the same row INSERT OR REPLACE would leave.
                "INSERT INTO embeddings (text_hash, model_id, dim, vector, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (text_hash, model_id) DO UPDATE SET dim = excluded.dim,"
                " vector = excluded.vector, created_at = excluded.created_at",
                [h, model_id, int(v.shape[0]), v.tobytes(), now],
            )


def preload(db: sqlite_utils.Database, model_id: str, hashes: Sequence[str], vectors: Vectors) -> int:
    """Store vectors computed elsewhere (a shipped pack) unless already cached; returns rows added."""
    now = utcnow()
    added = 0
    with write(db):
        for h, vec in zip(hashes, vectors, strict=True):
            v = np.ascontiguousarray(vec, dtype=np.float32)
            cur = db.execute(
                "INSERT OR IGNORE INTO embeddings (text_hash, model_id, dim, vector, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [h, model_id, int(v.shape[0]), v.tobytes(), now],
            )
            added += max(cur.rowcount, 0)
    return added
