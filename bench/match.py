"""Latency of rebuttal suggestions for one flagged item against a library of 10,000 approved claims.

Usage: .venv/bin/python -m bench.match [--claims N] [--items N] [--real-claims] [--no-record]

A fresh database gets N/4 approved rebuttals (4 claims each, synthetic Vietnamese wording built from
the starter library), imported through `misinfo rebuttals import` code. Claim vectors are random unit
vectors stored under the real model's id (their values do not change the cost; --real-claims encodes
them for real, ~4 minutes on 2 cores). Timed, per item: `run_match(cfg, db, item_ids=[id])` (item read,
real query encoding, all channels over every claim, re-rank, suggestions written) with the matcher
already built, as the scheduler and web app run it. The one-off matcher build is reported separately.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from bench._record import record
from classifiers.embed import BUNDLED, SentenceEncoder
from monitor.classify.encoder import encode_cached
from monitor.config import load_config
from monitor.library.io import import_file
from monitor.match.suggest import build_matcher, run_match
from monitor.store import connect
from monitor.store import rebuttals as store
from monitor.store.db import utcnow, write
from monitor.store.items import NewItem, add_item
from monitor.store.users import create_user, get_user
from rebuttals.library import parse_file

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "data" / "rebuttals" / "starter.yaml"
EVAL = REPO / "data" / "eval" / "vi_claim_matching.tsv"


class RandomVectors:
    """Random unit vectors under another encoder's model id (fills the cache; values do not affect cost)."""

    def __init__(self, model_id: str, dim: int = 384) -> None:
        self.model_id = model_id
        self.dim = dim
        self.rng = np.random.default_rng(0)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        v = self.rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_library(n_claims: int, seed: int = 1) -> list[dict[str, object]]:
    """Rebuttals whose claims recombine the starter claims' words (realistic vocabulary, distinct texts)."""
    rng = random.Random(seed)
    starter = parse_file("starter.yaml", STARTER.read_bytes())
    words = sorted({w for r in starter for c in r["claims"] for w in str(c).split()})
    rows = []
    for i in range(n_claims // 4):
        claims = [
            " ".join(rng.choice(words) for _ in range(rng.randint(8, 16))) + f" {i}-{j}" for j in range(4)
        ]
        rows.append(
            {"key": f"bench-{i}", "title": " ".join(rng.choice(words) for _ in range(8)), "claims": claims}
        )
    rows.extend(starter)
    return rows


def main() -> None:
    """Build the library, time suggestions per item, record p50/p95."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=10_000, help="Approved claims in the library.")
    ap.add_argument("--items", type=int, default=200, help="Flagged items timed (one run_match each).")
    ap.add_argument("--real-claims", action="store_true", help="Encode claims with the real model (slow).")
    ap.add_argument(
        "--threads", type=int, default=1, help="Torch threads (1: no thread spin on a busy machine)."
    )
    ap.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/benchmarks.md."
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-match-"))
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "database": str(tmp / "m.db"),
                "state_dir": str(tmp / "var"),
                "sources": [],
                "classifier": {"model": BUNDLED, "threads": args.threads},
            }
        ),
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    db = connect(cfg.database_path)
    create_user(db, "approver", "password-123", "approver")
    lib = tmp / "library.json"
    lib.write_text(json.dumps(synthetic_library(args.claims), ensure_ascii=False), encoding="utf-8")
    t = time.perf_counter()
    import_file(db, lib, approver=get_user(db, "approver"))
    t_import = time.perf_counter() - t
    claims = store.approved_claims(db)

    encoder = SentenceEncoder(BUNDLED, threads=args.threads)
    encoder.load()
    filler = encoder if args.real_claims else RandomVectors(encoder.model_id, encoder.dim)
    encode_cached(db, filler, [c["text"] for c in claims])
    encode_cached(db, filler, list(dict.fromkeys(c["title"] for c in claims)))
    t = time.perf_counter()
    build_matcher(db, encoder)
    t_build = time.perf_counter() - t

    posts = [
        line.split("\t")[0]
        for line in EVAL.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith(("#", "text\t"))
    ]
    ids = []
    now = utcnow()
    for i in range(args.items):
        text = f"{posts[i % len(posts)]} ({i})"
        item_id, _ = add_item(db, NewItem(title="", text=text, url=f"https://bench.example/{i}"))
        ids.append(item_id)
    with write(db):
        for item_id in ids:
            db.execute(
                "INSERT INTO flags (item_id, relevance, risk, flagged_at, updated_at) VALUES (?, 1, 1, ?, ?)",
                [item_id, now, now],
            )
    run_match(cfg, db, item_ids=[ids[0]], encoder=encoder)  # warm-up: first torch call pays one-off costs
    times = []
    for item_id in ids[1:]:
        t = time.perf_counter()
        run_match(cfg, db, item_ids=[item_id], encoder=encoder)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    figures = {
        "approved claims": len(claims),
        "items timed": len(times),
        "p50 ms per item": round(statistics.median(times), 1),
        "p95 ms per item": round(times[int(0.95 * (len(times) - 1))], 1),
        "max ms": round(times[-1], 1),
        "matcher build s (once per library version)": round(t_build, 1),
        "library import s": round(t_import, 1),
        "claim vectors": "real" if args.real_claims else "random (cost-equivalent)",
        "torch threads": args.threads,
    }
    if args.no_record:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        record(
            "Rebuttal suggestions: latency per flagged item (bench/match.py)",
            figures,
            command="python -m bench.match",
            notes="Goal: p95 <= 50 ms with 10,000 approved claims.",
        )


if __name__ == "__main__":
    main()
