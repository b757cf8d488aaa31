"""Connectors on fixtures in each platform's real response shape, and the collect stage's de-duplication."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import sqlite_utils

from monitor.collect.fetch import clear_caches
from monitor.store.items import item_evidence, read_blob
from tests.collect_helpers import RESOURCES, invoke, make_sources, rss, status_of
from tests.httpserver import FixtureServer, Response

SOCIAL = RESOURCES / "social"


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    clear_caches()


def _db(config: Path) -> sqlite_utils.Database:
    return sqlite_utils.Database(config.parent / "misinfo.db")


def _serve(server: FixtureServer, path: str, fixture: str, content_type: str) -> str:
    server.routes[path] = Response(200, (SOCIAL / fixture).read_bytes(), {"Content-Type": content_type})
    return server.url(path)


def test_social_platforms_in_real_shapes(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    sources = [
        {
            "name": "masto",
            "kind": "mastodon",
            "url": _serve(
                http_server, "/api/v1/timelines/tag/sapnhap", "mastodon_tag.json", "application/json"
            ),
        },
        {
            "name": "bsky",
            "kind": "bluesky",
            "url": _serve(
                http_server,
                "/xrpc/app.bsky.feed.getAuthorFeed",
                "bluesky_author_feed.json",
                "application/json; charset=utf-8",
            ),
        },
        {
            "name": "reddit",
            "kind": "reddit",
            "url": _serve(http_server, "/r/VietNam/new.json", "reddit_listing.json", "application/json"),
        },
        {
            "name": "tg",
            "kind": "telegram",
            "url": _serve(http_server, "/s/tinnhanh", "telegram_channel.html", "text/html; charset=utf-8"),
        },
        {
            "name": "yt",
            "kind": "youtube",
            "url": _serve(http_server, "/feeds/videos.xml", "youtube_channel.xml", "application/atom+xml"),
        },
    ]
    config = make_sources(make_config, sources)
    result = invoke(config, "collect", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_name = {s["name"]: s for s in report["sources"]}
    assert {k: v["new"] for k, v in by_name.items()} == {"masto": 2, "bsky": 2, "reddit": 2, "tg": 2, "yt": 2}
    assert all(s["status"] == "ok" for s in report["sources"]), report
    db = _db(config)
    rows = {r["external_id"]: r for r in db.query("SELECT * FROM items")}

    masto = rows["https://mastodon.example/users/tinvn/statuses/113270000000000001"]
    assert "#sápnhập" in masto["text"] and "<a" not in masto["text"] and "\n" in masto["text"]
    assert masto["author"] == "tinvn@mastodon.example" and masto["lang"] == "vi"
    assert masto["published_at"] == "2025-09-03T03:27:00+00:00"
    boost = rows["https://social.example/users/canhbao/statuses/113260000000000009"]
    assert boost["author"] == "canhbao@social.example"  # a boost is stored as the original post
    assert boost["text"].startswith("Cảnh báo lừa đảo\n") and '"cập nhật VNeID mức 2"' in boost["text"]

    bsky = rows["at://did:plc:abc123xyz/app.bsky.feed.post/3l2ubq6xyz22a"]
    assert bsky["url"] == "https://bsky.app/profile/tintuc.bsky.social/post/3l2ubq6xyz22a"
    assert bsky["author"] == "tintuc.bsky.social" and "30%" in bsky["text"]
    ext = rows["at://did:plc:def456/app.bsky.feed.post/3l2ucaaaaaa2b"]
    assert "Online public services" in ext["text"] and ext["lang"] == "en"

    red = rows["t3_1f7abcd"]
    assert red["url"].startswith("https://www.reddit.com/r/VietNam/comments/1f7abcd/")
    assert red["author"] == "curious_user" and red["published_at"] == "2025-09-03T03:27:00+00:00"

    tg = rows["tinnhanh/1201"]
    assert tg["url"] == "https://t.me/tinnhanh/1201" and tg["author"] == "Kênh Tin Nhanh"
    assert tg["text"].startswith("🔴 NÓNG: Sổ đỏ") and "<br" not in tg["text"]
    assert "tinnhanh/1202" not in rows  # photo-only post: nothing to read
    assert "<script>alert(1)</script>" in rows["tinnhanh/1203"]["text"]  # kept as text, never as markup

    yt = rows["yt:video:dQw4w9WgXc1"]
    assert yt["url"] == "https://www.youtube.com/watch?v=dQw4w9WgXc1"
    assert "không đọc tin nhắn" in yt["text"] and yt["author"] == "Kênh Thời Sự"

    # Evidence: the raw API body, its hash and the final URL are kept per item.
    ev = item_evidence(db, masto["id"])[0]
    assert ev["kind"] == "api" and ev["http_status"] == 200 and ev["final_url"].endswith("/tag/sapnhap")
    assert read_blob(db, ev["sha256"]) == (SOCIAL / "mastodon_tag.json").read_bytes()


def test_social_wrong_shape_is_a_clear_error(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    http_server.routes["/api"] = Response(
        200, b'{"error": "This action is not allowed"}', {"Content-Type": "application/json"}
    )
    http_server.routes["/html"] = Response(200, b"<html>login</html>", {"Content-Type": "text/html"})
    config = make_sources(
        make_config,
        [
            {"name": "masto", "kind": "mastodon", "url": http_server.url("/api")},
            {"name": "bsky", "kind": "bluesky", "url": http_server.url("/html")},
            {"name": "reddit", "kind": "reddit", "url": http_server.url("/api")},
            {"name": "tg", "kind": "telegram", "url": http_server.url("/api")},
        ],
    )
    assert invoke(config, "collect").exit_code == 0
    assert "not allowed" in status_of(config, "masto")["last_error"]
    assert "expected JSON" in status_of(config, "bsky")["last_error"]
    assert "Listing" in status_of(config, "reddit")["last_error"]
    assert "t.me/s/NAME" in status_of(config, "tg")["last_error"]


def _conditional(body: bytes, etag: str) -> Callable[[BaseHTTPRequestHandler], Response]:
    def handler(req: BaseHTTPRequestHandler) -> Response:
        if req.headers.get("If-None-Match") == etag:
            return Response(304, b"", {"ETag": etag})
        return Response(200, body, {"Content-Type": "application/rss+xml", "ETag": etag})

    return handler


FEED = rss(
    [
        {
            "title": "Bỏ cấp huyện, thủ tục làm tại xã",
            "link": "http://127.0.0.1/a/1?utm_source=fb&amp;fbclid=X&amp;id=7",
            "guid": "x-1",
            "pubDate": "03/09/2025 10:27 GMT+7",
            "description": "Người dân làm thủ tục hành chính tại xã, phường theo quy định hiện hành, không phải lên tỉnh.",
        },
        {
            "title": "Thanh toán điện tử",
            "link": "http://127.0.0.1/a/2",
            "guid": "x-2",
            "pubDate": "2025-09-03 10:27:00",
            "description": "Tiền mặt vẫn được dùng.",
        },
    ]
)


def test_conditional_get_second_pass_costs_no_parsing(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    http_server.routes["/feed.xml"] = _conditional(FEED, '"v1"')
    config = make_sources(make_config, [{"name": "f", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    second = invoke(config, "collect", "--json")
    report = json.loads(second.output)["sources"][0]
    assert report["status"] == "not_modified" and report["new"] == 0 and report["seen"] == 0
    feed_requests = [h for _, p, h in http_server.requests if p == "/feed.xml"]
    assert feed_requests[-1].get("If-None-Match") == '"v1"'
    db = _db(config)
    assert [r[0] for r in db.execute("SELECT status FROM fetch_log ORDER BY id")] == ["ok", "not_modified"]
    assert db.execute("SELECT bytes FROM fetch_log ORDER BY id DESC").fetchone()[0] == 0
    # Normalisation: tracking parameters stripped, Vietnamese date with GMT+7, naive time taken as Hanoi time.
    row = db.execute("SELECT canonical_url, published_at FROM items WHERE external_id LIKE '%x-1'").fetchone()
    assert row == ("http://127.0.0.1/a/1?id=7", "2025-09-03T03:27:00+00:00")
    naive = db.execute(
        "SELECT published_at FROM items WHERE canonical_url = 'http://127.0.0.1/a/2'"
    ).fetchone()
    assert naive[0] == "2025-09-03T03:27:00+00:00"
    assert "User-Agent" in feed_requests[0] and "mailto:" in feed_requests[0]["User-Agent"]


def test_robots_disallow_is_respected(http_server: FixtureServer, make_config: Callable[..., Path]) -> None:
    http_server.routes["/robots.txt"] = Response(
        200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"}
    )
    http_server.routes["/private/feed.xml"] = Response(200, FEED, {"Content-Type": "application/rss+xml"})
    config = make_sources(
        make_config, [{"name": "p", "kind": "rss", "url": http_server.url("/private/feed.xml")}]
    )
    assert invoke(config, "collect").exit_code == 0
    assert "robots.txt disallows" in status_of(config, "p")["last_error"]
    assert not any(p == "/private/feed.xml" for _, p, _ in http_server.requests)
    assert _db(config)["items"].count == 0


def test_dedup_across_sources_records_sightings(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    http_server.routes["/a.xml"] = Response(200, FEED, {"Content-Type": "application/rss+xml"})
    http_server.routes["/b.xml"] = Response(
        200, FEED.replace(b"utm_source=fb", b"utm_source=zalo"), {"Content-Type": "application/rss+xml"}
    )
    config = make_sources(
        make_config,
        [
            {"name": "a", "kind": "rss", "url": http_server.url("/a.xml")},
            {"name": "b", "kind": "rss", "url": http_server.url("/b.xml")},
        ],
    )
    assert invoke(config, "collect").exit_code == 0
    assert invoke(config, "collect", "--force").exit_code == 0  # re-reading a feed adds no sightings
    db = _db(config)
    assert db["items"].count == 2
    sightings = db.execute(
        "SELECT item_id, COUNT(*), COUNT(DISTINCT source_id) FROM item_sightings GROUP BY item_id"
    ).fetchall()
    assert all(n == 2 and distinct == 2 for _, n, distinct in sightings), sightings


def test_near_duplicates_share_a_cluster(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    base = (
        "Tin đồn: sau khi sáp nhập tỉnh mọi người phải làm lại thẻ căn cước gắn chip và nộp phí, "
        "nếu không thẻ sẽ hết giá trị sử dụng từ tháng sau"
    )
    http_server.routes["/feed.xml"] = Response(
        200,
        rss(
            [
                {"title": "Bài gốc", "link": "http://127.0.0.1/n/1", "description": base},
                {
                    "title": "Chia sẻ lại",
                    "link": "http://127.0.0.1/n/2",
                    "description": "NÓNG!!! " + base + " Chia sẻ ngay!",
                },
                {
                    "title": "Khác",
                    "link": "http://127.0.0.1/n/3",
                    "description": "Giá vàng hôm nay tăng mạnh trên thị trường thế giới và trong nước theo báo cáo của ngân hàng",
                },
            ]
        ),
        {"Content-Type": "application/rss+xml"},
    )
    config = make_sources(make_config, [{"name": "n", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    rows = dict(_db(config).execute("SELECT canonical_url, cluster_id FROM items").fetchall())
    ids = dict(_db(config).execute("SELECT canonical_url, id FROM items").fetchall())
    assert rows["http://127.0.0.1/n/2"] == ids["http://127.0.0.1/n/1"]
    assert rows["http://127.0.0.1/n/3"] == ids["http://127.0.0.1/n/3"]


ARTICLE = (
    "<html><head><title>Bài đầy đủ</title></head><body><nav>Menu</nav><article><h1>Chính quyền hai cấp</h1>"
    + "<p>Từ ngày 1/7, chính quyền địa phương hai cấp vận hành trên cả nước theo quy định hiện hành.</p>" * 8
    + "</article><footer>Bản quyền</footer></body></html>"
).encode("utf-8")


def test_full_text_extraction_and_failure_note(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    http_server.routes["/art/1"] = Response(200, ARTICLE, {"Content-Type": "text/html; charset=utf-8"})
    http_server.routes["/feed.xml"] = Response(
        200,
        rss(
            [
                {"title": "Có bài", "link": http_server.url("/art/1"), "description": "Tóm tắt ngắn."},
                {"title": "Mất bài", "link": http_server.url("/art/404"), "description": "Tóm tắt còn lại."},
            ]
        ),
        {"Content-Type": "application/rss+xml"},
    )
    config = make_sources(
        make_config, [{"name": "ft", "kind": "rss", "url": http_server.url("/feed.xml"), "full_text": True}]
    )
    assert invoke(config, "collect").exit_code == 0
    db = _db(config)
    full = db.execute("SELECT id, text, extraction_note FROM items WHERE title = 'Có bài'").fetchone()
    assert "chính quyền địa phương hai cấp" in full[1] and "Menu" not in full[1] and full[2] is None
    assert {e["kind"] for e in item_evidence(db, full[0])} == {"feed", "article"}
    kept = db.execute("SELECT text, extraction_note FROM items WHERE title = 'Mất bài'").fetchone()
    assert kept[0] == "Tóm tắt còn lại." and "HTTP 404" in kept[1]


def test_source_timezone_applies_to_naive_times(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    http_server.routes["/wire.xml"] = Response(
        200,
        rss(
            [
                {
                    "title": "Wire",
                    "link": "http://127.0.0.1/w/1",
                    "pubDate": "2025-09-03 10:27:00",
                    "description": "Two-tier local government explained for readers abroad.",
                },
            ]
        ),
        {"Content-Type": "application/rss+xml"},
    )
    config = make_sources(
        make_config, [{"name": "w", "kind": "rss", "url": http_server.url("/wire.xml"), "timezone": "UTC"}]
    )
    assert invoke(config, "collect").exit_code == 0
    assert _db(config).execute("SELECT published_at FROM items").fetchone()[0] == "2025-09-03T10:27:00+00:00"
