"""Vietnamese-aware text normalisation: diacritics folding, syllables, syllable bigrams, hashing."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# đ/Đ are letters of their own in Unicode (no combining mark), so NFD folding misses them.
_EXTRA_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"})
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case and strip diacritics: 'Sáp nhập Đà Nẵng' -> 'sap nhap da nang'."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA_FOLD))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower()


def normalize(text: str) -> str:
    """NFC, lower-case, single spaces (keeps diacritics)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip().lower()


def syllables(text: str) -> list[str]:
    """Word/syllable tokens, lower-case, diacritics kept (Vietnamese writes one syllable per token)."""
    return _WORD.findall(normalize(text))


def folded_syllables(text: str) -> list[str]:
    """Syllable tokens with diacritics folded, so text typed without accents matches."""
    return _WORD.findall(fold(text))


def bigrams(tokens: list[str]) -> list[str]:
    """Adjacent token pairs joined by '_' (Vietnamese words are mostly two syllables)."""
    return [f"{a}_{b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def content_hash(title: str, text: str) -> str:
    """Stable hash of an item's content, insensitive to case, spacing and accents' encoding."""
    basis = normalize(f"{title}\n{text}")
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    """Cache key for a text (embeddings are keyed by this plus the model id)."""
    return hashlib.sha256(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()


def sentences(text: str) -> list[str]:
    """Split text into sentences (good enough for explanations: '.', '!', '?', newlines)."""
    parts = re.split(r"(?<=[.!?…])\s+|\n+", text)
    return [p.strip() for p in parts if p and p.strip()]
