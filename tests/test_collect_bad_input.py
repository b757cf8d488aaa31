"""Bad input, one fixture file per case (expectations written in the file): no crash, a clear error on
the source's row, nothing already stored lost, nothing duplicated by a second pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from monitor.collect.fetch import clear_caches
from tests.collect_helpers import RESOURCES, invoke, load_fixture, make_sources, rss, status_of
from tests.httpserver import FixtureServer, Response

CASES = sorted((RESOURCES / "bad").iterdir())

GOOD = rss(
    [
        {
            "title": "Căn cước gắn chip vẫn có giá trị sau sáp nhập",
            "link": "http://127.0.0.1/good/1",
            "guid": "good-1",
            "description": "Theo quy định hiện hành, người dân không phải làm lại thẻ căn cước.",
        }
    ]
)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_input(path: Path, http_server: FixtureServer, make_config: Callable[..., Path]) -> None:
    clear_caches()
    fx = load_fixture(path)
    config = make_sources(make_config, [{"name": "feed", "kind": "rss", "url": http_server.url("/feed.xml")}])
    # A good pass first: what it stored must survive the bad one.
    http_server.routes["/feed.xml"] = Response(200, GOOD, {"Content-Type": "application/rss+xml"})
    first = invoke(config, "collect")
    assert first.exit_code == 0, first.output
    db = sqlite_utils.Database(config.parent / "misinfo.db")
    assert db["items"].count == 1

    http_server.routes["/feed.xml"] = fx.response
    http_server.routes.update(fx.extra_routes)
    result = invoke(config, "collect", "--source", "feed")
    assert result.exit_code == 0, result.output
    assert "unexpected" not in result.output  # connector bugs surface as "unexpected ..."
    health = status_of(config, "feed")
    if fx.expect_error:
        assert health["last_error"] and fx.expect_error in health["last_error"], health
        assert "ERROR" in result.output and fx.expect_error in result.output
        assert health["consecutive_failures"] == 1
    else:
        assert health["last_error"] is None, health
    if fx.expect_note:
        assert fx.expect_note in result.output or fx.expect_note in _last_note(db), result.output
    assert db["items"].count == 1 + fx.expect_new
    assert (
        db.execute("SELECT title FROM items WHERE canonical_url = 'http://127.0.0.1/good/1'").fetchone()
        is not None
    )

    again = invoke(config, "collect", "--source", "feed")
    assert again.exit_code == 0
    assert db["items"].count == 1 + fx.expect_new, "a second pass must not duplicate anything"
    db.conn.close()


def _last_note(db: sqlite_utils.Database) -> str:
    row = db.execute(
        "SELECT error FROM fetch_log WHERE status != 'error' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return (row[0] or "") if row else ""
