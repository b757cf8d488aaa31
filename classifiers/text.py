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
    """Lower-case and strip diacritics: 'Sáp nhập Đà Nẵng' -> 'sap nhap da nang'.

    Same output as _fold_reference, by one table lookup per character when every character of the text
    folds on its own (nearly all text); otherwise the reference path."""
    if text.isascii():
        return text.lower()  # NFD/NFC leave ASCII as it is; no combining marks, no đ
    try:
        return text.translate(_FOLD_TABLE)
    except _NotAlone:
        return _fold_reference(text)


def _fold_reference(text: str) -> str:
    """fold() by definition: NFD, drop the combining marks (category Mn), NFC, lower-case."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA_FOLD))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower()


class _NotAlone(Exception):
    """A character whose fold may depend on its neighbours (raised through str.translate)."""


def _composes_second() -> frozenset[str]:
    """Characters NFC may compose with the character before them (any canonical pair's second half,
    Hangul vowel and trailing jamo)."""
    seconds = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(chr(int(parts[1], 16)))
    return frozenset(seconds)


class _FoldTable(dict[int, str]):
    """fold() of single characters, filled on first use. A character folds on its own when nothing of
    its decomposition that survives the stripping can reorder (combining class 0) or compose with a
    neighbour, and its lower-case does not depend on the context (only Greek capital sigma does, in
    CPython's str.lower); any other character raises _NotAlone and the text takes the reference path."""

    seconds: frozenset[str] | None = None
    not_alone: set[int] = {0x03A3}  # noqa: RUF012 (one table per process)

    def __missing__(self, code: int) -> str:
        if code in self.not_alone:
            raise _NotAlone
        ch = chr(code)
        if _FoldTable.seconds is None:
            _FoldTable.seconds = _composes_second()
        kept = [
            c
            for c in unicodedata.normalize("NFD", ch.translate(_EXTRA_FOLD))
            if unicodedata.category(c) != "Mn"
        ]
        if any(unicodedata.combining(c) or c in _FoldTable.seconds for c in kept):
            self.not_alone.add(code)
            raise _NotAlone
        folded = _fold_reference(ch)
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def normalize(text: str) -> str:
    """NFC, lower-case, single spaces (keeps diacritics).

    str.split() splits on exactly the characters `\\s` (_SPACE) matches (tests/test_collect_perf.py checks every
    code point), so this is _SPACE.sub(" ", ...).strip() at a third of the cost (content_hash runs it on every
    collected entry)."""
    return " ".join(unicodedata.normalize("NFC", text).split()).lower()


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
