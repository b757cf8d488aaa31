"""Scheduler: persistent job store, one job per source, no overlapping runs; `misinfo run` stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import scheduler as sched
from monitor.config import load_config
from monitor.store import connect
from monitor.store.collect import acquire_lease, release_lease
from tests.collect_helpers import make_sources, rss
from tests.httpserver import FixtureServer, Response

REPO = Path(__file__).resolve().parent.parent


def _config(make_config: Callable[..., Path], url: str, interval: str = "15m", **extra: Any) -> Path:
    return make_sources(
        make_config,
        [
            {"name": "a", "kind": "rss", "url": url, "interval": interval},
            {"name": "off", "kind": "rss", "url": url, "enabled": False},
            *extra.get("more", []),
        ],
    )


def test_job_store_persists_across_restart(make_config: Callable[..., Path]) -> None:
    path = _config(make_config, "http://127.0.0.1:9/feed.xml")
    cfg = load_config(path)
    first = sched.start(cfg)
    try:
        jobs = {j.id: j for j in first.get_jobs()}
        assert set(jobs) == {"collect:a", "digest", "surge", "prune"}
        job = jobs["collect:a"]
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time >= 60
        assert job.func_ref == "monitor.scheduler:collect_job" and list(job.args) == ["a"]
        planned = job.next_run_time
    finally:
        first.shutdown(wait=False)
    assert sched.jobstore_path(cfg).exists()

    # Same config again: the stored job is kept with its schedule, not recreated.
    again = sched.build_scheduler(cfg)
    again.start(paused=True)
    try:
        # A new source is polled at once, so the first scheduler may already have run it and stored the
        # next run one interval later: either way the stored schedule is the one that comes back.
        stored = again.get_job("collect:a").next_run_time
        assert planned <= stored <= planned + timedelta(minutes=15)
        assert sched.sync_jobs(again, cfg)["collect:a"] == "kept"
        assert again.get_job("collect:a").next_run_time == stored
        # A changed interval replaces the job; a source removed from the config loses its job.
        changed = load_config(
            _config(
                make_config,
                "http://127.0.0.1:9/feed.xml",
                interval="1h",
                more=[{"name": "b", "kind": "rss", "url": "http://127.0.0.1:9/b.xml"}],
            )
        )
        changes = sched.sync_jobs(again, changed)
        assert changes["collect:a"] == "added" and changes["collect:b"] == "added"
        assert again.get_job("collect:a").trigger.interval.total_seconds() == 3600
        only_b = load_config(
            make_sources(make_config, [{"name": "b", "kind": "rss", "url": "http://127.0.0.1:9/b.xml"}])
        )
        assert sched.sync_jobs(again, only_b)["collect:a"] == "removed"
    finally:
        again.shutdown(wait=False)


def test_collect_job_runs_stages_and_never_overlaps(
    http_server: FixtureServer, make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.routes["/feed.xml"] = Response(
        200,
        rss(
            [
                {
                    "title": "Chuyển đổi số",
                    "link": "http://127.0.0.1/s/1",
                    "description": "Dịch vụ công trực tuyến mở rộng.",
                }
            ]
        ),
        {"Content-Type": "application/rss+xml"},
    )
    path = _config(make_config, http_server.url("/feed.xml"))
    calls: list[str] = []
    monkeypatch.setattr(sched, "_run_stage", lambda name, cfg, db, **kw: calls.append(name))
    # Another live process holds the source: the job skips it instead of collecting twice.
    cfg = load_config(path)
    monkeypatch.setattr(sched, "_config", None)
    sched.use_config(cfg)
    path.unlink()  # jobs run with the Config handed down at start-up; they never re-read the file
    db = connect(cfg.database_path)
    acquire_lease(db, "collect:a", "another-host:1:1", ttl=60)
    skipped = sched.collect_job("a")
    assert skipped is not None and skipped["sources"][0]["status"] == "skipped"
    assert db["items"].count == 0 and calls == []
    # A lease left by a process that died on this host (kill -9) does not block the next run.
    release_lease(db, "collect:a", "another-host:1:1")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    assert acquire_lease(db, "collect:a", f"{socket.gethostname()}:{dead.pid}:1", ttl=3600 * 24 * 365)
    report = sched.collect_job("a")
    assert report is not None and report["new"] == 1
    assert calls == ["classify", "match", "group"]
    db.conn.close()


def test_a_failing_stage_is_logged_and_never_stops_the_job(
    make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor import pipeline

    def broken(cfg: object, db: object, **kw: object) -> None:
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(pipeline, "classify", broken)
    cfg = load_config(make_sources(make_config, []))
    assert sched._run_stage("classify", cfg, None) is None
    assert "stage classify failed" in caplog.text and "model file unreadable" in caplog.text


def test_misinfo_run_stops_cleanly_on_sigterm(make_config: Callable[..., Path]) -> None:
    path = _config(make_config, "http://127.0.0.1:9/feed.xml")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from monitor.cli import main; main()",
            "--config",
            str(path),
            "run",
            "--no-web",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Scheduler running" in line or not line:
            break
    assert any("Scheduler running 4 job(s)" in ln for ln in lines), lines
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopped." in out


def test_misinfo_run_with_web_app_stops_cleanly(make_config: Callable[..., Path]) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    path = make_sources(make_config, [])
    text = path.read_text() + f"web: {{host: 127.0.0.1, port: {port}}}\n"
    path.write_text(text)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(path), "run"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Uvicorn running" in line or not line:
            break
    assert any("Uvicorn running" in ln for ln in lines), lines
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopped." in out  # uvicorn's re-raised SIGTERM reached our handler: the scheduler shut down too


def test_scheduled_job_collects_through_the_job_store(
    http_server: FixtureServer, make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    http_server.routes["/feed.xml"] = Response(
        200,
        rss([{"title": "Định danh điện tử", "link": "http://127.0.0.1/j/1", "description": "VNeID mức 2."}]),
        {"Content-Type": "application/rss+xml"},
    )
    path = _config(make_config, http_server.url("/feed.xml"))
    monkeypatch.setattr(sched, "_run_stage", lambda name, cfg, db, **kw: None)
    cfg = load_config(path)
    scheduler = sched.start(cfg)
    try:
        assert sched.current_config() is cfg
        scheduler.modify_job("collect:a", next_run_time=datetime.now(UTC))
        db = connect(cfg.database_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0:
            time.sleep(0.1)
        assert db["items"].count == 1
        db.conn.close()
    finally:
        scheduler.shutdown(wait=True)


def test_jobs_stored_by_an_older_version_with_a_config_path_are_replaced(
    make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import apscheduler.job

    path = _config(make_config, "http://127.0.0.1:9/feed.xml")
    cfg = load_config(path)
    old = sched.build_scheduler(cfg)
    old.start(paused=True)
    # Older versions stored (config path, source name); today's collect_job takes the name only.
    monkeypatch.setattr(apscheduler.job, "check_callable_args", lambda *a: None)
    old.add_job(sched.COLLECT_JOB, "interval", minutes=15, args=[str(path), "a"], id="collect:a")
    old.shutdown(wait=False)
    monkeypatch.undo()
    again = sched.build_scheduler(cfg)
    again.start(paused=True)
    try:
        assert sched.sync_jobs(again, cfg)["collect:a"] == "added"
        assert list(again.get_job("collect:a").args) == ["a"]
        assert list(again.get_job("digest").args) == [] and list(again.get_job("surge").args) == []
    finally:
        again.shutdown(wait=False)


def test_a_job_without_a_config_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.errors import ConfigError

    monkeypatch.setattr(sched, "_config", None)
    with pytest.raises(ConfigError, match="start"):
        sched.collect_job("a")


def test_misinfo_run_gives_the_scheduler_and_the_web_app_one_config(
    make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from monitor.web import app as web_app

    cfg = load_config(make_sources(make_config, []))
    cfg.web.workers = 1  # the in-process server (several workers would start real processes)
    seen: dict[str, Any] = {}

    def fake_create_app(given: Any) -> str:
        seen["web"] = given
        seen["jobs"] = sched.current_config()
        return "app"

    class FakeServer:
        def __init__(self, config: Any) -> None:
            pass

        def run(self) -> None:
            pass

    monkeypatch.setattr(web_app, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    monkeypatch.setattr(uvicorn, "Config", lambda *a, **kw: None)
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # leave pytest's own handlers alone
    monkeypatch.setattr(sched, "_config", None)
    sched.serve(cfg, web=True, echo=lambda line: None)
    assert seen["web"] is cfg and seen["jobs"] is cfg
