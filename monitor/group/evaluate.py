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


def read_set(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels): accurate items get a label of their own."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    texts = [r["text"] for r in rows]
    labels = [r["rumour"] if r["rumour"] not in ("", "true") else f"true#{i}" for i, r in enumerate(rows)]
    return texts, labels


def group_texts(
    texts: Sequence[str], vectors: Any, threshold: float, dense_weight: float, batch: int = 25, seed: int = 0
) -> list[list[int]]:
    """Group texts as the stage would, arriving in shuffled batches."""
    rows = cluster.features(texts, np.asarray(vectors), dense_weight).rows
    order = np.random.default_rng(seed).permutation(len(texts)).tolist()
    groups: list[list[int]] = []
    for start in range(0, len(order), batch):
        joined, fresh = cluster.assign(rows, groups, order[start : start + batch], threshold)
        for r, g in joined.items():
            groups[g].append(r)
        groups += fresh
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


def evaluate(path: Path, encoder: Encoder, threshold: float, dense_weight: float) -> dict[str, Any]:
    """Encode the set and score its grouping."""
    texts, labels = read_set(path)
    vectors = encoder.encode(texts)
    return score(group_texts(texts, vectors, threshold, dense_weight), labels)
