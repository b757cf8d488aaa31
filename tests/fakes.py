"""Fast stand-ins for unit tests only (integration tests use the real bundled model)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from classifiers.text import bigrams, folded_syllables


class HashingEncoder:
    """Deterministic bag-of-folded-syllables vectors: similar wording -> similar vectors."""

    model_id = "fake-hashing-64"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            toks = folded_syllables(text)
            for tok in toks + bigrams(toks):
                h = int(hashlib.md5(tok.encode()).hexdigest()[:8], 16)
                out[row, h % self.dim] += 1.0 if (h >> 8) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out
