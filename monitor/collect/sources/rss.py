"""RSS 0.9x/1.0/2.0 and Atom: feedparser on the bytes we fetched; optional full text via trafilatura."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import feedparser

from monitor.collect.fetch import FetchResult
from monitor.collect.normalize import html_to_text
from monitor.collect.sources.base import SourceRun, evidence_of, make_item
from monitor.errors import FetchError
from monitor.store.items import Evidence, NewItem

log = logging.getLogger(__name__)

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
SHORT_TEXT = 400  # characters: an entry shorter than this is "summary only" for full-text extraction


def parse_feed(res: FetchResult) -> Any:
    """feedparser result for a fetched body; FetchError when nothing feed-like came back. Never crashes."""
    if not res.body.strip():
        raise FetchError(
            f"{res.final_url}: empty response body (HTTP {res.status}) — the server sent no feed"
        )
    headers = {"content-location": res.final_url}
    if res.content_type:
        headers["content-type"] = res.content_type
    try:
        # No sanitising here: entry HTML is only ever turned into plain text (html_to_text), never rendered.
        parsed = feedparser.parse(
            res.body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser promises not to raise; a bug in it must not stop collection
        raise FetchError(
            f"{res.final_url}: the feed could not be parsed ({type(exc).__name__}: {exc})"
        ) from None
    if parsed.entries:
        return parsed
    head = res.body[:2048].lstrip().lower()
    if (
        head.startswith((b"<!doctype html", b"<html"))
        or b"<html" in head
        or "html" in (res.content_type or "")
    ):
        raise FetchError(
            f"{res.final_url}: got an HTML page ({res.content_type or 'no content type'}), not an RSS/Atom feed "
            "— point the source's url at the feed itself"
        )
    if parsed.bozo and not parsed.get("version"):
        problem = parsed.get("bozo_exception")
        raise FetchError(f"{res.final_url}: not a valid RSS/Atom feed ({problem}) — check the feed URL")
    if not parsed.get("version"):
        raise FetchError(f"{res.final_url}: the response is not an RSS or Atom feed")
    return parsed


def feed_problem(parsed: Any) -> str | None:
    """A one-line note when feedparser had to recover from a broken feed."""
    if not parsed.bozo:
        return None
    exc = parsed.get("bozo_exception")
    name = type(exc).__name__ if exc is not None else "problem"
    if name == "CharacterEncodingOverride":
        return f"declared encoding did not match the bytes; read as {parsed.get('encoding')}"
    return f"feed is not well-formed ({name}: {str(exc)[:120]}); {len(parsed.entries)} entries recovered"


def entry_text(entry: Any) -> str:
    """The longest text an entry carries (content:encoded over summary), as plain text."""
    candidates = [c.get("value", "") for c in entry.get("content", []) or []]
    candidates.append(entry.get("summary", "") or "")
    texts = [html_to_text(c) for c in candidates if c]
    return max(texts, key=len) if texts else ""


def entry_images(entry: Any) -> list[str]:
    """URLs of the images an entry carries as enclosures or media:content (read when the source sets ocr)."""
    urls: list[str] = []
    for link in entry.get("links", []) or []:
        if (
            link.get("rel") == "enclosure"
            and str(link.get("type", "")).startswith("image/")
            and link.get("href")
        ):
            urls.append(str(link["href"]))
    for media in entry.get("media_content", []) or []:
        if (str(media.get("type", "")).startswith("image/") or media.get("medium") == "image") and media.get(
            "url"
        ):
            urls.append(str(media["url"]))
    return list(dict.fromkeys(urls))


def entry_published(entry: Any) -> Any:
    """The raw published/updated string (parsed by us so naive times get the site's zone), else feedparser's."""
    for key in ("published", "updated", "created"):
        if entry.get(key):
            return entry.get(key)
    for key in ("published_parsed", "updated_parsed"):
        if entry.get(key):
            return entry.get(key)
    return None


def full_text(run: SourceRun, link: str) -> tuple[str | None, Evidence | None, str | None]:
    """Fetch the linked article and extract its text: (text, evidence, note why not)."""
    import trafilatura

    try:
        res = run.fetcher.get(link, accept="text/html,application/xhtml+xml")
    except FetchError as exc:
        return None, None, f"full text not fetched: {exc}"
    run.nbytes += res.raw_bytes
    ev = evidence_of(res, kind="article")
    try:
        text = trafilatura.extract(res.body, url=res.final_url, include_comments=False, favor_precision=True)
    except Exception as exc:  # trafilatura on hostile HTML: log and keep the summary
        return None, ev, f"full text not extracted: {type(exc).__name__}: {exc}"
    if not text or len(text.strip()) < 40:
        return None, ev, "full text not extracted: no article text found on the page"
    return text.strip(), ev, None


_ENTRY = re.compile(rb"<(item|entry)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)


def entry_fragments(body: bytes, count: int) -> list[bytes] | None:
    """The raw <item>/<entry> element of each entry, in feed order; None unless there is one per entry."""
    if count == 0:
        return None
    found = [m.group(0) for m in _ENTRY.finditer(body)]
    return found if len(found) == count else None


def feed_items(
    run: SourceRun, res: FetchResult, parsed: Any, want_full_text: bool = False
) -> Iterator[NewItem]:
    """Items of a parsed feed; a bad entry is noted and skipped, never fatal."""
    problem = feed_problem(parsed)
    if problem:
        run.note(problem)
    feed_ev = evidence_of(res)
    per_entry = entry_fragments(res.body, len(parsed.entries))
    for index, entry in enumerate(parsed.entries):
        try:
            title = html_to_text(entry.get("title", "") or "")
            text = entry_text(entry)
            link = entry.get("link") or None
            notes: list[str] = []
            # Each entry keeps its own bytes of the feed: a pass with one new entry stores that entry,
            # not the whole feed again (the whole body only when the entries cannot be cut out reliably).
            evidence = [replace(feed_ev, body=per_entry[index]) if per_entry else feed_ev]
            if want_full_text and link and len(text) < SHORT_TEXT:
                article, ev, why = full_text(run, link)
                if ev is not None:
                    evidence.append(ev)
                if article:
                    text = article
                elif why:
                    notes.append(why)
            if not title and not text:
                run.note(f"entry {index + 1} has neither title nor text; skipped")
                continue
            yield make_item(
                run,
                title=title or text[:120],
                text=text,
                url=link,
                external_id=entry.get("id") or None,
                author=entry.get("author") or None,
                published=entry_published(entry),
                fetched_at=res.fetched_at,
                evidence=evidence,
                lang=(entry.get("language") or parsed.feed.get("language") or None),
                notes=notes,
                images=entry_images(entry),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            run.note(f"entry {index + 1} skipped: {type(exc).__name__}: {exc}")


class RssConnector:
    """RSS and Atom feeds."""

    kind = "rss"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        res = run.fetch_main(accept=FEED_ACCEPT)
        if res is None:
            return
        parsed = parse_feed(res)
        yield from feed_items(run, res, parsed, want_full_text=bool(getattr(run.source, "full_text", False)))
