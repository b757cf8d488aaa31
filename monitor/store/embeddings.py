"""Embedding cache: vectors keyed by (text hash, model id), so models never mix."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sqlite_utils

from classifiers.embed import Encoder, Vectors
from classifiers.text import text_hash
from monitor.store.db import utcnow, write

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


def encode_cached(
    db: sqlite_utils.Database,
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Vectors:
    """Embeddings for `texts`, computing and storing only those not cached for this model."""
    hashes = [text_hash(t) for t in texts]
    have = cached_vectors(db, encoder.model_id, hashes)
    missing = [i for i, h in enumerate(hashes) if h not in have]
    seen: set[str] = set()
    todo = [i for i in missing if not (hashes[i] in seen or seen.add(hashes[i]))]  # type: ignore[func-returns-value]
    step = max(batch_size * 8, 256)
    for start in range(0, len(todo), step):
        idx = todo[start : start + step]
        vecs = encoder.encode([texts[i] for i in idx], batch_size=batch_size)
        now = utcnow()
        with write(db):
            for i, vec in zip(idx, vecs, strict=True):
                v = np.ascontiguousarray(vec, dtype=np.float32)
                db.execute(
                    "INSERT OR REPLACE INTO embeddings (text_hash, model_id, dim, vector, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [hashes[i], encoder.model_id, int(v.shape[0]), v.tobytes(), now],
                )
                have[hashes[i]] = v
        if progress:
            progress(len(idx))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([have[h] for h in hashes]).astype(np.float32, copy=False)


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
