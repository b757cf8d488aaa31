"""Evaluation: metrics at thresholds, cross-validated scores, precision-recall curves, the benchmark."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from classifiers.embed import Encoder
from classifiers.relevance import RelevanceModel, Topic
from classifiers.risk import KnownClaims, RiskModel
from classifiers.train import Example, relevance_rows, risk_rows

Vectors = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]


def binary_metrics(
    y_true: Sequence[int] | npt.NDArray[Any], scores: Sequence[float] | Floats, threshold: float
) -> dict[str, float]:
    """Precision, recall, F1 of `score >= threshold`, plus average precision and counts."""
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pred = (s >= threshold).astype(np.int64)
    out: dict[str, float] = {
        "threshold": threshold,
        "n": int(len(y)),
        "positives": int(y.sum()),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y, pred, zero_division=0)), 4),
        "f1": round(float(f1_score(y, pred, zero_division=0)), 4),
    }
    if 0 < y.sum() < len(y):
        out["average_precision"] = round(float(average_precision_score(y, s)), 4)
    return out


def cross_validated(
    examples: Sequence[Example],
    vectors: Vectors,
    topic: Topic,
    claims: KnownClaims,
    folds: int = 5,
    seed: int = 13,
) -> dict[str, tuple[npt.NDArray[np.int64], Floats]]:
    """Out-of-fold (labels, scores) for relevance and risk, trained the way train_bundle trains."""
    texts = [ex.text for ex in examples]
    out: dict[str, tuple[npt.NDArray[np.int64], Floats]] = {}
    for name, (idx, y) in (("relevance", relevance_rows(examples)), ("risk", risk_rows(examples))):
        labels = np.asarray(y, dtype=np.int64)
        scores = np.zeros(len(idx), dtype=np.float64)
        k = int(min(folds, np.bincount(labels, minlength=2).min()))
        if k < 2:
            continue
        for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(
            np.zeros(len(idx)), labels
        ):
            tr = [idx[i] for i in train]
            te = [idx[i] for i in test]
            if name == "relevance":
                rel = RelevanceModel().fit([texts[i] for i in tr], vectors[tr], topic, labels[train])
                scores[test] = rel.score([texts[i] for i in te], vectors[te], topic).probability
            else:
                risk = RiskModel().fit([texts[i] for i in tr], vectors[tr], claims, labels[train])
                scores[test] = risk.score([texts[i] for i in te], vectors[te], claims).probability
        out[name] = (labels, scores)
    return out


def plot_pr(
    curves: dict[str, tuple[npt.NDArray[np.int64], Floats]], thresholds: dict[str, float], out_png: Path
) -> Path:
    """Save precision-recall curves (one per name) with each operating threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    for name, (y, s) in curves.items():
        if not 0 < int(np.sum(y)) < len(y):
            continue
        precision, recall, cut = precision_recall_curve(y, s)
        ap = average_precision_score(y, s)
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
        t = thresholds.get(name)
        if t is not None and len(cut):
            i = int(np.clip(np.searchsorted(cut, t), 0, len(cut) - 1))
            ax.scatter([recall[i]], [precision[i]], marker="o", zorder=3)
            ax.annotate(f"t={t:.2f}", (recall[i], precision[i]), textcoords="offset points", xytext=(5, -12))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title("Precision-recall (cross-validated)")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def benchmark(
    train_texts: Sequence[str],
    train_y: Sequence[int],
    test_texts: Sequence[str],
    test_y: Sequence[int],
    train_vectors: Vectors | None = None,
    test_vectors: Vectors | None = None,
) -> dict[str, float]:
    """Train the risk classifier on one labelled set and report weighted F1 etc. on another."""
    model = RiskModel().fit(
        train_texts, train_vectors, KnownClaims.none(), np.asarray(train_y, dtype=np.int64)
    )
    prob = model.score(test_texts, test_vectors, KnownClaims.none()).probability
    y = np.asarray(test_y, dtype=np.int64)
    pred = (prob >= 0.5).astype(np.int64)
    baseline = char_svm_baseline(train_texts, train_y, test_texts)
    return {
        "f1_weighted": round(float(f1_score(y, pred, average="weighted")), 4),
        "f1_positive": round(float(f1_score(y, pred, zero_division=0)), 4),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y, pred, zero_division=0)), 4),
        "average_precision": round(float(average_precision_score(y, prob)), 4)
        if 0 < y.sum() < len(y)
        else 0.0,
        "baseline_char_svm_f1_weighted": round(float(f1_score(y, baseline, average="weighted")), 4),
        "n_train": len(train_texts),
        "n_test": len(test_texts),
    }


def char_svm_baseline(
    train_texts: Sequence[str], train_y: Sequence[int], test_texts: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Predictions of the plain baseline every text classifier should beat: character 1-5-gram TF-IDF
    (within word boundaries, full text) and a linear SVM. Reported beside the model in the same run."""
    vec = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True, min_df=2, dtype=np.float32
    )
    x = vec.fit_transform(train_texts)
    svm = LinearSVC(C=1.0, random_state=0).fit(x, np.asarray(train_y, dtype=np.int64))
    return np.asarray(svm.predict(vec.transform(test_texts)), dtype=np.int64)


CACHE_ENV = "MISINFO_EMBEDDING_CACHE"


def embedding_cache(name: str) -> Path:
    """Where embeddings of benchmark texts are kept between runs: `$MISINFO_EMBEDDING_CACHE/<name>`, else
    `$XDG_CACHE_HOME/misinfo-monitor/<name>` (`~/.cache/misinfo-monitor/<name>`). Outside the checkout, so
    a fresh clone or `make clean` does not throw away minutes of encoding; entries are keyed by the model
    id and a hash of the exact texts, so a stale one is never read."""
    root = os.environ.get(CACHE_ENV, "").strip()
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME", "").strip() or "~/.cache", "misinfo-monitor")
    return Path(root).expanduser() / name


def cached_encode(encoder: Encoder, texts: Sequence[str], cache_dir: Path, batch_size: int = 64) -> Vectors:
    """Encode texts once and keep the vectors in cache_dir (keyed by the texts and the model id)."""
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode("utf-8") + b"\0")
    safe_id = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in encoder.model_id)
    path = cache_dir / f"{digest.hexdigest()[:16]}-{safe_id}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape[0] == len(texts):
            return np.asarray(vectors, dtype=np.float32)
    vectors = encoder.encode(list(texts), batch_size=batch_size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
