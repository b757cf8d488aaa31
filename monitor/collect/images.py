"""Images attached to collected posts and feed enclosures, read with OCR when a source sets `ocr: true`.

Each image is fetched with the same polite, bounded Fetcher as the source (robots.txt, private hosts,
collect.max_bytes), then checked and bounded again by the ocr: section (bytes, pixels, count per item).
A failing image is a note on the source's run, never a failed source.
"""

from __future__ import annotations

from monitor.collect.sources.base import SourceRun
from monitor.errors import FetchError
from monitor.intake.ocr import ImageRejected, OcrResult, OcrUnavailable, check_image, read_image
from monitor.store.items import NewItem

IMAGE_ACCEPT = "image/png, image/jpeg, image/webp, image/gif, image/bmp;q=0.9"


def read_item_images(run: SourceRun, item: NewItem) -> list[OcrResult]:
    """OCR of at most ocr.max_images of the item's images; problems become notes."""
    cfg = run.cfg.ocr
    out: list[OcrResult] = []
    for url in item.images[: cfg.max_images]:
        try:
            res = run.fetcher.get(url, accept=IMAGE_ACCEPT)
            run.nbytes += res.raw_bytes
            image = check_image(res.body, cfg, name=url)
            out.append(read_image(image, cfg))
        except OcrUnavailable as exc:
            run.note(f"images not read: {exc}")
            break
        except (FetchError, ImageRejected) as exc:
            run.note(f"image not read: {exc}")
    if len(item.images) > cfg.max_images:
        run.note(f"only the first {cfg.max_images} image(s) of a post are read (ocr.max_images)")
    return out
