"""Normalise what connectors find: canonical URLs, timezone-aware times, language, simhash, HTML to text."""

from __future__ import annotations

import email.utils
import hashlib
import re
import threading
import time
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from classifiers.text import fold

# Query parameters that only track the reader; two URLs differing only in these are the same page.
TRACKING_PARAMS = {
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "ref_src",
    "ref_url",
    "spm",
    "zarsrc",
    "gidzl",
    "utm",
    "si",
    "__twitter_impression",
    "cmpid",
    "ocid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "trk",
    "vero_id",
    "wt_mc",
    "at_medium",
    "at_campaign",
}
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # classifiers.text's syllable tokens


def canonical_url(url: str | None) -> str | None:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters, sort the query."""
    if not url or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    query.sort()
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), ""))


# --- times ------------------------------------------------------------------------------------------

# '03/09/2025 10:27 GMT+7', 'Thứ tư, 3/9/2025, 10:27 (GMT+7)', '10:27 03/09/2025', '03-09-2025'
_VN_DATE = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?!\d)")
_CLOCK = re.compile(r"(?<!\d)(\d{1,2})[:hg](\d{2})(?::(\d{2}))?(?!\d)")
_GMT = re.compile(r"(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


def parse_vn_date(text: str, tz: tzinfo) -> datetime | None:
    """Day-first Vietnamese dates with optional time and GMT offset; without an offset, in `tz` (the source's)."""
    date = _VN_DATE.search(text)
    if not date:
        return None
    day, month, year = (int(g) for g in date.groups())
    rest = text[: date.start()] + " " + text[date.end() :]
    clock = _CLOCK.search(rest)
    hour, minute, second = (
        (int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)) if clock else (0, 0, 0)
    )
    gmt = _GMT.search(text)
    zone: tzinfo = tz
    if gmt:
        offset = timedelta(hours=int(gmt.group(2)), minutes=int(gmt.group(3) or 0))
        zone = timezone(offset if gmt.group(1) == "+" else -offset)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def parse_time(value: Any, default_tz: tzinfo) -> tuple[str | None, str | None]:
    """Anything a feed calls a date -> (store-format UTC string, None) or (None, note why it was dropped).

    default_tz: the zone of times that carry none (the source's configured timezone)."""
    if value is None or value == "":
        return None, None
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, time.struct_time):
        try:
            parsed = datetime(*value[:6], tzinfo=UTC)
        except (ValueError, TypeError):
            parsed = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(float(value), UTC)
        except (ValueError, OverflowError, OSError):
            parsed = None
    else:
        parsed = _parse_text(str(value).strip(), default_tz)
    if parsed is None:
        return None, f"invalid date {str(value)[:60]!r} ignored"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    parsed = parsed.astimezone(UTC)
    if parsed.year < 1990 or parsed > datetime.now(UTC) + timedelta(days=2):
        return None, f"implausible date {str(value)[:60]!r} ignored"
    return parsed.isoformat(timespec="seconds"), None


def _parse_text(text: str, tz: tzinfo) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
        if parsed is not None:
            # RFC 822 '-0000' means "zone unknown": treat like a naive time.
            return parsed
    except (TypeError, ValueError, IndexError):
        pass
    return parse_vn_date(text, tz)


# --- language ---------------------------------------------------------------------------------------

_identifier: Any = None
_identifier_lock = threading.Lock()


def _lang_identifier() -> Any:
    """py3langid's identifier, loaded once per process, on first use (about a CPU-second: most collected text
    never needs it — detect_lang knows Vietnamese by its letters — so collect does not load it up front)."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import _load_identifier

                identifier = _load_identifier(norm_probs=True)
                # The model's table is float16; numpy converts the rows each text needs to float32 on every
                # call. Converting it once gives the very same scores (tests/test_collect_perf.py) at a third
                # of the cost.
                table = identifier.nb_ptc.astype(np.float32)
                identifier.nb_ptc = table
                identifier._full_model = (table, *identifier._full_model[1:])
                _identifier = identifier
    return _identifier


# Letters only Vietnamese writes (ă đ ơ ư, and vowels under a dot, a hook, a tilde or a circumflex with a tone);
# shared ones (à é ô ã …) are left out. In Vietnamese prose about one character in ten is one of these.
_VI_LETTERS = "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịĩọỏốồổỗộớờởỡợụủũứừửữựỳỵỷỹ"
_VI_ONLY = re.compile(f"[{_VI_LETTERS}{_VI_LETTERS.upper()}]")
VI_SURE_MIN_CHARS = 100  # shorter texts (an English sentence quoting "sổ đỏ") go to the model
VI_SURE_SHARE = (
    0.04  # labelled data: Vietnamese texts that have these letters ≥ 0.038, any other text ≤ 0.023
)


def detect_lang(text: str) -> str | None:
    """ISO 639-1 code from py3langid (offline), or None for text too short to tell.

    A text of 100+ characters of which at least 4% are letters only Vietnamese writes is Vietnamese without
    asking the model (70 µs per text saved on most of what is collected; same answer on every such text of
    the labelled data, tests/test_collect_perf.py)."""
    sample = text.strip()[:600]  # enough to tell; the cost grows with the length
    if len(sample) >= VI_SURE_MIN_CHARS and len(_VI_ONLY.findall(sample)) >= VI_SURE_SHARE * len(sample):
        return "vi"
    if len(sample) < 12 or not any(ch.isalpha() for ch in sample):
        return None
    lang, prob = _lang_identifier().classify(sample)
    return str(lang) if prob >= 0.5 else None


# --- near-duplicates ----------------------------------------------------------------------------------

SIMHASH_MIN_TOKENS = 8  # shorter texts give unstable fingerprints; they are not clustered
CONTAINMENT = 0.7  # share of the smaller text's syllable bigrams found in the other: a near-duplicate
MINHASH_BANDS, MINHASH_ROWS = 12, 3  # LSH: pairs with Jaccard 0.5 meet in a band 80% of the time, 0.7: 99%
_MASK64 = (1 << 64) - 1
_rng = np.random.default_rng(20250903)  # fixed seed: band values must be stable across runs and processes
_PERM_A = _rng.integers(1, 2**63 - 1, MINHASH_BANDS * MINHASH_ROWS, dtype=np.uint64) | np.uint64(1)
_PERM_B = _rng.integers(0, 2**63 - 1, MINHASH_BANDS * MINHASH_ROWS, dtype=np.uint64)


def shingles(text: str) -> set[str]:
    """Folded syllable bigrams: robust to accents typed or not, sensitive to word order."""
    return shingles_of_folded(fold(text))


def shingles_of_folded(folded: str) -> set[str]:
    """shingles() of a text already folded (classifiers.text.fold): fold once, use it for search and clusters."""
    tokens = _WORD.findall(folded)
    return {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}


# blake2b of a shingle, kept: news repeats the same syllable bigrams all day, and hashing each one anew was
# a third of the near-duplicate cost. Bounded (emptied when full); values are the very same digests.
_SHINGLE_DIGESTS: dict[str, bytes] = {}
SHINGLE_CACHE_MAX = 200_000


def _digest(shingle: str) -> bytes:
    digest = hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest()
    if len(_SHINGLE_DIGESTS) >= SHINGLE_CACHE_MAX:
        _SHINGLE_DIGESTS.clear()
    _SHINGLE_DIGESTS[shingle] = digest
    return digest


def _hashes(feats: set[str]) -> np.ndarray:
    """The 64-bit hash of each shingle (in no particular order: MinHash takes minima, simhash counts votes)."""
    cache = _SHINGLE_DIGESTS
    digests = b"".join([cache.get(s) or _digest(s) for s in feats])
    return np.frombuffer(digests, dtype=np.uint64)


def simhash(text: str) -> int | None:
    """64-bit simhash over folded syllable bigrams (signed, as SQLite stores it), or None if too short."""
    feats = shingles(text)
    if len(feats) < SIMHASH_MIN_TOKENS - 1:
        return None
    bits = np.unpackbits(_hashes(feats).view(np.uint8)).reshape(len(feats), 64)
    votes = bits.sum(axis=0) * 2 > len(feats)
    value = int("".join("1" if v else "0" for v in votes), 2)
    return value - (1 << 63 << 1) if value >= (1 << 63) else value


def hamming(a: int, b: int) -> int:
    """Bits that differ between two (signed or unsigned) 64-bit fingerprints."""
    return ((a ^ b) & _MASK64).bit_count()


def minhash_bands(text: str) -> list[int] | None:
    """LSH band keys of the text's MinHash signature (signed 64-bit), or None when too short to cluster."""
    return bands_of_shingles(shingles(text))


_BAND_PREFIX = [bytes([band]) for band in range(MINHASH_BANDS)]
_ROW_BYTES = MINHASH_ROWS * 8


def bands_of_shingles(feats: set[str]) -> list[int] | None:
    """minhash_bands() of a text whose shingles are already computed."""
    if len(feats) < SIMHASH_MIN_TOKENS - 1:
        return None
    h = _hashes(feats)
    with np.errstate(over="ignore"):
        # (a*x + b) mod 2^64 per permutation; uint64 arithmetic wraps, which is the modulus we want.
        sig = (h[None, :] * _PERM_A[:, None] + _PERM_B[:, None]).min(axis=1).tobytes()
    out = []
    for band, prefix in enumerate(_BAND_PREFIX):
        rows = sig[band * _ROW_BYTES : (band + 1) * _ROW_BYTES]
        value = int.from_bytes(hashlib.blake2b(prefix + rows, digest_size=8).digest(), "big")
        out.append(value - (1 << 64) if value >= (1 << 63) else value)
    return out


def bands_of_many(feature_sets: list[set[str]]) -> list[list[int] | None]:
    """bands_of_shingles() of many texts at once (the same values): one numpy pass over all their shingle
    hashes instead of one per text, whose fixed cost was most of a short text's MinHash."""
    out: list[list[int] | None] = [None] * len(feature_sets)
    wanted = [i for i, feats in enumerate(feature_sets) if len(feats) >= SIMHASH_MIN_TOKENS - 1]
    if not wanted:
        return out
    hashed = [_hashes(feature_sets[i]) for i in wanted]
    starts = np.cumsum([0] + [len(h) for h in hashed[:-1]])
    h = np.concatenate(hashed)
    with np.errstate(over="ignore"):
        sigs = np.minimum.reduceat(h[None, :] * _PERM_A[:, None] + _PERM_B[:, None], starts, axis=1)
    sig_rows = np.ascontiguousarray(sigs.T)  # one row of MINHASH_BANDS * MINHASH_ROWS minima per text
    for row, i in zip(sig_rows, wanted, strict=True):
        sig = row.tobytes()
        bands = []
        for band, prefix in enumerate(_BAND_PREFIX):
            rows = sig[band * _ROW_BYTES : (band + 1) * _ROW_BYTES]
            value = int.from_bytes(hashlib.blake2b(prefix + rows, digest_size=8).digest(), "big")
            bands.append(value - (1 << 64) if value >= (1 << 63) else value)
        out[i] = bands
    return out


def containment(a: set[str], b: set[str]) -> float:
    """|a & b| / min(|a|, |b|): 1.0 when one text is copied whole inside the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# --- HTML ---------------------------------------------------------------------------------------------

_BLOCK = re.compile(r"<\s*(br|/p|/div|/li|/h\d|/blockquote)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n\s*\n+")


def html_to_text(html: str | None) -> str:
    """Visible text of an HTML fragment, line breaks kept, scripts dropped; never raises."""
    if not html or not html.strip():
        return ""
    if "<" not in html:
        return _tidy(html)
    import lxml.html
    from lxml import etree

    try:
        doc = lxml.html.fragment_fromstring(
            _BLOCK.sub(lambda m: m.group(0) + "\n", html), create_parent="div"
        )
        etree.strip_elements(doc, "script", "style", "noscript", with_tail=False)
        text = doc.text_content()
    except (etree.ParserError, ValueError):
        text = re.sub(r"<[^>]+>", " ", html)
    return _tidy(text)


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text.replace("\xa0", " "))
    lines = [line.strip() for line in text.split("\n")]
    return _LINES.sub("\n\n", "\n".join(lines)).strip()
