"""Throughput of `misinfo classify` against the raw encoder on the same texts, in the same run.

Usage: .venv/bin/python -m bench.classify [--items N] [--threads T] [--no-record]

A fresh database (cold embedding cache) gets N items: CONSTRAINT tweets when ../shared/benchmarks is
present (texts the seed-trained model has never seen), else seed texts made unique. The model is
trained first (not timed); then run_classify is timed, and raw `encoder.encode` on the same texts is
timed before and after it (the mean is the reference).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import yaml

from bench._record import record
from classifiers.embed import BUNDLED
from classifiers.features import clip
from monitor.classify import get_encoder, run_classify
from monitor.classify_train import REPO_SEED, train_models
from monitor.config import load_config
from monitor.store import connect
from monitor.store.items import NewItem, add_item

REPO = Path(__file__).resolve().parent.parent
CONSTRAINT = REPO.parent / "shared" / "benchmarks" / "constraint-2021-covid-en" / "Constraint_Val.csv"


def texts_for(n: int) -> tuple[list[str], str]:
    """N distinct texts and where they came from."""
    if CONSTRAINT.exists():
        with CONSTRAINT.open(encoding="utf-8", newline="") as fh:
            tweets = list(dict.fromkeys(r["tweet"] for r in csv.DictReader(fh)))
        return tweets[:n], f"CONSTRAINT val tweets ({CONSTRAINT.name})"
    with (REPO_SEED / "seed.csv").open(encoding="utf-8", newline="") as fh:
        seed = [r["text"] for r in csv.DictReader(fh)]
    return [f"{seed[i % len(seed)]} (#{i})" for i in range(n)], "seed texts made unique"


def main() -> None:
    """Run the benchmark and record it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=800, help="Items to classify.")
    parser.add_argument("--threads", type=int, default=0, help="Torch threads (0: torch decides).")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/benchmarks.md."
    )
    args = parser.parse_args()

    texts, origin = texts_for(args.items)
    topic = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["topic"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(
            yaml.safe_dump(
                {
                    "database": str(Path(tmp) / "bench.db"),
                    "state_dir": str(Path(tmp) / "var"),
                    "topic": topic,
                    "classifier": {"model": BUNDLED, "threads": args.threads},
                },
                allow_unicode=True,
            ),
            encoding="utf-8",
        )
        cfg = load_config(cfg_path)
        db = connect(cfg.database_path)
        encoder, _ = get_encoder(cfg, db)
        train_models(cfg, db, encoder=encoder, cross_validate=False)  # not timed: a one-off per install
        for text in texts:
            add_item(db, NewItem(title="", text=text))
        # The pipeline encodes the item text as stored (title + newline + text, clipped).
        same = [clip(("\n" + t).strip()) for t in texts]
        bs = cfg.classifier.batch_size
        encoder.encode(same[:bs], batch_size=bs)  # warm-up, not timed
        t0 = time.perf_counter()
        encoder.encode(same, batch_size=bs)
        raw_before = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = run_classify(cfg, db, encoder=encoder)
        pipeline = time.perf_counter() - t0
        t0 = time.perf_counter()
        encoder.encode(same, batch_size=bs)
        raw_after = time.perf_counter() - t0
        db.conn.close()
    raw = (raw_before + raw_after) / 2
    n = len(texts)
    figures = {
        "items": n,
        "texts": origin,
        "encoder": encoder.model_id,
        "batch_size": bs,
        "raw encode items/s": round(n / raw, 1),
        "raw encode runs (s)": f"{raw_before:.1f}, {raw_after:.1f}",
        "run_classify items/s": round(n / pipeline, 1),
        "pipeline / raw throughput": f"{100 * raw / pipeline:.1f}%",
        "scored": report.scored,
        "flagged": report.flagged,
    }
    if args.no_record:
        for key, value in figures.items():
            print(f"{key}: {value}")
        return
    record(
        "Classification throughput (run_classify vs raw encoder)",
        figures,
        notes="Cold embedding cache (fresh database); the model was trained before timing. Goal: >= 90%.",
    )


if __name__ == "__main__":
    main()
