"""Risk: how likely a text carries a false claim. Known refuted claims + a calibrated classifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.features import CalibratedText, Floats, LexicalFeaturizer
from classifiers.text import sentences

Vectors = npt.NDArray[np.float32]

# Without training-time claims, a claim similarity maps to a probability with this logistic curve.
DEFAULT_SIM_MIDPOINT = 0.55
DEFAULT_SIM_SLOPE = 12.0


@dataclass
class KnownClaims:
    """Claims refuted by approved rebuttals: their texts, vectors and whatever the caller attaches (ids)."""

    texts: list[str]
    vectors: Vectors
    meta: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def none(cls, dim: int = 0) -> KnownClaims:
        """No claims (nothing approved yet)."""
        return cls([], np.zeros((0, dim), dtype=np.float32), [])


@dataclass
class RiskScores:
    """Per text: calibrated probability, best claim similarity and the nearest claims (index, similarity)."""

    probability: Floats
    claim_similarity: Floats
    nearest: list[list[tuple[int, float]]]


def claim_similarity(
    lexical: LexicalFeaturizer, texts: Sequence[str], vectors: Vectors, claims: KnownClaims
) -> Floats:
    """(texts x claims) similarity: mean of dense cosine and lexical TF-IDF cosine.

    Lexical carries Vietnamese when the encoder is English-only; dense carries paraphrases.
    """
    if not len(claims) or not len(texts):
        return np.zeros((len(texts), len(claims)), dtype=np.float64)
    lex = np.asarray(
        (lexical.transform(texts) @ lexical.transform(claims.texts).T).toarray(), dtype=np.float64
    )
    if vectors.size and claims.vectors.size and vectors.shape[1] == claims.vectors.shape[1]:
        dense = np.clip(np.asarray(vectors @ claims.vectors.T, dtype=np.float64), 0.0, 1.0)
        return np.asarray(0.5 * dense + 0.5 * lex, dtype=np.float64)
    return lex


class RiskModel:
    """Calibrated classifier over lexical + dense features + similarity to known false claims."""

    def __init__(
        self, c: float = 4.0, dense_c: float = 10.0, lexical: LexicalFeaturizer | None = None
    ) -> None:
        self.clf = CalibratedText(c=c, dense_c=dense_c)
        self.shared_lexical = lexical is not None
        if lexical is not None:
            self.clf.lexical = lexical
        self.trained_with_claims = 0
        self.trained = False

    def _sims(self, texts: Sequence[str], vectors: Vectors, claims: KnownClaims) -> Floats:
        return claim_similarity(self.clf.lexical, texts, vectors, claims)

    def fit(
        self, texts: Sequence[str], vectors: Vectors | None, claims: KnownClaims, y: npt.NDArray[Any]
    ) -> RiskModel:
        """Train on labelled texts (1 = carries a false claim)."""
        if not self.shared_lexical:
            self.clf.lexical.fit(list(texts) + claims.texts)
        self.trained_with_claims = len(claims)
        extra = None
        if len(claims):
            vecs = vectors if vectors is not None else np.zeros((len(texts), 0), dtype=np.float32)
            sims = self._sims(texts, vecs, claims)
            extra = sims.max(axis=1, keepdims=True)
        self.clf.fit(texts, y, dense=vectors, extra=extra, fit_lexical=False)
        self.trained = True
        if not self.shared_lexical:
            self.clf.lexical.release_fit_rows()
        return self

    def score(
        self, texts: Sequence[str], vectors: Vectors | None, claims: KnownClaims, top: int = 3
    ) -> RiskScores:
        """Risk probability, best claim similarity and the nearest claims of each text."""
        vecs = vectors if vectors is not None else np.zeros((len(texts), 0), dtype=np.float32)
        sims = self._sims(texts, vecs, claims)
        best = sims.max(axis=1) if sims.shape[1] else np.zeros(len(texts))
        extra = best[:, None] if self.trained_with_claims else None
        prob = self.clf.predict_proba(texts, dense=vectors, extra=extra)
        if len(claims) and not self.trained_with_claims:
            # Claims approved after training: let a close match raise risk until the next `train`.
            prior = 1.0 / (1.0 + np.exp(-DEFAULT_SIM_SLOPE * (best - DEFAULT_SIM_MIDPOINT)))
            prob = np.maximum(prob, prior)
        nearest: list[list[tuple[int, float]]] = []
        for row in sims:
            order = np.argsort(-row)[:top]
            nearest.append([(int(j), round(float(row[j]), 4)) for j in order])
        return RiskScores(np.asarray(prob, dtype=np.float64), np.asarray(best, dtype=np.float64), nearest)

    def best_sentence(
        self, text: str, claim: str, vectors: Vectors | None = None, claim_vector: Vectors | None = None
    ) -> tuple[str, float]:
        """The sentence of `text` closest to `claim` (vectors: one row per sentence, when available)."""
        parts = sentences(text) or [text]
        lex = np.asarray(
            (self.clf.lexical.transform(parts) @ self.clf.lexical.transform([claim]).T).toarray().ravel(),
            dtype=np.float64,
        )
        score = lex
        if vectors is not None and claim_vector is not None and len(vectors) == len(parts):
            score = 0.5 * lex + 0.5 * np.clip(
                np.asarray(vectors @ claim_vector, dtype=np.float64).ravel(), 0, 1
            )
        i = int(np.argmax(score))
        return parts[i], round(float(score[i]), 4)

    def cues(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """Top lexical cues towards 'false claim'."""
        return self.clf.cues(text, k)
