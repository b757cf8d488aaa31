"""Unanswered claims: can grouping keep up? 10,000 flagged items grouped incrementally (20 arrivals of 500).

Usage: .venv/bin/python -m bench.unanswered_scale [--items 10000] [--batch 500] [--no-record]

Vectors are synthetic (random unit vectors stored in the embedding cache under the encoder's id, so no
time is spent encoding); texts are random syllable strings, so the folded lexical channel does its work.
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

    model_id = "bench-synthetic-384"

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
        vecs = rng.normal(size=(args.items, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        preload(db, CachedOnly.model_id, [text_hash(t) for t in texts], vecs)
        now = "2026-01-01T00:00:00+00:00"
        timings = []
        for start in range(0, args.items, args.batch):
            with db.conn:
                for i in range(start, min(args.items, start + args.batch)):
                    cur = db.execute(
                        "INSERT INTO items (source_id, content_hash, title, text, fetched_at, lang)"
                        " VALUES (1, ?, '', ?, ?, 'vi')",
                        [f"h{i}", texts[i], now],
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
    figures = {
        "items": args.items,
        "arrivals": len(timings),
        "grouping_total_s": round(sum(timings), 1),
        "slowest_arrival_s": round(max(timings), 2),
        "last_arrival_s": round(timings[-1], 2),
        "groups_stored": groups,
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
