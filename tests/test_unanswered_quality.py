"""Quality gate: novel rumours (written apart, data/eval/novel_rumours.tsv) with the real bundled encoder.

Goal (issue #14): >= 80% of each rumour's posts in one group; every group of two or more posts >= 80% one
rumour. The method and its parameters (claim projection, group.threshold, group.dense_weight,
group.within_claim_alpha) were chosen on data/dev/novel_rumours_dev.tsv and frozen before the eval set was
measured once (bench/unanswered_quality.py records both; docs/benchmarks.md).

Round 2 (a pairwise same-claim model, mutual-kNN graphs, HDBSCAN) found nothing better on dev, so the method
is unchanged; the eval set, measured once again with it, gave the same figures. The gate is the grouping-only
figure; the "pipeline" figure (flagged posts only) is recorded beside it, not gated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import GroupConfig
from monitor.group.evaluate import evaluate

EVAL = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours.tsv"


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    from classifiers.embed import load_encoder

    encoder, warning = load_encoder("bundled:multilingual-e5-small", "bundled:all-MiniLM-L6-v2", 0, "cpu")
    assert warning is None, warning
    g = GroupConfig()
    return evaluate(EVAL, encoder, g.threshold, g.dense_weight, g.within_claim_alpha)


@pytest.mark.slow
def test_each_rumour_lands_in_one_group(figures: dict[str, Any]) -> None:
    # Goal NOT met: together >= 0.8 (issue #14). Measured once with the frozen method: together_mean 0.547
    # (was 0.453 before the claim projection; the same in round 2, 2026-11-30). Regression floor just under the
    # measured level.
    assert figures["together_mean"] >= 0.52, figures["together"]


@pytest.mark.slow
def test_each_group_is_one_rumour(figures: dict[str, Any]) -> None:
    # Goal NOT met: purity >= 0.8 (issue #14). Measured once with the frozen method: purity_mean 0.609
    # (was 0.518 before the claim projection; the same in round 2, 2026-11-30). Regression floor just under the
    # measured level.
    assert figures["purity_mean"] >= 0.58, figures
