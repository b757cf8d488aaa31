"""Grouping by meaning, pure functions: features (dense + folded lexical) and incremental clustering.

Similarity of two posts = `dense_weight` x cosine of their projected encoder vectors + (1 - `dense_weight`) x
cosine of their folded-syllable TF-IDF vectors (diacritics stripped, so unaccented posts meet accented ones; English
posts meet Vietnamese ones through the multilingual encoder). Both parts are unit vectors, so the joint
feature vector is their weighted concatenation and its dot product is that similarity.

The encoder vectors go through the claim projection (`Projection`, learned from the labelled narratives by
monitor.group.projection): centred on the on-topic mean and whitened against how paraphrases of one claim
vary, so that language, accents and slang count less than what is claimed. Without one (an encoder with no
vector pack) they are centred on the pool's mean instead.

Clustering is average linkage with a similarity threshold (scikit-learn's AgglomerativeClustering),
made incremental: a new item joins the existing group whose average similarity to it is highest, when
that reaches the threshold (the same rule average linkage applies); the items left over are clustered
among themselves and form new groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

from classifiers.text import bigrams, folded_syllables, sentences

Floats = npt.NDArray[np.float32]

DEFAULT_THRESHOLD = 0.125
DEFAULT_DENSE_WEIGHT = 0.85
DEFAULT_WITHIN_CLAIM_ALPHA = 2.0
MAX_LEXICAL_CHARS = 4000
LEXICAL_DIM = 2048  # hashed folded terms: dense rows stay small at 10,000 posts
CENTRE_SHRINK = 20.0


@lru_cache(maxsize=50_000)
def _cached_terms(text: str) -> tuple[str, ...]:
    toks = folded_syllables(text[:MAX_LEXICAL_CHARS])
    return tuple(toks + bigrams(toks))


def _terms(text: str) -> list[str]:
    return list(_cached_terms(text))


def _unit(rows: Floats) -> Floats:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Floats = (rows / norms).astype(np.float32, copy=False)
    return out


@dataclass(frozen=True)
class Projection:
    """Claim projection: x -> (x - mean) @ matrix, then unit length."""

    mean: Floats
    matrix: Floats

    def apply(self, unit_rows: Floats) -> Floats:
        """Projected unit rows."""
        out: Floats = ((unit_rows - self.mean) @ self.matrix).astype(np.float32, copy=False)
        return _unit(out)


def within_claim_projection(
    on_topic: Floats, keyed: Floats, keys: Sequence[str], alpha: float = DEFAULT_WITHIN_CLAIM_ALPHA
) -> Projection:
    """WCCN: centre on the on-topic posts' mean; whiten by (S_w + alpha I)^-1/2, S_w the scatter of the keyed
    posts around their own claim's mean, scaled to mean eigenvalue 1 (alpha is then relative to it: large
    alpha = little whitening)."""
    mean = _unit(np.asarray(on_topic, dtype=np.float32)).mean(axis=0)
    x = _unit(np.asarray(keyed, dtype=np.float32)) - mean
    labels = np.asarray(list(keys))
    dim = x.shape[1]
    scatter = np.zeros((dim, dim), dtype=np.float64)
    for key in np.unique(labels):
        d = x[labels == key].astype(np.float64)
        d -= d.mean(axis=0)
        scatter += d.T @ d
    scatter *= dim / max(float(np.trace(scatter)), 1e-12)
    values, vectors = np.linalg.eigh(scatter + max(alpha, 1e-6) * np.eye(dim))
    matrix = (vectors * values**-0.5) @ vectors.T
    return Projection(mean.astype(np.float32), matrix.astype(np.float32))


@dataclass
class Features:
    """Joint feature rows (one per text) and each text's folded terms with the pool's document frequencies."""

    rows: Floats
    terms: list[list[str]]
    df: Counter[str]


def features(
    texts: Sequence[str],
    dense: Floats,
    dense_weight: float = DEFAULT_DENSE_WEIGHT,
    projection: Projection | None = None,
) -> Features:
    """Weighted concatenation of unit dense vectors (through `projection`, else centred on the pool) and unit
    folded TF-IDF vectors (hashed terms, IDF from `texts`)."""
    n = len(texts)
    if n == 0:
        return Features(np.zeros((0, 0), np.float32), [], Counter())
    d = _unit(np.asarray(dense, dtype=np.float32).reshape(n, -1))
    if projection is not None and projection.mean.shape[0] == d.shape[1]:
        d = projection.apply(d)
    elif n > 1:
        # E5 cosines crowd into a narrow band (every post on the topic is "similar"); centring on the pool's
        # mean spreads them so a threshold separates claims.
        # A small pool's mean is mostly its own posts: shrink the centre towards zero there.
        shrink = n / (n + CENTRE_SHRINK)
        d = _unit(d - np.float32(shrink) * d.mean(axis=0, keepdims=True))
    terms = [_terms(t) for t in texts]
    df: Counter[str] = Counter()
    for ts in terms:
        df.update(set(ts))
    hashed = HashingVectorizer(
        analyzer=lambda ts: ts, n_features=LEXICAL_DIM, alternate_sign=False, norm=None, dtype=np.float32
    ).transform(terms)
    lex = TfidfTransformer(sublinear_tf=True).fit_transform(hashed).toarray().astype(np.float32)
    lex = _unit(lex)
    w = float(np.clip(dense_weight, 0.0, 1.0))
    rows = np.hstack([d * np.float32(np.sqrt(w)), lex * np.float32(np.sqrt(1.0 - w))])
    return Features(rows.astype(np.float32, copy=False), terms, df)


def assign(
    rows: Floats,
    groups: Sequence[Sequence[int]],
    new: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[dict[int, int], list[list[int]]]:
    """Incremental step. rows: features of every item (existing members and new ones, by row index);
    groups: existing groups as lists of row indexes; new: row indexes of items to place.

    Returns ({new row -> index of the existing group it joins}, [new groups as lists of rows]).
    """
    joined: dict[int, int] = {}
    left = list(new)
    if groups and left:
        members = [r for g in groups for r in g]
        owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        indicator = sparse.csr_matrix(
            (np.ones(len(members), dtype=np.float32), (owner, np.asarray(members))),
            shape=(len(groups), len(rows)),
        )
        sums = np.asarray(indicator @ rows, dtype=np.float32)
        means = sums / np.array([len(g) for g in groups], dtype=np.float32)[:, None]
        sims = rows[left] @ means.T  # average similarity of each new item to each group's members
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(left)), best]
        keep = []
        for row, g, s in zip(left, best.tolist(), best_sim.tolist(), strict=True):
            if s >= threshold:
                joined[row] = int(g)
            else:
                keep.append(row)
        left = keep
    return joined, cluster(rows, left, threshold)


def cluster(rows: Floats, members: Sequence[int], threshold: float = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Average-linkage clusters of the given rows: every pair of merged clusters averages >= threshold."""
    idx = list(members)
    if len(idx) < 2:
        return [idx] if idx else []
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=1.0 - threshold
    )
    labels = model.fit_predict(rows[idx])
    out: dict[int, list[int]] = {}
    for row, label in zip(idx, labels.tolist(), strict=True):
        out.setdefault(int(label), []).append(row)
    return list(out.values())


def representative(rows: Floats, members: Sequence[int]) -> int:
    """The member closest to the group's centre."""
    idx = list(members)
    centre = rows[idx].mean(axis=0)
    return idx[int(np.argmax(rows[idx] @ centre))]


def top_terms(feats: Features, members: Sequence[int], texts: Sequence[str], k: int = 5) -> list[str]:
    """The group's most typical folded terms (term frequency in the group x IDF in the pool), single
    syllables folded into the bigrams that contain them."""
    del texts
    n = len(feats.terms)
    counts: Counter[str] = Counter()
    for i in members:
        counts.update(set(feats.terms[i]))
    weights = {
        t: c * np.log((1 + n) / (1 + feats.df[t])) for t, c in counts.items() if c >= 2 or len(members) == 1
    }
    out: list[str] = []
    for term in sorted(weights, key=lambda t: (-weights[t], t))[: k * 4]:
        term = term.replace("_", " ")
        if any(term in t for t in out):
            continue
        out = [t for t in out if t not in term]
        out.append(term)
        if len(out) >= k:
            break
    return out


def label(text: str, terms: Sequence[str], max_chars: int = 160) -> str:
    """The sentence of `text` (the representative's) sharing most of the group's top terms, shortened."""
    best, best_score = "", -1
    for sentence in sentences(text) or [text]:
        folded = " ".join(folded_syllables(sentence))
        score = sum(1 for t in terms if t in folded)
        if score > best_score:
            best, best_score = sentence, score
    best = best.strip()
    return best if len(best) <= max_chars else best[: max_chars - 1].rstrip() + "…"
