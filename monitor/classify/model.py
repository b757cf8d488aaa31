"""The model registry side of classification: the shared encoder, the topic, the active model bundle.

Both scoring (monitor.classify.score) and training (monitor.classify.train) import this module; it imports
neither, so the arrows run one way: model <- train <- score.
"""

from __future__ import annotations

import logging
import pickle
import threading
from pathlib import Path

import numpy as np
import sqlite_utils

from classifiers.embed import Encoder
from classifiers.relevance import Topic
from classifiers.train import BUNDLE_FILE, ModelBundle, load_bundle
from monitor.classify.encoder import encode_cached, shared_encoder
from monitor.config import Config
from monitor.store import scores as store

log = logging.getLogger(__name__)

# The loaded active bundle per model kind, with the signature of the file it came from (version, folder,
# model.pkl's mtime and size): unpickling it took ~0.2 s on every classify run (every submission).
# Activating another model changes the signature, so the next load_active reads the new file.
_bundles: dict[str, tuple[tuple[str, str, int, int], ModelBundle]] = {}
_bundles_lock = threading.Lock()


def model_kind(encoder_id: str) -> str:
    """Models are registered per encoder: features of two encoders never mix."""
    return f"classifier:{encoder_id}"


def get_encoder(cfg: Config, db: sqlite_utils.Database) -> tuple[Encoder, str | None]:
    """The process's shared encoder (see monitor.classify.encoder), with the status row updated."""
    encoder, warning = shared_encoder(cfg)
    if warning:
        log.warning("classifier: %s", warning)
    store.record_model_load(db, cfg.classifier.model, encoder.model_id, warning)
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


def load_active(cfg: Config, db: sqlite_utils.Database, encoder: Encoder) -> ModelBundle | None:
    """The active model for this encoder, or None if there is none (or its files are gone).

    Kept in-process once loaded (shared: treat it as read-only); read again when another model is
    activated or its file changes.
    """
    kind = model_kind(encoder.model_id)
    row = store.active_model(db, kind)
    if row is None:
        return None
    folder = Path(row["path"])
    try:
        stat = (folder / BUNDLE_FILE).stat()
        signature = (str(row["version"]), str(folder.resolve()), stat.st_mtime_ns, stat.st_size)
        with _bundles_lock:
            cached = _bundles.get(kind)
        if cached is not None and cached[0] == signature:
            return cached[1]
        bundle = load_bundle(folder)
    except (OSError, ValueError, EOFError, ImportError, AttributeError, pickle.UnpicklingError) as exc:
        log.warning(
            "classifier: model %s at %s cannot be loaded (%s); training a new one",
            row["version"],
            row["path"],
            exc,
        )
        return None
    with _bundles_lock:
        _bundles[kind] = (signature, bundle)  # replaces the previous model of this kind
    return bundle
