"""The offline demo: its sample sources, its fixture server, and `misinfo demo --check` end to end."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.demo.run import (
    SAMPLES,
    DemoFixtureServer,
    evaluate,
    prepare_workspace,
    run_demo_check,
)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers.items())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers.items())


def test_samples_cover_every_platform_with_60_to_100_items() -> None:
    feeds = [*SAMPLES.glob("rss/*.rss"), *SAMPLES.glob("atom/*.atom"), SAMPLES / "feeds" / "videos.xml"]
    count = 0
    for path in feeds:
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, path
        count += len(parsed.entries)
    count += len(json.loads((SAMPLES / "api/v1/timelines/tag/sapnhap.json").read_text(encoding="utf-8")))
    count += len(
        json.loads((SAMPLES / "xrpc/app.bsky.feed.getAuthorFeed.json").read_text(encoding="utf-8"))["feed"]
    )
    count += len(json.loads((SAMPLES / "r/VietNam/new.json").read_text(encoding="utf-8"))["data"]["children"])
    count += (
        (SAMPLES / "s/tinnhanhsapnhap.html").read_text(encoding="utf-8").count('class="tgme_widget_message ')
    )
    count += len(list(SAMPLES.glob("press/thoi-su/2026/*/*.html")))
    assert 60 <= count <= 100
    text = "".join(p.read_text(encoding="utf-8") for p in SAMPLES.rglob("*") if p.is_file())
    for hostile in ("<script>", "onerror=", "javascript:"):
        assert hostile in text or hostile in text.replace("&lt;", "<")


def test_fixture_server_substitutes_base_and_answers_conditional_get() -> None:
    with DemoFixtureServer() as server:
        status, body, headers = _get(server.url("/rss/thoisu-mau.rss"))
        assert status == 200
        assert headers["Content-Type"].startswith("application/rss+xml")
        assert b"{{BASE}}" not in body and server.base.encode() in body
        again, empty, _ = _get(server.url("/rss/thoisu-mau.rss"), {"If-None-Match": headers["ETag"]})
        assert (again, empty) == (304, b"")
        # Platform URLs without an extension, query strings ignored.
        status, body, headers = _get(server.url("/api/v1/timelines/tag/sapnhap?limit=40"))
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert isinstance(json.loads(body), list)
        status, body, headers = _get(server.url("/s/tinnhanhsapnhap"))
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        status, body, _ = _get(server.url("/robots.txt"))
        assert b"Disallow: /press/noi-bo/" in body
        assert _get(server.url("/../pyproject.toml"))[0] == 404
        assert _get(server.url("/%2e%2e/%2e%2e/etc/passwd"))[0] == 404
        assert _get(server.url("/missing.rss"))[0] == 404


def test_workspace_config_is_valid_and_points_every_kind_at_the_fixture_server(tmp_path: Path) -> None:
    from monitor.config import SOURCE_KINDS, load_config

    ws = prepare_workspace(tmp_path / "ws", base_url="http://127.0.0.1:9", smtp_port=2525, web_port=8123)
    cfg = load_config(ws / "config.yaml")
    assert {s.kind for s in cfg.sources} == set(SOURCE_KINDS)
    assert all(s.url.startswith("http://127.0.0.1:9/") for s in cfg.sources)
    assert cfg.collect.respect_robots and cfg.collect.allow_private_hosts
    assert cfg.smtp.port == 2525 and cfg.web.base_url == "http://127.0.0.1:8123"
    assert {r.language for r in cfg.digest.recipients} == {"vi", "en"}
    assert cfg.database_path == ws / "misinfo.db"
    assert cfg.classifier.model == "bundled:multilingual-e5-small"  # the default a new install runs


def test_evaluate_fails_when_nothing_was_flagged() -> None:
    figures = {
        "items": 10,
        "sightings": 10,
        "per_source": {"a": 10},
        "scored": 10,
        "flagged": 0,
        "flagged_with_suggestions": 0,
        "suggestions": 0,
        "rebuttals_approved": 12,
        "digests_sent": 3,
        "robots_violations": 0,
        "unanswered_groups": 0,
    }
    checks = {what: passed for what, passed, _ in evaluate(figures, mail_files=3)}
    assert checks["items collected"] and checks["digest written"]
    assert not checks["items flagged"] and not checks["suggestions for flagged items"]
    assert not checks["unanswered claims grouped"]


def test_demo_command_is_documented() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "--check" in result.output


def test_demo_refuses_to_wipe_a_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    from monitor.errors import UsageError

    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(UsageError):
        prepare_workspace(tmp_path, fresh=True)
    assert (tmp_path / "precious.txt").exists()


@pytest.mark.slow
def test_demo_check_runs_the_whole_pipeline(tmp_path: Path) -> None:
    lines: list[str] = []
    code = run_demo_check(tmp_path / "ws", echo=lines.append)
    output = "\n".join(lines)
    assert code == 0, output
    for check in (
        "items collected",
        "items flagged",
        "suggestions for flagged items",
        "unanswered claims grouped",
        "digest written",
    ):
        assert f"PASS  {check}" in output
    mails = list((tmp_path / "ws" / "mail").glob("*.eml"))
    assert len(mails) == 3
    assert any(b"lanh-dao@example.gov.vn" in m.read_bytes() for m in mails)
    # The samples' novel rumour (no starter rebuttal answers it) is an open group of >= 2 posts.
    db = sqlite3.connect(tmp_path / "ws" / "misinfo.db")
    try:
        sizes = [
            int(n)
            for (n,) in db.execute(
                "SELECT COUNT(*) FROM claim_group_items m JOIN claim_groups g ON g.id = m.group_id"
                " WHERE g.status = 'open' GROUP BY g.id"
            )
        ]
        merger_fee = db.execute(
            "SELECT COUNT(*) FROM claim_group_items m JOIN items i ON i.id = m.item_id"
            " WHERE i.text LIKE '%phi sap nhap%' OR i.text LIKE '%phí sáp nhập%'"
            " GROUP BY m.group_id ORDER BY 1 DESC LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    assert max(sizes, default=0) >= 2, sizes
    assert merger_fee is not None and merger_fee[0] >= 2


def test_a_complete_workspace_is_reused_and_an_incomplete_one_is_not(tmp_path: Path) -> None:
    from monitor.demo.workspace import REPO_ROOT, is_complete, reset_workspace, write_state
    from monitor.errors import UsageError

    ws = prepare_workspace(tmp_path / "ws", base_url="http://127.0.0.1:9", smtp_port=2525)
    assert not is_complete(ws)
    (ws / "misinfo.db").write_bytes(b"")
    write_state(ws, complete=False, failed_stages=["classify"])
    assert not is_complete(ws)
    write_state(ws, complete=True, fixture_port=9)
    assert is_complete(ws)
    reset_workspace(ws)
    assert not ws.exists()
    with pytest.raises(UsageError):
        reset_workspace(REPO_ROOT)
