"""Unanswered claims: do paraphrases of one novel rumour land in one group, and only they?

Usage: .venv/bin/python -m bench.unanswered_quality [--set data/eval/novel_rumours.tsv] [--no-record]

The threshold and weight are the config defaults (group.threshold, group.dense_weight), chosen on
data/dev/detection_dev.tsv (posts of one gold key as one rumour, with the true news items); the eval
set is only measured, never tuned on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench._record import record
from classifiers.embed import load_encoder
from monitor.config import GroupConfig
from monitor.group.evaluate import evaluate

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Run and record."""
    p = argparse.ArgumentParser()
    p.add_argument("--set", default=str(REPO / "data/eval/novel_rumours.tsv"))
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args()
    g = GroupConfig()
    encoder, _ = load_encoder("bundled:multilingual-e5-small", "bundled:all-MiniLM-L6-v2", 0, "cpu")
    figures = evaluate(Path(args.set), encoder, g.threshold, g.dense_weight)
    figures = {"set": args.set, "threshold": g.threshold, "dense_weight": g.dense_weight, **figures}
    if args.no_record:
        print(figures)
    else:
        record("Unanswered claims: grouping quality (bundled multilingual E5)", figures)


if __name__ == "__main__":
    main()
