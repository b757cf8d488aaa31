"""Issue #12, part 1 (collection): per-source deadline, SIGTERM, SSRF ranges, press crawl failures,
retention, interrupted passes, database file modes, huge intervals, read-only databases."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.collect import fetch
from monitor.collect.fetch import Fetcher, check_url
from monitor.config import CollectConfig, load_config
from monitor.errors import FetchError
from tests.collect_helpers import FAST_COLLECT, TrickleServer, invoke, make_sources, rss, status_of
from tests.conftest import require
from tests.httpserver import FixtureServer, Response

REPO = Path(__file__).resolve().parent.parent


def _feed(server: FixtureServer, n: int = 2, prefix: str = "b") -> None:
    entries = [
        {"title": f"Tin {prefix} {i}", "link": server.url(f"/{prefix}/{i}"), "guid": f"{prefix}-{i}"}
        for i in range(n)
    ]
    server.routes["/feed.xml"] = Response(200, rss(entries), {"Content-Type": "application/rss+xml"})


# --- item 1: a slow source is ended by collect.source_timeout and the others still run ------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["body", "headers"])
def test_slow_source_ends_at_source_timeout_and_others_run(
    mode: str, http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    slow = TrickleServer(mode=mode, step=0.1)
    try:
        _feed(http_server)
        config = make_sources(
            make_config,
            [
                {"name": "a-slow", "kind": "rss", "url": slow.url("/feed.xml")},
                {"name": "b-ok", "kind": "rss", "url": http_server.url("/feed.xml")},
            ],
            read_timeout=5.0,  # each read gets data well within it: only the overall deadline can stop it
            source_timeout="2s",
        )
        result = invoke(config, "collect", "--json")
        assert result.exit_code == 0, result.output
        by_name = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
        assert by_name["a-slow"]["status"] == "error"
        assert "collect.source_timeout" in by_name["a-slow"]["error"]
        assert by_name["b-ok"]["status"] == "ok" and by_name["b-ok"]["new"] == 2
        with sqlite3.connect(config.parent / "misinfo.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM fetch_log WHERE status = 'running'").fetchone()[0] == 0
        health = status_of(config, "a-slow")
        assert health["last_error"] and "source_timeout" in health["last_error"]
        assert health["last_success"] is None
    finally:
        slow.stop()


def test_source_timeout_is_a_duration_with_a_default() -> None:
    assert CollectConfig().source_timeout >= 60
    assert CollectConfig(source_timeout="90s").source_timeout == 90.0  # type: ignore[arg-type]


@pytest.mark.timeout(90)
def test_sigterm_stops_misinfo_run_while_a_source_hangs(make_config: Callable[..., Path]) -> None:
    slow = TrickleServer(mode="body", step=0.1)
    try:
        config = make_sources(
            make_config,
            [{"name": "a-slow", "kind": "rss", "url": slow.url("/feed.xml")}],
            read_timeout=60.0,
            source_timeout="30m",
        )
        db_path = config.parent / "misinfo.db"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from monitor.cli import main; main()",
                "--config",
                str(config),
                "run",
                "--no-web",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while not _running(db_path) and proc.poll() is None:
                time.sleep(0.05)
            assert proc.poll() is None
            os.kill(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(
                timeout=30
            )  # generous: without the fix it waits for the 30 min deadline
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, out
        assert "Stopped." in out
        with sqlite3.connect(db_path) as conn:
            rows = conn.execute("SELECT status, error FROM fetch_log").fetchall()
        assert rows and all(status == "error" for status, _ in rows), rows
        assert "stopp" in rows[-1][1]
    finally:
        slow.stop()


def _running(db_path: Path) -> bool:
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM fetch_log WHERE status = 'running'").fetchone()[0])
    except sqlite3.OperationalError:
        return False


# --- item 3: SSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",  # shared address space (100.64.0.0/10)
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 around 169.254.169.254
        "http://[2002:7f00:1::1]/",  # 6to4 around 127.0.0.1
        "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
        "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
        "http://198.18.0.1/",
        "http://0.0.0.0/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[fd00::1]/",
    ],
)
def test_non_global_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="not a public address"):
        check_url(url, allow_private=False)


def test_public_addresses_pass() -> None:
    check_url("http://93.184.216.34/feed.xml", allow_private=False)
    check_url("http://[2606:2800:220:1:248:1893:25c8:1946]/", allow_private=False)
    assert fetch.is_public_address(ipaddress.ip_address("2002:5db8:d822::1"))  # 6to4 of a public address


def test_allow_private_hosts_defaults_to_false() -> None:
    assert CollectConfig().allow_private_hosts is False


def test_redirect_to_shared_address_space_is_refused(
    http_server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture server stands in for a public feed: 127.0.0.1 counts as public in this test only.
    real = fetch.is_public_address
    monkeypatch.setattr(fetch, "is_public_address", lambda a: str(a) == "127.0.0.1" or real(a))
    http_server.routes["/feed.xml"] = Response(302, b"", {"Location": "http://100.100.100.200/latest/"})
    cfg = CollectConfig(**{**FAST_COLLECT, "allow_private_hosts": False, "respect_robots": False})
    with Fetcher(cfg) as f, pytest.raises(FetchError, match="100.100.100.200.*not a public address"):
        f.get(http_server.url("/feed.xml"))


def test_dns_rebinding_is_refused_at_connect_time(
    http_server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first answer (the check) is public, the next (the connection) is 127.0.0.1: never connected.
    real_getaddrinfo = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "feed.rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        ip = "93.184.216.34" if not answers else "127.0.0.1"
        answers.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 80)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    http_server.routes["/feed.xml"] = Response(200, rss([{"title": "x", "guid": "1"}]))
    cfg = CollectConfig(**{**FAST_COLLECT, "allow_private_hosts": False, "respect_robots": False})
    with Fetcher(cfg) as f, pytest.raises(FetchError, match="127.0.0.1.*not a public address"):
        f.get(f"http://feed.rebind.test:{http_server.port}/feed.xml")
    assert len(answers) >= 2
    assert not http_server.requests


# --- item 4: a press crawl that fetched nothing is a failure ------------------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", ["closed-port", "http-500", "robots-disallowed", "slow"])
def test_press_crawl_that_fetched_nothing_is_an_error(
    case: str, http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    slow = TrickleServer(mode="body", step=0.1) if case == "slow" else None
    try:
        start = http_server.url("/thoi-su/")
        if case == "closed-port":
            start = f"http://127.0.0.1:{_closed_port()}/thoi-su/"
        elif case == "http-500":
            http_server.routes["/thoi-su/"] = Response(500, b"oops", {"Content-Type": "text/html"})
        elif case == "robots-disallowed":
            http_server.routes["/robots.txt"] = Response(200, b"User-agent: *\nDisallow: /thoi-su/\n")
            http_server.routes["/thoi-su/"] = Response(200, b"<html><a href='/a-1.html'>a</a></html>")
        elif slow is not None:
            start = slow.url("/thoi-su/")
        config = make_sources(
            make_config, [{"name": "bao", "kind": "press", "url": start, "crawl_timeout": 20}]
        )
        result = invoke(config, "collect", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)["sources"][0]
        assert report["status"] == "error", report
        assert "no page" in report["error"]
        health = status_of(config, "bao")
        assert health["last_success"] is None and health["last_error"]
    finally:
        if slow is not None:
            slow.stop()


@pytest.mark.timeout(90)
def test_press_partial_failure_is_ok_with_a_warning(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    body = "<p>" + "Nội dung bài viết về sắp xếp đơn vị hành chính cấp xã. " * 10 + "</p>"
    http_server.routes["/thoi-su/"] = Response(
        200,
        b"<html><body><a href='/thoi-su/a-1.html'>a</a> <a href='/thoi-su/b-2.html'>b</a></body></html>",
        {"Content-Type": "text/html; charset=utf-8"},
    )
    http_server.routes["/thoi-su/a-1.html"] = Response(
        200,
        f"<html><head><title>Bài A</title></head><body><article><h1>Bài A</h1>{body}</article></body></html>".encode(),
        {"Content-Type": "text/html; charset=utf-8"},
    )
    http_server.routes["/thoi-su/b-2.html"] = Response(500, b"oops", {"Content-Type": "text/html"})
    config = make_sources(
        make_config,
        [{"name": "bao", "kind": "press", "url": http_server.url("/thoi-su/"), "allow": [r"-\d+\.html"]}],
    )
    report = json.loads(invoke(config, "collect", "--json").stdout)["sources"][0]
    assert report["status"] == "ok" and report["new"] == 1, report
    health = status_of(config, "bao")
    assert health["last_error"] is None and health["last_success"]
    assert health["warning"] and "b-2.html" in health["warning"]
    text = invoke(config, "status").output
    assert "warning" in text


# --- item 13: evidence per entry, retention, interrupted passes, file modes --------------------------------


def test_feed_evidence_is_stored_per_entry(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    filler = "Đoạn văn dài về chính sách. " * 200
    entries = [{"title": f"Tin {i}", "guid": f"g-{i}", "description": f"{i} {filler}"} for i in range(30)]
    http_server.routes["/feed.xml"] = Response(200, rss(entries), {"Content-Type": "application/rss+xml"})
    config = make_sources(make_config, [{"name": "f", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    db_path = config.parent / "misinfo.db"
    with sqlite3.connect(db_path) as conn:
        before = conn.execute("SELECT COALESCE(SUM(size), 0) FROM evidence_blobs").fetchone()[0]
    entries.append({"title": "Tin mới", "guid": "g-new", "description": "một tin mới"})
    feed = rss(entries)
    http_server.routes["/feed.xml"] = Response(200, feed, {"Content-Type": "application/rss+xml"})
    assert invoke(config, "collect").exit_code == 0
    with sqlite3.connect(db_path) as conn:
        after = conn.execute("SELECT COALESCE(SUM(size), 0) FROM evidence_blobs").fetchone()[0]
        body = conn.execute(
            "SELECT b.body_gz FROM evidence e JOIN evidence_blobs b USING (sha256) JOIN items i ON i.id = e.item_id"
            " WHERE i.title = 'Tin mới'"
        ).fetchone()[0]
    import gzip

    assert b"g-new" in gzip.decompress(body) and b"g-0<" not in gzip.decompress(body)
    assert after - before < len(feed) // 10, (before, after, len(feed))


def test_prune_removes_old_evidence_and_fetch_log(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    _feed(http_server, n=3)
    config = make_sources(make_config, [{"name": "f", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    db_path = config.parent / "misinfo.db"
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE evidence SET fetched_at = '2020-01-01T00:00:00+00:00' WHERE id IN (SELECT MIN(id) FROM evidence)"
        )
        conn.execute(
            "UPDATE fetch_log SET started_at = '2020-01-01T00:00:00+00:00', finished_at = '2020-01-01T00:00:00+00:00'"
        )
    assert invoke(config, "collect").exit_code == 0  # a recent fetch_log row stays
    result = invoke(config, "prune", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert "evidence" in result.output and "fetch_log" in result.output
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 3  # items are kept
        assert conn.execute("SELECT COUNT(*) FROM fetch_log").fetchone()[0] == 1
        orphans = conn.execute(
            "SELECT COUNT(*) FROM evidence_blobs WHERE sha256 NOT IN (SELECT sha256 FROM evidence)"
        ).fetchone()[0]
        assert orphans == 0


def test_retention_defaults_come_from_the_config(make_config: Callable[..., Path]) -> None:
    config = make_config(retention={"evidence": "180d", "fetch_log": "90d"})
    cfg = load_config(config)
    assert cfg.retention.evidence == 180 * 86400 and cfg.retention.fetch_log == 90 * 86400
    result = invoke(config, "prune")
    assert result.exit_code == 0, result.output
    assert "180" in result.output or "older than" in result.output


def test_a_killed_pass_shows_as_interrupted_in_status(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    _feed(http_server)
    config = make_sources(make_config, [{"name": "f", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    # What a `kill -9` mid-pass leaves behind: a running fetch_log row whose owner is gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with sqlite3.connect(config.parent / "misinfo.db") as conn:
        conn.execute(
            "INSERT INTO fetch_log (source_id, started_at, status) VALUES (1, '2025-01-01T00:00:00+00:00', 'running')"
        )
        lease = json.dumps(
            {"owner": f"{socket.gethostname()}:{dead.pid}:1", "until": "2999-01-01T00:00:00+00:00"}
        )
        conn.execute("INSERT INTO meta (key, value) VALUES ('lease:collect:f', ?)", [lease])
    health = status_of(config, "f")
    assert health["last_error"] and "interrupted" in health["last_error"]
    assert "interrupted" in invoke(config, "status").output


def test_new_database_files_are_private(make_config: Callable[..., Path]) -> None:
    config = make_config()
    assert invoke(config, "status").exit_code == 0
    db_path = config.parent / "misinfo.db"
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    for extra in (Path(str(db_path) + "-wal"), Path(str(db_path) + "-shm")):
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


# --- item 9 (collection parts): huge intervals, read-only databases --------------------------------------


def test_huge_interval_is_refused_by_check(make_config: Callable[..., Path]) -> None:
    config = make_sources(
        make_config,
        [{"name": "f", "kind": "rss", "url": "http://127.0.0.1:9/f.xml", "interval": "99999999999d"}],
    )
    result = CliRunnerInvoke(config, "check")
    assert result.exit_code == 2
    assert "sources[0].interval" in result.output and len(result.output.strip().splitlines()) == 1


def CliRunnerInvoke(config: Path, *args: str) -> Any:  # noqa: N802
    from click.testing import CliRunner

    from monitor.cli import cli

    return CliRunner().invoke(cli, ["--config", str(config), *args])


@pytest.mark.parametrize("command", ["status", "collect"])
def test_read_only_database_is_one_line_or_read(
    command: str, http_server: FixtureServer, make_config: Callable[..., Path], tmp_path: Path
) -> None:
    _feed(http_server)
    config = make_sources(make_config, [{"name": "f", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    db_path = config.parent / "misinfo.db"
    sqlite3.connect(db_path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    for extra in (Path(str(db_path) + "-wal"), Path(str(db_path) + "-shm")):
        extra.unlink(missing_ok=True)
    db_path.chmod(0o444)
    immutable = os.geteuid() == 0  # root writes read-only files: make the file immutable instead
    if immutable:
        made = subprocess.run(["chattr", "+i", str(db_path)], capture_output=True).returncode == 0
        require(
            made, "chattr +i (running as root, it makes the database read-only)", "apt-get install e2fsprogs"
        )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(config), command],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(db_path)], check=True)
    assert "Traceback" not in proc.stderr, proc.stderr
    if command == "status":  # reads only (the sources are synced already: nothing to write) — it works
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "f" in proc.stdout
        return
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "read-only" in errors[0], proc.stderr


def test_prune_job_applies_the_retention_section(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    from monitor import scheduler as sched

    _feed(http_server)
    config = make_sources(make_config, [{"name": "f", "kind": "rss", "url": http_server.url("/feed.xml")}])
    assert invoke(config, "collect").exit_code == 0
    with sqlite3.connect(config.parent / "misinfo.db") as conn:
        conn.execute("UPDATE fetch_log SET started_at = '2020-01-01T00:00:00+00:00'")
    sched.use_config(load_config(config))
    assert sched.prune_job() == {"evidence": 0, "evidence_blobs": 0, "fetch_log": 1}
