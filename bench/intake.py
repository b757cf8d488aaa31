"""OCR accuracy on rendered Vietnamese screenshots, and submission-to-suggestions latency.

Usage: .venv/bin/python -m bench.intake [--repeats N] [--no-record]

1. OCR character error rate (CER, edit distance / reference length, whitespace runs as one space) of
   Debian's Tesseract (vie+eng, monitor.intake.ocr) on 24 images: 3-line claims from the starter library
   rendered in 3 DejaVu fonts (fonts-dejavu-core: Sans, Serif, Sans Bold) at 4 sizes (20-36 px), half
   with light speckle noise and saved as JPEG. Goal: CER <= 5%.
2. Latency of `pipeline.submit` (store, classify, match; what the page and the API run) with the bundled
   encoder and the starter library approved, for pasted texts and for screenshots, after one warm-up
   submission (models loaded, as in the web app). Goal: p95 <= 2 s (text), <= 5 s (screenshot).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from bench._record import record
from monitor import pipeline
from monitor.config import OcrConfig, load_config
from monitor.intake.ocr import ocr_bytes
from monitor.library.io import import_file
from monitor.store import connect
from monitor.store.users import create_user, get_user
from rebuttals.library import parse_file
from tests.ocr_helpers import cer, render  # one renderer and one CER for the tests and this benchmark

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "data" / "rebuttals" / "starter.yaml"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf"]
SIZES = [20, 24, 30, 36]


def vietnamese_claims() -> list[str]:
    rows = parse_file("starter.yaml", STARTER.read_bytes())
    claims = [str(c) for r in rows for c in r.get("claims", []) if isinstance(c, str)]
    return [
        c for c in claims if any(ch in c for ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
    ]


def wrap(text: str, width: int = 34) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines[:3]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def bench_ocr() -> tuple[dict[str, object], list[tuple[list[str], bytes]]]:
    claims = vietnamese_claims()
    cfg = OcrConfig()
    rates: list[float] = []
    by_size: dict[int, list[float]] = {s: [] for s in SIZES}
    seconds: list[float] = []
    images: list[tuple[list[str], bytes]] = []
    n = 0
    for face in FACES:
        for size in SIZES:
            for noisy in (False, True):
                lines = wrap(claims[n % len(claims)])
                data = render(
                    lines, size, FONTS / face, 0.002 if noisy else 0.0, n, "JPEG" if noisy else "PNG"
                )
                images.append((lines, data))
                result = ocr_bytes(data, cfg)
                rate = cer("\n".join(lines), result.text)
                rates.append(rate)
                by_size[size].append(rate)
                seconds.append(result.seconds)
                n += 1
    total_ref = sum(len(" ".join(" ".join(lines).split())) for lines, _ in images)
    figures: dict[str, object] = {
        "images": f"{len(rates)} ({len(FACES)} fonts x {len(SIZES)} sizes x clean PNG / noisy JPEG), {total_ref} reference characters",
        "CER mean": f"{statistics.mean(rates) * 100:.2f}% (goal <= 5%)",
        "CER median / worst image": f"{statistics.median(rates) * 100:.2f}% / {max(rates) * 100:.2f}%",
        "CER by glyph size": ", ".join(f"{s} px {statistics.mean(v) * 100:.2f}%" for s, v in by_size.items()),
        "OCR seconds per image (median / max)": f"{statistics.median(seconds):.2f} / {max(seconds):.2f}",
    }
    return figures, images


def bench_latency(images: list[tuple[list[str], bytes]], repeats: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(
            yaml.safe_dump({"database": f"{tmp}/b.db", "state_dir": f"{tmp}/var", "sources": []}),
            encoding="utf-8",
        )
        cfg = load_config(cfg_path)
        db = connect(cfg.database_path)
        create_user(db, "approver", "a-long-password-1", "approver")
        approver = get_user(db, "approver")
        assert approver is not None
        import_file(db, STARTER, approver, approver=approver)
        claims = vietnamese_claims()
        started = time.monotonic()
        pipeline.submit(cfg, db, pipeline.Submission(text="Khởi động: " + claims[0]))
        warmup = time.monotonic() - started
        text_s: list[float] = []
        image_s: list[float] = []
        load_before = os.getloadavg()
        for i in range(repeats):
            text = f"{claims[i % len(claims)]} — bài đăng số {i}, chia sẻ ngay!"
            t0 = time.monotonic()
            pipeline.submit(cfg, db, pipeline.Submission(text=text))
            text_s.append(time.monotonic() - t0)
        top_ok = 0
        for i in range(repeats):
            lines, data = images[i % len(images)]
            stamp = render([*lines[:2], f"bài {i}"], 30, FONTS / FACES[i % len(FACES)], 0.0, i, "PNG")
            t0 = time.monotonic()
            report = pipeline.submit(cfg, db, pipeline.Submission(image=stamp))
            image_s.append(time.monotonic() - t0)
            top_ok += bool(report.suggestions)
        db.conn.close()
    load_after = os.getloadavg()
    return {
        "warm-up submission (loads encoder, trains the seed model when none)": f"{warmup:.1f} s",
        "text submissions": f"{repeats}: p50 {statistics.median(text_s):.2f} s, p95 {pct(text_s, 0.95):.2f} s (goal <= 2 s)",
        "screenshot submissions": f"{repeats}: p50 {statistics.median(image_s):.2f} s, p95 {pct(image_s, 0.95):.2f} s (goal <= 5 s)",
        "screenshots with at least one suggestion": f"{top_ok}/{repeats}",
        # Other work on the machine slows these down: the figures mean little without it.
        "load average 1/5/15 min (before / after the timed submissions)": (
            f"{' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in load_after)}"
            f" on {os.cpu_count()} CPUs"
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    ocr_figures, images = bench_ocr()
    latency = bench_latency(images, args.repeats)
    if args.no_record:
        print(ocr_figures, latency, sep="\n")
        return
    record("OCR of rendered Vietnamese screenshots (Tesseract vie+eng)", ocr_figures)
    record("Submission to suggestions (pipeline.submit, bundled encoder, starter library)", latency)


if __name__ == "__main__":
    main()
