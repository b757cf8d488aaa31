"""Match stage: suggest approved rebuttals for flagged items (hybrid matcher over the approved library).

The matcher is built once per (database, library version, model) and kept in-process, so one item's
suggestions cost a query encoding plus a few sparse/dense products.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from classifiers.embed import Encoder
from classifiers.features import clip
from monitor.classify.encoder import encode_cached, shared_encoder
from monitor.config import Config
from monitor.errors import ModelError
from monitor.store import rebuttals as store
from rebuttals.matcher import Doc, Ident, Matcher
from rebuttals.rerank import Reranker, train

log = logging.getLogger(__name__)

_lock = threading.Lock()
_matchers: dict[tuple[str, str, str], Matcher] = {}
RERANKER_FILE = "models/matcher-reranker.pkl"  # under state_dir; written by `misinfo rebuttals train-matcher`
MIN_LINKED_ITEMS = 30
MAX_QUERY_CHARS = 4000  # the encoder truncates anyway; lexical channels need the gist, not the whole page


@dataclass
class MatchReport:
    """What a match run did."""

    items: int = 0
    suggestions: int = 0
    claims: int = 0
    library_version: str = ""
    warning: str | None = None
    item_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the scheduler log."""
        text = (
            f"matched {self.items} item(s) against {self.claims} approved claim(s): {self.suggestions} suggestion(s)"
            f" (library {self.library_version})"
        )
        return text + (f"; warning: {self.warning}" if self.warning else "")


def get_encoder(cfg: Config) -> tuple[Encoder, str | None]:
    """The process's shared encoder (the same one classify uses)."""
    return shared_encoder(cfg)


def _db_key(db: sqlite_utils.Database) -> str:
    return store.database_key(db)


def _reranker_tag(path: Path | None) -> str:
    """What identifies the re-ranker file in the matcher cache key (its mtime), without loading it."""
    try:
        return f"reranker@{path.stat().st_mtime_ns}" if path is not None and path.is_file() else "fused"
    except OSError:
        return "fused"


def _load_reranker(path: Path | None) -> tuple[Reranker | None, str]:
    if path is None or not path.is_file():
        return None, "fused"
    try:
        return Reranker.load(path), f"reranker@{path.stat().st_mtime_ns}"
    except (ValueError, OSError, KeyError) as exc:
        log.warning("ignoring matcher re-ranker %s (%s): using the fused score; retrain it", path, exc)
        return None, "fused"


def build_matcher(db: sqlite_utils.Database, encoder: Encoder, reranker_path: Path | None = None) -> Matcher:
    """The matcher for the current approved library (cached per library version, model and re-ranker).

    A cache hit costs the library-version query and a stat of the re-ranker file: nothing is re-read.
    """
    library = store.library_version(db)
    key = (_db_key(db), library + ":" + _reranker_tag(reranker_path), encoder.model_id)
    with _lock:
        cached = _matchers.get(key)
    if cached is not None:
        return cached
    reranker, reranker_tag = _load_reranker(reranker_path)
    key = (key[0], library + ":" + reranker_tag, key[2])
    claims = store.approved_claims(db)
    docs = [Doc(int(c["claim_id"]), int(c["rebuttal_id"]), str(c["text"]), str(c["title"])) for c in claims]
    claim_vecs = encode_cached(db, encoder, [d.text for d in docs]) if docs else None
    title_vecs = encode_cached(db, encoder, [d.title for d in docs]) if docs else None
    matcher = Matcher(docs, encoder, claim_vecs, title_vecs, reranker=reranker)
    with _lock:
        # Keep only the newest version per database and model: older ones will not be asked again.
        for old in [k for k in _matchers if k[0] == key[0] and k[2] == key[2]]:
            del _matchers[old]
        _matchers[key] = matcher
    return matcher


def _rows(
    matcher: Matcher, texts: list[str], vectors: Any, k: int, threshold: float
) -> list[list[dict[str, Any]]]:
    out = []
    for matches in matcher.search_many(texts, k=k, query_vectors=vectors):
        out.append(
            [
                {
                    "rebuttal_id": m.rebuttal_id,
                    "claim_id": m.claim_id,
                    "score": round(m.score, 4),
                    "claim": m.claim,
                }
                for m in matches
                if m.score >= threshold
            ]
        )
    return out


def run_match(
    cfg: Config,
    db: sqlite_utils.Database,
    item_ids: list[int] | None = None,
    progress: Callable[[int], None] | None = None,
    encoder: Encoder | None = None,
) -> MatchReport:
    """Compute suggestions for flagged items that are stale (library changed) or the given ids. Idempotent."""
    warning = None
    if encoder is None:
        encoder, warning = get_encoder(cfg)
    version = store.library_version(db)
    ids = sorted(set(item_ids)) if item_ids else store.stale_flagged_items(db)
    report = MatchReport(library_version=version, warning=warning, item_ids=ids)
    if not ids:
        return report
    matcher = build_matcher(db, encoder, cfg.state_path / RERANKER_FILE)
    report.claims = len(matcher)
    texts_by_id = store.item_texts(db, ids)
    step = 64
    for start in range(0, len(ids), step):
        chunk = [i for i in ids[start : start + step] if i in texts_by_id]
        texts = [texts_by_id[i][:MAX_QUERY_CHARS] for i in chunk]
        if len(matcher) and texts:
            # The text classify encoded (clip): its vector is in the embedding cache, so not encoded again.
            vectors = encode_cached(
                db, encoder, [clip(t) for t in texts], batch_size=cfg.classifier.batch_size
            )
            rows = _rows(matcher, texts, vectors, cfg.match.top_k, cfg.match.suggestion)
        else:
            rows = [[] for _ in chunk]
        for item_id, item_rows in zip(chunk, rows, strict=True):
            store.replace_suggestions(db, item_id, item_rows, version)
            report.items += 1
            report.suggestions += len(item_rows)
        if progress:
            progress(len(ids[start : start + step]))
    log.info("%s", report.summary())
    return report


def suggest(
    cfg: Config, db: sqlite_utils.Database, text: str, k: int | None = None, encoder: Encoder | None = None
) -> list[dict[str, Any]]:
    """Ad-hoc suggestions for a text (search box): rebuttal_id, title, short_answer, score, claim, rank."""
    if encoder is None:
        encoder, _ = get_encoder(cfg)
    matcher = build_matcher(db, encoder, cfg.state_path / RERANKER_FILE)
    if not len(matcher) or not text.strip():
        return []
    vectors = encoder.encode([text[:MAX_QUERY_CHARS]])
    rows = _rows(
        matcher,
        [text[:MAX_QUERY_CHARS]],
        vectors,
        k or cfg.match.top_k,
        cfg.match.suggestion,
    )[0]
    out = []
    for rank, row in enumerate(rows, 1):
        r = store.get_rebuttal(db, int(row["rebuttal_id"]))
        if r is not None and r["status"] == "approved":
            out.append({**row, "title": r["title"], "short_answer": r["short_answer"], "rank": rank})
    return out


def train_matcher(
    cfg: Config, db: sqlite_utils.Database, encoder: Encoder | None = None, min_linked: int = MIN_LINKED_ITEMS
) -> dict[str, Any]:
    """Train the re-ranker from analysts' links (positives) and accurate/off-topic dismissals (no match).

    Saves it under state_dir; from then on suggestion scores are its probabilities. Re-matches all
    flagged items. ModelError when there are fewer than `min_linked` linked items.
    """
    if encoder is None:
        encoder, _ = get_encoder(cfg)
    pairs = store.link_training_pairs(db)
    gold: dict[int, set[Ident]] = {}
    texts: dict[int, str] = {}
    for p in pairs:
        texts[int(p["item_id"])] = str(p["text"])[:MAX_QUERY_CHARS]
        bucket = gold.setdefault(int(p["item_id"]), set())
        if p["rebuttal_id"] is not None:
            bucket.add(int(p["rebuttal_id"]))
    linked = sum(1 for g in gold.values() if g)
    if linked < min_linked:
        raise ModelError(
            f"only {linked} linked item(s); the matcher re-ranker needs at least {min_linked} —"
            " keep linking items to rebuttals (the fused score is used until then)"
        )
    matcher = build_matcher(db, encoder)
    ids = list(texts)
    vectors = encode_cached(db, encoder, [texts[i] for i in ids], batch_size=cfg.classifier.batch_size)
    kind = "hgb" if linked >= 2000 else "logistic"
    try:
        reranker = train(
            matcher, [texts[i] for i in ids], [gold[i] for i in ids], kind=kind, query_vectors=vectors
        )
    except ValueError as exc:
        raise ModelError(f"cannot train the matcher re-ranker: {exc}") from None
    path = cfg.state_path / RERANKER_FILE
    reranker.save(path)
    report = run_match(cfg, db, item_ids=store.flagged_item_ids(db), encoder=encoder)
    return {
        "linked_items": linked,
        "no_match_items": len(ids) - linked,
        "kind": kind,
        "path": str(path),
        "rematched": report.items,
    }
