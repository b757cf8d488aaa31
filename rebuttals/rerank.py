"""Learned re-ranker over the matcher's candidate features (pointwise: relevant or not).

`hgb` (histogram gradient boosting, LambdaMART-like trees on rank and score-gap features) for large
labelled sets such as CheckThat!; `logistic` for the small sets a library and analysts' links give.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rebuttals.matcher import Candidates, Ident, Matcher, feature_names

Floats = npt.NDArray[np.float32]


class Reranker:
    """A fitted classifier whose positive-class probability is the match score."""

    def __init__(self, kind: str = "hgb", seed: int = 0) -> None:
        if kind not in ("hgb", "logistic"):
            raise ValueError(f"unknown re-ranker kind {kind!r}: use 'hgb' or 'logistic'")
        self.kind = kind
        self.seed = seed
        self.model: Any = None
        self.n_features = len(feature_names())

    def fit(self, features: Floats, labels: npt.NDArray[np.int64]) -> Reranker:
        """Fit on feature rows and 0/1 labels."""
        if len(set(labels.tolist())) < 2:
            raise ValueError("training needs both relevant and non-relevant candidates")
        if self.kind == "hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier

            self.model = HistGradientBoostingClassifier(
                learning_rate=0.02,
                max_iter=500,
                max_leaf_nodes=15,
                min_samples_leaf=20,
                l2_regularization=1.0,
                early_stopping=False,
                random_state=self.seed,
            )
        else:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            self.model = make_pipeline(
                StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced")
            )
        self.model.fit(features, labels)
        return self

    def predict(self, features: Floats) -> Floats:
        """Relevance probability per row."""
        if self.model is None:
            raise ValueError("the re-ranker is not trained")
        return np.asarray(self.model.predict_proba(features)[:, 1], dtype=np.float32)

    def save(self, path: Path) -> None:
        """Pickle to `path` (our own files only: never load a model from an untrusted place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            pickle.dumps({"kind": self.kind, "model": self.model, "n_features": self.n_features})
        )

    @classmethod
    def load(cls, path: Path) -> Reranker:
        """Load a re-ranker saved by `save`; ValueError when its features no longer match."""
        data = pickle.loads(path.read_bytes())  # noqa: S301 - written by save() under our state folder
        r = cls(data["kind"])
        if data["n_features"] != r.n_features:
            raise ValueError("saved re-ranker was trained on other features: retrain it")
        r.model = data["model"]
        return r


def training_rows(
    matcher: Matcher, cands: Sequence[Candidates], positives: Sequence[set[Ident]]
) -> tuple[Floats, npt.NDArray[np.int64]]:
    """Stack candidate features with labels: 1 when the candidate's rebuttal is a gold one."""
    feats: list[Floats] = []
    labels: list[npt.NDArray[np.int64]] = []
    for c, gold in zip(cands, positives, strict=True):
        if len(c.docs) == 0:
            continue
        feats.append(c.features)
        labels.append(
            np.asarray([int(matcher.docs[d].rebuttal_id in gold) for d in c.docs.tolist()], dtype=np.int64)
        )
    if not feats:
        return np.zeros((0, len(feature_names())), np.float32), np.zeros(0, np.int64)
    return np.vstack(feats).astype(np.float32), np.concatenate(labels)


def train(
    matcher: Matcher,
    queries: Sequence[str],
    positives: Sequence[set[Ident]],
    kind: str = "hgb",
    query_vectors: Floats | None = None,
    days: Sequence[float | None] | None = None,
) -> Reranker:
    """Train a re-ranker from queries and their gold rebuttal ids, on this matcher's candidates."""
    cands = matcher.candidates(queries, query_vectors, days)
    x, y = training_rows(matcher, cands, positives)
    return Reranker(kind).fit(x, y)
