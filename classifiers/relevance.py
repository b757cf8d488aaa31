"""Relevance: is a text about the monitored topic? Topic similarity + keywords + a trained classifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.features import CalibratedText, Floats, LexicalFeaturizer, keyword_hits
from classifiers.text import folded_syllables

Vectors = npt.NDArray[np.float32]


@dataclass
class Topic:
    """The topic as config describes it: description texts (any language), their vectors, keywords."""

    descriptions: list[str]
    vectors: Vectors
    keywords: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.descriptions and not self.keywords


@dataclass
class RelevanceScores:
    """Per text: calibrated probability, best dense topic similarity, lexical topic similarity, keyword hits."""

    probability: Floats
    topic_similarity: Floats
    lexical_similarity: Floats
    keyword_hits: Floats


def _sigmoid(x: Floats) -> Floats:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


class RelevanceModel:
    """Trained on labelled on/off-topic examples; without them, a heuristic on similarity and keywords."""

    def __init__(self, c: float = 4.0, lexical: LexicalFeaturizer | None = None) -> None:
        self.clf = CalibratedText(c=c)
        # A featurizer fitted by the caller and shared with the risk model: one transform per batch.
        self.shared_lexical = lexical is not None
        if lexical is not None:
            self.clf.lexical = lexical
        self.trained = False

    def signals(self, texts: Sequence[str], vectors: Vectors, topic: Topic) -> RelevanceScores:
        """Similarity and keyword signals (probability left at zero)."""
        n = len(texts)
        dense = np.zeros(n)
        if topic.vectors.size and vectors.size:
            dense = np.asarray((vectors @ topic.vectors.T).max(axis=1), dtype=np.float64)
        lexical = np.zeros(n)
        if topic.descriptions and self.trained:
            lex = self.clf.lexical
            sims = lex.transform(texts) @ lex.transform(topic.descriptions).T
            lexical = np.asarray(sims.max(axis=1).toarray().ravel(), dtype=np.float64)
        hits = keyword_hits(texts, topic.keywords)
        return RelevanceScores(np.zeros(n), dense, lexical, hits)

    @staticmethod
    def _extra(s: RelevanceScores) -> Floats:
        return np.column_stack([s.topic_similarity, s.lexical_similarity, np.minimum(s.keyword_hits, 3) / 3])

    def fit(
        self, texts: Sequence[str], vectors: Vectors, topic: Topic, y: npt.NDArray[Any]
    ) -> RelevanceModel:
        """Train the classifier on labelled texts (1 = on topic)."""
        if not self.shared_lexical:
            self.clf.lexical.fit(list(texts) + topic.descriptions)
        self.trained = True  # lexical vocabulary ready: signals() can compute lexical similarity now
        extra = self._extra(self.signals(texts, vectors, topic))
        self.clf.fit(texts, y, dense=vectors, extra=extra, fit_lexical=False)
        if not self.shared_lexical:
            self.clf.lexical.release_fit_rows()
        return self

    def score(self, texts: Sequence[str], vectors: Vectors, topic: Topic) -> RelevanceScores:
        """Relevance probability and the signals behind it."""
        s = self.signals(texts, vectors, topic)
        if self.trained:
            s.probability = self.clf.predict_proba(texts, dense=vectors, extra=self._extra(s))
        else:
            # No labels yet: a keyword or a close description is strong evidence on its own.
            s.probability = _sigmoid(
                12.0 * (s.topic_similarity - 0.45) + 2.5 * np.minimum(s.keyword_hits, 2) - 1.0
            )
        return s

    def cues(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """Top lexical cues for relevance."""
        return self.clf.cues(text, k) if self.trained else []


def matched_keywords(text: str, keywords: Sequence[str]) -> list[str]:
    """Keywords (as configured) found in the text, diacritics-insensitively."""
    folded = " " + " ".join(folded_syllables(text)) + " "
    return [k for k in keywords if k.strip() and f" {' '.join(folded_syllables(k))} " in folded]
