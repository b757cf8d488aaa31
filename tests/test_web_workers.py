"""The web app under several worker processes (#17): nothing per-process breaks, and the parts that make a
request cheap (pooled connections, inline handlers, cached row fragments, the open-queue index) give the
same answers as before."""

from __future__ import annotations

import http.client
import logging
import multiprocessing
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from monitor.config import ConfigError, WebConfig, parse_config
from monitor.store import connect
from monitor.store import queue as q
from monitor.store import users as store_users
from monitor.store.db import ConnectionPool
from monitor.web.fragments import FragmentCache, freeze
from tests.web_helpers import PASSWORD, WebEnv, seed_flag, seed_item, seed_rebuttal, seed_suggestion, web  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- configuration ---------------------------------------------------------------------------------------


def test_workers_default_to_the_cores_and_bad_values_are_refused(tmp_path: Path) -> None:
    assert WebConfig().workers == 0
    assert WebConfig().worker_count == len(os.sched_getaffinity(0))
    assert WebConfig(workers=3).worker_count == 3
    with pytest.raises(ConfigError, match=r"web\.workers"):
        parse_config("web: {workers: -1}\n", base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"web\.threads"):
        parse_config("web: {threads: 0}\n", base_dir=tmp_path)


# --- a real server with two worker processes ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes of a server (not multiprocessing's resource tracker)."""
    out = []
    for child in _children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            out.append(child)
    return out


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Http:
    """A cookie-keeping HTTP/1.1 client that opens a new connection for every request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Connection": "close"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for value in resp.headers.get_all("set-cookie") or []:
            if value.startswith("misinfo_session="):
                self.cookie = value.split(";", 1)[0]
        conn.close()
        return resp.status, text


def _login(client: Http) -> str:
    """Log `client` in as the analyst (GET /login, its CSRF token, POST /login -> 303); return the token."""
    status, page = client.request("GET", "/login")
    token = CSRF.search(page)
    assert status == 200 and token
    status, _ = client.request(
        "POST", "/login", {"username": "analyst", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert status == 303
    return token.group(1)


def _forms_pass_csrf_on_every_worker(client: Http, page: str) -> None:
    """A forged token is refused; the page's token is accepted by whichever worker a connection reaches."""
    token = CSRF.search(page)
    assert token
    status, _ = client.request("POST", "/language", {"lang": "vi", "csrf_token": "forged"})
    assert status == 403
    for _ in range(4):
        status, _ = client.request("POST", "/language", {"lang": "vi", "csrf_token": token.group(1)})
        assert status == 303


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str], Path]]:
    """`misinfo serve --workers 2` on a fresh database with an analyst; the session key is generated."""
    yield from _serve_two_workers(tmp_path, str(tmp_path / "web.db"))


@pytest.fixture
def two_workers_pg(tmp_path: Path, pg_server: Any) -> Iterator[tuple[int, subprocess.Popen[str], Path, str]]:
    """The same server on a fresh PostgreSQL database (a schema of the test server, tests/pg_server.py):
    skipped locally without PostgreSQL, failed under CI=true (tests.conftest.require)."""
    url = pg_server.fresh_url()
    for port, proc, tmp in _serve_two_workers(tmp_path, url):
        yield port, proc, tmp, url


def _serve_two_workers(tmp_path: Path, database: str) -> Iterator[tuple[int, subprocess.Popen[str], Path]]:
    port = _free_port()
    db = connect(database)
    store_users.use_fast_hashing()
    store_users.create_user(db, "analyst", PASSWORD, "analyst", language="en")
    db.conn.close()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": database,
                "state_dir": str(tmp_path / "var"),
                "web": {"host": "127.0.0.1", "port": port, "workers": 2},
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "MISINFO_SECRET_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(config), "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            if len(_workers(proc.pid)) >= 2:
                try:
                    if Http(port).request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
            time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        yield port, proc, tmp_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.timeout(180)
def test_two_worker_processes_share_sessions_csrf_and_logout(
    two_workers: tuple[int, subprocess.Popen[str], Path],
) -> None:
    port, proc, tmp = two_workers
    workers = _workers(proc.pid)
    assert len(workers) == 2
    before = {pid: _cpu_ticks(pid) for pid in workers}

    client = Http(port)
    _login(client)
    # A new connection per request: the kernel hands them to either worker; every one must know the session.
    for _ in range(60):
        status, page = client.request("GET", "/queue")
        assert status == 200 and "analyst" in page
    after = {pid: _cpu_ticks(pid) for pid in workers}
    assert all(after[pid] > before[pid] for pid in workers), (before, after)  # both served requests

    # A form posted to whichever worker: its CSRF token (from the signed session) is accepted.
    _forms_pass_csrf_on_every_worker(client, page)
    # Logging out in one worker ends the session for all of them (the session row is gone).
    status, page = client.request("GET", "/queue")
    token = CSRF.search(page)
    assert token
    stale = client.cookie
    status, _ = client.request("POST", "/logout", {"csrf_token": token.group(1)})
    assert status == 303
    replay = Http(port)
    replay.cookie = stale
    for _ in range(10):
        status, _ = replay.request("GET", "/queue")
        assert status == 303  # to the login page, from every worker

    # One generated session key, written once (the workers did not each make their own).
    assert (tmp / "var" / "secret_key").exists()
    assert not list((tmp / "var").glob(".secret_key.*"))

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "workers left behind"


@pytest.mark.timeout(180)
def test_two_workers_on_postgresql_share_sessions_csrf_logout_and_record_a_decision_once(
    two_workers_pg: tuple[int, subprocess.Popen[str], Path, str],
) -> None:
    """Issue #16: replicas of the app against one PostgreSQL — no per-process state (sessions live in
    web_sessions, CSRF in the signed session, the write lock is the database's)."""
    port, proc, tmp, url = two_workers_pg
    workers = _workers(proc.pid)
    assert len(workers) == 2
    db = connect(url)
    item = seed_flag(db, "Tin đồn: phải làm lại căn cước sau sáp nhập", risk=0.9)
    db.conn.close()
    before = {pid: _cpu_ticks(pid) for pid in workers}

    client = Http(port)
    _login(client)
    for _ in range(60):  # a new connection per request: either worker; both know the session
        status, page = client.request("GET", "/queue")
        assert status == 200 and "analyst" in page and "phải làm lại căn cước" in page
    after = {pid: _cpu_ticks(pid) for pid in workers}
    assert all(after[pid] > before[pid] for pid in workers), (before, after)  # both served requests

    _forms_pass_csrf_on_every_worker(client, page)

    # A decision through the web: the item page's form, posted, then posted again (a double submit that
    # may reach the other worker): recorded once, with one audit row.
    status, page = client.request("GET", f"/items/{item}")
    assert status == 200
    version = re.search(r'name="version" value="(\d+)"', page)
    token = CSRF.search(page)
    assert version and token
    form = {"reason": "accurate", "version": version.group(1), "csrf_token": token.group(1)}
    assert client.request("POST", f"/items/{item}/dismiss", form)[0] == 303
    assert client.request("POST", f"/items/{item}/dismiss", form)[0] == 409
    db = connect(url)
    state, flag_version = db.execute("SELECT state, version FROM flags WHERE item_id = ?", [item]).fetchone()
    assert (state, flag_version) == ("dismissed", int(version.group(1)) + 1)
    audits = db.execute(
        "SELECT actor FROM audit_log WHERE action = 'item.dismiss' AND object_id = ?", [str(item)]
    ).fetchall()
    assert [tuple(r) for r in audits] == [("analyst",)]
    db.conn.close()

    # Logging out in one worker ends the session in all of them.
    status, page = client.request("GET", "/queue")
    token = CSRF.search(page)
    assert token
    stale = client.cookie
    assert client.request("POST", "/logout", {"csrf_token": token.group(1)})[0] == 303
    replay = Http(port)
    replay.cookie = stale
    for _ in range(10):
        assert replay.request("GET", "/queue")[0] == 303
    db = connect(url)
    assert db.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0
    db.conn.close()

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "workers left behind"


def test_the_workers_listening_socket_is_tcp_after_the_trip_to_a_worker() -> None:
    """asyncio turns Nagle off only on sockets whose protocol is TCP; a socket that reaches a worker with
    protocol 0 (uvicorn's own) makes every small response wait for the client's delayed ACK (~40 ms)."""
    from multiprocessing.reduction import ForkingPickler

    from monitor.web.server import listening_socket

    sock = listening_socket("127.0.0.1", 0, 16)
    try:
        copy = ForkingPickler.loads(ForkingPickler.dumps(sock))  # what a spawned worker receives
        try:
            assert copy.proto == socket.IPPROTO_TCP
            assert copy.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            copy.close()
    finally:
        sock.close()


def test_a_port_in_use_is_one_clear_error() -> None:
    from monitor.errors import UsageError
    from monitor.web.server import listening_socket

    taken = listening_socket("127.0.0.1", 0, 16)
    try:
        with pytest.raises(UsageError, match=r"cannot listen on 127\.0\.0\.1:\d+.*web\.port"):
            listening_socket("127.0.0.1", taken.getsockname()[1], 16)
    finally:
        taken.close()


def _make_key(state: str, out: Any) -> None:
    from monitor.web.app import secret_key

    cfg = parse_config(f"database: {state}/db.sqlite\nstate_dir: {state}\n", base_dir=Path(state))
    out.put(secret_key(cfg))


def test_workers_starting_together_agree_on_one_generated_session_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISINFO_SECRET_KEY", raising=False)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_make_key, args=(str(tmp_path), out)) for _ in range(4)]
    for p in procs:
        p.start()
    keys = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(keys) == 1
    assert (tmp_path / "secret_key").read_text().strip() in keys
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


# --- the shared log file -----------------------------------------------------------------------------------


def _write_lines(path: str, tag: str, count: int) -> None:
    from monitor.logs import SharedRotatingFileHandler

    handler = SharedRotatingFileHandler(path, max_bytes=4_000, backups=50)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"shared-{tag}")
    logger.propagate = False
    logger.addHandler(handler)
    for i in range(count):
        logger.warning("%s line %04d %s", tag, i, "x" * 40)
    handler.close()


def test_processes_sharing_the_log_file_lose_no_line_when_it_rotates(tmp_path: Path) -> None:
    log = tmp_path / "misinfo.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_lines, args=(str(log), tag, 300)) for tag in ("A", "B", "C")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    files = [log, *sorted(tmp_path.glob("misinfo.log.*"))]
    assert len(files) > 3  # it did rotate, several times
    lines = [line for f in files for line in f.read_text().splitlines()]
    for tag in ("A", "B", "C"):
        mine = sorted(line for line in lines if line.startswith(f"{tag} line"))
        assert mine == [f"{tag} line {i:04d} {'x' * 40}" for i in range(300)]  # each exactly once


# --- pooled connections --------------------------------------------------------------------------------------


def test_the_pool_reuses_connections_rolls_back_and_follows_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "pool.db"
    connect(path).conn.close()
    pool = ConnectionPool(path, keep=2)
    first = pool.get()
    pool.put(first)
    assert pool.get() is first  # reused, not reopened
    first.execute("BEGIN")
    first.execute("CREATE TABLE t (x)")
    pool.put(first)  # a transaction left open is rolled back on the way in
    again = pool.get()
    assert again is first and not again.conn.in_transaction
    assert "t" not in again.table_names()
    pool.put(again)

    # A restore from backup replaces the file: the next request sees the restored database.
    restored = tmp_path / "restored.db"
    other = connect(restored)
    other.execute("CREATE TABLE restored_marker (x)")
    other.conn.close()
    os.replace(restored, path)
    fresh = pool.get()
    assert fresh is not first
    assert "restored_marker" in fresh.table_names()
    pool.put(fresh)
    pool.close()


def test_a_full_pool_closes_the_extra_connections(tmp_path: Path) -> None:
    path = tmp_path / "pool.db"
    connect(path).conn.close()
    pool = ConnectionPool(path, keep=1)
    a, b = pool.get(), pool.get()
    pool.put(a)
    pool.put(b)
    with pytest.raises(sqlite3.ProgrammingError):
        b.execute("SELECT 1")  # closed: the pool keeps one
    assert pool.get() is a


# --- cached queue rows: never stale -----------------------------------------------------------------------------


def test_freeze_makes_rows_hashable_and_distinguishes_nested_changes() -> None:
    a = {"id": 1, "suggestions": [{"title": "x", "score": 0.9}], "collapsed": []}
    b = {"id": 1, "suggestions": [{"title": "x", "score": 0.8}], "collapsed": []}
    assert hash(freeze(a)) == hash(freeze(dict(a)))
    assert freeze(a) != freeze(b)


def test_a_cached_row_is_rendered_once_and_a_changed_row_again() -> None:
    from jinja2 import DictLoader, Environment

    env = Environment(loader=DictLoader({"row.html": "<td>{{ r.title }}</td>"}), autoescape=True)
    cache = FragmentCache(size=2)
    row = {"id": 1, "title": "<b>a</b>"}
    assert cache.render(env, "row.html", "en", row) == "<td>&lt;b&gt;a&lt;/b&gt;</td>"
    assert cache.render(env, "row.html", "en", dict(row)) == "<td>&lt;b&gt;a&lt;/b&gt;</td>"
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.render(env, "row.html", "en", {**row, "title": "b"}) == "<td>b</td>"
    assert cache.render(env, "row.html", "vi", row) == "<td>&lt;b&gt;a&lt;/b&gt;</td>"  # another key
    assert cache.misses == 3 and len(cache._items) == 2  # bounded


def test_the_queue_page_shows_changes_to_a_row_it_has_shown_before(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    item = seed_flag(db, "Tin đồn cũ về sáp nhập", risk=0.9)
    rid = seed_rebuttal(db, "Không phải làm lại căn cước", ["Sau sáp nhập phải làm lại căn cước"])
    client = web.client("analyst")
    page = client.get("/queue").text
    shown = (
        "<strong>Không phải làm lại căn cước</strong>"  # the suggestion cell (the title is also a narrative)
    )
    assert "Tin đồn cũ về sáp nhập" in page and shown not in page
    # The same row gets a suggestion: shown, not the cached row without it.
    seed_suggestion(db, item, rid, 0.91, "Sau sáp nhập phải làm lại căn cước")
    assert shown in client.get("/queue").text
    # Linked through the API (another path than the page): the row leaves the open queue and shows its state.
    r = web.api("analyst").post(f"/api/items/{item}/link", json={"rebuttal_id": rid})
    assert r.status_code == 200, r.text
    assert "Tin đồn cũ về sáp nhập" not in client.get("/queue").text
    everything = client.get("/queue?state=all").text
    assert f'data-row="{item}" data-state="linked"' in everything
    db.conn.close()


# --- the open queue in one index range -----------------------------------------------------------------------------


def test_the_default_queue_reads_its_partial_index_and_matches_the_per_state_merge(tmp_path: Path) -> None:
    import random

    from monitor.review import queue as review
    from tests.builders import add_flag

    db = connect(tmp_path / "q.db")
    rng = random.Random(5)
    states = ["new", "in_review", "linked", "dismissed"]
    for i in range(240):
        item = seed_item(db, f"tin {i}")
        at = f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
        add_flag(db, item, flagged_at=at, risk=round(rng.random(), 1), state=rng.choice(states))
    sql, params = q.queue_sql(q.QueueFilter(), q.OPEN, None, 51)
    plan = " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
    assert "flags_open_queue" in plan and "TEMP B-TREE" not in plan, plan

    def by_slices(cursor: str | None) -> list[int]:
        after = q.decode_cursor(cursor) if cursor else None
        rows = []
        for state in ("new", "in_review"):
            sql, params = q.queue_sql(q.QueueFilter(), state, after, 21)
            rows += list(db.query(sql, params))
        rows.sort(key=lambda r: (r["risk"], r["flagged_at"], r["flag_id"]), reverse=True)
        return [int(r["flag_id"]) for r in rows[:20]]

    cursor: str | None = None
    pages = 0
    seen: list[int] = []
    while True:
        rows, nxt = review.list_queue(db, q.QueueFilter(), cursor, 20)
        assert [int(r["flag_id"]) for r in rows] == by_slices(cursor)
        assert all(r["state"] in ("new", "in_review") for r in rows)
        seen += [int(r["flag_id"]) for r in rows]
        pages += 1
        if not nxt:
            break
        cursor = nxt
    expected = db.execute("SELECT COUNT(*) FROM flags WHERE state IN ('new', 'in_review')").fetchone()[0]
    assert len(seen) == len(set(seen)) == expected and pages > 2
    db.conn.close()


def test_quick_pages_run_on_the_event_loop_and_slow_ones_keep_the_thread_pool(web: WebEnv) -> None:  # noqa: F811
    import inspect

    from fastapi.routing import APIRoute

    from monitor.web.app import ROUTER_MODULES

    assert web.app.state.routers == list(ROUTER_MODULES)
    kinds = {
        (method, route.path): inspect.iscoroutinefunction(route.endpoint)
        for router in ROUTER_MODULES.values()
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for quick in [("GET", "/queue"), ("GET", "/items/{item_id}"), ("GET", "/api/queue"), ("POST", "/logout")]:
        assert kinds[quick], quick
    # Password hashing, OCR, sums over the whole database: on the pool, so they never stall a worker's loop.
    for slow in [
        ("POST", "/login"),
        ("GET", "/search"),
        ("GET", "/api/items"),
        ("GET", "/reports"),
        ("GET", "/audit"),
    ]:
        assert not kinds[slow], slow
    # (POST /api/submissions is async and hands the pipeline to the pool itself: run_in_threadpool.)


def test_the_cached_filter_menus_show_a_source_added_since(web: WebEnv) -> None:  # noqa: F811
    db = web.db()
    seed_flag(db, "Tin thứ nhất", source="nguon-mot")
    client = web.client("analyst")
    assert ">nguon-mot</option>" in client.get("/queue").text
    assert ">nguon-hai</option>" not in client.get("/queue").text  # the menu is now cached
    seed_flag(db, "Tin thứ hai", source="nguon-hai")
    page = client.get("/queue").text
    assert ">nguon-mot</option>" in page and ">nguon-hai</option>" in page
    db.conn.close()
