"""The web app under concurrent load, measured from outside over real HTTP.

Builds (or reuses) the 1M-item database of bench/web.py, starts the real server as users do
(`misinfo serve`, a separate process, `--workers N`), logs N clients in over HTTP and has each cycle
`/queue`, a deep queue page, `/api/queue` (bearer token) and `/items/{id}` with no think time. Reports
req/s, p50/p95/p99, errors and the server's CPU per request (CPU seconds of the server's process tree /
requests) per client count; `--collect` adds one more run while `misinfo collect` stores 10,000 new items
from 200 local feeds into the same database.

Usage:
  .venv/bin/python bench/web_http.py                                 # 1M items, 1/10/20 clients, 20 s each
  .venv/bin/python bench/web_http.py --database pg --items 10000000 --flagged 2000000 --clients 1,20
  .venv/bin/python bench/web_http.py --clients 1,20 --collect --workers 2
  .venv/bin/python bench/web_http.py --items 100000 --flagged 20000 --seconds 5 --no-record

The clients run in this process (threads, http.client with keep-alive); on a 2-core machine they take
CPU from the server, as the issue's own measurement did. Compare figures within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._record import record  # noqa: E402
from bench._webapp import add_database_option, database_target, percentile  # noqa: E402

PASSWORD = "bench-http-password"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        ppid = int(fields[1])
        stats[int(entry)] = (ppid, (int(fields[11]) + int(fields[12])) / tick)
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += stats[p][1]
        todo.extend(children.get(p, []))
    return total


class Client:
    """One logged-in user over one keep-alive connection."""

    def __init__(self, port: int, username: str, token: str) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        page = self.get("/login")[1]
        match = CSRF_RE.search(page)
        assert match, page[:300]
        body = urlencode({"username": username, "password": PASSWORD, "csrf_token": match.group(1)})
        status, _ = self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 303, f"login failed: {status}"

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        hdrs = dict(headers or {})
        if self.cookie:
            hdrs["Cookie"] = self.cookie
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        for value in resp.headers.get_all("set-cookie") or []:
            if value.startswith("misinfo_session="):
                self.cookie = value.split(";", 1)[0]
        return resp.status, data.decode("utf-8", "replace")

    def get(self, path: str, api: bool = False) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if api else None
        return self.request("GET", path, headers=headers)


def prepare(db_path: Path | str, clients: int) -> dict[str, Any]:
    """Users, a token, a deep cursor and item ids for the run."""
    from monitor.demo import benchfill
    from monitor.store import connect
    from monitor.store import users as store_users
    from monitor.store.queue import encode_cursor

    db = connect(db_path)
    store_users.use_fast_hashing()
    names = [f"bench-http-{i}" for i in range(clients)]
    for name in names:
        if store_users.get_user(db, name) is None:
            store_users.create_user(db, name, PASSWORD, "analyst")
    token = store_users.create_token(db, names[0], "bench-http")
    open_count = db.execute("SELECT COUNT(*) FROM flags WHERE state IN ('new', 'in_review')").fetchone()[0]
    deep = benchfill.flag_at_offset(db, "new", int(open_count * 0.8))
    items = benchfill.sample_item_ids(db, 500)
    counts = {
        "items": db.execute("SELECT COUNT(*) FROM items").fetchone()[0],
        "flags": db.execute("SELECT COUNT(*) FROM flags").fetchone()[0],
        "open": open_count,
    }
    db.conn.close()
    return {
        "names": names,
        "token": token,
        "deep": encode_cursor(deep) if deep else "",
        "items": items,
        "counts": counts,
    }


def start_server(config: Path, workers: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(config), "serve"]
    cmd += ["--workers", str(workers)]
    env = {**os.environ, "MISINFO_SECRET_KEY": "bench-http-secret-key-bench-http-secret-key"}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return proc


def wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer /healthz in time")


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response; its status (body read and dropped: Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at >= 0:
        length = int(lower[at + 15 : lower.index(b"\r\n", at)])
        await reader.readexactly(length)
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


def database_pid(target: Path | str) -> int | None:
    """The postmaster of the benchmark's own PostgreSQL (its backends' CPU is counted too), else None."""
    from bench._webapp import PG_DIR, PG_PORT

    if not isinstance(target, str) or f":{PG_PORT}/" not in target:
        return None
    try:
        return int((PG_DIR / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_level(
    port: int, server_pid: int, n: int, seconds: float, ctx: dict[str, Any], db_pid: int | None = None
) -> dict[str, Any]:
    """n clients for `seconds`; latencies of every request, errors, server CPU per request.

    The clients are asyncio streams in this one thread (logged in first over http.client): a load
    generator this light leaves the CPU to the server (20 threads of http.client spent more CPU per
    request than the server did)."""
    cookies = []
    for i in range(n):
        login = Client(port, ctx["names"][i], ctx["token"])
        cookies.append(login.cookie)
        login.conn.close()
    paths = [
        ("/queue", False, "/queue"),
        (f"/queue?cursor={ctx['deep']}", False, "/queue deep page"),
        ("/api/queue?limit=50", True, "/api/queue"),
        ("ITEM", False, "/items/{id}"),
    ]
    latencies: list[float] = []
    by_page: dict[str, list[float]] = {name: [] for _, _, name in paths}
    errors = 0
    stop_at = 0.0

    async def client(i: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        k = i
        try:
            while time.perf_counter() < stop_at:
                path, api, name = paths[k % len(paths)]
                if path == "ITEM":
                    path = f"/items/{ctx['items'][k % len(ctx['items'])]}"
                k += 1
                auth = f"Authorization: Bearer {ctx['token']}\r\n" if api else ""
                request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookies[i]}\r\n{auth}\r\n"
                started = time.perf_counter()
                writer.write(request.encode())
                try:
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies.append((time.perf_counter() - started) * 1000)
                by_page[name].append(latencies[-1])
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    async def main() -> None:
        nonlocal stop_at
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(client(i) for i in range(n)))

    db0 = tree_cpu_seconds(db_pid) if db_pid else 0.0
    cpu0, own0, t0 = tree_cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - t0
    cpu1, own1 = tree_cpu_seconds(server_pid), time.process_time()
    db1 = tree_cpu_seconds(db_pid) if db_pid else 0.0
    total = len(latencies)
    return {
        "clients": n,
        "requests": total,
        "req_s": total / elapsed,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "errors": errors,
        "cpu_ms": (cpu1 - cpu0) * 1000 / max(1, total),
        "client_cpu_ms": (own1 - own0) * 1000 / max(1, total),
        "db_cpu_ms": (db1 - db0) * 1000 / max(1, total),
        "p95_by_page": {name: percentile(values, 95) for name, values in by_page.items() if values},
    }


def per_page_cpu(port: int, server_pid: int, ctx: dict[str, Any], requests: int = 300) -> dict[str, float]:
    """Server CPU ms per request of each page kind, one client, `requests` sequential requests each."""
    client = Client(port, ctx["names"][0], ctx["token"])
    kinds = {
        "/queue": lambda n: ("/queue", False),
        "/queue deep page": lambda n: (f"/queue?cursor={ctx['deep']}", False),
        "/api/queue": lambda n: ("/api/queue?limit=50", True),
        "/items/{id}": lambda n: (f"/items/{ctx['items'][n % len(ctx['items'])]}", False),
    }
    out: dict[str, float] = {}
    for name, path_of in kinds.items():
        for n in range(10):
            client.get(*path_of(n))
        cpu0 = tree_cpu_seconds(server_pid)
        for n in range(requests):
            status, _ = client.get(*path_of(n))
            assert status == 200, (name, status)
        out[name] = (tree_cpu_seconds(server_pid) - cpu0) * 1000 / requests
    client.conn.close()
    return out


def start_collect(db_path: Path | str, folder: Path) -> tuple[subprocess.Popen[str], Any]:
    """`misinfo collect` of 200 feeds x 50 entries (10,000 new items) into the bench database."""
    from bench.collect import Corpus, serve

    run = time.time_ns()
    corpus = Corpus(200, 50, seed=run, tag=f"r{run}-")  # new guids and links: 10,000 items new to the store
    feeds = serve(corpus)
    threading.Thread(target=feeds.serve_forever, daemon=True).start()
    port = feeds.server_address[1]
    sources = "\n".join(
        f"  - {{name: http-feed{f}, kind: rss, url: 'http://127.0.0.1:{port}/feed/{f}.xml?r={time.time_ns()}'}}"
        for f in range(200)
    )
    config = folder / "collect.yaml"
    config.write_text(
        f"database: '{db_path}'\nstate_dir: {folder / 'var-collect'}\n"
        "collect: {per_host_delay: 0, retries: 0, allow_private_hosts: true}\n"
        f"sources:\n{sources}\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from monitor.cli import main; main()",
            "--config",
            str(config),
            "collect",
            "--json",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, feeds


def _rounded(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in res.items():
        if isinstance(v, dict):
            v = {name: round(x, 1) for name, x in v.items()}
        out[k] = round(v, 2) if isinstance(v, float) else v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--flagged", type=int, default=200_000)
    parser.add_argument(
        "--dir", default="/tmp/misinfo-bench-web", help="Folder for the database (not in the repo)."
    )
    add_database_option(parser)
    parser.add_argument("--clients", default="1,10,20", help="Comma-separated concurrent client counts.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured seconds per client count.")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="Unmeasured seconds at the largest client count before measuring (the database's hot pages read once).",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="Server worker processes (0: web.workers default)."
    )
    parser.add_argument("--threads", type=int, default=0, help="web.threads for the server (0: its default).")
    parser.add_argument(
        "--page-requests", type=int, default=300, help="Requests per page kind for the CPU/request figures."
    )
    parser.add_argument(
        "--collect", action="store_true", help="Also run the largest count during a 10k-item collect."
    )
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/benchmarks.md."
    )
    args = parser.parse_args()

    from monitor.config import WebConfig

    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    db_path, build_s = database_target(args.database, Path(args.dir), args.items, args.flagged)
    on_pg = isinstance(db_path, str)
    ctx = prepare(db_path, max(levels))
    db_pid = database_pid(db_path)
    workers = args.workers or WebConfig().worker_count
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        config = folder / "config.yaml"
        config.write_text(
            f"database: '{db_path}'\nstate_dir: {folder / 'var'}\n"
            f"web: {{host: 127.0.0.1, port: {port}, workers: {workers}"
            + (f", threads: {args.threads}" if args.threads else "")
            + "}\n",
            encoding="utf-8",
        )
        server = start_server(config, workers)
        results: list[dict[str, Any]] = []
        page_cpu: dict[str, float] = {}
        collect_note = ""
        try:
            wait_ready(port, server)
            run_level(port, server.pid, 1, 2.0, ctx)  # warm: templates compiled, pages cached by the OS
            if args.warmup > 0:  # and the database's hot pages read once, at the largest client count
                run_level(port, server.pid, max(levels), args.warmup, ctx)
            page_cpu = per_page_cpu(port, server.pid, ctx, args.page_requests)
            print(json.dumps({k: round(v, 2) for k, v in page_cpu.items()}), file=sys.stderr)
            for n in levels:
                res = run_level(port, server.pid, n, args.seconds, ctx, db_pid)
                results.append(res)
                print(json.dumps(_rounded(res)), file=sys.stderr)
            if args.collect:
                proc, feeds = start_collect(db_path, folder)
                try:
                    time.sleep(1.0)
                    res = run_level(port, server.pid, max(levels), args.seconds, ctx, db_pid)
                    res["clients"] = f"{max(levels)}, with `misinfo collect` writing 10k items"
                    results.append(res)
                    print(json.dumps(_rounded(res)), file=sys.stderr)
                    out, err = proc.communicate(timeout=900)
                    summary = json.loads(out) if out.strip().startswith("{") else {}
                    new = sum(s.get("new", 0) for s in summary.get("sources", []))
                    collect_note = f"collect stored {new:,} new items (exit {proc.returncode})"
                    if proc.returncode != 0:
                        collect_note += f": {err.strip().splitlines()[-1] if err.strip() else ''}"
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    feeds.shutdown()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()

    counts = ctx["counts"]
    table = [
        "| concurrent clients | req/s | p50 | p95 | p99 | errors | server CPU per request | client CPU per request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        table.append(
            f"| {r['clients']} | {r['req_s']:.0f} | {r['p50']:.1f} ms | {r['p95']:.1f} ms | {r['p99']:.1f} ms | "
            f"{r['errors']} of {r['requests']:,} | {r['cpu_ms']:.1f} ms | {r['client_cpu_ms']:.1f} ms |"
        )
    if db_pid:
        table += ["", "PostgreSQL's own CPU per request (its server process tree): "]
        table[-1] += ", ".join(f"{r['clients']} clients {r['db_cpu_ms']:.1f} ms" for r in results) + "."
    pages = list(results[0]["p95_by_page"]) if results else []
    table += ["", "p95 by page:", "", "| concurrent clients | " + " | ".join(pages) + " |"]
    table.append("|---" * (len(pages) + 1) + "|")
    for r in results:
        table.append(
            f"| {r['clients']} | " + " | ".join(f"{r['p95_by_page'].get(p, 0):.1f} ms" for p in pages) + " |"
        )
    figures: dict[str, object] = {
        "database": f"{counts['items']:,} items, {counts['flags']:,} flagged ({counts['open']:,} open)"
        + (" on PostgreSQL 15 (`--database`; bench/_webapp.py's server settings)" if on_pg else ", SQLite"),
        "server": f"`misinfo serve --workers {workers}` in its own process, real HTTP on 127.0.0.1",
        "measured per client count": f"{args.seconds:.0f} s (after {args.warmup:.0f} s unmeasured at {max(levels)} clients)",
        "load average at the end": f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
    }
    figures["server CPU per request, 1 client, by page"] = ", ".join(
        f"{name} {ms:.2f} ms" for name, ms in page_cpu.items()
    )
    if build_s is not None:
        figures["database build time"] = f"{build_s:.0f} s"
    if on_pg:
        import psycopg

        figures["psycopg"] = f"{psycopg.__version__}, {psycopg.pq.__impl__} implementation"
    if collect_note:
        figures["concurrent collect"] = collect_note
    notes = (
        "Each client logs in over HTTP and cycles /queue, a deep queue page (cursor at 80% of the open flags), "
        "/api/queue?limit=50 (bearer token) and /items/{id}, keep-alive, no think time. Server CPU per request is "
        "the CPU seconds of the server's process tree divided by the requests answered. The clients share the "
        "machine's cores with the server. Goal (issue #17): 20 clients p95 <= 100 ms with 0 errors, also during "
        "a 10k-item collect; CPU per request <= 3 ms at 1 client."
        + (" On PostgreSQL (issue #16): /queue and /items/{id} p95 <= 100 ms at 10M items." if on_pg else "")
        + "\n\n"
        + "\n".join(table)
    )
    print("\n".join(table))
    if not args.no_record:
        size = f"{counts['items'] / 1e6:g}M" if counts["items"] >= 1_000_000 else f"{counts['items']:,}"
        where = " on PostgreSQL" if on_pg else ""
        command = None
        if os.environ.get("PYTHONPATH"):  # e.g. psycopg-binary from a side folder: part of what was measured
            command = " ".join(["PYTHONPATH=" + os.environ["PYTHONPATH"], "python", *sys.argv])
        record(f"Web over HTTP: concurrent clients with {size} items{where}", figures, command, notes)


if __name__ == "__main__":
    main()
