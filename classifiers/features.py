"""Lexical features that carry Vietnamese (folded syllables, syllable bigrams, character n-grams)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from classifiers.text import bigrams, fold, folded_syllables, syllables

Sparse = sp.csr_matrix
Floats = npt.NDArray[np.float64]

# Item texts are cut here before featurising and encoding: the opening carries the claim, and the
# encoder truncates at 256 tokens anyway.
MAX_CHARS = 2000


def clip(text: str) -> str:
    """The part of a text the classifiers look at."""
    return text[:MAX_CHARS]


def word_tokens(text: str) -> list[str]:
    """Folded syllables and their bigrams, plus accented syllables where accents differ.

    Folded tokens make posts typed without diacritics match; accented ones keep 'bỏ' apart from 'bộ'
    where the writer did type them.
    """
    folded = folded_syllables(text)
    accented = [f"~{s}" for s in syllables(text) if fold(s) != s]
    return folded + bigrams(folded) + accented


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class LexicalFeaturizer:
    """TF-IDF over word tokens (see word_tokens) and character 2-5-grams of the folded text."""

    def __init__(self, char_ngrams: tuple[int, int] = (2, 5), min_df: int = 1, char_weight: float = 1.0) -> None:
        self.char_weight = char_weight
        self.words = TfidfVectorizer(
            analyzer=word_tokens, sublinear_tf=True, min_df=min_df, dtype=np.float32
        )
        self.chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=char_ngrams,
            preprocessor=fold,
            sublinear_tf=True,
            min_df=max(min_df, 2),
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str]) -> LexicalFeaturizer:
        """Learn vocabularies and IDF weights."""
        clipped = [clip(t) for t in texts]
        self.words.fit(clipped)
        try:
            self.chars.fit(clipped)
        except ValueError:  # tiny corpora: no character n-gram reaches min_df
            self.chars.set_params(min_df=1)
            self.chars.fit(clipped)
        return self

    def transform(self, texts: Sequence[str]) -> Sparse:
        """Row-normalised [words | chars] TF-IDF matrix."""
        clipped = [clip(t) for t in texts]
        w = self.words.transform(clipped)
        c = self.chars.transform(clipped) * self.char_weight
        return sp.csr_matrix(normalize(sp.hstack([w, c]).tocsr()))

    def top_cues(self, row: Sparse, weights: Floats, k: int = 5) -> list[tuple[str, float]]:
        """The k word features of one row that push a linear model's score up the most."""
        names = self.words.get_feature_names_out()
        n_words = len(names)
        coo = row.tocoo()
        contrib: list[tuple[str, float]] = []
        for col, value in zip(coo.col, coo.data, strict=True):
            if col < n_words and col < len(weights):
                contrib.append((str(names[col]), float(value * weights[col])))
        contrib.sort(key=lambda kv: kv[1], reverse=True)
        return [(name, round(v, 4)) for name, v in contrib[:k] if v > 0]


def combine(lexical: Sparse, dense: npt.NDArray[Any] | None, extra: npt.NDArray[Any] | None, dense_weight: float) -> Sparse:
    """Concatenate sparse lexical features, weighted dense embeddings and a few scalar features."""
    blocks: list[Any] = [lexical]
    if dense is not None and dense.shape[1]:
        blocks.append(sp.csr_matrix(np.asarray(dense, dtype=np.float32) * dense_weight))
    if extra is not None and extra.shape[1]:
        blocks.append(sp.csr_matrix(np.asarray(extra, dtype=np.float32)))
    return sp.csr_matrix(sp.hstack(blocks).tocsr())


def keyword_hits(texts: Sequence[str], keywords: Sequence[str]) -> Floats:
    """How many distinct (folded) keywords each text contains."""
    folded_kw = [" " + " ".join(folded_syllables(k)) + " " for k in keywords if k.strip()]
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        padded = " " + " ".join(folded_syllables(clip(text))) + " "
        out[i] = sum(1 for kw in folded_kw if kw in padded)
    return out
