"""Collection throughput on a local corpus of many feeds, and the bytes conditional GET saves on a second pass.

    .venv/bin/python bench/collect.py [--feeds 200] [--entries 50] [--changed 0.2] [--no-record]

Serves generated RSS feeds from 127.0.0.1 (no network cost), runs `run_collect` twice on a fresh database:
pass 1 parses, normalises and stores every entry; before pass 2 a share of the feeds gets new entries and
new ETags, the rest answer 304 to the conditional GET.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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

    def __init__(self, feeds: int, entries: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.entries = {f: [self._entry(f, i) for i in range(entries)] for f in range(feeds)}
        self.version = dict.fromkeys(range(feeds), 1)
        self.body_cache: dict[int, bytes] = {}
        self.bytes_sent = 0
        self.lock = threading.Lock()

    def _entry(self, feed: int, i: int) -> str:
        title = " ".join(self.rng.choice(WORDS) for _ in range(10)).capitalize()
        text = " ".join(self.rng.choice(WORDS) for _ in range(60))
        return (
            f"<item><title>{title}</title><link>http://127.0.0.1/f{feed}/a{i}?utm_source=rss</link>"
            f"<guid>f{feed}-a{i}</guid><pubDate>03/09/2025 10:{i % 60:02d} GMT+7</pubDate>"
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
    """Feeds at /feed/N.xml with ETag; 304 when If-None-Match matches."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if not self.path.startswith("/feed/"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            feed = int(self.path.split("/")[2].split(".")[0])
            etag = f'"v{corpus.version[feed]}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = corpus.body(feed)
            with corpus.lock:
                corpus.bytes_sent += len(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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

    corpus = Corpus(args.feeds, args.entries)
    server = serve(corpus)
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        sources = "\n".join(
            f"  - {{name: feed{f}, kind: rss, url: 'http://127.0.0.1:{port}/feed/{f}.xml'}}"
            for f in range(args.feeds)
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
        bytes_first = corpus.bytes_sent
        changed = max(1, int(args.feeds * args.changed))
        for feed in range(changed):
            corpus.add(feed, args.new_entries)
        full_second = sum(len(corpus.body(f)) for f in range(args.feeds))  # what an unconditional pass costs
        corpus.bytes_sent = 0
        t2 = time.perf_counter()
        second = run_collect(cfg, db)
        t3 = time.perf_counter()
        bytes_second = corpus.bytes_sent
        items = int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        clusters = int(db.execute("SELECT COUNT(DISTINCT cluster_id) FROM items").fetchone()[0])
        failed = len(first.failed) + len(second.failed)
        db.conn.close()
    server.shutdown()

    figures = {
        "corpus": f"{args.feeds} feeds x {args.entries} entries (~{bytes_first / args.feeds / 1024:.0f} KiB per feed)",
        "pass 1: items parsed, normalised and stored": first.new,
        "pass 1: wall time": f"{t1 - t0:.1f} s",
        "pass 1: items/s (wall)": f"{first.new / (t1 - t0):.0f}",
        "pass 1: items per CPU-second of this process": f"{first.new / (c1 - c0):.0f}",
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
        record("Collection throughput and conditional GET", figures)


if __name__ == "__main__":
    main()
