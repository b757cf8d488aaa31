"""Quality gate: novel rumours (written apart: data/eval/novel_rumours.tsv, novel_rumours_2.tsv and
novel_rumours_3.tsv, the last two measured first with a frozen method) with the real bundled encoder.

Goal (issue #14): >= 80% of each rumour's posts in one group; every group of two or more posts >= 80% one
rumour. The method and its parameters (claim projection, group.threshold, group.dense_weight,
group.within_claim_alpha, group.accurate_floor, group.regroup_max_items) were chosen on
data/dev/novel_rumours_dev.tsv and frozen before the eval set was measured once (bench/unanswered_quality.py
records both; docs/benchmarks.md).

Round 2 (a pairwise same-claim model, mutual-kNN graphs, HDBSCAN) found nothing better on dev. Round 3 added a
language-pair calibration of similarities, re-clustering of the open groups after each arrival, and posts the
claim model reads as accurate staying alone (dev 0.709/0.703 -> 0.875/0.907); the eval set, measured once with
it, gave 0.781/0.841 (was 0.547/0.609). Round 5 (f6765d6) learned the projection from 61 more novel rumours
(data/labelled/paraphrases, written apart; none is a rumour of an evaluation set), calibrated by three writing
kinds and raised group.threshold to 0.13, all chosen on cross-fitted dev figures (0.763/0.738 -> 0.853/0.840);
then, measured with it: set 1 0.797/0.816, set 2 0.906/0.888, set 3 (first measured then) 0.885/0.843, set 4
(written after the freeze) 0.725/0.741. Round 6 (7fd2a5b) added 52 more rumours to the paraphrase sets, parameters
unchanged; measured with it: set 1 0.797/0.836, set 2 0.896/0.921, set 3 0.896/0.843, set 4 0.733/0.722, set 5
(first measured then) 0.908/0.900. The
gate is the grouping-only figure; the "pipeline" figure (flagged posts only) is recorded beside it, not
gated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import GroupConfig
from monitor.group.evaluate import evaluate

EVAL = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours.tsv"
EVAL2 = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours_2.tsv"
EVAL3 = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours_3.tsv"
EVAL4 = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours_4.tsv"
EVAL5 = Path(__file__).resolve().parent.parent / "data" / "eval" / "novel_rumours_5.tsv"


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


@pytest.fixture(scope="module")
def figures3(encoder: Any) -> dict[str, Any]:
    return _figures(EVAL3, encoder)


@pytest.fixture(scope="module")
def figures4(encoder: Any) -> dict[str, Any]:
    return _figures(EVAL4, encoder)


@pytest.fixture(scope="module")
def figures5(encoder: Any) -> dict[str, Any]:
    return _figures(EVAL5, encoder)


@pytest.mark.slow
def test_each_rumour_lands_in_one_group(figures: dict[str, Any]) -> None:
    # Goal (together >= 0.8, issue #14) just missed on this set: together_mean 0.797 with the round-5 and
    # round-6 methods (2026-12-01; 0.781 round 3, 0.547 rounds 1-2, 0.453 before the claim projection).
    # Regression floor just under the measured level.
    assert figures["together_mean"] >= 0.78, figures["together"]


@pytest.mark.slow
def test_each_group_is_one_rumour(figures: dict[str, Any]) -> None:
    # Goal met: purity >= 0.8 (issue #14). purity_mean 0.836 round 6 (0.816 round 5, 0.841 round 3).
    assert figures["purity_mean"] >= 0.8, figures


@pytest.mark.slow
def test_the_second_set_meets_both_goals(figures2: dict[str, Any]) -> None:
    # data/eval/novel_rumours_2.tsv (12 rumours, written apart after the round-3 method was frozen): round 6
    # gives together_mean 0.896, purity_mean 0.921 (round 5: 0.906 / 0.888; round 3: 0.854 / 0.829). Floors
    # under the measured level.
    assert figures2["together_mean"] >= 0.85, figures2["together"]
    assert figures2["purity_mean"] >= 0.85, figures2


@pytest.mark.slow
def test_the_third_set_meets_both_goals(figures3: dict[str, Any]) -> None:
    # data/eval/novel_rumours_3.tsv (12 rumours, written apart while round 5 was tuned, first measured with the
    # frozen round-5 method): together_mean 0.885, purity_mean 0.843 (round 6: 0.896 / 0.843). Floors under the
    # measured level.
    assert figures3["together_mean"] >= 0.85, figures3["together"]
    assert figures3["purity_mean"] >= 0.8, figures3


@pytest.mark.slow
def test_the_fourth_set(figures4: dict[str, Any]) -> None:
    # data/eval/novel_rumours_4.tsv (15 rumours with same-subject triples, written apart after round 5 was
    # frozen), measured once with it: together_mean 0.725, purity_mean 0.741 (round 6: 0.733 / 0.722) — both
    # goals NOT met on this set. Regression floors under the measured level.
    assert figures4["together_mean"] >= 0.7, figures4["together"]
    assert figures4["purity_mean"] >= 0.7, figures4


@pytest.mark.slow
def test_the_fifth_set_meets_both_goals(figures5: dict[str, Any]) -> None:
    # data/eval/novel_rumours_5.tsv (15 rumours, written apart while round 6 was made, first measured with the
    # frozen round-6 method): together_mean 0.908, purity_mean 0.900. Floors under the measured level.
    assert figures5["together_mean"] >= 0.85, figures5["together"]
    assert figures5["purity_mean"] >= 0.85, figures5
