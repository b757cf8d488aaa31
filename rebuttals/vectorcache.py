"""On-disk cache of embedding matrices, keyed by model id and a hash of the exact texts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class TextEncoder(Protocol):
    """Anything with a stable model id that turns texts into L2-normalised float32 vectors."""

    model_id: str

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors: ...


def texts_key(model_id: str, texts: Sequence[str]) -> str:
    """Cache key: sha256 over the model id and every text (order matters)."""
    h = hashlib.sha256(model_id.encode("utf-8"))
    for t in texts:
        h.update(b"\x00")
        h.update(t.encode("utf-8"))
    return h.hexdigest()[:32]


def encode_to_disk(
    folder: Path, encoder: TextEncoder, texts: Sequence[str], label: str = "vectors", batch_size: int = 64
) -> Vectors:
    """Load the matrix for these texts from `folder`, or encode and store it (atomic rename)."""
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder.model_id)
    path = folder / f"{label}-{safe_model}-{texts_key(encoder.model_id, texts)}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    vectors = np.asarray(encoder.encode(list(texts), batch_size=batch_size), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors
