"""Images in, text out: check an image (bytes, pixels, format) with Pillow, then read it with Tesseract.

Tesseract comes from Debian (`apt-get install tesseract-ocr tesseract-ocr-vie`), reached through pytesseract.
Every image is checked before any pixel is decoded: a byte cap, a pixel cap (Pillow's decompression-bomb
guard at `ocr.max_pixels`), and only the formats a screenshot comes in.
"""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import subprocess
import threading
import warnings
from dataclasses import dataclass

import pytesseract
from PIL import Image, ImageOps, UnidentifiedImageError

from monitor.config import OcrConfig
from monitor.errors import MonitorError, UsageError

# Formats accepted, and the content type an image is served back with (never text/html).
FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}
INSTALL_HINT = (
    "install Debian's Tesseract with the Vietnamese model: sudo apt-get install tesseract-ocr tesseract-ocr-vie "
    "(`make install` does it when run as root)"
)
MIN_SIDE = (
    1000  # screenshots are upscaled to at least this width before OCR: Tesseract reads ~30 px glyphs best
)
_pil_lock = threading.Lock()  # Image.MAX_IMAGE_PIXELS is process-wide


class ImageRejected(UsageError):
    """The bytes are not an image we read (not an image, too large, a decompression bomb). 400 / exit 2."""


class OcrUnavailable(MonitorError):
    """Tesseract (or one of its languages) is not installed."""


@dataclass(frozen=True)
class CheckedImage:
    """An image that passed the checks: its bytes, hash, format and size."""

    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class OcrResult:
    """Text read from one image."""

    image: CheckedImage
    text: str
    lang: str
    seconds: float


def check_image(data: bytes, cfg: OcrConfig, name: str = "the image") -> CheckedImage:
    """Refuse anything that is not a bounded PNG/JPEG/WebP/GIF/BMP image; never decodes a bomb."""
    if not data:
        raise ImageRejected(f"{name} is empty")
    if len(data) > cfg.max_bytes:
        raise ImageRejected(
            f"{name} is {len(data):,} bytes, more than ocr.max_bytes ({cfg.max_bytes:,}); send a smaller screenshot"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            fmt = img.format or ""
    except (
        UnidentifiedImageError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
        OSError,
    ) as exc:
        raise ImageRejected(
            f"{name} is not an image we can read (PNG, JPEG, WebP, GIF, BMP): {exc}"
        ) from None
    if fmt not in FORMATS:
        raise ImageRejected(f"{name} is a {fmt or 'unknown'} image; send PNG, JPEG, WebP, GIF or BMP")
    if width * height > cfg.max_pixels:
        raise ImageRejected(
            f"{name} is {width}x{height} pixels, more than ocr.max_pixels ({cfg.max_pixels:,}): "
            "refused as a possible decompression bomb"
        )
    return CheckedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=FORMATS[fmt],
        width=width,
        height=height,
    )


def _decode(image: CheckedImage, cfg: OcrConfig) -> Image.Image:
    with _pil_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = cfg.max_pixels
        try:
            opened = Image.open(io.BytesIO(image.data))
            opened.load()
        except (Image.DecompressionBombError, OSError, ValueError) as exc:
            raise ImageRejected(f"the image cannot be decoded: {exc}") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    img: Image.Image = ImageOps.exif_transpose(opened) or opened
    if img.mode not in ("L", "RGB"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    gray = img.convert("L")
    if gray.width < MIN_SIDE:
        factor = MIN_SIDE / gray.width
        if gray.width * factor * gray.height * factor <= cfg.max_pixels:
            gray = gray.resize((MIN_SIDE, max(1, round(gray.height * factor))), Image.Resampling.LANCZOS)
    return gray


@functools.lru_cache(maxsize=1)
def _installed_languages() -> frozenset[str]:
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailable(f"Tesseract is not installed ({exc}); {INSTALL_HINT}") from None


def ensure_tesseract(languages: str) -> None:
    """OcrUnavailable with the apt command when tesseract or a configured language is missing."""
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        _installed_languages.cache_clear()
        raise OcrUnavailable(f"Tesseract is not installed (no `tesseract` on PATH); {INSTALL_HINT}")
    have = _installed_languages()
    missing = [lang for lang in languages.split("+") if lang and lang not in have]
    if missing:
        raise OcrUnavailable(
            f"Tesseract has no {', '.join(missing)} language data (has: {', '.join(sorted(have)) or 'none'}); "
            f"{INSTALL_HINT}"
        )


def clean_text(text: str) -> str:
    """Tesseract's output without empty lines and stray whitespace."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def read_image(image: CheckedImage, cfg: OcrConfig) -> OcrResult:
    """The text in a checked image (Vietnamese and English by default)."""
    import time

    ensure_tesseract(cfg.languages)
    started = time.monotonic()
    gray = _decode(image, cfg)
    try:
        raw = pytesseract.image_to_string(gray, lang=cfg.languages, config="--psm 3", timeout=cfg.timeout)
    except RuntimeError as exc:  # pytesseract raises RuntimeError on its timeout
        raise ImageRejected(
            f"reading the image took longer than ocr.timeout ({cfg.timeout:g}s): {exc}"
        ) from None
    except pytesseract.TesseractError as exc:
        raise ImageRejected(f"Tesseract could not read the image: {exc}") from None
    return OcrResult(
        image=image, text=clean_text(raw), lang=cfg.languages, seconds=time.monotonic() - started
    )


def ocr_bytes(data: bytes, cfg: OcrConfig, name: str = "the image") -> OcrResult:
    """check_image then read_image."""
    return read_image(check_image(data, cfg, name), cfg)
