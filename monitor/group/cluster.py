"""Grouping by meaning, pure functions: features (dense + folded lexical) and incremental clustering.

Plain similarity of two posts = `dense_weight` x cosine of their projected encoder vectors + (1 - `dense_weight`) x
cosine of their folded-syllable TF-IDF vectors (diacritics stripped, so unaccented posts meet accented ones; English
posts meet Vietnamese ones through the multilingual encoder). Both parts are unit vectors, so the joint
feature vector is their weighted concatenation and its dot product is that similarity; with the projection's
calibration (below) the two parts' dot products are weighted per pair of writing kinds instead. The joint rows
(`Rows`) keep the encoder part dense and the lexical part sparse (terms hashed into 2^20 columns, so that two
terms rarely share one: with 2,048 columns the collisions made unrelated posts alike by spelling, and grouping
cost purity).

The encoder vectors go through the claim projection (`Projection`, learned from the labelled narratives by
monitor.group.projection): each centred on the mean of the on-topic posts written the same way (WRITINGS) and
whitened against how paraphrases of one claim vary, so that language, accents and slang count less than what
is claimed. Without one (an encoder with no vector pack) they are centred on the pool's mean instead.

Two corrections learned from the labelled data come with the projection (`Pairs`, per feature row):
- calibration by how the two posts are written. Each post is of one of three kinds (`WRITINGS`: accented or
  other Vietnamese, English, Vietnamese typed without diacritics), and which part of the similarity tells claims
  apart depends on the pair of kinds: between accented posts the encoder does nearly all of it; between an
  accented and an unaccented post, or two unaccented ones, the folded terms do as much (the encoder reads
  unaccented text poorly, and two unaccented posts are alike by spelling whatever they claim); between English
  and Vietnamese only the encoder can. So per pair of kinds the similarity is its own weighting of the two
  cosines plus an offset: a logistic model of "same claim" over the labelled pairs (`pair_calibration`), put
  on the scale of the plain similarity (accented pairs: weights summing to 1, offset 0);
- posts the claim model (logistic regression on the projected vectors, on-topic labelled posts, false claim vs
  accurate) reads as accurate, P(false claim) < `accurate_floor`, stay on their own: accurate news on one topic
  otherwise forms groups of its own and joins rumour groups.

Clustering is average linkage with a similarity threshold (SciPy's hierarchical clustering), in two stages
when the calibration knows how posts are written: the Vietnamese posts (accented or not) are clustered first, then
each English post, in turn, joins the group whose average similarity to it is highest when that reaches
`english_threshold` (lower than the threshold: a cross-language similarity is lower for the same claim); the
English posts left over are clustered among themselves. Clustered all at once, the English posts of a rumour
pair up with each other first (one language, one translator's wording) and that pair's average to the rumour's
Vietnamese posts then falls short: on the paraphrase sets, cross-fitted, 21% of English posts ended outside
their rumour's main group at the threshold, 10% in two stages.
The clustering is made incremental: a new item joins the existing group whose average similarity to it is highest, when
that reaches the threshold (the same rule average linkage applies; an English post: `english_threshold`, to a
group with a Vietnamese post); the items left over are clustered
among themselves and form new groups. Then `regroup` re-runs average linkage over the open groups the
arrival touched and their neighbours (all of them while the open pool is small), so that early mistakes
are undone as more paraphrases arrive.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

from classifiers.text import bigrams, folded_syllables, sentences

Floats = npt.NDArray[np.float32]

DEFAULT_THRESHOLD = 0.15
DEFAULT_ENGLISH_THRESHOLD = 0.10
DEFAULT_DENSE_WEIGHT = 0.85
DEFAULT_WITHIN_CLAIM_ALPHA = 2.0
MAX_LEXICAL_CHARS = 4000
LEXICAL_DIM = 2**20  # hashed folded terms, a sparse part of the rows: collisions are rare
CENTRE_SHRINK = 20.0
DEFAULT_ACCURATE_FLOOR = 0.3
DEFAULT_REGROUP_MAX_ITEMS = 1000
LANGUAGES = ("vi", "en")  # what the language identifier is asked to choose between
# How a post is written, the calibration's index: 0 Vietnamese with diacritics (and any language not English),
# 1 English, 2 Vietnamese typed without diacritics.
WRITINGS = ("vi", "en", "vi-unaccented")
ENGLISH = WRITINGS.index("en")
# A non-English post with fewer of its letters carrying diacritics (or đ) than this share is unaccented.
UNACCENTED_SHARE = 0.02
NEIGHBOUR_SHARE = 0.5  # regroup: groups whose average similarity to a touched one reaches this x threshold


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
    """Claim projection: x -> (x - mean) @ matrix, then unit length; with `kind_means` (one row per writing kind,
    WRITINGS), a post is centred on the mean of its own kind's on-topic posts instead (so that what sets English
    or unaccented posts apart as a whole is taken out before comparing claims). Optionally, learned with it:
    `calibration` (3, 3, 3): per pair of writing kinds (WRITINGS indexes), the weight of the rows' dense part's
    dot product [0], of their lexical part's [1] and an offset [2] (`pair_calibration`);
    `claim`: logistic weights on projected vectors, bias last: P(false claim)."""

    mean: Floats
    matrix: Floats
    calibration: Floats | None = None
    claim: Floats | None = None
    kind_means: Floats | None = None

    def apply(self, unit_rows: Floats, kinds: Sequence[int] | None = None) -> Floats:
        """Projected unit rows; `kinds` (each row's WRITINGS index) picks each row's centre when the projection
        has `kind_means`."""
        centre = self.mean if self.kind_means is None or kinds is None else self.kind_means[np.asarray(kinds)]
        out: Floats = ((unit_rows - centre) @ self.matrix).astype(np.float32, copy=False)
        return _unit(out)


def within_claim_projection(
    on_topic: Floats,
    keyed: Floats,
    keys: Sequence[str],
    alpha: float = DEFAULT_WITHIN_CLAIM_ALPHA,
    on_topic_kinds: Sequence[int] | None = None,
    keyed_kinds: Sequence[int] | None = None,
) -> Projection:
    """WCCN: centre on the on-topic posts' mean (with both kinds given: each post on its writing kind's mean,
    `kind_means`; a kind without on-topic posts uses the overall mean); whiten by (S_w + alpha I)^-1/2, S_w the
    scatter of the keyed posts around their own claim's mean, scaled to mean eigenvalue 1 (alpha is then
    relative to it: large alpha = little whitening)."""
    topic = _unit(np.asarray(on_topic, dtype=np.float32))
    mean = topic.mean(axis=0)
    kind_means: Floats | None = None
    x = _unit(np.asarray(keyed, dtype=np.float32))
    if on_topic_kinds is not None and keyed_kinds is not None:
        of = np.asarray(list(on_topic_kinds), dtype=np.int64)
        kind_means = np.stack(
            [topic[of == k].mean(axis=0) if (of == k).any() else mean for k in range(len(WRITINGS))]
        ).astype(np.float32)
        x = x - kind_means[np.asarray(list(keyed_kinds), dtype=np.int64)]
    else:
        x = x - mean
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
    return Projection(mean.astype(np.float32), matrix.astype(np.float32), kind_means=kind_means)


@dataclass(frozen=True)
class Rows:
    """Joint feature rows: the encoder part (`dense`, n x k) and the lexical part (`lexical`, sparse n x m); a
    joint row is their concatenation, and its dot product with another the sum of the two parts' products."""

    dense: Floats
    lexical: sparse.csr_matrix

    def __len__(self) -> int:
        return int(self.dense.shape[0])

    def take(self, idx: Sequence[int] | npt.NDArray[np.int64]) -> Rows:
        """The rows `idx`, in that order."""
        i = np.asarray(list(idx) if not isinstance(idx, np.ndarray) else idx, dtype=np.int64)
        return Rows(self.dense[i], self.lexical[i])

    def dots(self, other: Rows) -> tuple[Floats, Floats]:
        """Dot products of these rows with `other`'s, each part on its own: (dense, lexical), len(self) x
        len(other)."""
        dense: Floats = np.asarray(self.dense @ other.dense.T, dtype=np.float32)
        lexical: Floats = np.asarray((self.lexical @ other.lexical.T).toarray(), dtype=np.float32)
        return dense, lexical

    def summed(self, indicator: sparse.csr_matrix) -> Rows:
        """indicator @ rows, each part: per line of `indicator`, the weighted sum of the rows it names."""
        return Rows(
            np.asarray(indicator @ self.dense, dtype=np.float32), sparse.csr_matrix(indicator @ self.lexical)
        )


def as_rows(rows: Rows | Floats, pairs: Pairs | int | None = None) -> Rows:
    """`rows` as Rows: a plain array is split at `pairs.dense_dim` (or at `pairs` given as a number; without
    either: all of it dense)."""
    if isinstance(rows, Rows):
        return rows
    x = np.asarray(rows, dtype=np.float32)
    split = pairs.dense_dim if isinstance(pairs, Pairs) else pairs
    k = x.shape[1] if split is None or split <= 0 else int(split)
    return Rows(np.ascontiguousarray(x[:, :k]), sparse.csr_matrix(x[:, k:]))


@dataclass
class Pairs:
    """How pairs of feature rows compare beyond the dot product: per row its writing kind (`lang`, WRITINGS
    index) and whether it stays alone; per pair of kinds, the weight of the dense part's dot product
    (`dense_scale`), of the lexical part's (`lexical_scale`) and an `offset`. `dense_dim`: where a plain array
    of joint rows splits into the two parts (`as_rows`)."""

    lang: npt.NDArray[np.int64]
    alone: npt.NDArray[np.bool_]
    dense_scale: Floats = field(default_factory=lambda: np.ones((len(WRITINGS),) * 2, np.float32))
    lexical_scale: Floats = field(default_factory=lambda: np.ones((len(WRITINGS),) * 2, np.float32))
    offset: Floats = field(default_factory=lambda: np.zeros((len(WRITINGS),) * 2, np.float32))
    dense_dim: int = 0

    @property
    def kinds(self) -> int:
        """How many writing kinds the calibration tells apart."""
        return int(self.offset.shape[0])


@dataclass
class Features:
    """Joint feature rows (one per text) and each text's folded terms with the pool's document frequencies;
    `pairs` when the projection brought a calibration or a claim model."""

    rows: Rows
    terms: list[list[str]]
    df: Counter[str]
    pairs: Pairs | None = None


_identifier_lock = threading.Lock()
_identifier: list[object] = []


@lru_cache(maxsize=50_000)
def language(text: str) -> int:
    """1 for English, 0 for anything else (py3langid restricted to vi/en, as collection stores `lang`)."""
    with _identifier_lock:
        if not _identifier:
            from py3langid.langid import _load_identifier  # lazy: half a second, only when calibrating

            ident = _load_identifier(norm_probs=True)
            ident.set_languages(list(LANGUAGES))
            _identifier.append(ident)
    lang, _prob = _identifier[0].classify(text[:600])  # type: ignore[attr-defined]
    return LANGUAGES.index(str(lang)) if str(lang) in LANGUAGES else 0


def similarities(
    rows: Rows | Floats, a: Sequence[int], b: Sequence[int], pairs: Pairs | None = None
) -> Floats:
    """Similarities of rows `a` to rows `b`, calibrated by the pair of writing kinds; -1 with a post that stays alone."""
    x = as_rows(rows, pairs)
    ia, ib = np.asarray(list(a), dtype=np.int64), np.asarray(list(b), dtype=np.int64)
    dense, lexical = x.take(ia).dots(x.take(ib))
    if pairs is None:
        plain: Floats = dense + lexical
        return plain
    la, lb = pairs.lang[ia][:, None], pairs.lang[ib][None, :]
    out: Floats = (
        dense * pairs.dense_scale[la, lb] + lexical * pairs.lexical_scale[la, lb] + pairs.offset[la, lb]
    ).astype(np.float32, copy=False)
    out[pairs.alone[ia], :] = -1.0
    out[:, pairs.alone[ib]] = -1.0
    return out


def features(
    texts: Sequence[str],
    dense: Floats,
    dense_weight: float = DEFAULT_DENSE_WEIGHT,
    projection: Projection | None = None,
    accurate_floor: float = DEFAULT_ACCURATE_FLOOR,
    langs: Sequence[str | None] | None = None,
) -> Features:
    """Weighted concatenation of unit dense vectors (through `projection`, else centred on the pool) and unit
    folded TF-IDF vectors (hashed terms, IDF from `texts`); with the projection's calibration and claim model,
    the `pairs` that go with them (posts with P(false claim) < `accurate_floor` stay alone). `langs`: each
    text's stored language code (what collection detected), detected here only where it is missing."""
    n = len(texts)
    if n == 0:
        empty = np.zeros((0, 0), np.float32)
        return Features(Rows(empty, sparse.csr_matrix(empty)), [], Counter())
    d = _unit(np.asarray(dense, dtype=np.float32).reshape(n, -1))
    pairs: Pairs | None = None
    if projection is not None and projection.mean.shape[0] == d.shape[1]:
        codes: Sequence[str | None] = langs if langs is not None and len(langs) == n else [None] * n
        kinds = [writing_index(c, t) for c, t in zip(codes, texts, strict=True)]
        d = projection.apply(d, kinds)
        pairs = _pairs(d, projection, accurate_floor, kinds)
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
    lex = sparse.csr_matrix(TfidfTransformer(sublinear_tf=True).fit_transform(hashed))  # unit rows (l2)
    # Only the columns the pool uses, renumbered: the same dot products, and transposing the lexical part costs
    # what the pool holds rather than 2^20 columns.
    used, column = np.unique(lex.indices, return_inverse=True)
    w = float(np.clip(dense_weight, 0.0, 1.0))
    rows = Rows(
        (d * np.float32(np.sqrt(w))).astype(np.float32, copy=False),
        sparse.csr_matrix(
            ((lex.data * np.sqrt(1.0 - w)).astype(np.float32), column.ravel(), lex.indptr),
            shape=(n, len(used)),
        ),
    )
    return Features(rows, terms, df, pairs)


def claim_probability(projected: Floats, claim: Floats) -> Floats:
    """P(false claim) of projected unit rows under the logistic weights `claim` (bias last)."""
    z = projected @ claim[:-1] + claim[-1]
    out: Floats = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return out


def language_index(code: str | None, text: str) -> int:
    """LANGUAGES index of a post from its stored language code: 1 for English, 0 for any other code; detected
    from the text (`language`) only when no code was stored."""
    code = (code or "").strip().lower()
    if not code:
        return language(text)
    return 1 if code.split("-")[0] == "en" else 0


@lru_cache(maxsize=50_000)
def unaccented(text: str) -> bool:
    """True when almost none of the text's letters carry a diacritic (or are đ): Vietnamese typed without them."""
    letters = [ch for ch in text[:MAX_LEXICAL_CHARS] if ch.isalpha()]
    if not letters:
        return False
    marked = sum(1 for ch in letters if not ch.isascii())
    return marked < UNACCENTED_SHARE * len(letters)


def writing_index(code: str | None, text: str) -> int:
    """WRITINGS index of a post: 1 English (`language_index`), 2 other text typed without diacritics, else 0."""
    if language_index(code, text) == 1:
        return 1
    return 2 if unaccented(text) else 0


def _pairs(projected: Floats, projection: Projection, floor: float, kinds: Sequence[int]) -> Pairs | None:
    if projection.calibration is None and projection.claim is None:
        return None
    n = len(kinds)
    alone = np.zeros(n, dtype=np.bool_)
    if projection.claim is not None and floor > 0:
        alone = claim_probability(projected, projection.claim) < floor
    if projection.calibration is None:
        return Pairs(np.zeros(n, dtype=np.int64), alone, dense_dim=int(projected.shape[1]))
    cal = projection.calibration.astype(np.float32)
    lang = np.asarray(list(kinds), dtype=np.int64)
    return Pairs(lang, alone, cal[0], cal[1], cal[2], dense_dim=int(projected.shape[1]))


def pair_calibration(
    rows: Rows | Floats, dense_dim: int, kinds: Sequence[int], keys: Sequence[str], min_pairs: int = 20
) -> Floats:
    """(3, k, k): per pair of writing kinds (`kinds`: each row's WRITINGS index, < k), the weight of the
    rows' dense part's dot product (rows[:, :dense_dim]), of their lexical part's, and an offset.

    A logistic model of "same claim" (same key) over every pair of the keyed rows, class-balanced, with one
    intercept and two slopes (the encoder cosine, the lexical cosine) per pair of kinds; put on the scale of the
    plain similarity: divided by the accented pair's two slopes (whose cosines then weigh 1 in all) and shifted
    so that its offset is 0. A pair of kinds with fewer than `min_pairs` same-claim or different-claim pairs
    shares the accented pair's weights. Without enough accented pairs of both sorts: the plain similarity
    (weights 1, offsets 0)."""
    from sklearn.linear_model import LogisticRegression  # lazy: only when a projection is learned

    x = as_rows(rows, dense_dim)
    k = len(WRITINGS)
    out = np.zeros((3, k, k), dtype=np.float32)
    out[:2] = 1.0
    la, lb = np.asarray(list(kinds), dtype=np.int64), np.asarray(list(keys))
    iu = np.triu_indices(len(lb), 1)
    same = lb[iu[0]] == lb[iu[1]]
    # The model is fitted on the two cosines themselves (each part's dot product over its share of the row, the
    # dense weight), then turned back into weights of the rows' parts: fitted on the rows' parts, the lexical
    # slope (on a part worth 1 - dense_weight) is large enough for the penalty to hold it back.
    share = float(np.clip(np.mean(np.sum(x.dense**2, axis=1)), 1e-6, 1 - 1e-6))
    dense_dots, lexical_dots = x.dots(x)
    dense = dense_dots[iu] / share
    lexical = lexical_dots[iu] / (1.0 - share)
    lo, hi = np.minimum(la[iu[0]], la[iu[1]]), np.maximum(la[iu[0]], la[iu[1]])
    cell = lo * k + hi
    known = [
        c
        for c in sorted(set(cell.tolist()))
        if (same & (cell == c)).sum() >= min_pairs and (~same & (cell == c)).sum() >= min_pairs
    ]
    if 0 not in known:
        return out
    cell = np.where(np.isin(cell, known), cell, 0)
    design = np.zeros((len(cell), 3 * len(known)), dtype=np.float32)
    for j, c in enumerate(known):
        m = cell == c
        design[m, 3 * j] = 1.0
        design[m, 3 * j + 1] = dense[m]
        design[m, 3 * j + 2] = lexical[m]
    model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced", fit_intercept=False)
    coef = model.fit(design, same).coef_[0].reshape(len(known), 3)
    base, slope_d, slope_l = coef[0]
    # Divided by z, the accented pair's weights of the two cosines sum to 1, as in the plain similarity.
    z = slope_d + slope_l
    if z <= 0:
        return out
    by_cell = dict(zip(known, coef, strict=True))
    for a in range(k):
        for b in range(k):
            off, sd, sl = by_cell.get(min(a, b) * k + max(a, b), coef[0])
            out[:, a, b] = (sd / z / share, sl / z / (1.0 - share), (off - base) / z)
    return out


def assign(
    rows: Rows | Floats,
    groups: Sequence[Sequence[int]],
    new: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
    pairs: Pairs | None = None,
    english_threshold: float | None = None,
) -> tuple[dict[int, int], list[list[int]]]:
    """Incremental step. rows: features of every item (existing members and new ones, by row index);
    groups: existing groups as lists of row indexes; new: row indexes of items to place. With `pairs` and
    `english_threshold`, an English item joins a group that has a Vietnamese member at `english_threshold`
    (see `cluster`).

    Returns ({new row -> index of the existing group it joins}, [new groups as lists of rows]).
    """
    rows = as_rows(rows, pairs)
    joined: dict[int, int] = {}
    left = list(new)
    if groups and left:
        sims = _average_to_groups(rows, groups, left, pairs)
        if pairs is not None and english_threshold is not None:
            # Measured against the threshold: the English items' similarities to groups with a Vietnamese
            # member are shifted by the difference of the two thresholds.
            english = pairs.lang[np.asarray(left, dtype=np.int64)] == ENGLISH
            vietnamese = np.asarray(
                [any(pairs.lang[r] != ENGLISH for r in g) for g in groups], dtype=np.bool_
            )
            sims = sims + np.float32(threshold - english_threshold) * (english[:, None] & vietnamese[None, :])
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(left)), best]
        keep = []
        for row, g, s in zip(left, best.tolist(), best_sim.tolist(), strict=True):
            if s >= threshold:
                joined[row] = int(g)
            else:
                keep.append(row)
        left = keep
    return joined, cluster(rows, left, threshold, pairs, english_threshold)


def _member_sums(
    rows: Rows, groups: Sequence[Sequence[int]], keep: npt.NDArray[np.bool_] | None = None
) -> tuple[Rows, Floats]:
    """Per group: the sum of its members' rows (those with `keep` set) and how many there are."""
    members = np.asarray([r for g in groups for r in g], dtype=np.int64)
    owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    weight = np.ones(len(members), dtype=np.float32) if keep is None else keep[members].astype(np.float32)
    indicator = sparse.csr_matrix((weight, (owner, members)), shape=(len(groups), len(rows)))
    counts: Floats = np.asarray(indicator.sum(axis=1), dtype=np.float32).ravel()
    return rows.summed(indicator), counts


def _average_to_groups(
    rows: Rows, groups: Sequence[Sequence[int]], items: Sequence[int], pairs: Pairs | None
) -> Floats:
    """Average (calibrated) similarity of each item to each group's members: items x groups."""
    sizes = np.array([len(g) for g in groups], dtype=np.float32)
    x = rows.take(items)
    if pairs is None:
        sums, _ = _member_sums(rows, groups)
        dense, lexical = x.dots(sums)
        plain: Floats = (dense + lexical) / sizes[None, :]
        return plain
    lang = pairs.lang[list(items)]
    total = np.zeros((len(items), len(groups)), dtype=np.float32)
    for other in range(pairs.kinds):
        sums, counts = _member_sums(rows, groups, (pairs.lang == other) & ~pairs.alone)
        dense, lexical = x.dots(sums)
        total += (
            pairs.dense_scale[lang, other][:, None] * dense
            + pairs.lexical_scale[lang, other][:, None] * lexical
            + pairs.offset[lang, other][:, None] * counts[None, :]
        )
    _, alone = _member_sums(rows, groups, pairs.alone)
    total -= alone[None, :]  # a post that stays alone is at -1 from everything
    out: Floats = total / sizes[None, :]
    out[pairs.alone[list(items)], :] = -1.0
    return out


def cluster(
    rows: Rows | Floats,
    members: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
    pairs: Pairs | None = None,
    english_threshold: float | None = None,
) -> list[list[int]]:
    """Average-linkage clusters of the given rows: every pair of merged clusters averages >= threshold. With
    `pairs` and `english_threshold`, in two stages: the non-English rows so, then each English row in turn (row
    order) joins the cluster whose average similarity to it is highest when that reaches `english_threshold`;
    the English rows left over are clustered among themselves (average linkage, `threshold`)."""
    rows = as_rows(rows, pairs)
    idx = list(members)
    if pairs is None or english_threshold is None:
        return _average_linkage(rows, idx, threshold, pairs)
    english = sorted(r for r in idx if pairs.lang[r] == ENGLISH)
    if not english or len(english) == len(idx):
        return _average_linkage(rows, idx, threshold, pairs)
    taken = set(english)
    groups = _average_linkage(rows, [r for r in idx if r not in taken], threshold, pairs)
    # Averages of every English row to every cluster, kept up to date as English rows join (a join adds one
    # member: the new average is the old one re-weighted plus the similarity to the newcomer).
    average = _average_to_groups(rows, groups, english, pairs)
    among = similarities(rows, english, english, pairs)
    sizes = np.array([len(g) for g in groups], dtype=np.float32)
    left: list[int] = []
    for i, row in enumerate(english):
        best = int(np.argmax(average[i]))
        if average[i, best] < english_threshold:
            left.append(row)
            continue
        groups[best].append(row)
        average[:, best] = (average[:, best] * sizes[best] + among[:, i]) / (sizes[best] + 1)
        sizes[best] += 1
    return groups + _average_linkage(rows, left, threshold, pairs)


def _average_linkage(
    rows: Rows, members: Sequence[int], threshold: float, pairs: Pairs | None
) -> list[list[int]]:
    idx = list(members)
    if len(idx) < 2:
        return [idx] if idx else []
    # A precomputed distance matrix (one matrix product) rather than scikit-learn's cosine metric on the rows:
    # the same tree, without computing 2,000-odd-dimensional distances pair by pair.
    dist = 1.0 - similarities(rows, idx, idx, pairs)
    np.fill_diagonal(dist, 0.0)
    np.maximum(dist, 0.0, out=dist)
    tree = linkage(squareform(dist, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    out: dict[int, list[int]] = {}
    for row, label in zip(idx, labels.tolist(), strict=True):
        out.setdefault(int(label), []).append(row)
    return list(out.values())


def apply_regroup(groups: list[list[int]], changes: list[tuple[int | None, list[int]]]) -> list[list[int]]:
    """`groups` after regroup()'s `changes`: the moved rows leave their groups; a change with an heir replaces
    that group's members (its position, hence its id, stays), one without is a new group at the end. Groups
    left empty stay in place (the caller decides what an empty group means)."""
    moved = {r for _, members in changes for r in members}
    out = [[r for r in g if r not in moved] for g in groups]
    for heir, members in changes:
        if heir is None:
            out.append(members)
        else:
            out[heir] = members
    return out


def regroup(
    rows: Rows | Floats,
    groups: Sequence[Sequence[int]],
    touched: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
    pairs: Pairs | None = None,
    max_items: int = DEFAULT_REGROUP_MAX_ITEMS,
    frozen: Sequence[int] = (),
    english_threshold: float | None = None,
) -> list[tuple[int | None, list[int]]]:
    """Re-run average linkage over the groups an arrival touched (indexes into `groups`) and their neighbours,
    so that early mistakes are undone; every group while they hold at most `max_items` rows in all, else the
    touched ones (smallest first) and the groups closest to them (average similarity >= NEIGHBOUR_SHARE x
    threshold), up to `max_items` rows in all: the cost of a step stays bounded.

    Returns the groups that changed: (index of the old group that keeps its id, or None for a new group,
    its members). An old group among the re-clustered ones that is not named has lost every member.
    `frozen` groups (someone acted on them: a drafted rebuttal) are left out: they neither lose nor gain members
    here. `english_threshold`: as `cluster` takes it."""
    rows = as_rows(rows, pairs)
    held = set(frozen)
    free = [g for g in range(len(groups)) if g not in held and groups[g]]
    if not free:
        return []
    sizes = [len(g) for g in groups]
    if sum(sizes[g] for g in free) <= max_items:
        scope = free
    else:
        scope, budget = [], max_items
        for g in sorted(
            set(touched) - held, key=lambda g: (sizes[g], g)
        ):  # smallest first, within the budget
            if sizes[g] <= budget:
                scope.append(g)
                budget -= sizes[g]
        if scope and budget > 0:
            near = _group_similarity(rows, groups, scope, pairs).max(axis=0)
            near[scope] = -np.inf
            near[sorted(held)] = -np.inf
            for g in np.argsort(-near, kind="stable").tolist():
                if near[g] < NEIGHBOUR_SHARE * threshold:
                    break
                if sizes[g] > budget:
                    continue
                scope.append(int(g))
                budget -= sizes[g]
    members = [r for g in scope for r in groups[g]]
    fresh = cluster(rows, members, threshold, pairs, english_threshold)
    old_of = {r: g for g in scope for r in groups[g]}
    # Each new cluster keeps the id of the old group it shares most members with (largest overlaps first; on a
    # tie, the older group).
    overlaps = sorted(
        ((-n, i, g) for i, c in enumerate(fresh) for g, n in Counter(old_of[r] for r in c).items())
    )
    heir: dict[int, int] = {}
    used: set[int] = set()
    for _n, i, g in overlaps:
        if i not in heir and g not in used:
            heir[i] = g
            used.add(g)
    out: list[tuple[int | None, list[int]]] = []
    for i, c in enumerate(fresh):
        kept = heir.get(i)
        if kept is not None and sorted(c) == sorted(groups[kept]):
            continue  # unchanged
        out.append((kept, c))
    return out


def _group_similarity(
    rows: Rows | Floats, groups: Sequence[Sequence[int]], some: Sequence[int], pairs: Pairs | None
) -> Floats:
    """Average-linkage similarity of groups `some` to every group: len(some) x len(groups)."""
    rows = as_rows(rows, pairs)
    sizes = np.array([len(g) for g in groups], dtype=np.float32)
    if pairs is None:
        sums, _ = _member_sums(rows, groups)
        dense, lexical = sums.take(list(some)).dots(sums)
        plain: Floats = (dense + lexical) / np.outer(sizes[list(some)], sizes)
        return plain
    total = np.zeros((len(some), len(groups)), dtype=np.float32)
    kinds = range(pairs.kinds)
    by_lang = [_member_sums(rows, groups, (pairs.lang == kind) & ~pairs.alone) for kind in kinds]
    for a in kinds:
        sa, ca = by_lang[a][0].take(list(some)), by_lang[a][1][list(some)]
        for b in kinds:
            dense, lexical = sa.dots(by_lang[b][0])
            total += pairs.dense_scale[a, b] * dense + pairs.lexical_scale[a, b] * lexical
        total += np.outer(ca, sum((pairs.offset[a, b] * by_lang[b][1] for b in kinds), np.zeros_like(sizes)))
    _, alone = _member_sums(rows, groups, pairs.alone)
    total -= np.outer(sizes[list(some)], alone) + np.outer(alone[list(some)], sizes - alone)
    out: Floats = total / np.outer(sizes[list(some)], sizes)
    return out


def representative(rows: Rows | Floats, members: Sequence[int]) -> int:
    """The member closest to the group's centre."""
    idx = list(members)
    x = as_rows(rows).take(idx)
    # Dot product with the centre (up to the 1/n): each row's dot products with every member, summed.
    score = x.dense @ x.dense.sum(axis=0) + np.asarray((x.lexical @ x.lexical.T).sum(axis=1)).ravel()
    return idx[int(np.argmax(score))]


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
