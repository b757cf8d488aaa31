"""Unanswered claims: do paraphrases of one novel rumour land in one group, and only they?

Usage: .venv/bin/python -m bench.unanswered_quality [--only dev|eval|eval2|...|eval8] [--set FILE]
       [--no-record]

Measures and records, labelled:
- dev, cross-fitted: each paraphrase set of data/labelled/paraphrases (novel rumours written apart, which
  the claim projection learns from) measured with a projection learned without it (the labelled CSVs and the
  other sets). Parameters and method choices were made on these figures.
- the evaluation sets data/eval/novel_rumours*.tsv (EVAL_SETS: written apart by other writers,
  measured with the frozen method, never tuned on; data/eval/README.md).
The parameters are the config defaults (group.threshold, group.english_threshold, group.dense_weight,
group.within_claim_alpha, group.accurate_floor, group.regroup_max_items). Items arrive in shuffled batches of 25; dev figures are the
mean over 5 shuffles.

Two figures per set. "grouping only" (the primary one, the one the quality gate uses): every post of the set is
grouped. "pipeline" (the product as a user meets it): the posts first go through the classifier a fresh install
trains (the repository's config.yaml, the starter library approved, the model trained from data/labelled, as
tests/test_detection_quality.py does); only those flagged and not answered by an approved rebuttal (what the group
stage takes) are grouped; a rumour post that does not get there counts as not together with its rumour.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench._record import record
from classifiers.embed import load_encoder
from classifiers.train import PARAPHRASES
from monitor.config import GroupConfig
from monitor.group.evaluate import evaluate, read_set

REPO = Path(__file__).resolve().parent.parent
LABELLED = REPO / "data/labelled"
# The evaluation sets (data/eval/README.md): key, file, what it is.
EVAL_SETS = (
    ("eval", REPO / "data/eval/novel_rumours.tsv", "8 rumours, the first set written apart"),
    ("eval2", REPO / "data/eval/novel_rumours_2.tsv", "12 rumours, written after round 3 was frozen"),
    ("eval3", REPO / "data/eval/novel_rumours_3.tsv", "12 rumours, written while round 5 was tuned"),
    ("eval4", REPO / "data/eval/novel_rumours_4.tsv", "15 rumours, written after round 5 was frozen"),
    ("eval5", REPO / "data/eval/novel_rumours_5.tsv", "15 rumours, written while round 6 was made"),
    ("eval6", REPO / "data/eval/novel_rumours_6.tsv", "15 rumours, written after round 6 was frozen"),
    ("eval7", REPO / "data/eval/novel_rumours_7.tsv", "15 rumours, written after round 7 was frozen"),
    ("eval8", REPO / "data/eval/novel_rumours_8.tsv", "15 rumours, written while round 8 was made"),
)


class TolerantEncoder:
    """The bundled encoder, encoding text by text when a batch fails: pyvi's accent restoration raises
    KeyError on some unaccented posts (one in the dev set); such a post is encoded without restoration."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        try:
            return self.inner.encode(texts, batch_size)
        except KeyError:
            rows = []
            for t in texts:
                try:
                    rows.append(self.inner.encode([t])[0])
                except KeyError:
                    rows.append(self.inner.inner.encode([t])[0])
            return np.vstack(rows)


def pipeline_entered(path: Path) -> tuple[list[bool], dict[str, int]]:
    """Which posts of the set the group stage would take after a fresh install's classifier: flagged and not
    answered by an approved rebuttal (match.suggestion). Also the counts: rumour posts not flagged, rumour
    posts answered by the library, accurate posts flagged."""
    from bench.detection import workspace
    from monitor.classify.model import get_encoder
    from monitor.classify.score import Scorer
    from monitor.classify.train import ensure_model, train_models
    from monitor.library.io import import_file

    texts, labels = read_set(path)
    with tempfile.TemporaryDirectory(prefix="unanswered-pipeline-") as tmp:
        cfg, db = workspace(Path(tmp), {})
        import_file(
            db,  # type: ignore[arg-type]
            REPO / "data" / "rebuttals" / "starter.yaml",
            approver={"id": None, "username": "bench", "role": "admin"},
        )
        train_models(cfg, db, force=True, cross_validate=False)  # type: ignore[arg-type]
        encoder, _ = get_encoder(cfg, db)  # type: ignore[arg-type]
        bundle, _ = ensure_model(cfg, db, encoder)  # type: ignore[arg-type]
        scorer = Scorer(cfg, db, TolerantEncoder(encoder), bundle)  # type: ignore[arg-type]
        scored = scorer.score([{"id": -(i + 1), "text": t} for i, t in enumerate(texts)])
        suggestion = cfg.match.suggestion  # type: ignore[attr-defined]
    answered = [
        s.flag
        and s.reasons["risk"]["library_score"] >= suggestion
        and not s.reasons["risk"]["reads_as_denial"]
        for s in scored
    ]
    entered = [s.flag and not a for s, a in zip(scored, answered, strict=True)]
    rumour = [not label.startswith("true#") for label in labels]
    counts = {
        "rumour_posts": sum(rumour),
        "rumour_not_flagged": sum(1 for s, r in zip(scored, rumour, strict=True) if r and not s.flag),
        "rumour_answered_by_library": sum(1 for a, r in zip(answered, rumour, strict=True) if r and a),
        "accurate_posts": len(texts) - sum(rumour),
        "accurate_flagged": sum(1 for s, r in zip(scored, rumour, strict=True) if not r and s.flag),
    }
    return entered, counts


def without(paraphrase_set: Path, tmp: Path) -> Path:
    """A labelled folder like data/labelled without one paraphrase set (links to the rest; the same pack)."""
    folder = tmp / paraphrase_set.stem
    (folder / PARAPHRASES).mkdir(parents=True)
    for path in LABELLED.glob("*.csv"):
        (folder / path.name).symlink_to(path)
    (folder / "vectors").symlink_to(LABELLED / "vectors")
    for path in (LABELLED / PARAPHRASES).glob("*.tsv"):
        if path.name != paraphrase_set.name:
            (folder / PARAPHRASES / path.name).symlink_to(path)
    return folder


def main() -> None:
    """Run and record."""
    p = argparse.ArgumentParser()
    p.add_argument("--only", choices=("dev", *(key for key, _, _ in EVAL_SETS)))
    p.add_argument("--set", help="measure this TSV only (text, rumour, ...)")
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args()
    g = GroupConfig()
    encoder, _ = load_encoder("bundled:multilingual-e5-small", "bundled:all-MiniLM-L6-v2", 0, "cpu")
    tolerant = TolerantEncoder(encoder)
    params = {
        "threshold": g.threshold,
        "english_threshold": g.english_threshold,
        "dense_weight": g.dense_weight,
        "within_claim_alpha": g.within_claim_alpha,
        "accurate_floor": g.accurate_floor,
        "regroup_max_items": g.regroup_max_items,
    }
    scratch = tempfile.TemporaryDirectory(prefix="unanswered-quality-")  # removed at exit
    tmp = Path(scratch.name)
    # (name, set, shuffle seeds, pipeline figure, labelled folder the projection learns from)
    runs: list[tuple[str, Path, tuple[int, ...], bool, Path]] = []
    if args.set:
        runs += [
            ("set", Path(args.set), (0,), False, LABELLED),
            ("set, pipeline", Path(args.set), (0,), True, LABELLED),
        ]
    else:
        if args.only in (None, "dev"):
            for path in sorted((LABELLED / PARAPHRASES).glob("*.tsv")):
                runs.append(
                    (
                        f"dev {path.stem} (cross-fitted), mean of 5 shuffles",
                        path,
                        (0, 1, 2, 3, 4),
                        False,
                        without(path, tmp),
                    )
                )
        for key, path, what in EVAL_SETS:
            if args.only in (None, key) and path.exists():
                runs += [
                    (f"{key.upper()} ({what}; frozen method)", path, (0,), False, LABELLED),
                    (f"{key.upper()}, PIPELINE (flagged only; {what})", path, (0,), True, LABELLED),
                ]
    for name, path, seeds, pipeline, labelled in runs:
        entered, counts = pipeline_entered(path) if pipeline else (None, {})
        figures = evaluate(
            path,
            tolerant,
            g.threshold,
            g.dense_weight,
            g.within_claim_alpha,
            labelled=labelled,
            seeds=seeds,
            entered=entered,
            accurate_floor=g.accurate_floor,
            regroup_max_items=g.regroup_max_items,
            english_threshold=g.english_threshold,
        )
        figures = {
            "set": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
            "figure": "pipeline: fresh install's classifier, flagged and unanswered posts only"
            if pipeline
            else "grouping only (primary; the gate)",
            **({"projection learned without": path.name} if labelled != LABELLED else {}),
            **params,
            **figures,
            **counts,
        }
        if args.no_record:
            print(name, figures)
        else:
            record(
                f"Unanswered claims: grouping quality, {name} (bundled multilingual E5, claim projection,"
                " paraphrase sets, writing-kind calibration, accurate posts alone, re-clustering)",
                figures,
            )


if __name__ == "__main__":
    main()
