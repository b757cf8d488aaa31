"""Lexical retrieval: TF-IDF cosine and BM25 over Vietnamese-aware token fields.

Token kinds: `syl` (syllables with diacritics + syllable bigrams), `fold` (the same with diacritics
folded, so posts typed without accents match), `word` (folded unigrams without function words) and
`char` (character 3-5-grams of the folded text, robust to typos and word splits).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

from classifiers.text import bigrams, fold, folded_syllables, syllables

Floats = npt.NDArray[np.float32]
KINDS = ("syl", "fold", "word", "char")
# Function words dropped from the unigram `word` kind only (folded forms; English and Vietnamese).
_STOPWORD_TEXT = (
    "a an the and or but of to in on at for with by from as is are was were be been being it its this "
    "that these those there here he she they we you i me my our your his her their them us do does "
    "did have has had not no so if than then too very can will just about into over after before what "
    "which who whom how why when where all any some such only own same other more most also rt via "
    "amp la cua va co thi ma nhung cac duoc cho voi nay do o trong mot den khi de tu nhu ve ra vao "
    "len lai roi nhe a oi ha nha"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SPACE = re.compile(r"\s+")
_NONWORD = re.compile(r"[^\w]+", re.UNICODE)


def tokens(text: str, kind: str) -> list[str]:
    """Tokens of one kind for `text`."""
    if kind == "syl":
        toks = syllables(text)
        return toks + bigrams(toks)
    if kind == "fold":
        toks = folded_syllables(text)
        return toks + bigrams(toks)
    if kind == "word":
        return [t for t in folded_syllables(text) if len(t) > 1 and t not in STOPWORDS]
    if kind == "char":
        s = f" {_SPACE.sub(' ', _NONWORD.sub(' ', fold(text))).strip()} "
        return [s[i : i + n] for n in (3, 4, 5) for i in range(len(s) - n + 1) if s[i : i + n].strip()]
    raise ValueError(f"unknown token kind {kind!r}")


class SparseField:
    """One text field of a collection, indexed for TF-IDF cosine and BM25 at once."""

    def __init__(self, docs: Sequence[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, toks in enumerate(docs):
            for tok, n in Counter(toks).items():
                c = self.vocab.setdefault(tok, len(self.vocab))
                rows.append(r)
                cols.append(c)
                vals.append(float(n))
        shape = (len(docs), max(len(self.vocab), 1))
        tf = sparse.csr_matrix(
            (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape, dtype=np.float32
        )
        n_docs = max(len(docs), 1)
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=shape[1]).astype(np.float32)
        self.idf = (np.log((1 + n_docs) / (1 + df)) + 1.0).astype(np.float32)
        bm25_idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        # TF-IDF: sublinear tf, l2-normalised rows, so a dot product is a cosine.
        t = tf.copy()
        t.data = (1.0 + np.log(t.data)).astype(np.float32)
        t = sparse.csr_matrix(t.multiply(self.idf[None, :]), dtype=np.float32)
        norms = np.sqrt(np.asarray(t.multiply(t).sum(axis=1)).ravel()).astype(np.float32)
        norms[norms == 0] = 1.0
        self.tfidf_t = sparse.csr_matrix(sparse.diags(1.0 / norms) @ t, dtype=np.float32).T.tocsr()
        # BM25 document weights precomputed: score(q, d) = sum over query terms of w[d, term].
        lengths = np.asarray(tf.sum(axis=1)).ravel().astype(np.float32)
        avg = float(lengths.mean()) if len(lengths) else 1.0
        bm = tf.tocoo()
        denom = bm.data + k1 * (1 - b + b * lengths[bm.row] / max(avg, 1e-6))
        data = (bm.data * (k1 + 1) / denom * bm25_idf[bm.col]).astype(np.float32)
        self.bm25_t = sparse.csr_matrix((data, (bm.row, bm.col)), shape=shape, dtype=np.float32).T.tocsr()
        self.lengths = lengths

    def _query_terms(self, toks: list[str]) -> tuple[npt.NDArray[np.int64], Floats]:
        """Known term ids of a query and their l2-normalised TF-IDF weights."""
        counts = Counter(t for t in toks if t in self.vocab)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        w = (1.0 + np.log(tf)) * self.idf[ids]
        norm = float(np.sqrt((w * w).sum())) or 1.0
        return ids, (w / norm).astype(np.float32)

    def scores(self, queries: Sequence[list[str]]) -> tuple[Floats, Floats]:
        """(tfidf cosine, bm25) score matrices of shape (n_queries, n_docs), accumulated from postings."""
        n_docs = self.tfidf_t.shape[1]
        tfidf = np.zeros((len(queries), n_docs), dtype=np.float32)
        bm25 = np.zeros((len(queries), n_docs), dtype=np.float32)
        for r, toks in enumerate(queries):
            ids, w = self._query_terms(toks)
            if len(ids) == 0:
                continue
            tfidf[r] = self._accumulate(self.tfidf_t, ids, w, n_docs)
            bm25[r] = self._accumulate(self.bm25_t, ids, np.ones_like(w), n_docs)
        return tfidf, bm25

    @staticmethod
    def _accumulate(
        postings: sparse.csr_matrix, ids: npt.NDArray[np.int64], w: Floats, n_docs: int
    ) -> Floats:
        """sum_t w[t] * postings[t, :] for the query's terms (a sparse row gather + bincount)."""
        indptr, indices, data = postings.indptr, postings.indices, postings.data
        starts, ends = indptr[ids], indptr[ids + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(n_docs, dtype=np.float32)
        # Positions of every posting of every query term, without a Python loop over terms.
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        pos = np.arange(total) + offsets
        weights = data[pos] * np.repeat(w, lengths)
        return np.bincount(indices[pos], weights=weights, minlength=n_docs).astype(np.float32)
