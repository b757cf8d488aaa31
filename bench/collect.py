"""Collection throughput against feedparser alone on the same bytes, and what conditional GET saves.

    .venv/bin/python bench/collect.py [--feeds 200] [--entries 50] [--changed 0.2] [--no-record]

Serves generated RSS feeds from 127.0.0.1 in a separate process (so the server never competes with the
pipeline for this process's interpreter lock), runs `run_collect` twice on a fresh database: pass 1 parses,
normalises and stores every entry; before pass 2 a share of the feeds gets new entries and new ETags, the
rest answer 304 to the conditional GET. In the same run, feedparser alone parses the very bodies pass 1
downloaded (once before pass 1 and once after; the mean is reported), and the ratio says how much of
feedparser's own speed the whole pipeline (fetch, parse, normalise, deduplicate, cluster, store) keeps.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._record import record  # noqa: E402
from monitor.collect.run import run_collect  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.store import connect  # noqa: E402

VOCAB = (
    "sáp nhập tỉnh xã phường chính quyền địa phương hai cấp bộ máy tinh gọn cán bộ công chức chính sách chế độ "
    "nghỉ việc căn cước gắn chip định danh điện tử VNeID dịch vụ công trực tuyến thanh toán không dùng tiền mặt "
    "người dân thủ tục hành chính hồ sơ quy định hiện hành thông tin chính thức tin đồn sai sự thật cơ sở dữ liệu "
    "dân cư chuyển đổi số quốc gia ngân hàng ứng dụng điện thoại bảo mật dữ liệu cá nhân lương hưu giáo viên bác sĩ"
)
WORDS = VOCAB.split()


class Corpus:
    """Generated feeds: version per feed (ETag), entries per feed."""

    def __init__(self, feeds: int, entries: int, seed: int = 7, tag: str = "") -> None:
        self.rng = random.Random(seed)
        self.tag = tag  # in every guid and link: a second run into the same database brings new items
        self.entries = {f: [self._entry(f, i) for i in range(entries)] for f in range(feeds)}
        self.version = dict.fromkeys(range(feeds), 1)
        self.body_cache: dict[int, bytes] = {}
        self.bytes_sent = 0
        self.lock = threading.Lock()

    def _entry(self, feed: int, i: int) -> str:
        title = " ".join(self.rng.choice(WORDS) for _ in range(10)).capitalize()
        text = " ".join(self.rng.choice(WORDS) for _ in range(60))
        return (
            f"<item><title>{title}</title><link>http://127.0.0.1/{self.tag}f{feed}/a{i}?utm_source=rss</link>"
            f"<guid>{self.tag}f{feed}-a{i}</guid><pubDate>03/09/2025 10:{i % 60:02d} GMT+7</pubDate>"
            f"<description>{text}.</description></item>"
        )

    def add(self, feed: int, n: int) -> None:
        start = len(self.entries[feed])
        self.entries[feed] = [self._entry(feed, start + k) for k in range(n)] + self.entries[feed]
        self.version[feed] += 1
        self.body_cache.pop(feed, None)

    def body(self, feed: int) -> bytes:
        if feed not in self.body_cache:
            self.body_cache[feed] = (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Feed {feed}</title><language>vi</language>{''.join(self.entries[feed])}</channel></rss>"
            ).encode()
        return self.body_cache[feed]


def serve(corpus: Corpus) -> ThreadingHTTPServer:
    """Feeds at /feed/N.xml with ETag; 304 when If-None-Match matches. Control: POST /_add/K/N gives the
    first K feeds N new entries each; GET /_stats says the bytes sent and what an unconditional pass
    would fetch; POST /_reset zeroes the byte count."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without TCP_NODELAY the body's last segment waits for the
            # client's delayed ACK of the headers (up to 40 ms per feed), which real feed servers do not do
            # and which made the pipeline's wall time look like a third longer than its CPU time.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            parts = self.path.strip("/").split("/")
            if parts[0] == "_add":
                for feed in range(int(parts[1])):
                    corpus.add(feed, int(parts[2]))
            elif parts[0] == "_reset":
                with corpus.lock:
                    corpus.bytes_sent = 0
            self._send(204)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/_stats":
                full = sum(len(corpus.body(f)) for f in corpus.entries)
                stats = {"bytes_sent": corpus.bytes_sent, "full": full}
                self._send(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})
                return
            if not self.path.startswith("/feed/"):
                self._send(404)
                return
            feed = int(self.path.split("/")[2].split(".")[0])
            etag = f'"v{corpus.version[feed]}"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, headers={"ETag": etag})
                return
            body = corpus.body(feed)
            with corpus.lock:
                corpus.bytes_sent += len(body)
            self._send(200, body, {"Content-Type": "application/rss+xml", "ETag": etag})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _server_process(feeds: int, entries: int, port_out: Connection) -> None:
    server = serve(Corpus(feeds, entries))
    port_out.send(server.server_address[1])
    server.serve_forever()


def _call(port: int, path: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def feedparser_alone(bodies: list[tuple[bytes, str, str]]) -> tuple[int, float, float]:
    """(entries, wall seconds, CPU seconds) of feedparser parsing the bodies as the rss connector calls it."""
    entries = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for body, url, content_type in bodies:
        parsed = feedparser.parse(
            body,
            response_headers={"content-location": url, "content-type": content_type},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        entries += len(parsed.entries)
    return entries, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=200, help="number of feeds")
    parser.add_argument("--entries", type=int, default=50, help="entries per feed")
    parser.add_argument(
        "--changed", type=float, default=0.2, help="share of feeds with new entries before pass 2"
    )
    parser.add_argument("--new-entries", type=int, default=5, help="entries added to each changed feed")
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to docs/benchmarks.md"
    )
    args = parser.parse_args()

    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    server = multiprocessing.get_context("fork").Process(
        target=_server_process, args=(args.feeds, args.entries, send), daemon=True
    )
    server.start()
    try:
        port = int(receive.recv())
        urls = [f"http://127.0.0.1:{port}/feed/{f}.xml" for f in range(args.feeds)]
        # The bytes pass 1 downloads (the corpus does not change before pass 2), for feedparser alone.
        bodies = [(_call(port, url.split(str(port), 1)[1]), url, "application/rss+xml") for url in urls]
        _call(port, "/_reset", "POST")
        fp_before = feedparser_alone(bodies)
        with tempfile.TemporaryDirectory() as tmp:
            sources = "\n".join(
                f"  - {{name: feed{f}, kind: rss, url: '{url}'}}" for f, url in enumerate(urls)
            )
            cfg = parse_config(
                f"database: {tmp}/bench.db\nstate_dir: {tmp}/var\n"
                "collect: {per_host_delay: 0, retries: 0, allow_private_hosts: true}\n"
                f"sources:\n{sources}\n",
                base_dir=Path(tmp),
            )
            db = connect(cfg.database_path)
            t0, c0 = time.perf_counter(), time.process_time()
            first = run_collect(cfg, db)
            t1, c1 = time.perf_counter(), time.process_time()
            bytes_first = json.loads(_call(port, "/_stats"))["bytes_sent"]
            fp_after = feedparser_alone(bodies)
            changed = max(1, int(args.feeds * args.changed))
            _call(port, f"/_add/{changed}/{args.new_entries}", "POST")
            _call(port, "/_reset", "POST")
            t2 = time.perf_counter()
            second = run_collect(cfg, db)
            t3 = time.perf_counter()
            stats = json.loads(_call(port, "/_stats"))
            bytes_second, full_second = stats["bytes_sent"], stats["full"]
            items = int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
            clusters = int(db.execute("SELECT COUNT(DISTINCT cluster_id) FROM items").fetchone()[0])
            failed = len(first.failed) + len(second.failed)
            db.conn.close()
    finally:
        server.terminate()
        server.join()

    fp_entries = fp_before[0]
    fp_wall = (fp_before[1] + fp_after[1]) / 2
    fp_cpu = (fp_before[2] + fp_after[2]) / 2
    fp_rate = fp_entries / fp_wall
    pipeline_rate = first.new / (t1 - t0)
    figures = {
        "corpus": f"{args.feeds} feeds x {args.entries} entries (~{bytes_first / args.feeds / 1024:.0f} KiB per feed)",
        "feedparser alone on pass 1's bytes: entries/s (wall)": (
            f"{fp_rate:.0f} ({fp_entries} entries; {fp_before[1]:.2f} s before pass 1, {fp_after[1]:.2f} s after)"
        ),
        "feedparser alone: entries per CPU-second": f"{fp_entries / fp_cpu:.0f}",
        "pass 1: items parsed, normalised and stored": first.new,
        "pass 1: wall time": f"{t1 - t0:.1f} s",
        "pass 1: items/s (wall)": f"{pipeline_rate:.0f}",
        "pass 1: items per CPU-second of this process": f"{first.new / (c1 - c0):.0f}",
        "pipeline / feedparser alone (wall)": f"{pipeline_rate / fp_rate:.1%}",
        "pipeline / feedparser alone (CPU)": f"{(first.new / (c1 - c0)) / (fp_entries / fp_cpu):.1%}",
        "pass 2: feeds changed": f"{changed} of {args.feeds} (+{args.new_entries} entries each)",
        "pass 2: new items": second.new,
        "pass 2: wall time": f"{t3 - t2:.1f} s",
        "pass 2: bytes downloaded": f"{bytes_second:,} of {full_second:,} an unconditional pass would fetch",
        "bytes saved by conditional GET on pass 2": f"{1 - bytes_second / full_second:.1%}",
        "items stored / clusters": f"{items} / {clusters}",
        "failed sources": failed,
    }
    if args.no_record:
        for key, value in figures.items():
            print(f"{key}: {value}")
    else:
        record("Collection throughput against feedparser alone, and conditional GET", figures)


if __name__ == "__main__":
    main()
