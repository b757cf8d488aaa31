"""Sources with `ocr: true`: images of feed entries are fetched politely and read; bounded per entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor import pipeline
from monitor.config import parse_config
from monitor.store import connect
from monitor.store.items import search_items
from tests.httpserver import FixtureServer, Response
from tests.ocr_helpers import RUMOUR, need_ocr, render

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Nhóm</title>
<item><title>Ảnh đang lan truyền</title><link>{base}/p/1</link><guid>p1</guid>
<description>Xem ảnh</description>
<enclosure url="{base}/img/1.png" type="image/png" length="1"/></item>
<item><title>Ảnh hỏng</title><link>{base}/p/2</link><guid>p2</guid><description>Ảnh hỏng</description>
<enclosure url="{base}/img/bad.png" type="image/png" length="1"/></item>
</channel></rss>"""


def _cfg(tmp_path: Path, server: FixtureServer, ocr: bool) -> Any:
    import yaml

    data = {
        "database": str(tmp_path / "c.db"),
        "state_dir": str(tmp_path / "var"),
        "collect": {"allow_private_hosts": True, "per_host_delay": 0, "retries": 0},
        "sources": [{"name": "nhom", "kind": "rss", "url": server.url("/feed.xml"), "ocr": ocr}],
        "ocr": {"max_images": 1},
    }
    return parse_config(yaml.safe_dump(data), base_dir=tmp_path)


def _serve(server: FixtureServer) -> None:
    server.routes["/robots.txt"] = Response(404)
    server.routes["/feed.xml"] = Response(
        200, FEED.format(base=server.base).encode(), {"Content-Type": "application/rss+xml"}
    )
    server.routes["/img/1.png"] = Response(200, render(RUMOUR), {"Content-Type": "image/png"})
    server.routes["/img/bad.png"] = Response(200, b"<html>not an image</html>", {"Content-Type": "image/png"})


def test_enclosure_images_are_read_when_the_source_says_ocr(
    tmp_path: Path, http_server: FixtureServer
) -> None:
    need_ocr()
    _serve(http_server)
    cfg = _cfg(tmp_path, http_server, ocr=True)
    db = connect(cfg.database_path)
    report = pipeline.collect(cfg, db)
    assert report.new == 2 and not report.failed
    assert any("image not read" in n for n in report.sources[0].notes)
    rows = db.execute("SELECT item_id, content_type, text FROM item_ocr").fetchall()
    assert len(rows) == 1 and rows[0][1] == "image/png" and "căn cước" in rows[0][2]
    assert search_items(db, "can cuoc gan chip") == [rows[0][0]]
    again = pipeline.collect(cfg, db)
    assert again.new == 0
    assert sum(1 for r in http_server.requests if r[1] == "/img/1.png") == 1  # not fetched again
    db.conn.close()


def test_without_ocr_no_image_is_fetched(tmp_path: Path, http_server: FixtureServer) -> None:
    _serve(http_server)
    cfg = _cfg(tmp_path, http_server, ocr=False)
    db = connect(cfg.database_path)
    assert pipeline.collect(cfg, db).new == 2
    assert not [r for r in http_server.requests if r[1].startswith("/img/")]
    assert db.execute("SELECT COUNT(*) FROM item_ocr").fetchone()[0] == 0
    db.conn.close()
