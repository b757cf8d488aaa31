"""Quality gate: novel rumours (written apart: data/eval/novel_rumours.tsv, and novel_rumours_2.tsv written after
the method was frozen) with the real bundled encoder.

Goal (issue #14): >= 80% of each rumour's posts in one group; every group of two or more posts >= 80% one
rumour. The method and its parameters (claim projection, group.threshold, group.dense_weight,
group.within_claim_alpha, group.accurate_floor, group.regroup_max_items) were chosen on
data/dev/novel_rumours_dev.tsv and frozen before the eval set was measured once (bench/unanswered_quality.py
records both; docs/benchmarks.md).

Round 2 (a pairwise same-claim model, mutual-kNN graphs, HDBSCAN) found nothing better on dev. Round 3 added a
language-pair calibration of similarities, re-clustering of the open groups after each arrival, and posts the
claim model reads as accurate staying alone (dev 0.709/0.703 -> 0.875/0.907); the eval set, measured once with
it, gave 0.781/0.841 (was 0.547/0.609). The gate is the grouping-only figure; the "pipeline" figure (flagged
posts only) is recorded beside it, not gated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import GroupConfig
from monitor.group.evaluate import evaluate

EVAL = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours.tsv"
EVAL2 = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours_2.tsv"


@pytest.fixture(scope="module")
def encoder() -> Any:
    from classifiers.embed import load_encoder

    encoder, warning = load_encoder("bundled:multilingual-e5-small", "bundled:all-MiniLM-L6-v2", 0, "cpu")
    assert warning is None, warning
    return encoder


def _figures(path: Path, encoder: Any) -> dict[str, Any]:
    g = GroupConfig()
    return evaluate(
        path,
        encoder,
        g.threshold,
        g.dense_weight,
        g.within_claim_alpha,
        accurate_floor=g.accurate_floor,
        regroup_max_items=g.regroup_max_items,
    )


@pytest.fixture(scope="module")
def figures(encoder: Any) -> dict[str, Any]:
    return _figures(EVAL, encoder)


@pytest.fixture(scope="module")
def figures2(encoder: Any) -> dict[str, Any]:
    return _figures(EVAL2, encoder)


@pytest.mark.slow
def test_each_rumour_lands_in_one_group(figures: dict[str, Any]) -> None:
    # Goal NOT met: together >= 0.8 (issue #14). Measured once with the frozen round-3 method: together_mean
    # 0.781 (2026-12-01; 0.547 in rounds 1-2, 0.453 before the claim projection). Regression floor just under
    # the measured level.
    assert figures["together_mean"] >= 0.75, figures["together"]


@pytest.mark.slow
def test_each_group_is_one_rumour(figures: dict[str, Any]) -> None:
    # Goal met: purity >= 0.8 (issue #14). Measured once with the frozen round-3 method: purity_mean 0.841
    # (2026-12-01; 0.609 in rounds 1-2, 0.518 before the claim projection).
    assert figures["purity_mean"] >= 0.8, figures


@pytest.mark.slow
def test_the_second_set_meets_both_goals(figures2: dict[str, Any]) -> None:
    # data/eval/novel_rumours_2.tsv (12 rumours, written apart after the method was frozen), measured with it
    # on 2026-12-01: together_mean 0.854, purity_mean 0.829 — both goals met on the mean (the weakest rumour:
    # 0.5 together). Gate: the goal.
    assert figures2["together_mean"] >= 0.8, figures2["together"]
    assert figures2["purity_mean"] >= 0.8, figures2
