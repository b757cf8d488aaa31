"""Detection quality gates on posts written apart from the training data (data/eval/detection_eval.tsv).

The set was written by a writer who saw only the topic description and the categories, never the
training data (data/labelled) or the development set used to choose thresholds (data/dev). It is never
trained on. The whole path runs as a new user runs it: the repository's config.yaml, the starter
library approved, the model trained from data/labelled, the bundled multilingual encoder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bench.detection import workspace
from monitor.classify.evaluate import evaluate_set
from monitor.library.io import import_file

REPO = Path(__file__).resolve().parent.parent
EVAL_SET = REPO / "data" / "eval" / "detection_eval.tsv"
# Pinned: a changed evaluation set must be a deliberate, reviewed change (update the hash with it).
EVAL_SHA256 = "146777a66b75b6bc4b0bd1db55da34630bc13b2f2f59b35183a66aa19dbf4f74"


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("detection")
    cfg, db = workspace(tmp, {})
    import_file(
        db,  # type: ignore[arg-type]
        REPO / "data" / "rebuttals" / "starter.yaml",
        approver={"id": None, "username": "test", "role": "admin"},
    )
    # evaluate_set scores with the model a fresh install trains from data/labelled (ensure_model; within
    # the test session, the copy from the session's seed-model cache).
    return evaluate_set(cfg, db, EVAL_SET)  # type: ignore[arg-type]


def test_evaluation_set_is_the_reviewed_one() -> None:
    assert hashlib.sha256(EVAL_SET.read_bytes()).hexdigest() == EVAL_SHA256


@pytest.mark.slow
def test_false_claims_are_flagged_in_every_register(figures: dict[str, Any]) -> None:
    cats = figures["categories"]
    assert figures["encoder"].startswith("multilingual-e5-small"), figures["encoder_warning"]
    vi = [cats[c] for c in ("false_vi_accented", "false_vi_unaccented", "false_vi_slang")]
    assert sum(c["flagged"] for c in vi) / sum(c["n"] for c in vi) >= 0.90, cats
    assert cats["false_vi_unaccented"]["rate"] >= 0.85, cats
    assert cats["false_en"]["rate"] >= 0.80, cats


@pytest.mark.slow
def test_true_reports_and_off_topic_posts_are_left_alone(figures: dict[str, Any]) -> None:
    cats = figures["categories"]
    true = [cats[c] for c in ("true_news", "debunk")]
    assert sum(c["flagged"] for c in true) / sum(c["n"] for c in true) <= 0.10, cats
    off = [cats[c] for c in ("offtopic_rumour", "offtopic_news")]
    assert sum(c["flagged"] for c in off) / sum(c["n"] for c in off) <= 0.02, cats


@pytest.mark.slow
def test_posts_find_their_rebuttal_across_languages(figures: dict[str, Any]) -> None:
    m = figures["matching"]
    assert not m.get("unknown_gold_keys")
    # Goal 0.97; measured 0.969 when the thresholds were fixed on data/dev (docs/benchmarks.md).
    assert m["by_lang.vi"]["map@5"] >= 0.96, m
    assert m["by_lang.en"]["map@5"] >= 0.90, m
