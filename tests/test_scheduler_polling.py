"""The scheduler is sane about short intervals: a floor (collect.min_interval) refused at load time, the
first poll at once at start-up, collection never waiting on the model (no "maximum number of running
instances" warnings), and one INFO line per poll only when it brought something."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor import pipeline
from monitor import scheduler as sched
from monitor.config import load_config
from tests.collect_helpers import invoke, make_sources, rss
from tests.httpserver import FixtureServer, Response


def test_an_interval_below_the_floor_is_refused_in_one_line(make_config: Callable[..., Path]) -> None:
    url = "http://127.0.0.1:9/f.xml"
    fast = [
        {"name": "ok", "kind": "rss", "url": url},
        {"name": "hasty", "kind": "rss", "url": url, "interval": "0.001s"},
    ]
    result = invoke(make_sources(make_config, fast), "check")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert (
        "sources[1].interval" in lines[0]
        and "'hasty'" in lines[0]
        and "collect.min_interval (30s)" in lines[0]
    )
    # The default floor is 30 s; a test (or a lab) lowers it explicitly.
    assert load_config(make_sources(make_config, fast[:1])).collect.min_interval == 30.0
    lowered = make_sources(make_config, fast, min_interval="0.001s")
    assert invoke(lowered, "check").exit_code == 0


def test_short_interval_and_slow_model_load_poll_at_once_quietly_without_overlap_warnings(
    http_server: FixtureServer,
    make_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.routes["/feed.xml"] = Response(
        200,
        rss([{"title": "Căn cước gắn chip", "link": "http://127.0.0.1/a/1", "description": "Tin mới."}]),
        {"Content-Type": "application/rss+xml", "ETag": '"v1"'},
    )
    path = make_sources(
        make_config,
        [{"name": "a", "kind": "rss", "url": http_server.url("/feed.xml"), "interval": "1s"}],
        min_interval="1s",
    )
    cfg = load_config(path)
    polls: list[float] = []
    stages: list[tuple[str, float]] = []
    real_collect = pipeline.collect

    def counting_collect(*args: Any, **kwargs: Any) -> Any:
        polls.append(time.monotonic())
        return real_collect(*args, **kwargs)

    def slow_classify(cfg: Any, db: Any, **kw: Any) -> None:
        stages.append(("classify", time.monotonic()))
        time.sleep(3.0)  # the encoder's first load

    monkeypatch.setattr(pipeline, "collect", counting_collect)
    monkeypatch.setattr(pipeline, "classify", slow_classify)
    monkeypatch.setattr(pipeline, "match", lambda cfg, db, **kw: stages.append(("match", time.monotonic())))
    monkeypatch.setattr(pipeline, "group", lambda cfg, db, **kw: stages.append(("group", time.monotonic())))
    monkeypatch.setattr(sched, "_config", None)
    caplog.set_level(logging.DEBUG)

    started = time.monotonic()
    scheduler = sched.start(cfg)
    try:
        time.sleep(4.5)
    finally:
        scheduler.shutdown(wait=True)
    assert getattr(sched, "_runner", None) is None

    assert polls and polls[0] - started < 1.0, "the first poll starts at once"
    assert [name for name, _ in stages] == ["classify", "match", "group"]
    during_load = [t for t in polls if stages[0][1] < t < stages[0][1] + 3.0]
    assert len(during_load) >= 2, "collection goes on while the model loads"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in warnings if "maximum number of running instances" in r.getMessage()]
    assert not warnings, [r.getMessage() for r in warnings]
    info = [r for r in caplog.records if r.levelno == logging.INFO and r.name != "monitor.scheduler"]
    assert not [r for r in info if r.name.startswith(("apscheduler.executors", "httpx", "httpcore"))]
    poll_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("collect a:")]
    assert len(poll_lines) == len(polls)
    info_polls = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.INFO and r.getMessage().startswith("collect a:")
    ]
    assert info_polls == ["collect a: ok, 1 new, 0 seen"], "quiet polls are DEBUG lines"
