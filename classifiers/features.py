"""Lexical features that carry Vietnamese (folded syllables, syllable bigrams, character n-grams)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import normalize
from sklearn.svm import SVC, LinearSVC

from classifiers.text import bigrams, fold, folded_syllables, syllables

# scipy ships no type information: sparse matrices are typed loosely.
Sparse: TypeAlias = Any
Floats = npt.NDArray[np.float64]

# Texts are cut here before encoding: the opening carries the claim, and an encoder reads a few
# hundred tokens at most (longer texts only cost time).
MAX_CHARS = 2000
# The lexical views read much more: a long article's later paragraphs still carry its style and words
# (cutting them at 2,000 characters cost the risk model on long news articles), and TF-IDF is cheap.
LEXICAL_MAX_CHARS = 20000


def clip(text: str) -> str:
    """The part of a text the encoder looks at."""
    return text[:MAX_CHARS]


def clip_lexical(text: str) -> str:
    """The part of a text the lexical features look at."""
    return text[:LEXICAL_MAX_CHARS]


def word_tokens(text: str) -> list[str]:
    """Folded syllables and their bigrams, plus accented syllables where accents differ.

    Folded tokens make posts typed without diacritics match; accented ones keep 'bỏ' apart from 'bộ'
    where the writer did type them.
    """
    folded = folded_syllables(text)
    accented = [f"~{s}" for s in syllables(text) if fold(s) != s]
    return folded + bigrams(folded) + accented


class LexicalFeaturizer:
    """TF-IDF over word tokens (see word_tokens) and character 2-5-grams of the folded text."""

    def __init__(
        self,
        char_ngrams: tuple[int, int] = (2, 5),
        min_df: int = 1,
        char_weight: float = 1.0,
        cased: bool = True,
    ) -> None:
        self.char_weight = char_weight
        # Case-sensitive whitespace tokens (1-3-grams) keep signals folding loses: CAPS, URLs, @handles.
        # Plain character 1-6-grams (spaces and punctuation included) added 0.005 weighted F1 on CONSTRAINT.
        self.cased: TfidfVectorizer | None = None
        self.cased_chars: TfidfVectorizer | None = None
        if cased:
            self.cased = TfidfVectorizer(
                ngram_range=(1, 3), lowercase=False, token_pattern=r"\S+", sublinear_tf=True, dtype=np.float32
            )
            self.cased_chars = TfidfVectorizer(
                analyzer="char",
                ngram_range=(1, 6),
                lowercase=False,
                sublinear_tf=True,
                min_df=2,
                dtype=np.float32,
            )
        self.words = TfidfVectorizer(analyzer=word_tokens, sublinear_tf=True, min_df=min_df, dtype=np.float32)
        self.chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=char_ngrams,
            preprocessor=fold,
            sublinear_tf=True,
            min_df=max(min_df, 2),
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str]) -> LexicalFeaturizer:
        """Learn vocabularies and IDF weights.

        The fitted texts' rows are kept in memory (not pickled) until `release_fit_rows`: training
        transforms those same texts again (each model's subset, the topic descriptions), and analysing
        4,000 texts into character n-grams a second time cost as long as the fit itself.
        """
        self.__dict__.pop("_memo", None)
        self.__dict__.pop("_fit_rows", None)
        clipped = [clip_lexical(t) for t in texts]
        blocks: list[Sparse] = []
        for vec in (self.words, self.chars, self.cased, self.cased_chars):
            if vec is None:
                continue
            try:
                block = vec.fit_transform(clipped)
            except ValueError:  # tiny corpora: no n-gram reaches min_df
                vec.set_params(min_df=1)
                block = vec.fit_transform(clipped)
            # The n-grams cut by min_df are kept only for introspection and dominate the pickle's size.
            if hasattr(vec, "stop_words_"):
                del vec.stop_words_
            blocks.append(block)
        matrix = self._combine(blocks)
        self.__dict__["_fit_rows"] = ({t: i for i, t in enumerate(texts)}, matrix)
        return self

    def release_fit_rows(self) -> None:
        """Forget the fitted texts' rows (training is over; a deployed model transforms new texts)."""
        self.__dict__.pop("_fit_rows", None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_memo", None)  # a per-process cache, never pickled
        state.pop("_fit_rows", None)
        return state

    def transform(self, texts: Sequence[str]) -> Sparse:
        """Row-normalised TF-IDF matrix; the last few results are remembered (relevance, risk and the
        claim/topic similarities all featurise the same batch)."""
        key = tuple(texts)
        memo: dict[tuple[str, ...], Sparse] = self.__dict__.setdefault("_memo", {})
        if key in memo:
            return memo[key]
        fitted = self.__dict__.get("_fit_rows")
        if fitted is not None and all(t in fitted[0] for t in texts):
            matrix = fitted[1][[fitted[0][t] for t in texts]]
        else:
            matrix = self._transform(texts)
        if len(memo) >= 4:
            memo.pop(next(iter(memo)))
        memo[key] = matrix
        return matrix

    def _transform(self, texts: Sequence[str]) -> Sparse:
        """Row-normalised [words | chars] TF-IDF matrix."""
        clipped = [clip_lexical(t) for t in texts]
        vecs = [v for v in (self.words, self.chars, self.cased, self.cased_chars) if v is not None]
        return self._combine([v.transform(clipped) for v in vecs])

    def _combine(self, blocks: list[Sparse]) -> Sparse:
        """[words | chars x char_weight | cased words | cased chars], each row normalised."""
        blocks = [blocks[0], blocks[1] * self.char_weight, *blocks[2:]]
        return sp.csr_matrix(normalize(sp.hstack(blocks).tocsr()))

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


def keyword_hits(texts: Sequence[str], keywords: Sequence[str]) -> Floats:
    """How many distinct (folded) keywords each text contains."""
    folded_kw = [" " + " ".join(folded_syllables(k)) + " " for k in keywords if k.strip()]
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        padded = " " + " ".join(folded_syllables(clip_lexical(text))) + " "
        out[i] = sum(1 for kw in folded_kw if kw in padded)
    return out


class CalibratedText:
    """Stacked, calibrated text classifier.

    Base models, each on its own view of the text: a linear SVM on the lexical TF-IDF, complement naive
    Bayes on binary word/bigram counts and, when embeddings are given, an RBF SVM and a logistic
    regression on the dense vectors. Their out-of-fold scores, plus a few scalar features (topic or
    claim similarity), feed a logistic regression: the stack and its Platt-style calibration in one
    step. On CONSTRAINT this beat concatenating embeddings to TF-IDF (see docs/classification.md).
    C=4 on the row-normalised concatenation of four unit-norm TF-IDF blocks equals C=1 on the blocks
    side by side.
    """

    def __init__(self, c: float = 4.0, dense_c: float = 10.0, folds: int = 5, cased: bool = True) -> None:
        self.c = c
        self.dense_c = dense_c
        self.folds = folds
        self.lexical = LexicalFeaturizer(cased=cased)
        self.counts = CountVectorizer(analyzer=word_tokens, binary=True, dtype=np.float32)
        self.bases: list[tuple[str, Any]] = []
        self.lex_svm: Any = None
        self.meta: Any = None
        self.constant: float | None = None
        self.weights: Floats = np.zeros(0)
        self.n_train = 0

    def _estimators(self, use_dense: bool) -> list[tuple[str, Any]]:
        """(view, unfitted estimator) for each base model."""
        out: list[tuple[str, Any]] = [
            ("lexical", LinearSVC(C=self.c, random_state=0)),
            ("counts", ComplementNB(alpha=0.3)),
        ]
        if use_dense:
            out += [
                ("dense", SVC(C=self.dense_c, kernel="rbf", gamma="scale")),
                ("dense", LogisticRegression(C=10.0, max_iter=3000)),
            ]
        return out

    @staticmethod
    def _score(model: Any, x: Any) -> Floats:
        if isinstance(model, ComplementNB):
            return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
        return np.asarray(model.decision_function(x), dtype=np.float64)

    def fit(
        self,
        texts: Sequence[str],
        y: npt.NDArray[Any],
        dense: npt.NDArray[Any] | None = None,
        extra: npt.NDArray[Any] | None = None,
        fit_lexical: bool = True,
    ) -> CalibratedText:
        """Fit on labelled texts (y in {0, 1}); one class only gives a constant model."""
        labels = np.asarray(y, dtype=np.int64)
        self.n_train = len(labels)
        if fit_lexical:
            self.lexical.fit(texts)
        counts = np.bincount(labels, minlength=2)
        if counts.min() == 0:
            self.constant = float(labels.mean()) if len(labels) else 0.0
            if fit_lexical:
                self.lexical.release_fit_rows()
            return self
        self.constant = None
        counted = self.counts.fit_transform([clip_lexical(t) for t in texts])
        use_dense = dense is not None and dense.ndim == 2 and dense.shape[1] > 0
        views = self._views(texts, dense, counted)
        k = int(min(self.folds, counts.min()))
        cols: list[Floats] = []
        self.bases = []
        for view, est in self._estimators(use_dense):
            x = views[view]
            if k >= 2:
                cv = StratifiedKFold(k, shuffle=True, random_state=0)
                method = "predict_proba" if isinstance(est, ComplementNB) else "decision_function"
                oof = cross_val_predict(clone(est), x, labels, cv=cv, method=method)
                cols.append(np.asarray(oof[:, 1] if oof.ndim == 2 else oof, dtype=np.float64))
            self.bases.append((view, est.fit(x, labels)))
        if k < 2:  # too few examples of a class for folds: stack on in-sample scores
            cols = self._base_scores(views)
        self.lex_svm = self.bases[0][1]
        self.meta = LogisticRegression(C=1.0).fit(self._stack(cols, extra), labels)
        self.weights = np.asarray(np.ravel(self.lex_svm.coef_), dtype=np.float64)
        if fit_lexical:
            self.lexical.release_fit_rows()
        return self

    def _views(
        self, texts: Sequence[str], dense: npt.NDArray[Any] | None, counted: Sparse | None = None
    ) -> dict[str, Any]:
        views: dict[str, Any] = {
            "lexical": self.lexical.transform(texts),
            "counts": counted
            if counted is not None
            else self.counts.transform([clip_lexical(t) for t in texts]),
        }
        if dense is not None:
            views["dense"] = dense
        return views

    def _base_scores(self, views: dict[str, Any]) -> list[Floats]:
        n = views["lexical"].shape[0]
        # No vectors at scoring time (should not happen in the pipeline): a neutral dense score.
        return [self._score(m, views[v]) if v in views else np.zeros(n) for v, m in self.bases]

    @staticmethod
    def _stack(cols: list[Floats], extra: npt.NDArray[Any] | None) -> Floats:
        blocks = [np.asarray(c, dtype=np.float64).reshape(-1, 1) for c in cols]
        if extra is not None and np.asarray(extra).size:
            blocks.append(np.asarray(extra, dtype=np.float64).reshape(len(blocks[0]), -1))
        return np.hstack(blocks)

    def predict_proba(
        self,
        texts: Sequence[str],
        dense: npt.NDArray[Any] | None = None,
        extra: npt.NDArray[Any] | None = None,
    ) -> Floats:
        """Probability of the positive class for each text."""
        if self.constant is not None or self.meta is None:
            return np.full(len(texts), self.constant or 0.0, dtype=np.float64)
        if not len(texts):
            return np.zeros(0, dtype=np.float64)
        cols = self._base_scores(self._views(texts, dense))
        return np.asarray(self.meta.predict_proba(self._stack(cols, extra))[:, 1], dtype=np.float64)

    def cues(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """Top lexical cues of one text towards the positive class."""
        if self.lex_svm is None or not len(self.weights):
            return []
        return self.lexical.top_cues(self.lexical.transform([text]), self.weights, k)
