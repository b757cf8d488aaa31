"""kill -9 in the middle of a pass, then run again: nothing stored is lost, nothing is duplicated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.collect_helpers import invoke, make_sources, rss
from tests.httpserver import FixtureServer, Response

REPO = Path(__file__).resolve().parent.parent
N = 12


def _count(db_path: Path) -> int:
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created or not migrated yet


def test_kill_9_mid_pass_then_rerun(http_server: FixtureServer, make_config: Callable[..., Path]) -> None:
    entries = []
    for i in range(N):
        http_server.routes[f"/art/{i}"] = Response(
            200,
            f"<html><body><article><h1>Bài {i}</h1><p>{'Nội dung bài viết số ' + str(i) + ' về sáp nhập tỉnh. ' * 12}</p>"
            "</article></body></html>".encode(),
            {"Content-Type": "text/html; charset=utf-8"},
            delay=0.4,  # slow articles: the pass is still running when we kill it
        )
        entries.append(
            {
                "title": f"Bài {i}",
                "link": http_server.url(f"/art/{i}"),
                "guid": f"k-{i}",
                "description": f"Tóm tắt {i}",
            }
        )
    http_server.routes["/feed.xml"] = Response(
        200, rss(entries), {"Content-Type": "application/rss+xml", "ETag": '"e1"'}
    )
    config = make_sources(
        make_config,
        [{"name": "slow", "kind": "rss", "url": http_server.url("/feed.xml"), "full_text": True}],
        read_timeout=5.0,
    )
    db_path = config.parent / "misinfo.db"

    proc = subprocess.Popen(
        [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(config), "collect"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _count(db_path) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db_path) as conn:
        before = dict(conn.execute("SELECT id, canonical_url FROM items").fetchall())
        assert (
            conn.execute("SELECT etag FROM sources").fetchone()[0] is None
        )  # validators saved only at the end
    assert 3 <= len(before) < N, "the kill must land mid-pass"

    for route in http_server.routes.values():
        if isinstance(route, Response):
            route.delay = 0
    result = invoke(config, "collect")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db_path) as conn:
        after = dict(conn.execute("SELECT id, canonical_url FROM items").fetchall())
        assert len(after) == N and len(set(after.values())) == N
        assert all(after[i] == url for i, url in before.items()), (
            "items stored before the kill are kept as they were"
        )
        assert conn.execute("SELECT COUNT(*) FROM item_sightings").fetchone()[0] == N
        assert conn.execute("SELECT COUNT(*) FROM evidence WHERE kind = 'article'").fetchone()[0] == N
        statuses = [r[0] for r in conn.execute("SELECT status FROM fetch_log ORDER BY id")]
        assert statuses == ["error", "ok"]  # the killed run is closed as interrupted
        assert "interrupted" in conn.execute("SELECT error FROM fetch_log ORDER BY id").fetchone()[0]
