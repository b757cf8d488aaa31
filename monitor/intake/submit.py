"""Analysts' submissions: a link, pasted text or a screenshot becomes an item like any collected one.

Everything that can fail (fetching the link, checking and reading the image) happens before the store is
touched; the item, its evidence, its OCR text and the submission record are then written in one
transaction, so a refused submission leaves nothing behind. Classification and matching follow through
monitor.pipeline.submit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlite_utils

from monitor.collect.cluster import assign_cluster
from monitor.collect.fetch import Fetcher, FetchResult, check_url
from monitor.collect.normalize import canonical_url, detect_lang
from monitor.config import Config
from monitor.errors import FetchError, UsageError
from monitor.intake.ocr import FORMATS, CheckedImage, ImageRejected, OcrResult, check_image, read_image
from monitor.store import submissions as store
from monitor.store.db import utcnow, write
from monitor.store.items import Evidence, NewItem, add_item

log = logging.getLogger(__name__)

MAX_TITLE = 120
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,image/*;q=0.8,*/*;q=0.5"


@dataclass
class Submission:
    """What an analyst sent: exactly one of url, text, image."""

    url: str | None = None
    text: str | None = None
    image: bytes | None = None
    image_name: str = "the image"
    note: str | None = None
    user_id: int | None = None
    username: str = "cli"

    @property
    def kind(self) -> str:
        return "url" if self.url is not None else "image" if self.image is not None else "text"


@dataclass
class Prepared:
    """A submission checked, fetched and read, ready to store."""

    kind: str
    item: NewItem
    ocr: OcrResult | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Stored:
    """What storing a submission did."""

    item_id: int
    created: bool
    submission_id: int
    kind: str
    ocr_text: str | None = None


def title_from(text: str, limit: int = MAX_TITLE) -> str:
    """First line of the text, cut at a word boundary."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + "…"


def _one_input(sub: Submission) -> None:
    given = [
        name
        for name, value in (("url", sub.url), ("text", sub.text), ("image", sub.image))
        if value is not None
    ]
    if len(given) != 1:
        raise UsageError("submit exactly one of a link (url), a text or an image")


def _image_item(cfg: Config, image: CheckedImage, url: str | None, evidence: Evidence) -> Prepared:
    result = read_image(image, cfg.ocr)
    if not result.text.strip():
        raise ImageRejected("no text could be read in the image; paste the text of the post instead")
    text = result.text
    item = NewItem(
        title=title_from(text),
        text=text,
        url=url,
        canonical_url=canonical_url(url),
        external_id=f"image:{image.sha256}",
        fetched_at=evidence.fetched_at,
        lang=detect_lang(text),
        evidence=[evidence],
    )
    return Prepared(kind="image", item=item, ocr=result, sha256=image.sha256)


def _page_item(cfg: Config, res: FetchResult) -> Prepared:
    """Text of a fetched page, extracted as the press connector does (trafilatura)."""
    import trafilatura

    evidence = Evidence(
        body=res.body,
        final_url=res.final_url,
        http_status=res.status,
        content_type=res.content_type,
        fetched_at=res.fetched_at,
        kind="page",
    )
    ctype = (res.content_type or "").split(";")[0].strip().lower()
    if ctype in FORMATS.values():
        image = check_image(res.body, cfg.ocr, name=res.final_url)
        evidence.kind = "image"
        prepared = _image_item(cfg, image, res.url, evidence)
        prepared.kind = "url"
        return prepared
    try:
        text = trafilatura.extract(res.body, url=res.final_url, include_comments=False, favor_recall=True)
        meta = trafilatura.extract_metadata(res.body, default_url=res.final_url)
    except Exception as exc:  # trafilatura on hostile HTML
        raise UsageError(
            f"{res.final_url}: no text could be extracted ({type(exc).__name__}: {exc})"
        ) from None
    text = (text or "").strip()
    if not text:
        raise UsageError(f"{res.final_url}: the page has no text we can extract; paste its text instead")
    title = " ".join(((meta.title if meta is not None else None) or title_from(text)).split())[:500]
    author = meta.author if meta is not None else None
    item = NewItem(
        title=title,
        text=text[: cfg.intake.max_text_chars * 4],
        url=res.url,
        canonical_url=canonical_url(res.url),
        author=author,
        published_at=None,
        fetched_at=res.fetched_at,
        lang=detect_lang(f"{title}\n{text}"),
        evidence=[evidence],
    )
    return Prepared(kind="url", item=item)


def prepare(cfg: Config, sub: Submission, fetcher: Fetcher | None = None) -> Prepared:
    """Check, fetch and read a submission. UsageError (400 / exit 2) with the reason; writes nothing."""
    _one_input(sub)
    if sub.note is not None and len(sub.note) > 2000:
        raise UsageError("the note is longer than 2000 characters")
    if sub.url is not None:
        url = sub.url.strip()
        try:
            check_url(url, cfg.collect.allow_private_hosts)
        except FetchError as exc:
            raise UsageError(f"cannot take this link: {exc}") from None
        own = fetcher is None
        fetcher = fetcher or Fetcher(cfg.collect)
        try:
            res = fetcher.get(url, accept=PAGE_ACCEPT)
        except FetchError as exc:
            raise UsageError(f"cannot fetch the link: {exc}") from None
        finally:
            if own:
                fetcher.close()
        return _page_item(cfg, res)
    if sub.image is not None:
        image = check_image(sub.image, cfg.ocr, name=sub.image_name)
        evidence = Evidence(
            body=image.data, content_type=image.content_type, fetched_at=utcnow(), kind="image"
        )
        return _image_item(cfg, image, None, evidence)
    text = (sub.text or "").strip()
    if not text:
        raise UsageError("the text is empty: paste the text of the post")
    if len(text) > cfg.intake.max_text_chars:
        raise UsageError(
            f"the text is {len(text):,} characters, more than intake.max_text_chars ({cfg.intake.max_text_chars:,})"
        )
    body = text.encode("utf-8")
    item = NewItem(
        title=title_from(text),
        text=text,
        fetched_at=utcnow(),
        lang=detect_lang(text),
        evidence=[Evidence(body=body, content_type="text/plain; charset=utf-8", kind="submission")],
    )
    return Prepared(kind="text", item=item)


def store_prepared(db: sqlite_utils.Database, prepared: Prepared, sub: Submission) -> Stored:
    """Store the item (or a sighting of the one already stored), its OCR text and the submission, at once."""
    with write(db):
        item = prepared.item
        item.source_id = store.submission_source_id(db)
        item_id, created = add_item(db, item)
        if created:
            assign_cluster(db, item_id, f"{item.title}\n{item.text}")
        if prepared.ocr is not None:
            img = prepared.ocr.image
            store.add_ocr(
                db,
                item_id,
                img.sha256,
                prepared.ocr.text,
                lang=prepared.ocr.lang,
                content_type=img.content_type,
                width=img.width,
                height=img.height,
            )
        submission_id = store.add_submission(
            db,
            item_id=item_id,
            kind=sub.kind,
            user_id=sub.user_id,
            submitted_by=sub.username,
            note=(sub.note or "").strip() or None,
            url=sub.url,
            sha256=prepared.sha256,
            created_item=created,
        )
    return Stored(
        item_id=item_id,
        created=created,
        submission_id=submission_id,
        kind=sub.kind,
        ocr_text=prepared.ocr.text if prepared.ocr is not None else None,
    )


def submit_item(
    cfg: Config, db: sqlite_utils.Database, sub: Submission, fetcher: Fetcher | None = None
) -> Stored:
    """prepare then store_prepared."""
    prepared = prepare(cfg, sub, fetcher)
    return store_prepared(db, prepared, sub)
