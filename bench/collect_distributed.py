"""Collection with 1, 2 and 4 Celery worker processes against loopback feeds, and the single-process path.

    .venv/bin/python bench/collect_distributed.py [--feeds 1000] [--entries 20] [--workers 1,2,4]
                                                  [--database sqlite|pg|postgresql://...] [--no-record]

Serves bench/collect.py's generated RSS feeds from 127.0.0.1 in a separate process, starts a redis-server of
its own (127.0.0.1, a free port, no persistence: tests/distributed_helpers.py's RedisServer) and, for each
worker count N, N `misinfo worker --pool solo --queues collect` processes on a fresh database; once they are
ready, one collect task per feed is queued and the clock runs until every feed's pass is recorded. The
single-process path is `run_collect` over the same feeds in this process (what `misinfo collect` and the
APScheduler of `misinfo run` do), also on a fresh database. per_host_delay is 0: every feed is on one
loopback host. CPU seconds are read from /proc for the worker processes and the feed server.

--database pg starts a throwaway PostgreSQL 15 (tests/pg_server.py: initdb into a temporary folder, fsync off)
and gives every run a fresh schema; a postgresql:// URL uses that server instead (each run a fresh schema in
it). For the throwaway server its own CPU seconds are read from /proc too (the postmaster with its exited
and live backends); a server given by URL is not measured.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._record import record  # noqa: E402
from bench.collect import _server_process  # noqa: E402
from monitor.collect.run import run_collect  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.store import connect  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its waited-for children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def config_text(tmp: Path, urls: list[str], broker: str | None, database: str | None = None) -> str:
    sources = "\n".join(f"  - {{name: feed{f}, kind: rss, url: '{url}'}}" for f, url in enumerate(urls))
    queue = f"queue: {{broker: '{broker}'}}\n" if broker else ""
    return (
        f"database: '{database or f'{tmp}/bench.db'}'\nstate_dir: {tmp}/var\n"
        "collect: {per_host_delay: 0, retries: 0, allow_private_hosts: true}\n"
        f"{queue}sources:\n{sources}\n"
    )


def count(db: Any, sql: str) -> int:
    return int(db.execute(sql).fetchone()[0])


class Databases:
    """A fresh database per run: a SQLite file in the run's folder, or a new schema on PostgreSQL."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.server: Any = None
        self.base: str | None = None
        if kind == "pg":
            from tests.pg_server import PgServer, available

            if not available():
                sys.exit("PostgreSQL 15 (initdb, pg_ctl) or psycopg is missing: " + INSTALL_PG)
            self.server = PgServer().start()
            self.base = self.server.url()
        elif kind != "sqlite":
            self.base = kind

    @property
    def label(self) -> str:
        return "SQLite" if self.base is None else "PostgreSQL"

    def fresh(self) -> str | None:
        """None (SQLite: the run's own file) or the URL of a new, empty schema."""
        if self.base is None:
            return None
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-csearch_path%3D{schema}"

    def server_cpu(self) -> float | None:
        """CPU seconds of the throwaway PostgreSQL so far (postmaster, its exited and its live backends)."""
        if self.server is None:
            return None
        pid = int((self.server.data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = cpu_seconds(pid)
        for child in children:
            try:
                total += cpu_seconds(int(child))
            except OSError:  # a backend that exited meanwhile: counted in the postmaster's children time
                pass
        return total

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


INSTALL_PG = "apt-get install -y postgresql (Debian's postgresql-15)"


def single(urls: list[str], server_pid: int, database: str | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(config_text(Path(tmp), urls, None, database), base_dir=Path(tmp))
        db = connect(cfg.database_path)
        s0, c0, t0 = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
        report = run_collect(cfg, db)
        wall = time.perf_counter() - t0
        cpu, server_cpu = time.process_time() - c0, cpu_seconds(server_pid) - s0
        db.conn.close()
    return {
        "items": report.new,
        "wall": wall,
        "cpu": cpu,
        "server_cpu": server_cpu,
        "failed": len(report.failed),
    }


def distributed(
    urls: list[str], workers: int, broker: str, server_pid: int, database: str | None = None
) -> dict[str, float]:
    import redis

    redis.Redis.from_url(broker).flushall()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(config_text(Path(tmp), urls, broker, database), encoding="utf-8")
        cfg = parse_config(path.read_text(), base_dir=Path(tmp))
        db = connect(cfg.database_path)  # migrated once, before the workers start
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from monitor.cli import main; main()",
                    "--config",
                    str(path),
                    "worker",
                ]
                + ["--pool", "solo"]
                + ["--queues", "collect", "--name", f"bench{n}@%h"],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for n in range(workers)
        ]
        log = Path(tmp) / "var" / "logs" / "misinfo.log"
        try:
            deadline = time.monotonic() + 60
            while (log.read_text().count(" ready.") if log.exists() else 0) < workers:
                if time.monotonic() > deadline:
                    raise RuntimeError("workers did not start")
                time.sleep(0.2)
            from monitor.distributed.app import COLLECT_TASK, configure, send

            configure(cfg)
            cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            s0 = cpu_seconds(server_pid)
            t0 = time.perf_counter()
            for n in range(len(urls)):
                send(COLLECT_TASK, f"feed{n}")
            done_sql = "SELECT COUNT(*) FROM fetch_log WHERE status != 'running'"
            while count(db, done_sql) < len(urls):
                time.sleep(0.05)
            wall = time.perf_counter() - t0
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
            server_cpu = cpu_seconds(server_pid) - s0
            items = count(db, "SELECT COUNT(*) FROM items")
            failed = count(db, "SELECT COUNT(*) FROM fetch_log WHERE status = 'error'")
        finally:
            db.conn.close()
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                p.wait(timeout=30)
    return {"items": items, "wall": wall, "cpu": cpu, "server_cpu": server_cpu, "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20, help="entries per feed")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to run")
    parser.add_argument(
        "--database", default="sqlite", help="sqlite, pg (a throwaway PostgreSQL 15) or a postgresql:// URL"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to docs/benchmarks.md"
    )
    args = parser.parse_args()
    from tests.distributed_helpers import RedisServer, exit_unless_redis

    exit_unless_redis()

    receive, send_port = multiprocessing.get_context("fork").Pipe(duplex=False)
    server = multiprocessing.get_context("fork").Process(
        target=_server_process, args=(args.feeds, args.entries, send_port), daemon=True
    )
    server.start()
    redis_dir = tempfile.TemporaryDirectory()
    redis_server = RedisServer(Path(redis_dir.name))  # answers PING once constructed
    broker = redis_server.url
    databases = Databases(args.database)
    try:
        feed_port = int(receive.recv())
        assert server.pid is not None
        urls = [f"http://127.0.0.1:{feed_port}/feed/{f}.xml" for f in range(args.feeds)]
        runs: dict[str, dict[str, float]] = {}
        for n in [0, *(int(w) for w in args.workers.split(","))]:
            database = databases.fresh()
            db_cpu = databases.server_cpu()
            if n == 0:
                run = single(urls, server.pid, database)
                label = "single process (run_collect)"
            else:
                run = distributed(urls, n, broker, server.pid, database)
                label = f"{n} worker process(es)"
            if db_cpu is not None:
                run["db_cpu"] = (databases.server_cpu() or 0.0) - db_cpu
            runs[label] = run
    finally:
        databases.stop()
        redis_server.stop()
        redis_dir.cleanup()
        server.terminate()
        server.join()

    figures: dict[str, object] = {
        "corpus": f"{args.feeds} feeds x {args.entries} entries on one loopback host (per_host_delay 0)",
        "CPUs": os.cpu_count(),
        "database": databases.label
        + (
            " (throwaway PostgreSQL 15 on 127.0.0.1, fsync off, a fresh schema per run)"
            if args.database == "pg"
            else ""
        ),
    }
    base = None
    for label, r in runs.items():
        rate = r["items"] / r["wall"]
        workers = int(label.split()[0]) if label[0].isdigit() else 1
        figures[label] = (
            f"{int(r['items'])} items in {r['wall']:.1f} s = {rate:.0f} items/s ({rate / workers:.0f} per process);"
            f" {r['cpu'] / r['items'] * 1000:.2f} CPU-s per 1000 items in the collecting process(es),"
            f" feed server {r['server_cpu']:.1f} CPU-s"
            + (
                f", PostgreSQL server {r['db_cpu'] / r['items'] * 1000:.2f} CPU-s per 1000 items"
                if "db_cpu" in r
                else ""
            )
            + f"; failed passes {int(r['failed'])}"
        )
        if label.startswith("1 worker"):
            base = rate
        if label.startswith("2 worker") and base:
            figures["scaling efficiency 1 -> 2 workers"] = (
                f"{rate / base / 2:.0%} (speed-up {rate / base:.2f}x)"
            )
        if label.startswith("4 worker") and base:
            figures["scaling efficiency 1 -> 4 workers"] = (
                f"{rate / base / 4:.0%} (speed-up {rate / base:.2f}x)"
            )
    one = runs.get("1 worker process(es)")
    alone = runs["single process (run_collect)"]
    if one:
        figures["1 worker / single process (items/s)"] = (
            f"{(one['items'] / one['wall']) / (alone['items'] / alone['wall']):.0%}"
        )
    if args.no_record:
        for key, value in figures.items():
            print(f"{key}: {value}")
    else:
        title = "Distributed collection (Celery on Redis): 1, 2, 4 workers vs the single process"
        record(title if databases.label == "SQLite" else f"{title} — {databases.label}", figures)


if __name__ == "__main__":
    main()
