"""Quality gate: the starter library against the Vietnamese evaluation set, with the bundled real encoder.

Floors are the figures reached (docs/rebuttals.md): MAP@5 0.991, P@1 0.986, 80% of no-match posts
below the suggestion threshold, 90% of correct top suggestions above it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import MatchConfig
from rebuttals.evaluate import evaluate_library, library_docs, load_eval_set
from rebuttals.library import clean_fields, parse_file
from rebuttals.matcher import Matcher

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "data" / "rebuttals" / "starter.yaml"
EVAL = REPO / "data" / "eval" / "vi_claim_matching.tsv"


def test_eval_set_shape() -> None:
    rows = load_eval_set(EVAL)
    keys = {r["key"] for r in parse_file("starter.yaml", STARTER.read_bytes())}
    gold = [r for r in rows if r[1]]
    assert len(gold) >= 60 and len([r for r in rows if not r[1]]) >= 20
    assert {r[1] for r in gold} == keys  # every narrative is covered, no unknown key
    assert {r[2] for r in gold} >= {"paraphrase", "partial", "unaccented", "mixed"}
    assert all(r[0].isascii() or r[2] != "unaccented" for r in gold)


@pytest.mark.slow
def test_vietnamese_matching_holds_the_floor(real_encoder) -> None:
    rows = [clean_fields(r) for r in parse_file("starter.yaml", STARTER.read_bytes())]
    matcher = Matcher(library_docs(rows), real_encoder)
    figures = evaluate_library(matcher, load_eval_set(EVAL), MatchConfig().suggestion)
    assert figures["map@5"] >= 0.98, figures
    assert figures["p@1"] >= 0.97, figures
    assert figures["p@1_unaccented"] >= 0.95, figures
    assert figures["nomatch_below_threshold"] >= 0.8, figures
    assert figures["gold_top1_above_threshold"] >= 0.9, figures
