"""The bounded fetcher and the normalisers on their own."""

from __future__ import annotations

import gzip
from zoneinfo import ZoneInfo

import pytest

from monitor.collect.fetch import Fetcher, clear_caches
from monitor.collect.normalize import canonical_url, detect_lang, html_to_text, parse_time
from monitor.config import DEFAULT_TIMEZONE, CollectConfig
from monitor.errors import FetchError
from tests.httpserver import FixtureServer, Response


def _fetcher(**kw: object) -> tuple[Fetcher, list[float]]:
    clear_caches()
    slept: list[float] = []
    base = {
        "per_host_delay": 0,
        "retries": 0,
        "read_timeout": 1,
        "connect_timeout": 1,
        "allow_private_hosts": True,
    }
    return Fetcher(CollectConfig(**{**base, **kw}), sleep=slept.append), slept  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "http:///nohost"]
)
def test_only_http_and_https(url: str) -> None:
    fetcher, _ = _fetcher()
    with pytest.raises(FetchError, match="only http and https|no host"):
        fetcher.get(url)


def test_private_hosts_refused_unless_allowed(http_server: FixtureServer) -> None:
    fetcher, _ = _fetcher(allow_private_hosts=False)
    with pytest.raises(FetchError, match="private address"):
        fetcher.get(http_server.url("/x"))


def test_redirects_followed_up_to_the_limit(http_server: FixtureServer) -> None:
    for i in range(4):
        http_server.routes[f"/r{i}"] = Response(302, b"", {"Location": f"/r{i + 1}"})
    http_server.routes["/r4"] = Response(200, b"done", {"Content-Type": "text/plain"})
    fetcher, _ = _fetcher(max_redirects=4)
    res = fetcher.get(http_server.url("/r0"))
    assert res.body == b"done" and res.final_url.endswith("/r4") and len(res.redirects) == 4
    short, _ = _fetcher(max_redirects=2)
    with pytest.raises(FetchError, match="max_redirects"):
        short.get(http_server.url("/r0"))
    http_server.routes["/evil"] = Response(302, b"", {"Location": "file:///etc/passwd"})
    with pytest.raises(FetchError, match="only http and https"):
        fetcher.get(http_server.url("/evil"))


def test_retries_with_exponential_backoff_then_success(http_server: FixtureServer) -> None:
    answers = [Response(503, b""), Response(500, b""), Response(200, b"ok", {"Content-Type": "text/plain"})]
    http_server.routes["/flaky"] = lambda _h: answers.pop(0)
    fetcher, slept = _fetcher(retries=2, backoff=0.5)
    assert fetcher.get(http_server.url("/flaky")).body == b"ok"
    assert slept == [0.5, 1.0]


def test_gzip_decoded_and_legit_sizes_pass(http_server: FixtureServer) -> None:
    body = "Chuyển đổi số quốc gia ".encode() * 1000
    http_server.routes["/gz"] = Response(200, gzip.compress(body), {"Content-Encoding": "gzip"})
    fetcher, _ = _fetcher(max_bytes=len(body))
    res = fetcher.get(http_server.url("/gz"))
    assert res.body == body and res.raw_bytes < len(body)
    tight, _ = _fetcher(max_bytes=len(body) - 1)
    with pytest.raises(FetchError, match="after decompression"):
        tight.get(http_server.url("/gz"))


def test_per_host_delay_spaces_requests(http_server: FixtureServer) -> None:
    http_server.routes["/a"] = Response(200, b"a")
    fetcher, slept = _fetcher(per_host_delay=5)
    fetcher.get(http_server.url("/a"))  # robots.txt, then /a: both to one host
    assert slept and all(0 < s <= 5 for s in slept)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Example.VN/a?utm_source=x&b=2&a=1#top", "https://example.vn/a?a=1&b=2"),
        ("http://example.vn:80/p?fbclid=1&gclid=2&zarsrc=3", "http://example.vn/p"),
        ("https://example.vn", "https://example.vn/"),
        ("javascript:alert(1)", None),
    ],
)
def test_canonical_url(raw: str, expected: str | None) -> None:
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03/09/2025 10:27 GMT+7", "2025-09-03T03:27:00+00:00"),
        ("Thứ tư, 3/9/2025 - 10:27", "2025-09-03T03:27:00+00:00"),
        ("Wed, 03 Sep 2025 10:27:00 +0700", "2025-09-03T03:27:00+00:00"),
        ("2025-09-03T03:27:00Z", "2025-09-03T03:27:00+00:00"),
        ("31/02/2025", None),
        ("không rõ", None),
    ],
)
def test_parse_time(raw: str, expected: str | None) -> None:
    value, note = parse_time(raw, ZoneInfo(DEFAULT_TIMEZONE))
    assert value == expected
    assert (note is None) == (expected is not None)


def test_parse_time_takes_the_zone_of_times_without_one_as_an_argument() -> None:
    assert parse_time("3/9/2025 10:27", ZoneInfo("UTC"))[0] == "2025-09-03T10:27:00+00:00"
    assert parse_time("3/9/2025 10:27", ZoneInfo("Europe/Paris"))[0] == "2025-09-03T08:27:00+00:00"
    assert parse_time("03/09/2025 10:27 GMT+7", ZoneInfo("UTC"))[0] == "2025-09-03T03:27:00+00:00"


def test_language_and_html_text() -> None:
    assert detect_lang("Người dân không phải làm lại căn cước sau sáp nhập") == "vi"
    assert detect_lang("Citizens do not need new identity cards") == "en"
    assert detect_lang("ok") is None
    assert html_to_text("<p>A<br>B</p><script>x()</script><p>C &amp; D</p>") == "A\nB\nC & D"


def test_unreachable_host_is_reported_as_such() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    fetcher, _ = _fetcher()
    with pytest.raises(FetchError, match="cannot connect"):
        fetcher.get(f"http://127.0.0.1:{port}/feed.xml")


def test_robots_5xx_keeps_us_out(http_server: FixtureServer) -> None:
    http_server.routes["/robots.txt"] = Response(503, b"")
    http_server.routes["/feed.xml"] = Response(200, b"<rss/>")
    fetcher, _ = _fetcher()
    with pytest.raises(FetchError, match="robots.txt could not be read"):
        fetcher.get(http_server.url("/feed.xml"))
    assert not any(p == "/feed.xml" for _, p, _ in http_server.requests)
