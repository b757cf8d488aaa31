"""Images for the OCR tests: Vietnamese text rendered in a font with Vietnamese glyphs (DejaVu, Debian)."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

from tests.conftest import require

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = FONT_DIR / "DejaVuSans.ttf"
RUMOUR = [
    "Sau khi sáp nhập tỉnh, tất cả mọi người",
    "phải làm lại căn cước công dân gắn chip,",
    "nếu không thẻ cũ sẽ hết hiệu lực!",
]


def need_ocr() -> None:
    """Skip locally / fail in CI when Tesseract with Vietnamese or the DejaVu font is missing."""
    import shutil
    import subprocess

    have = (
        shutil.which("tesseract") is not None
        and "vie"
        in subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, check=False
        ).stdout.split()
    )
    require(
        have and FONT.is_file(),
        "Tesseract with Vietnamese (tesseract-ocr, tesseract-ocr-vie) or fonts-dejavu-core",
        "sudo apt-get install tesseract-ocr tesseract-ocr-vie fonts-dejavu-core",
    )


def render(
    lines: list[str], size: int = 30, font: Path = FONT, noise: float = 0.0, seed: int = 0, fmt: str = "PNG"
) -> bytes:
    """A screenshot-like image: dark text on white, `size` px glyphs, optional speckle noise."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(font), size)
    width = max(int(face.getlength(line)) for line in lines) + 2 * size
    height = int(len(lines) * size * 1.5) + 2 * size
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((size, size + int(i * size * 1.5)), line, font=face, fill=(20, 20, 20))
    if noise:
        rng = random.Random(seed)
        px = img.load()
        assert px is not None
        for _ in range(int(width * height * noise)):
            x, y = rng.randrange(width), rng.randrange(height)
            v = rng.randrange(120, 256)
            px[x, y] = (v, v, v)
    out = io.BytesIO()
    img.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb if decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = zlib.compress(row * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance over the reference length (whitespace runs count as one space)."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    prev = list(range(len(hyp) + 1))
    for i, rc in enumerate(ref, 1):
        cur = [i]
        for j, hc in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc)))
        prev = cur
    return prev[-1] / max(1, len(ref))
