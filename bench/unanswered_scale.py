"""Unanswered claims: can grouping keep up? 10,000 flagged items grouped incrementally (20 arrivals of 500).

Usage: .venv/bin/python -m bench.unanswered_scale [--items 10000] [--batch 500] [--no-record]

Like production, the grouping runs with the claim projection, the writing-kind calibration and the
accurate-post floor: the "encoder" has the bundled encoder's id, so they are learned from the vector pack of the
labelled data (data/labelled/vectors/, the same pack production uses). Vectors are not encoded (that would
dominate and is measured elsewhere): each item's vector is a real labelled post's pack vector plus noise (so items
cluster around real posts, and the claim model reads a realistic share of them as accurate), stored in the
embedding cache under that id. Texts are random syllable strings, so the folded lexical channel does its work.
Items carry a stored language like collection's (75% vi, 20% en, 5% none: detected by the grouping).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from bench._record import record
from classifiers.text import text_hash
from classifiers.vectorpack import pack_path, read_pack
from monitor.classify.train import REPO_SEED
from monitor.config import parse_config
from monitor.group.run import run_group, unanswered
from monitor.store import connect
from monitor.store.embeddings import preload

SYLLABLES = [
    "nghe",
    "noi",
    "tu",
    "nam",
    "sau",
    "vneid",
    "se",
    "cham",
    "diem",
    "tin",
    "nhiem",
    "cong",
    "dan",
    "ai",
    "bi",
    "thap",
    "thi",
    "khong",
    "duoc",
    "mua",
    "ve",
]


class CachedOnly:
    """An encoder that only has cached vectors (encoding would mean the benchmark is wrong)."""

    model_id = "multilingual-e5-small-q4+vi-accents"  # the bundled encoder: its pack brings the projection

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        raise AssertionError(f"{len(texts)} text(s) not in the cache")


def main() -> None:
    """Run and record."""
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(
            yaml.safe_dump({"database": f"{tmp}/b.db", "state_dir": f"{tmp}/var"}), base_dir=Path(tmp)
        )
        db = connect(cfg.database_path)
        db.execute(
            "INSERT INTO sources (name, kind, url, created_at, updated_at) VALUES ('s', 'rss', 'http://x', 'now', 'now')"
        )
        texts = [" ".join(rng.choice(SYLLABLES, size=25)) + f" {i}" for i in range(args.items)]
        _hashes, pack = read_pack(pack_path(REPO_SEED, CachedOnly.model_id))
        assert len(pack), "no vector pack for the bundled encoder in data/labelled/vectors"
        base = pack[rng.integers(0, len(pack), size=args.items)]
        vecs = (base + rng.normal(scale=0.15 / np.sqrt(pack.shape[1]), size=base.shape)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        langs = rng.choice(np.array(["vi", "en", ""]), size=args.items, p=[0.75, 0.2, 0.05]).tolist()
        preload(db, CachedOnly.model_id, [text_hash(t) for t in texts], vecs)
        now = "2026-01-01T00:00:00+00:00"
        timings = []
        for start in range(0, args.items, args.batch):
            with db.conn:
                for i in range(start, min(args.items, start + args.batch)):
                    cur = db.execute(
                        "INSERT INTO items (source_id, content_hash, title, text, fetched_at, lang)"
                        " VALUES (1, ?, '', ?, ?, ?)",
                        [f"h{i}", texts[i], now, langs[i] or None],
                    )
                    db.execute(
                        "INSERT INTO flags (item_id, relevance, risk, flagged_at, updated_at) VALUES (?, 0.9, 0.9, ?, ?)",
                        [cur.lastrowid, now, now],
                    )
            t0 = time.perf_counter()
            report = run_group(cfg, db, encoder=CachedOnly())
            timings.append(time.perf_counter() - t0)
            assert report.placed == min(args.batch, args.items - start)
        t0 = time.perf_counter()
        listed = unanswered(cfg, db, days=3650)
        list_s = time.perf_counter() - t0
        groups = db.execute("SELECT COUNT(*) FROM claim_groups").fetchone()[0]
        grouped = sum(g["size"] for g in listed)
    figures = {
        "items": args.items,
        "arrivals": len(timings),
        "grouping_total_s": round(sum(timings), 1),
        "slowest_arrival_s": round(max(timings), 2),
        "last_arrival_s": round(timings[-1], 2),
        "projection": "bundled encoder's pack (calibration + accurate floor on)",
        "groups_stored": groups,
        "items_in_listed_groups": grouped,
        "items_without_stored_lang": langs.count(""),
        "groups_listed": len(listed),
        "list_s": round(list_s, 2),
        "goal": "<= 60 s for 10,000 items",
    }
    if args.no_record:
        print(figures)
    else:
        record("Unanswered claims: incremental grouping of 10,000 flagged items", figures)


if __name__ == "__main__":
    main()
