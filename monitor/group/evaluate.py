"""How well grouping puts paraphrases of one rumour together, on a labelled TSV (text, rumour, ...).

Items arrive in batches (the incremental path the stage takes). Accurate items (rumour `true`) are each
their own label, so a group of unrelated true posts counts as impure.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.embed import Encoder
from monitor.group import cluster
from monitor.group.projection import claim_projection

SEED = Path(__file__).resolve().parents[2] / "data" / "labelled"


def read_set(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels): accurate items get a label of their own."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    texts = [r["text"] for r in rows]
    labels = [r["rumour"] if r["rumour"] not in ("", "true") else f"true#{i}" for i, r in enumerate(rows)]
    return texts, labels


def group_texts(
    texts: Sequence[str],
    vectors: Any,
    threshold: float,
    dense_weight: float,
    batch: int = 25,
    seed: int = 0,
    projection: cluster.Projection | None = None,
    accurate_floor: float = cluster.DEFAULT_ACCURATE_FLOOR,
    regroup_max_items: int = cluster.DEFAULT_REGROUP_MAX_ITEMS,
    english_threshold: float | None = cluster.DEFAULT_ENGLISH_THRESHOLD,
) -> list[list[int]]:
    """Group texts as the stage would, arriving in shuffled batches (each arrival placed, then its groups and
        their neighbours re-clustered; regroup_max_items 0: no re-clustering; english_threshold None: English posts
    clustered with the others in one stage)."""
    feats = cluster.features(texts, np.asarray(vectors), dense_weight, projection, accurate_floor)
    rows, pairs = feats.rows, feats.pairs
    order = np.random.default_rng(seed).permutation(len(texts)).tolist()
    groups: list[list[int]] = []
    for start in range(0, len(order), batch):
        joined, fresh = cluster.assign(
            rows, groups, order[start : start + batch], threshold, pairs, english_threshold
        )
        for r, g in joined.items():
            groups[g].append(r)
        touched = set(joined.values()) | set(range(len(groups), len(groups) + len(fresh)))
        groups += fresh
        if regroup_max_items > 0:
            changes = cluster.regroup(
                rows, groups, sorted(touched), threshold, pairs, regroup_max_items, (), english_threshold
            )
            groups = [g for g in cluster.apply_regroup(groups, changes) if g]
    return groups


def score(groups: list[list[int]], labels: Sequence[str]) -> dict[str, Any]:
    """Per rumour: share of its posts in its biggest group; per group of >= 2: share of its main label."""
    group_of = {r: i for i, g in enumerate(groups) for r in g}
    rumours = sorted({label for label in labels if not label.startswith("true#")})
    together = {}
    for name in rumours:
        rows = [i for i, label in enumerate(labels) if label == name]
        together[name] = Counter(group_of[r] for r in rows).most_common(1)[0][1] / len(rows)
    purity = [Counter(labels[r] for r in g).most_common(1)[0][1] / len(g) for g in groups if len(g) >= 2]
    pure_rumour_groups = {
        name: max(
            (
                Counter(labels[r] for r in g).most_common(1)[0][1] / len(g)
                for g in groups
                if len(g) >= 2 and Counter(labels[r] for r in g).most_common(1)[0][0] == name
            ),
            default=0.0,
        )
        for name in rumours
    }
    return {
        "together_min": round(min(together.values()), 3),
        "together_mean": round(float(np.mean(list(together.values()))), 3),
        "together": {k: round(v, 3) for k, v in together.items()},
        "purity_min": round(min(purity), 3) if purity else 1.0,
        "purity_mean": round(float(np.mean(purity)), 3) if purity else 1.0,
        "rumour_group_purity": {k: round(v, 3) for k, v in pure_rumour_groups.items()},
        "groups_2plus": len(purity),
    }


def evaluate(
    path: Path,
    encoder: Encoder,
    threshold: float,
    dense_weight: float,
    within_claim_alpha: float | None = cluster.DEFAULT_WITHIN_CLAIM_ALPHA,
    labelled: Path = SEED,
    seeds: Sequence[int] = (0,),
    entered: Sequence[bool] | None = None,
    accurate_floor: float = cluster.DEFAULT_ACCURATE_FLOOR,
    regroup_max_items: int = cluster.DEFAULT_REGROUP_MAX_ITEMS,
    english_threshold: float | None = cluster.DEFAULT_ENGLISH_THRESHOLD,
) -> dict[str, Any]:
    """Encode the set and score its grouping (the claim projection learned from `labelled`'s vector pack
        unless `within_claim_alpha` is None; with it, the writing-kind calibration and the claim model, posts below
        `accurate_floor` staying alone; re-clustering as `regroup_max_items` says; English posts placed after the
    Vietnamese ones at `english_threshold`, None: in one stage). With several shuffle seeds,
        the figures are their means.

        `entered` (one flag per post of the set): only those posts are grouped, as in production only the
        flagged, unanswered ones are; each of the others stays alone (so a rumour post left out counts as
        not together with its rumour)."""
    texts, labels = read_set(path)
    keep = list(range(len(texts))) if entered is None else [i for i, e in enumerate(entered) if e]
    if entered is not None and len(entered) != len(texts):
        raise ValueError(f"entered: {len(entered)} flags for {len(texts)} posts")
    vectors = np.asarray(encoder.encode([texts[i] for i in keep])) if keep else None
    projection = (
        None
        if within_claim_alpha is None
        else claim_projection(labelled, encoder.model_id, within_claim_alpha, dense_weight)
    )
    kept = set(keep)
    left_out = [[i] for i in range(len(texts)) if i not in kept]

    def grouped(seed: int) -> list[list[int]]:
        if not keep:
            return left_out
        sub = group_texts(
            [texts[i] for i in keep],
            vectors,
            threshold,
            dense_weight,
            seed=seed,
            projection=projection,
            accurate_floor=accurate_floor,
            regroup_max_items=regroup_max_items,
            english_threshold=english_threshold,
        )
        return [[keep[r] for r in g] for g in sub] + left_out

    runs = [score(grouped(s), labels) for s in seeds]
    extra = {} if entered is None else {"grouped": len(keep), "left_out": len(left_out)}
    if len(runs) == 1:
        return {**runs[0], **extra}
    means = {
        k: round(float(np.mean([r[k] for r in runs])), 3)
        for k in ("together_min", "together_mean", "purity_min", "purity_mean", "groups_2plus")
    }
    return {**means, "seeds": list(seeds), **extra}
