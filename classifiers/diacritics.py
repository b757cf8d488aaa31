"""Vietnamese typed without diacritics, restored before encoding.

A multilingual encoder's tokenizer keeps diacritics, so "sap nhap" and "sáp nhập" land apart. Restoring
them (pyvi's CRF model, offline, ~1 ms a sentence) before encoding brought unaccented posts' rebuttal
matching from MAP@5 0.958 to 0.979 on the development set, where indexing each claim a second time with
its diacritics folded made it worse (0.910); see docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
log = logging.getLogger(__name__)
_PIECES = re.compile(r"([,.;:!?()\n]+\s*)")

_lock = threading.Lock()
_identifier: Any = None
_accents: Any = None
MAX_CHARS = 2000  # the encoder reads the opening anyway (see classifiers.features.clip)


def _vi_or_en(text: str) -> str:
    """'vi' or 'en' by py3langid restricted to those two (unrestricted it calls unaccented Vietnamese 'oc')."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import _load_identifier

            ident = _load_identifier(norm_probs=True)
            ident.set_languages(["vi", "en"])
            _identifier = ident
    lang, _prob = _identifier.classify(text[:600])
    return str(lang)


def has_diacritics(text: str) -> bool:
    """Whether any letter outside ASCII appears (Vietnamese typed with accents always has some)."""
    return any(ord(ch) > 127 and ch.isalpha() for ch in text)


def is_unaccented_vietnamese(text: str) -> bool:
    """Vietnamese written without a single diacritic (English and accented text: False)."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < 8 or has_diacritics(text):
        return False
    return _vi_or_en(text) == "vi"


def restore(text: str) -> str:
    """The text with Vietnamese diacritics restored when it is unaccented Vietnamese; else unchanged."""
    global _accents
    if not is_unaccented_vietnamese(text):
        return text
    with _lock:
        if _accents is None:
            from pyvi import ViUtils

            _accents = ViUtils.add_accents
    text = text[:MAX_CHARS]
    try:
        return str(_accents(text))
    except Exception as exc:  # noqa: BLE001 — pyvi's model raises KeyError on some inputs ("3.321 don vi")
        log.debug("diacritics: %s: %s; restoring piece by piece", type(exc).__name__, exc)
    # Piece by piece between punctuation: a piece pyvi cannot take stays as written, the rest is restored.
    out: list[str] = []
    for piece in _PIECES.split(text):
        try:
            out.append(str(_accents(piece)) if piece.strip() else piece)
        except Exception:  # noqa: BLE001
            out.append(piece)
    return "".join(out)


class AccentRestoringEncoder:
    """Wraps an encoder: unaccented Vietnamese is given its diacritics back before encoding.

    Its model id differs from the wrapped encoder's, so vectors made with and without restoration are
    never mixed in the cache.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = f"{inner.model_id}+vi-accents"

    def load(self) -> None:
        """Load the wrapped encoder."""
        self.inner.load()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Normalised float32 embeddings of the restored texts."""
        return np.asarray(self.inner.encode([restore(t) for t in texts], batch_size), dtype=np.float32)
