"""The classify stage: score unscored items for relevance and risk, flag those above the thresholds.

Training and evaluation (`misinfo train`, `misinfo eval`) live in monitor.classify.train, the encoder,
topic and model registry in monitor.classify.model; this module scores incrementally (safe to re-run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from classifiers.embed import Encoder
from classifiers.features import clip, clip_lexical
from classifiers.relevance import matched_keywords
from classifiers.risk import KnownClaims
from classifiers.train import ModelBundle
from monitor.classify.encoder import encode_cached
from monitor.classify.model import get_encoder, load_active, topic_of
from monitor.classify.train import ensure_model
from monitor.config import Config
from monitor.match.suggest import MAX_QUERY_CHARS, RERANKER_FILE, build_matcher
from monitor.store import scores as store
from monitor.store.rebuttals import approved_claims, library_version

log = logging.getLogger(__name__)

BATCH = 256
Progress = Callable[[int, int], None]


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
    report.flagged += rescore_after_library_change(cfg, db, encoder)
    report.seconds = time.monotonic() - started
    log.info("classify: %s", report.summary())
    return report


def library_risk(score: float, suggestion: float, risk_threshold: float) -> float:
    """Map the matcher's score of the best approved claim onto the risk scale.

    Piecewise linear and monotone, so that the suggestion threshold lands exactly on the risk threshold:
    a post the matcher would answer with an approved rebuttal is flagged, whatever its style.
    """
    score = min(max(score, 0.0), 1.0)
    if suggestion <= 0:
        return 1.0
    if score >= suggestion:
        return risk_threshold + (1.0 - risk_threshold) * (score - suggestion) / max(1.0 - suggestion, 1e-9)
    return risk_threshold * score / suggestion


class Scorer:
    """Scores batches of item rows with one model bundle, one encoder and the approved library."""

    def __init__(self, cfg: Config, db: sqlite_utils.Database, encoder: Encoder, bundle: ModelBundle) -> None:
        self.cfg = cfg
        self.db = db
        self.encoder = encoder
        self.bundle = bundle
        self.topic = topic_of(cfg, db, encoder)
        self.matcher = build_matcher(db, encoder, cfg.state_path / RERANKER_FILE)
        self.claim_meta = {int(c["claim_id"]): c for c in approved_claims(db)}
        self.t = cfg.classifier.thresholds
        self.suggestion = cfg.match.suggestion  # the matcher's threshold: a library match counts from it

    def score(self, rows: list[dict[str, Any]]) -> list[store.ScoreRow]:
        """ScoreRows (with reasons, and a flag request when above both thresholds) for item rows."""
        # Stripped as run_match's item texts are, so both encode the same clip(text): one encoding, cached.
        texts = [clip_lexical((r["text"] or "").strip()) for r in rows]
        vecs = encode_cached(self.db, self.encoder, [clip(t) for t in texts], self.cfg.classifier.batch_size)
        rel = self.bundle.relevance.score(texts, vecs, self.topic)
        model_risk = self.bundle.risk.score(texts, vecs, KnownClaims.none())
        if len(self.matcher):
            queries = [t[:MAX_QUERY_CHARS] for t in texts]
            matches = self.matcher.search_many(queries, k=3, query_vectors=vecs)
        else:
            matches = [[] for _ in texts]
        out: list[store.ScoreRow] = []
        for i, row in enumerate(rows):
            r, k_model = float(rel.probability[i]), float(model_risk.probability[i])
            best = matches[i][0].score if matches[i] else 0.0
            k_library = library_risk(best, self.suggestion, self.t.risk)
            # A debunk quotes the rumour it denies: the library matches it, the style model reads it as
            # accurate. Only then is the library's word overruled.
            denial = best >= self.suggestion and k_model < self.t.library_min_model_risk
            k = k_model if denial else max(k_model, k_library)
            flag = r >= self.t.relevance and k >= self.t.risk
            nearest = [self._claim(m.claim_id, m.rebuttal_id, m.score) for m in matches[i]]
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
                    "model_probability": round(k_model, 4),
                    "library_score": round(best, 4),
                    "source": "model" if denial or k_model >= k_library else "library",
                    "reads_as_denial": denial,
                    "claim_similarity": round(best, 4),
                    "nearest_claims": nearest,
                },
                "thresholds": {
                    "relevance": self.t.relevance,
                    "risk": self.t.risk,
                    "suggestion": self.suggestion,
                },
            }
            if best >= self.suggestion and nearest and not denial:
                reasons["risk"]["restates_approved_claim"] = {
                    "rebuttal_id": nearest[0]["rebuttal_id"],
                    "title": nearest[0]["title"],
                    "claim": nearest[0]["text"],
                    "score": round(best, 4),
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

    def _claim(self, claim_id: Any, rebuttal_id: Any, score: float) -> dict[str, Any]:
        meta = self.claim_meta.get(int(claim_id), {})
        return {
            "claim_id": claim_id,
            "rebuttal_id": rebuttal_id,
            "narrative_id": meta.get("narrative_id"),
            "title": meta.get("title"),
            "text": meta.get("text", ""),
            "similarity": round(float(score), 4),
        }


def rescore_after_library_change(
    cfg: Config, db: sqlite_utils.Database, encoder: Encoder | None = None, force: bool = False
) -> int:
    """When the approved library changed since the last check, re-score the unflagged items of the last
    `classifier.rescore_days` days against it, so posts collected before a rebuttal existed are caught.

    Returns how many items were flagged. Cheap when nothing changed (one query).
    """
    version = library_version(db)
    if not force and store.get_library_scan(db) == version:
        return 0
    days = cfg.classifier.rescore_days
    if encoder is None:
        encoder, _ = get_encoder(cfg, db)
    bundle = load_active(cfg, db, encoder)
    flagged = 0
    if bundle is not None and days > 0:
        scorer = Scorer(cfg, db, encoder, bundle)
        after = 0
        while True:
            rows = store.recent_unflagged_items(db, days, after, BATCH)
            if not rows:
                break
            after = int(rows[-1]["id"])
            flagged += store.save_scores(db, scorer.score(rows))
        if flagged:
            log.info("classify: the library changed; %d recent item(s) now flagged", flagged)
    store.set_library_scan(db, version)
    return flagged
