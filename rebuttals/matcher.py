"""Hybrid claim matcher: lexical (TF-IDF, BM25, char n-grams) + dense channels, then a learned re-ranker.

Pure: text in, ranked rebuttals out. Documents are claims (claim text + the title of what refutes them);
results are aggregated per rebuttal, keeping the best-matching claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from rebuttals.lexical import KINDS, SparseField, tokens

Floats = npt.NDArray[np.float32]
Ident = int | str

# (channel name, field, token kind, measure). "dense" channels use the encoder's cosine.
LEXICAL_CHANNELS: tuple[tuple[str, str, str, str], ...] = (
    ("all_word_tfidf", "all", "word", "tfidf"),
    ("all_word_bm25", "all", "word", "bm25"),
    ("claim_word_tfidf", "claim", "word", "tfidf"),
    ("title_word_tfidf", "title", "word", "tfidf"),
    ("claim_fold_tfidf", "claim", "fold", "tfidf"),
    ("claim_fold_bm25", "claim", "fold", "bm25"),
    ("claim_syl_tfidf", "claim", "syl", "tfidf"),
    ("claim_char_tfidf", "claim", "char", "tfidf"),
    ("title_char_tfidf", "title", "char", "tfidf"),
)
DENSE_CHANNELS = ("claim_dense", "title_dense")
CHANNELS = tuple(c[0] for c in LEXICAL_CHANNELS) + DENSE_CHANNELS
RANK_CAP = 100
BACKGROUND_MIN_DOCS = 30


class Encoder(Protocol):
    """Anything with a stable model id that turns texts into L2-normalised float32 vectors."""

    model_id: str

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Floats: ...


class Scorer(Protocol):
    """A trained re-ranker: feature rows in, relevance scores in [0, 1] out."""

    def predict(self, features: Floats) -> Floats: ...


@dataclass(frozen=True)
class Doc:
    """One claim of the library: what it says, which rebuttal answers it, that rebuttal's title.

    `extra` is more text about the claim searched only by the combined lexical field (a subtitle, a summary).
    `day` (days since 1970-01-01), when known, lets the re-ranker use how close a post is in time to the claim.
    """

    claim_id: Ident
    rebuttal_id: Ident
    text: str
    title: str = ""
    extra: str = ""
    day: float | None = None


@dataclass(frozen=True)
class Match:
    """A suggested rebuttal with its score and the claim that matched best."""

    rebuttal_id: Ident
    claim_id: Ident
    score: float
    claim: str


@dataclass
class Candidates:
    """Candidate documents for one query with their feature rows and the unsupervised fused score."""

    docs: npt.NDArray[np.int64]
    features: Floats
    fused: Floats


def relative_dense(dense: Floats) -> Floats:
    """Cosine above the query's median cosine to the library, rescaled to 0..1.

    A monolingual model gives any two Vietnamese texts a cosine near 0.5; measuring against the query's
    own background keeps the score meaningful for a fixed suggestion threshold. Small libraries (under
    BACKGROUND_MIN_DOCS claims) have no reliable background: raw cosine is used.
    """
    if dense.shape[-1] < BACKGROUND_MIN_DOCS:
        return np.clip(dense, 0.0, 1.0).astype(np.float32)
    bg = np.clip(np.median(dense, axis=-1, keepdims=True), 0.0, 0.95)
    return np.clip((dense - bg) / (1.0 - bg), 0.0, 1.0).astype(np.float32)


def lexical_score(s: dict[str, Floats]) -> Floats:
    """Blend of the lexical channels that carry most signal in both languages."""
    return np.asarray(0.4 * s["all_word_tfidf"] + 0.3 * s["claim_fold_tfidf"] + 0.3 * s["claim_char_tfidf"])


def fused_score(s: dict[str, Floats]) -> Floats:
    """The score used without a trained re-ranker: dense and lexical agree -> high (0..1)."""
    return np.asarray(0.5 * relative_dense(s["claim_dense"]) + 0.5 * lexical_score(s), dtype=np.float32)


def feature_names() -> list[str]:
    """Column names of the feature rows, in order."""
    names = []
    for ch in (*CHANNELS, "fused"):
        names += [f"{ch}", f"{ch}_gap", f"{ch}_ratio", f"{ch}_rank"]
    return [
        *names,
        "query_len",
        "doc_len",
        "title_len",
        "len_ratio",
        "same_rebuttal_in_pool",
        "days_known",
        "days_apart_log",
        "days_after_years",
        "days_apart_rank",
    ]


class Matcher:
    """Index built once from the library's claims; `search` answers one text in milliseconds."""

    def __init__(
        self,
        docs: Sequence[Doc],
        encoder: Encoder,
        claim_vectors: Floats | None = None,
        title_vectors: Floats | None = None,
        reranker: Scorer | None = None,
        pool: int = 30,
        per_channel: int = 8,
    ) -> None:
        self.docs = list(docs)
        self.encoder = encoder
        self.reranker = reranker
        self.pool = pool
        self.per_channel = per_channel
        texts = {
            "claim": [d.text for d in self.docs],
            "title": [d.title or d.text for d in self.docs],
            "all": [f"{d.title}\n{d.extra}\n{d.text}" for d in self.docs],
        }
        self.fields: dict[tuple[str, str], SparseField] = {}
        for _, field, kind, _m in LEXICAL_CHANNELS:
            if (field, kind) not in self.fields:
                self.fields[(field, kind)] = SparseField([tokens(t, kind) for t in texts[field]])
        self.claim_vectors = self._vectors(texts["claim"], claim_vectors)
        self.title_vectors = self._vectors(texts["title"], title_vectors)
        self.doc_day = np.asarray([np.nan if d.day is None else d.day for d in self.docs], dtype=np.float64)
        self.doc_len = np.asarray([len(t.split()) for t in texts["claim"]], dtype=np.float32)
        self.title_len = np.asarray([len(t.split()) for t in texts["title"]], dtype=np.float32)
        rebuttal_index: dict[Ident, int] = {}
        self.doc_rebuttal = np.asarray(
            [rebuttal_index.setdefault(d.rebuttal_id, len(rebuttal_index)) for d in self.docs], dtype=np.int64
        )

    def _vectors(self, texts: list[str], given: Floats | None) -> Floats:
        if given is not None:
            if len(given) != len(texts):
                raise ValueError(f"got {len(given)} vectors for {len(texts)} texts")
            return np.asarray(given, dtype=np.float32)
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        unique = list(dict.fromkeys(texts))  # titles repeat across a rebuttal's claims: encode each once
        vecs = self.encoder.encode(unique)
        pos = {t: i for i, t in enumerate(unique)}
        return np.asarray(vecs[[pos[t] for t in texts]], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.docs)

    def channel_scores(self, queries: Sequence[str], query_vectors: Floats) -> dict[str, Floats]:
        """Score matrices (n_queries, n_docs) for every channel."""
        out: dict[str, Floats] = {}
        toks = {kind: [tokens(q, kind) for q in queries] for kind in KINDS}
        done: dict[tuple[str, str], tuple[Floats, Floats]] = {}
        for name, field, kind, measure in LEXICAL_CHANNELS:
            if (field, kind) not in done:
                done[(field, kind)] = self.fields[(field, kind)].scores(toks[kind])
            tfidf, bm25 = done[(field, kind)]
            out[name] = tfidf if measure == "tfidf" else bm25
        qv = np.asarray(query_vectors, dtype=np.float32)
        out["claim_dense"] = _cosines(qv, self.claim_vectors)
        out["title_dense"] = _cosines(qv, self.title_vectors)
        out["fused"] = fused_score(out)
        # Raw-cosine blend: only widens the candidate pool (the relative score can rank a near-duplicate
        # library low when every claim is close to the query).
        out["pool_raw"] = np.asarray(0.5 * out["claim_dense"] + 0.5 * lexical_score(out), dtype=np.float32)
        return out

    def candidates(
        self,
        queries: Sequence[str],
        query_vectors: Floats | None = None,
        days: Sequence[float | None] | None = None,
    ) -> list[Candidates]:
        """Candidate pool and features for each query (the re-ranker's input); `days` as for Doc.day."""
        if query_vectors is None:
            query_vectors = self.encoder.encode(list(queries))
        out: list[Candidates] = []
        n = len(self.docs)
        if n == 0:
            return [
                Candidates(
                    np.zeros(0, np.int64),
                    np.zeros((0, len(feature_names())), np.float32),
                    np.zeros(0, np.float32),
                )
                for _ in queries
            ]
        step = 64  # bound memory: channels x step x n_docs floats at a time
        for start in range(0, len(queries), step):
            chunk = list(queries[start : start + step])
            scores = self.channel_scores(chunk, query_vectors[start : start + step])
            for i, q in enumerate(chunk):
                day = days[start + i] if days is not None else None
                out.append(self._features(q, {k: v[i] for k, v in scores.items()}, day))
        return out

    def _features(self, query: str, rows: dict[str, Floats], day: float | None = None) -> Candidates:
        n = len(self.docs)
        tops = {ch: _sorted_top(rows[ch], min(RANK_CAP, n)) for ch in (*CHANNELS, "fused")}
        pool: set[int] = set(tops["fused"][: self.pool].tolist())
        pool.update(_sorted_top(rows["pool_raw"], min(self.pool, n)).tolist())
        for ch in CHANNELS:
            pool.update(tops[ch][: self.per_channel].tolist())
        docs = np.asarray(sorted(pool), dtype=np.int64)
        cols: list[Floats] = []
        for ch in (*CHANNELS, "fused"):
            row = rows[ch]
            s = row[docs]
            best = float(row[tops[ch][0]])
            ranks = _ranks(tops[ch], docs)
            cols += [s, s - best, s / best if best > 0 else np.zeros_like(s), np.log1p(ranks)]
        qlen = float(len(query.split()))
        dlen = self.doc_len[docs]
        reb = self.doc_rebuttal[docs]
        same = np.asarray([float((reb == r).sum()) for r in reb], dtype=np.float32)
        cols += [
            np.full(len(docs), np.log1p(qlen), np.float32),
            np.log1p(dlen),
            np.log1p(self.title_len[docs]),
            np.log1p(qlen) - np.log1p(dlen),
            same,
            *self._day_features(docs, day),
        ]
        return Candidates(docs, np.stack(cols, axis=1).astype(np.float32), rows["fused"][docs])

    def _day_features(self, docs: npt.NDArray[np.int64], day: float | None) -> list[Floats]:
        dd = self.doc_day[docs]
        diff = (day if day is not None else np.nan) - dd
        known = ~np.isnan(diff)
        apart = np.where(known, np.abs(diff), 20 * 365.0)
        after = np.where(known, np.clip(diff, -3650, 3650) / 365.0, 0.0)
        order = np.argsort(apart, kind="stable")
        rank = np.empty(len(docs), dtype=np.float64)
        rank[order] = np.arange(1, len(docs) + 1)
        return [
            known.astype(np.float32),
            np.log1p(apart).astype(np.float32),
            after.astype(np.float32),
            np.where(known, np.log1p(rank), np.log1p(len(docs))).astype(np.float32),
        ]

    def rank(self, cands: Candidates) -> tuple[npt.NDArray[np.int64], Floats]:
        """Candidate docs ordered best first with their final scores (re-ranker if trained, else fused)."""
        if len(cands.docs) == 0:
            return cands.docs, cands.fused
        scores = self.reranker.predict(cands.features) if self.reranker is not None else cands.fused
        order = np.argsort(-scores, kind="stable")
        return cands.docs[order], np.asarray(scores[order], dtype=np.float32)

    def search_many(
        self,
        texts: Sequence[str],
        k: int = 5,
        query_vectors: Floats | None = None,
        days: Sequence[float | None] | None = None,
    ) -> list[list[Match]]:
        """Top-k rebuttals for each text (best claim per rebuttal)."""
        results: list[list[Match]] = []
        for cands in self.candidates(texts, query_vectors, days):
            docs, scores = self.rank(cands)
            seen: set[Ident] = set()
            matches: list[Match] = []
            for d, s in zip(docs.tolist(), scores.tolist(), strict=True):
                doc = self.docs[d]
                if doc.rebuttal_id in seen:
                    continue
                seen.add(doc.rebuttal_id)
                matches.append(Match(doc.rebuttal_id, doc.claim_id, float(s), doc.text))
                if len(matches) >= k:
                    break
            results.append(matches)
        return results

    def search(self, text: str, k: int = 5) -> list[Match]:
        """Top-k rebuttals for one text."""
        return self.search_many([text], k)[0]


def _cosines(queries: Floats, docs: Floats) -> Floats:
    """queries @ docs.T; a few queries go through einsum, which avoids BLAS thread start-up (~8x faster)."""
    if len(queries) <= 4:
        return np.asarray(np.einsum("ij,kj->ik", queries, docs), dtype=np.float32)
    return np.asarray(queries @ docs.T, dtype=np.float32)


def _sorted_top(row: Floats, k: int) -> npt.NDArray[np.int64]:
    """Indices of the k highest scores, best first."""
    top = np.arange(len(row), dtype=np.int64) if k >= len(row) else np.argpartition(-row, k - 1)[:k]
    return np.asarray(top[np.argsort(-row[top], kind="stable")], dtype=np.int64)


def _ranks(top: npt.NDArray[np.int64], docs: npt.NDArray[np.int64]) -> Floats:
    """1-based rank of each doc given the channel's sorted top list (past it: RANK_CAP + 1)."""
    pos = {int(d): i + 1 for i, d in enumerate(top.tolist())}
    return np.asarray([pos.get(int(d), RANK_CAP + 1) for d in docs.tolist()], dtype=np.float32)
