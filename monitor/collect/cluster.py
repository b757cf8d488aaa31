"""Near-duplicate clusters: the collect stage decides (MinHash LSH candidates confirmed by shingle
containment, monitor.collect.normalize); the store (monitor.store.collect) only reads and writes the rows."""

from __future__ import annotations

import sqlite_utils

from monitor.collect.normalize import CONTAINMENT, containment, minhash_bands, shingles
from monitor.store import collect as store
from monitor.store.db import write

MAX_CANDIDATES = 100  # band candidates confirmed by containment per new item


def assign_cluster(db: sqlite_utils.Database, item_id: int, text: str) -> int:
    """Put a new item in the cluster of its earliest near-duplicate and index its bands. Returns the cluster id."""
    keys = minhash_bands(text)
    if keys is None:
        return item_id
    with write(db):
        cluster = item_id
        mine = shingles(text)
        best = 0.0
        for other in store.cluster_candidates(db, item_id, keys)[:MAX_CANDIDATES]:
            found = store.cluster_text(db, other)
            score = containment(mine, shingles(found[0])) if found else 0.0
            if found and score >= CONTAINMENT and score > best:
                best, cluster = score, found[1]
        store.save_cluster(db, item_id, cluster, keys)
    return cluster
