"""The Scrapy crawl of one press source, run as `python -m monitor.collect.sources.press_crawl SPEC.json`.

Runs in its own process because Twisted's reactor cannot restart. Items are written to stdout as JSON
lines and stored by the parent (monitor.collect.sources.press): the parent owns the database, de-duplication
and transactions, and stores each item as it arrives, so a killed crawl keeps what it already sent.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor

from monitor.collect.normalize import canonical_url, parse_vn_date

MIN_ARTICLE_CHARS = 200  # without `allow` rules, a page with less extracted text is a section page


def extract_article(html: bytes | str, url: str, tz: tzinfo) -> dict[str, Any]:
    """Title, text, author, published time of an article page (trafilatura + Vietnamese date formats);
    a date without a zone is in `tz` (the source's timezone)."""
    import trafilatura

    out: dict[str, Any] = {"title": "", "text": "", "author": None, "published": None, "note": None}
    try:
        raw = trafilatura.extract(
            html, url=url, output_format="json", with_metadata=True, include_comments=False
        )
    except Exception as exc:  # hostile HTML must not end the crawl
        out["note"] = f"extraction failed: {type(exc).__name__}: {exc}"
        return out
    if not raw:
        out["note"] = "no article text found on the page"
        return out
    meta = json.loads(raw)
    out.update(title=meta.get("title") or "", text=meta.get("text") or "", author=meta.get("author"))
    out["published"] = published_time(html, meta.get("date"), tz)
    return out


_META_TIME = re.compile(
    rb"""<meta[^>]+(?:property|itemprop|name)=["'](?:article:published_time|datePublished|pubdate|publishdate)["']"""
    rb"""[^>]*content=["']([^"']+)["']""",
    re.IGNORECASE,
)


def published_time(html: bytes | str, fallback: str | None, tz: tzinfo) -> str | None:
    """Best published time: article meta (has a zone), a dd/mm/yyyy hh:mm GMT+7 line, trafilatura's date."""
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    found = _META_TIME.search(data[:200_000])
    if found:
        return found.group(1).decode("utf-8", "replace")
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(data)
        for node in doc.xpath('//*[contains(@class, "date") or contains(@class, "time") or self::time]'):
            text = node.get("datetime") or node.text_content()
            when = parse_vn_date(text, tz) if text and not node.get("datetime") else None
            if node.get("datetime"):
                return str(node.get("datetime"))
            if when is not None:
                return when.isoformat()
    except (ValueError, lxml.etree.ParserError):
        pass
    return fallback


class PressSpider(scrapy.Spider):
    """Start from section pages or a sitemap; follow in-site links; extract articles."""

    name = "press"

    def __init__(self, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        starts = spec.get("start_urls") or [spec["url"]]
        self.start_list = list(starts)
        self.hosts = sorted(
            {urlsplit(u).hostname or "" for u in [*starts, spec.get("sitemap") or spec["url"]]}
        )
        self.allowed_domains = self.hosts
        self.allow = [re.compile(p) for p in spec.get("allow") or []]
        self.known = set(spec.get("known") or [])
        self.tz = ZoneInfo(spec["timezone"])
        # LinkExtractor's allow_domains compares host:port, so in-site filtering is done on the host here.
        self.links = LinkExtractor(unique=True)
        self.pages_ok = 0  # pages downloaded and handed to a callback (2xx)
        self.failures: list[str] = []  # "URL: why" of pages that could not be fetched

    def on_error(self, failure: Any) -> None:
        """A request that failed for good (refused, timed out, HTTP error, forbidden by robots.txt)."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        response = getattr(failure.value, "response", None)
        if response is not None:
            why = f"HTTP {response.status}"
        elif type(failure.value).__name__ == "IgnoreRequest":
            why = str(failure.value) or "ignored (robots.txt)"
        else:
            why = f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
        self.failures.append(f"{url}: {why}"[:300])

    def closed(self, reason: str) -> None:
        """The last line the parent reads: how many pages came through and which failed."""
        summary = {"pages_ok": self.pages_ok, "failures": self.failures[:20], "failed": len(self.failures)}
        sys.stdout.write(json.dumps({"crawl_summary": {**summary, "reason": reason}}) + "\n")
        sys.stdout.flush()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.spec.get("sitemap"):
            yield scrapy.Request(self.spec["sitemap"], callback=self.parse_sitemap, errback=self.on_error)
        for url in self.start_list:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True, errback=self.on_error)

    def is_article_url(self, url: str) -> bool:
        return any(p.search(url) for p in self.allow) if self.allow else True

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        """Sitemap or sitemap index: <loc> entries are articles (or further sitemaps)."""
        self.pages_ok += 1
        body = response.body
        locs = re.findall(rb"<loc>\s*([^<\s]+)\s*</loc>", body)
        is_index = b"<sitemapindex" in body[:2000]
        for loc in locs:
            url = loc.decode("utf-8", "replace").replace("&amp;", "&")
            if is_index:
                yield scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_error)
            elif self.is_article_url(url) and canonical_url(url) not in self.known:
                yield scrapy.Request(
                    url, callback=self.parse_article, cb_kwargs={"listed": True}, errback=self.on_error
                )

    def parse(self, response: Response) -> Iterator[Any]:
        """A section page (or an article reached by links): maybe an article, then follow links."""
        self.pages_ok += 1
        if not isinstance(response, TextResponse):
            return
        if self.allow and self.is_article_url(response.url) and response.url not in self.start_list:
            yield from self._article(response, listed=True)
        elif not self.allow and response.url not in self.start_list:
            yield from self._article(response, listed=False)
        for link in self.links.extract_links(response):
            if urlsplit(link.url).hostname not in self.hosts or canonical_url(link.url) in self.known:
                continue
            yield response.follow(link.url, callback=self.parse, errback=self.on_error)

    def parse_article(self, response: Response, listed: bool = True) -> Iterator[dict[str, Any]]:
        """An article page requested from a sitemap."""
        self.pages_ok += 1
        yield from self._article(response, listed)

    def _article(self, response: Response, listed: bool = True) -> Iterator[dict[str, Any]]:
        """One item per article page; pages without article text are skipped (or noted when listed)."""
        art = extract_article(response.body, response.url, self.tz)
        if len(art["text"]) < (40 if listed else MIN_ARTICLE_CHARS):
            return
        yield {
            "url": response.request.url if response.request else response.url,
            "final_url": response.url,
            "status": response.status,
            "content_type": (response.headers.get("Content-Type") or b"").decode("latin-1") or None,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "body_b64": base64.b64encode(response.body).decode("ascii"),
            **art,
        }


class StdoutPipeline:
    """Write each item as one JSON line and flush, so the parent stores it at once."""

    def process_item(self, item: dict[str, Any], spider: scrapy.Spider | None = None) -> dict[str, Any]:
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return item


def settings_for(spec: dict[str, Any]) -> dict[str, Any]:
    """Scrapy settings from the collect config: politeness and limits match the app's own fetcher."""
    return {
        "USER_AGENT": spec["user_agent"],
        "ROBOTSTXT_OBEY": spec["respect_robots"],
        "DOWNLOAD_DELAY": spec["per_host_delay"],
        "DOWNLOAD_DELAY_JITTER": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_TIMEOUT": spec["read_timeout"] + spec["connect_timeout"],
        "DOWNLOAD_MAXSIZE": spec["max_bytes"],
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": spec["max_redirects"],
        "RETRY_TIMES": spec["retries"],
        "DEPTH_LIMIT": spec["max_depth"],
        "CLOSESPIDER_PAGECOUNT": spec["max_pages"],
        "CLOSESPIDER_TIMEOUT": spec.get("timeout", 1800),
        "ITEM_PIPELINES": {"monitor.collect.sources.press_crawl.StdoutPipeline": 100},
        "LOG_LEVEL": os.environ.get("MISINFO_CRAWL_LOG", "WARNING"),
        "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }


def main(argv: list[str]) -> int:
    """Run one crawl described by a JSON spec file."""
    if len(argv) != 1:
        print("usage: python -m monitor.collect.sources.press_crawl SPEC.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # it logs every unparsable page as ERROR
    process = CrawlerProcess(settings=settings_for(spec))
    process.crawl(PressSpider, spec=spec)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
