"""Collection with 1, 2 and 4 Celery worker processes against loopback feeds, and the single-process path.

    .venv/bin/python bench/collect_distributed.py [--feeds 1000] [--entries 20] [--workers 1,2,4] [--no-record]

Serves bench/collect.py's generated RSS feeds from 127.0.0.1 in a separate process, starts a redis-server of
its own (127.0.0.1, a free port) and, for each worker count N, N `misinfo worker --pool solo --queues
collect` processes on a fresh database; once they are ready, one collect task per feed is queued and the
clock runs until every feed's pass is recorded. The single-process path is `run_collect` over the same
feeds in this process (what `misinfo collect` and the APScheduler of `misinfo run` do), also on a fresh
database. per_host_delay is 0: every feed is on one loopback host. CPU seconds are read from /proc for the
worker processes and the feed server.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(tmp: Path, urls: list[str], broker: str | None) -> str:
    sources = "\n".join(f"  - {{name: feed{f}, kind: rss, url: '{url}'}}" for f, url in enumerate(urls))
    queue = f"queue: {{broker: '{broker}'}}\n" if broker else ""
    return (
        f"database: {tmp}/bench.db\nstate_dir: {tmp}/var\n"
        "collect: {per_host_delay: 0, retries: 0, allow_private_hosts: true}\n"
        f"{queue}sources:\n{sources}\n"
    )


def count(db_path: Path, sql: str) -> int:
    con = sqlite3.connect(db_path, timeout=30)
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def single(urls: list[str], server_pid: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(config_text(Path(tmp), urls, None), base_dir=Path(tmp))
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


def distributed(urls: list[str], workers: int, broker: str, server_pid: int) -> dict[str, float]:
    import redis

    redis.Redis.from_url(broker).flushall()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(config_text(Path(tmp), urls, broker), encoding="utf-8")
        cfg = parse_config(path.read_text(), base_dir=Path(tmp))
        connect(cfg.database_path).conn.close()  # migrated once, before the workers start
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
            while count(cfg.database_path, done_sql) < len(urls):
                time.sleep(0.05)
            wall = time.perf_counter() - t0
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
            server_cpu = cpu_seconds(server_pid) - s0
            items = count(cfg.database_path, "SELECT COUNT(*) FROM items")
            failed = count(cfg.database_path, "SELECT COUNT(*) FROM fetch_log WHERE status = 'error'")
        finally:
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
        "--no-record", action="store_true", help="print only; do not append to docs/benchmarks.md"
    )
    args = parser.parse_args()
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is missing: apt-get install redis-server")

    receive, send_port = multiprocessing.get_context("fork").Pipe(duplex=False)
    server = multiprocessing.get_context("fork").Process(
        target=_server_process, args=(args.feeds, args.entries, send_port), daemon=True
    )
    server.start()
    redis_dir = tempfile.TemporaryDirectory()
    port = free_port()
    redis_proc = subprocess.Popen(
        [
            exe,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            redis_dir.name,
        ],
        stdout=subprocess.DEVNULL,
    )
    broker = f"redis://127.0.0.1:{port}/0"
    try:
        feed_port = int(receive.recv())
        assert server.pid is not None
        urls = [f"http://127.0.0.1:{feed_port}/feed/{f}.xml" for f in range(args.feeds)]
        time.sleep(0.5)  # redis-server up
        runs = {"single process (run_collect)": single(urls, server.pid)}
        for n in (int(w) for w in args.workers.split(",")):
            runs[f"{n} worker process(es)"] = distributed(urls, n, broker, server.pid)
    finally:
        redis_proc.terminate()
        redis_proc.wait()
        redis_dir.cleanup()
        server.terminate()
        server.join()

    figures: dict[str, object] = {
        "corpus": f"{args.feeds} feeds x {args.entries} entries on one loopback host (per_host_delay 0)",
        "CPUs": os.cpu_count(),
    }
    base = None
    for label, r in runs.items():
        rate = r["items"] / r["wall"]
        workers = int(label.split()[0]) if label[0].isdigit() else 1
        figures[label] = (
            f"{int(r['items'])} items in {r['wall']:.1f} s = {rate:.0f} items/s ({rate / workers:.0f} per process);"
            f" {r['cpu'] / r['items'] * 1000:.2f} CPU-s per 1000 items in the collecting process(es),"
            f" feed server {r['server_cpu']:.1f} CPU-s; failed passes {int(r['failed'])}"
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
        record("Distributed collection (Celery on Redis): 1, 2, 4 workers vs the single process", figures)


if __name__ == "__main__":
    main()
