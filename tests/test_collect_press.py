"""The Scrapy press spider, run in its subprocess, crawling a local site served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.collect.sources.press_crawl import extract_article, published_time
from monitor.config import DEFAULT_TIMEZONE
from tests.collect_helpers import RESOURCES, invoke, make_sources
from tests.httpserver import FixtureServer, Response

SITE = RESOURCES / "site"


def test_press_crawl_follows_section_links_within_site(make_config: Callable[..., Path]) -> None:
    server = FixtureServer(root=SITE).start()
    try:
        config = make_sources(
            make_config,
            [
                {
                    "name": "bao-mau",
                    "kind": "press",
                    "url": server.url("/thoi-su/"),
                    "start_urls": [server.url("/thoi-su/index.html")],
                    "allow": [r"/thoi-su/.+-\d+\.html"],
                    "max_pages": 20,
                    "max_depth": 2,
                }
            ],
        )
        result = invoke(config, "collect", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)["sources"][0]
        assert report["status"] == "ok" and report["new"] == 2, report
        db = sqlite_utils.Database(config.parent / "misinfo.db")
        rows = {r["title"]: r for r in db.query("SELECT * FROM items")}
        first = rows["Bỏ cấp huyện: thủ tục làm ở đâu?"]
        assert first["published_at"] == "2025-09-03T03:27:00+00:00"  # '03/09/2025 10:27 GMT+7'
        assert first["canonical_url"] == server.url("/thoi-su/bo-cap-huyen-thu-tuc-lam-o-dau-1001.html")
        assert "không phải lên tỉnh" in first["text"] and first["lang"] == "vi"
        second = rows["Chế độ cho cán bộ nghỉ việc khi sắp xếp bộ máy"]
        assert second["author"] == "Trần Thị Bình" and second["published_at"] == "2025-09-02T01:00:00+00:00"
        paths = [p for _, p, _ in server.requests]
        assert "/private/noi-bo-1003.html" not in paths  # robots.txt
        assert "/robots.txt" in paths
        assert db.execute("SELECT kind FROM evidence").fetchone()[0] == "article"

        # A second pass downloads only the section page: stored articles are not fetched again.
        server.requests.clear()
        again = json.loads(invoke(config, "collect", "--json").output)["sources"][0]
        assert again["new"] == 0 and again["status"] == "ok"
        assert not any(p.endswith("-1001.html") or p.endswith("-1002.html") for _, p, _ in server.requests)
    finally:
        server.stop()


def test_press_crawl_from_sitemap(make_config: Callable[..., Path]) -> None:
    server = FixtureServer(root=SITE).start()
    try:
        sitemap = (SITE / "sitemap.xml").read_text().replace("http://HOST", server.base).encode()
        server.routes["/sitemap.xml"] = Response(200, sitemap, {"Content-Type": "application/xml"})
        config = make_sources(
            make_config,
            [
                {
                    "name": "bao-mau",
                    "kind": "press",
                    "url": server.url("/"),
                    "sitemap": server.url("/sitemap.xml"),
                }
            ],
        )
        report = json.loads(invoke(config, "collect", "--json").output)["sources"][0]
        assert report["new"] == 2, report
    finally:
        server.stop()


def test_extraction_helpers_never_raise() -> None:
    tz = ZoneInfo(DEFAULT_TIMEZONE)
    assert extract_article(b"", "http://127.0.0.1/x", tz)["text"] == ""
    assert len(extract_article(b"\x00\xff<html><<<", "http://127.0.0.1/x", tz)["text"]) < 40
    assert published_time(b"<p class='date'>10:27 03/09/2025</p>", None, tz) == "2025-09-03T10:27:00+07:00"
    assert (
        published_time(b"<p class='date'>10:27 03/09/2025</p>", None, ZoneInfo("UTC"))
        == "2025-09-03T10:27:00+00:00"
    )
