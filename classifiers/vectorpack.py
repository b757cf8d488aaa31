"""Vector packs: embeddings of the shipped labelled data, so a fresh install trains in seconds.

A pack is `<folder>/vectors/<model id>.npz` holding the text hashes and float16 vectors. It is only a
cache: texts it lacks are encoded as usual, and a pack for another model is never read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from classifiers.text import text_hash

Vectors = npt.NDArray[np.float32]


def pack_path(folder: Path, model_id: str) -> Path:
    """Where the pack of `model_id` for the labelled data in `folder` lives."""
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", model_id)
    return folder / "vectors" / f"{safe}.npz"


def write_pack(path: Path, texts: Sequence[str], vectors: Vectors) -> None:
    """Write a pack for these texts (one vector row each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hashes = np.asarray([text_hash(t) for t in texts], dtype="S64")
    np.savez_compressed(path, hashes=hashes, vectors=np.asarray(vectors, dtype=np.float16))


def read_pack(path: Path) -> tuple[list[str], Vectors]:
    """(text hashes, float32 vectors) of a pack; empty when there is none or it cannot be read."""
    try:
        with np.load(path) as data:
            hashes = [h.decode("ascii") for h in data["hashes"]]
            vectors = np.asarray(data["vectors"], dtype=np.float32)
    except (OSError, KeyError, ValueError):
        return [], np.zeros((0, 0), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return hashes, (vectors / norms).astype(np.float32)
