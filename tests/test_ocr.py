"""OCR with the real Tesseract (vie+eng) on rendered Vietnamese screenshots; images refused before decoding."""

from __future__ import annotations

import pytest

from monitor.config import OcrConfig
from monitor.intake import ocr
from tests.ocr_helpers import RUMOUR, bomb_png, cer, need_ocr, render


def test_a_clean_vietnamese_screenshot_is_read_almost_exactly() -> None:
    need_ocr()
    result = ocr.ocr_bytes(render(RUMOUR, size=30), OcrConfig())
    assert cer("\n".join(RUMOUR), result.text) <= 0.03, result.text
    assert result.image.content_type == "image/png" and len(result.image.sha256) == 64


def test_jpeg_with_light_noise_is_read() -> None:
    need_ocr()
    result = ocr.ocr_bytes(render(RUMOUR, size=24, noise=0.002, fmt="JPEG"), OcrConfig())
    assert result.image.content_type == "image/jpeg"
    assert cer("\n".join(RUMOUR), result.text) <= 0.08, result.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<html><script>alert(1)</script></html>", "not an image"),
        (b"GIF89a" + b"\x00" * 10, "not an image"),
        (bomb_png(), "decompression bomb"),
    ],
    ids=["empty", "html", "truncated-gif", "bomb"],
)
def test_bad_images_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(ocr.ImageRejected, match=message):
        ocr.check_image(data, OcrConfig())


def test_an_image_over_the_byte_cap_is_refused_without_decoding() -> None:
    big = render(RUMOUR) + b"\x00" * (50 * 1000 * 1000)
    with pytest.raises(ocr.ImageRejected, match="ocr.max_bytes"):
        ocr.check_image(big, OcrConfig())


def test_the_pixel_cap_is_the_configured_one() -> None:
    with pytest.raises(ocr.ImageRejected, match="max_pixels"):
        ocr.check_image(render(RUMOUR), OcrConfig(max_pixels=10_000))


def test_missing_tesseract_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr.pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(ocr.OcrUnavailable, match="apt-get install tesseract-ocr tesseract-ocr-vie"):
        ocr.ensure_tesseract("vie+eng")


def test_a_missing_language_is_named() -> None:
    need_ocr()
    with pytest.raises(ocr.OcrUnavailable, match="xyz"):
        ocr.ensure_tesseract("vie+xyz")
