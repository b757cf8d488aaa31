"""Near-duplicate clusters: the collect stage decides (MinHash LSH candidates confirmed by shingle
containment, monitor.collect.normalize); the store (monitor.store.collect) only reads and writes the rows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from classifiers.text import fold
from monitor.collect.normalize import (
    CONTAINMENT,
    bands_of_many,
    bands_of_shingles,
    containment,
    shingles,
    shingles_of_folded,
)
from monitor.store import collect as store
from monitor.store.db import write

MAX_CANDIDATES = 100  # band candidates confirmed by containment per new item
PER_BAND = 20  # candidates taken from one band key (the first ones indexed)


@dataclass
class Prepared:
    """What storing an item needs from its text, computed once (and outside the write transaction):
    the folded title and text (full-text search), the shingles and the MinHash band keys (clusters)."""

    folded_title: str
    folded_text: str
    shingles: set[str]
    bands: list[int] | None


def prepare(title: str, text: str) -> Prepared:
    """Fold 'title\\ntext' once; everything else is derived from it."""
    return prepare_many([(title, text)])[0]


def prepare_many(texts: list[tuple[str, str]]) -> list[Prepared]:
    """prepare() of each (title, text); the MinHash bands of all of them in one pass (bands_of_many)."""
    parts: list[tuple[str, str, set[str]]] = []
    for title, text in texts:
        folded = fold(f"{title}\n{text}")
        if "\n" in title:  # connectors give one-line titles; anything else is folded part by part
            folded_title, folded_text = fold(title), fold(text)
        else:
            folded_title, folded_text = folded.split("\n", 1)
        parts.append((folded_title, folded_text, shingles_of_folded(folded)))
    bands = bands_of_many([feats for _, _, feats in parts])
    return [Prepared(t, x, feats, b) for (t, x, feats), b in zip(parts, bands, strict=True)]


def assign_cluster(
    db: sqlite_utils.Database, item_id: int, text: str, prepared: Prepared | None = None
) -> int:
    """Put a new item in the cluster of its earliest near-duplicate and index its bands. Returns the cluster id.

    prepared: the item's Prepared (of the same text), when already computed."""
    mine = prepared.shingles if prepared is not None else shingles(text)
    keys = prepared.bands if prepared is not None else bands_of_shingles(mine)
    if keys is None:
        return item_id
    with write(db):
        cluster = item_id
        best = 0.0
        for other in store.cluster_candidates(db, item_id, keys)[:MAX_CANDIDATES]:
            found = store.cluster_text(db, other)
            score = containment(mine, shingles(found[0])) if found else 0.0
            if found and score >= CONTAINMENT and score > best:
                best, cluster = score, found[1]
        store.save_cluster(db, item_id, cluster, keys)
    return cluster


class BatchClusters:
    """assign_cluster for the new items of one write transaction, with the store read once.

    The band index of the batch's keys is read up front (store.band_candidates); the items stored in this
    batch are tracked here, so each new item finds exactly the candidates assign_cluster would find
    (the first PER_BAND ids per band key, earliest first) without a query per band."""

    def __init__(self, db: sqlite_utils.Database, prepared: list[Prepared]) -> None:
        self.db = db
        keys = {(band, value) for p in prepared if p.bands for band, value in enumerate(p.bands)}
        self.stored = store.band_candidates(db, keys, PER_BAND) if keys else {}
        self.batch: dict[tuple[int, int], list[int]] = {}
        self.texts: dict[int, tuple[set[str], int] | None] = {}  # item id -> (shingles, cluster id)

    def choose(self, item_id: int, prepared: Prepared) -> int:
        """The cluster of a new item (not yet stored): its earliest near-duplicate's, else its own id."""
        if prepared.bands is None:
            return item_id
        candidates: set[int] = set()
        for key in enumerate(prepared.bands):
            ids = self.stored.get(key, [])
            if len(ids) < PER_BAND:
                ids = ids + self.batch.get(key, [])
            candidates.update(ids[:PER_BAND])
        candidates.discard(item_id)
        cluster, best = item_id, 0.0
        for other in sorted(candidates)[:MAX_CANDIDATES]:
            found = self._text(other)
            score = containment(prepared.shingles, found[0]) if found else 0.0
            if found and score >= CONTAINMENT and score > best:
                best, cluster = score, found[1]
        return cluster

    def added(self, item_id: int, prepared: Prepared, cluster: int) -> None:
        """Record a new item of this batch (stored, or about to be) as a candidate for the next ones."""
        if prepared.bands is None:
            return
        for key in enumerate(prepared.bands):
            self.batch.setdefault(key, []).append(item_id)
        self.texts[item_id] = (prepared.shingles, cluster)

    def _text(self, item_id: int) -> tuple[set[str], int] | None:
        if item_id not in self.texts:
            found = store.cluster_text(self.db, item_id)
            self.texts[item_id] = (shingles(found[0]), found[1]) if found else None
        return self.texts[item_id]
