"""Distributed work with Celery on Redis: real redis-server, real `misinfo worker` / `misinfo beat` processes.

(1) beat enqueues collection of three recorded feeds -> a worker stores, classifies, matches and groups;
(2) a worker killed with SIGKILL mid-collection: another finishes the redelivered task, 0 lost, 0 duplicated;
(3) two workers racing for the same digest send each message once; (4) per-host politeness holds across
two worker processes; (5) config errors are one clear line.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import base_config
from tests.digest_seed import SmtpServer, digest_config, seed, smtp
from tests.distributed_helpers import (
    Processes,
    RedisServer,
    free_port,
    log_text,
    processes,
    redis_server,
    wait_for,
    write_config,
)
from tests.httpserver import FixtureServer, Response

__all__ = ["processes", "redis_server", "smtp"]
REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"
FEEDS = ("rss/thoisu-mau.rss", "rss/tinnong24h.rss", "rss/policy-wire-en.rss")


def _count(db_path: Path, sql: str, args: tuple[Any, ...] = ()) -> int:
    con = sqlite3.connect(db_path, timeout=10)
    try:
        return int(con.execute(sql, args).fetchone()[0])
    except sqlite3.OperationalError:  # the first worker has not created the tables yet
        return 0
    finally:
        con.close()


def _cli(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def _ready(tmp_path: Path, procs: Processes, *names: str) -> None:
    state = tmp_path / "var"
    wait_for(
        f"workers {names} ready",
        lambda: all(f"{n}@test ready." in log_text(state) for n in names),
        30,
        lambda: "\n".join(procs.output(n)[-2000:] for n in names),
    )


def test_beat_and_a_worker_collect_classify_match_and_group(
    tmp_path: Path, redis_server: RedisServer, processes: Processes
) -> None:
    server = FixtureServer(root=SAMPLES).start()
    try:
        data = base_config(tmp_path)
        data["sources"] = [
            {"name": f"feed{n}", "kind": "rss", "url": server.url("/" + path), "interval": "1h"}
            for n, path in enumerate(FEEDS)
        ]
        data["queue"] = {"broker": redis_server.url}
        config = write_config(tmp_path, data)
        # What the single-machine path stores from the same feeds, for comparison.
        (tmp_path / "alone").mkdir()
        single = {k: v for k, v in data.items() if k != "queue"}
        single["database"] = str(tmp_path / "single.db")
        alone = _cli(write_config(tmp_path / "alone", single), "collect")
        assert alone.exit_code == 0, alone.output
        expected = _count(tmp_path / "single.db", "SELECT COUNT(*) FROM items")
        assert expected >= 30
        db_path = tmp_path / "misinfo.db"

        processes.worker(config, "w1", "--queues", "collect,stages,notify")
        processes.start(config, "beat", "beat")
        state = tmp_path / "var"
        wait_for(
            f"{expected} items stored and classified",
            lambda: (
                _count(db_path, "SELECT COUNT(*) FROM items") == expected
                and _count(db_path, "SELECT COUNT(DISTINCT item_id) FROM item_scores") == expected
            ),
            60,
            lambda: log_text(state)[-4000:] + processes.output("w1")[-2000:],
        )
        wait_for(
            "match and group to run after classify",
            lambda: re.search(r"Task misinfo\.group\[[^\]]+\] succeeded", log_text(state)),
            30,
            lambda: log_text(state)[-4000:],
        )
        log = log_text(state)
        for name in ("feed0", "feed1", "feed2"):
            assert re.search(rf"collect {name}: ok, \d+ new", log), log[-3000:]
        assert re.search(r"Task misinfo\.match\[[^\]]+\] succeeded", log)
        assert "Traceback" not in log, log[-3000:]

        status = _cli(config, "status")
        assert status.exit_code == 0, status.output
        assert "Workers: 1 responding" in status.output and "w1@test" in status.output, status.output
        assert re.search(r"Beat: running, last tick .* \([\d.]+ s ago\)", status.output), status.output
        assert "Queue: waiting collect 0, stages 0, notify 0" in status.output, status.output
    finally:
        server.stop()


ARTICLE = (
    "<html><body><article><h1>Bài {n}</h1><p>Nội dung đầy đủ của bài viết số {n} về sáp nhập tỉnh và "
    "chính quyền địa phương hai cấp, với đủ chữ để trích xuất văn bản của trang một cách đáng tin cậy."
    "</p></article></body></html>"
)


def test_a_worker_killed_mid_collection_loses_and_duplicates_nothing(
    tmp_path: Path, redis_server: RedisServer, processes: Processes
) -> None:
    entries = 10
    server = FixtureServer().start()
    trickle = [True]

    def article(n: int) -> Any:
        def handler(_: Any) -> Response:
            # Until the kill each article takes 0.5 s; the redelivered pass gets them at once (a pass
            # longer than the test's 2 s visibility timeout would be handed out again, harmlessly).
            body = ARTICLE.format(n=n).encode()
            delay = 0.5 if trickle[0] else 0.0
            return Response(200, body, {"Content-Type": "text/html; charset=utf-8"}, delay=delay)

        return handler

    items = "".join(
        f"<item><title>Tin {n}</title><link>{server.url(f'/a/{n}.html')}</link><guid>g-{n}</guid>"
        f"<description>Tóm tắt {n}</description></item>"
        for n in range(entries)
    )
    feed = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    server.routes["/feed.xml"] = Response(200, feed.encode(), {"Content-Type": "application/rss+xml"})
    server.routes["/robots.txt"] = Response(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"})
    for n in range(entries):
        server.routes[f"/a/{n}.html"] = article(n)
    try:
        data = base_config(tmp_path)
        data["sources"] = [{"name": "slow", "kind": "rss", "url": server.url("/feed.xml"), "full_text": True}]
        data["collect"] = {**data["collect"], "read_timeout": 5}
        data["queue"] = {"broker": redis_server.url, "visibility_timeout": "2s", "lock_ttl": "2s"}
        config = write_config(tmp_path, data)
        db_path = tmp_path / "misinfo.db"
        state = tmp_path / "var"

        processes.worker(config, "first", "--queues", "collect")
        _ready(tmp_path, processes, "first")
        queued = _cli(config, "enqueue", "collect", "--source", "slow")
        assert queued.exit_code == 0, queued.output
        task_id = queued.output.split(": ")[-1].strip()
        items_sql = (
            "SELECT COUNT(*) FROM items WHERE source_id = (SELECT id FROM sources WHERE name = 'slow')"
        )
        wait_for(
            "the first worker to store some items",
            lambda: _count(db_path, items_sql) >= 2,
            30,
            lambda: log_text(state)[-3000:],
        )
        processes.kill("first")  # SIGKILL, mid-collection: the task was taken and never acknowledged
        trickle[0] = False
        stored_before = _count(db_path, items_sql)
        assert 2 <= stored_before < entries, stored_before

        processes.worker(config, "second", "--queues", "collect")
        wait_for(
            f"the second worker to finish the redelivered task ({entries} items)",
            lambda: f"Task misinfo.collect[{task_id}] succeeded" in log_text(state),
            40,
            lambda: log_text(state)[-4000:] + processes.output("second")[-2000:],
        )
        assert _count(db_path, items_sql) == entries  # 0 lost
        assert _count(db_path, "SELECT COUNT(DISTINCT external_id) FROM items") == entries  # 0 duplicated
        assert _count(db_path, "SELECT COUNT(*) FROM items") == entries
        log = log_text(state)
        # The same task (same id) was received by the killed worker and, redelivered, by the second one.
        receivers = re.findall(
            rf" INFO (\d+) celery\.worker\.strategy: Task misinfo\.collect\[{task_id}\] received", log
        )
        assert len(set(receivers)) == 2 and receivers[0] == str(processes.procs["first"].pid), log[-3000:]
        assert log.count(f"Task misinfo.collect[{task_id}] succeeded") == 1, log[-3000:]
        assert re.search(rf"collect slow: ok, {entries - stored_before} new, {stored_before} seen", log)
    finally:
        server.stop()


def test_two_workers_racing_for_the_digest_send_each_message_once(
    tmp_path: Path, redis_server: RedisServer, processes: Processes, smtp: SmtpServer
) -> None:
    slow = smtp.sink.handle_DATA

    async def slow_accept(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.2)  # keep each SMTP transaction open so the two workers overlap
        return await slow(server, session, envelope)

    smtp.sink.handle_DATA = slow_accept  # type: ignore[method-assign]
    data = digest_config(tmp_path, smtp.port)
    data["queue"] = {"broker": redis_server.url}
    config = write_config(tmp_path, data)
    from monitor.store import connect

    db = connect(tmp_path / "misinfo.db")
    seed(db)
    db.conn.close()
    processes.worker(config, "w1", "--queues", "notify")
    processes.worker(config, "w2", "--queues", "notify")
    _ready(tmp_path, processes, "w1", "w2")
    for _ in range(2):
        assert _cli(config, "enqueue", "digest").exit_code == 0
    state = tmp_path / "var"
    wait_for(
        "both digest tasks to finish",
        lambda: len(re.findall(r"Task misinfo\.digest\[[^\]]+\] succeeded", log_text(state))) == 2,
        30,
        lambda: log_text(state)[-4000:],
    )
    counts = Counter(env.rcpt_tos[0] for env in smtp.sink.envelopes)
    assert len(counts) == 4 and set(counts.values()) == {1}, counts
    log = log_text(state)
    # Each worker ran one of the two tasks (two processes), and between them each recipient was sent once.
    runners = set(re.findall(r" INFO (\d+) celery\.app\.trace: Task misinfo\.digest\[", log))
    assert len(runners) == 2, log[-3000:]
    sent = re.findall(r"digest: sent +(\S+)", log)
    assert sorted(sent) == sorted(counts), log[-3000:]


def test_per_host_politeness_holds_across_two_worker_processes(
    tmp_path: Path, redis_server: RedisServer, processes: Processes
) -> None:
    delay = 0.4
    server = FixtureServer().start()
    arrivals: list[float] = []

    def feed(n: int) -> Any:
        def handler(_: Any) -> Response:
            arrivals.append(time.monotonic())
            body = (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
                f"<item><title>Tin {n}</title><guid>p-{n}</guid><description>Nội dung {n}</description></item>"
                "</channel></rss>"
            ).encode()
            return Response(200, body, {"Content-Type": "application/rss+xml"})

        return handler

    def robots(_: Any) -> Response:
        arrivals.append(time.monotonic())
        return Response(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"})

    sources = 6
    server.routes["/robots.txt"] = robots
    for n in range(sources):
        server.routes[f"/f{n}.xml"] = feed(n)
    try:
        data = base_config(tmp_path)
        data["sources"] = [
            {"name": f"f{n}", "kind": "rss", "url": server.url(f"/f{n}.xml")} for n in range(sources)
        ]
        data["collect"] = {**data["collect"], "per_host_delay": delay}
        data["queue"] = {"broker": redis_server.url}
        config = write_config(tmp_path, data)
        processes.worker(config, "w1", "--queues", "collect")
        processes.worker(config, "w2", "--queues", "collect")
        _ready(tmp_path, processes, "w1", "w2")
        assert _cli(config, "enqueue", "collect").exit_code == 0
        state = tmp_path / "var"
        wait_for(
            f"{sources} collect tasks to finish",
            lambda: len(re.findall(r"Task misinfo\.collect\[[^\]]+\] succeeded", log_text(state))) == sources,
            30,
            lambda: log_text(state)[-4000:],
        )
        log = log_text(state)
        collectors = set(re.findall(r" INFO (\d+) monitor\.distributed\.tasks: collect f\d: ok, 1 new", log))
        assert len(collectors) == 2, log[-3000:]  # both processes fetched from the one host
        # Every request to the host (6 feeds, and robots.txt once per process) spaced by per_host_delay.
        assert len(arrivals) == sources + 2, len(arrivals)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        assert min(gaps) >= delay - 0.05, [round(g, 3) for g in gaps]
    finally:
        server.stop()


def test_config_errors_are_one_clear_line(tmp_path: Path) -> None:
    data = base_config(tmp_path)
    data["queue"] = {"broker": "amqp://guest@127.0.0.1//"}
    bad = write_config(tmp_path, data)
    result = _cli(bad, "check")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "queue.broker: 'amqp://guest@127.0.0.1//' is not a Redis URL" in lines[0], (
        lines
    )

    data["queue"] = {"broker": f"redis://127.0.0.1:{free_port()}/0", "connect_timeout": 1}
    down = write_config(tmp_path, data)
    for command in (["worker"], ["beat"], ["enqueue", "digest"]):
        result = _cli(down, *command)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, (command, result.output)
        assert "cannot reach Redis" in lines[0] and "start redis-server or fix queue.broker" in lines[0], (
            lines
        )

    result = _cli(down, "run", "--no-web")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "start `misinfo worker` and `misinfo beat` instead of `misinfo run`" in result.output

    data.pop("queue")
    single = write_config(tmp_path, data)
    result = _cli(single, "worker")
    assert result.exit_code == 2 and "needs a queue: section" in result.output, result.output
