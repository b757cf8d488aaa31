"""Failover: SIGKILL of a worker at random points, ten rounds -> 0 lost, 0 duplicated, each digest sent once.

    .venv/bin/python bench/failover.py [--rounds 10] [--feeds 200] [--entries 20] [--seed N]
                                       [--database sqlite|pg|postgresql://...] [--keep] [--no-record]

Real servers, all on loopback: a redis-server of its own (127.0.0.1, a free port, no persistence: the
distributed tests' RedisServer, tests/distributed_helpers.py), the
generated RSS feeds of bench/collect.py served from a separate process (the feed server is the ground truth:
it says which entries each feed carries), an aiosmtpd SMTP server for the digest, and two
`misinfo worker --pool prefork --concurrency 1 --queues collect,stages,notify` processes (each a main process
and one pool process), started through tests/distributed_boot.py so classify runs the tests' hashing
encoder instead of the multilingual model (this measures the queue's guarantees, not the encoder).

Each round: a random share of the feeds gets new entries; one collect task per feed is queued (as
`misinfo enqueue collect` does: monitor.distributed.app.send); at a random moment (seeded RNG, printed) one
worker, chosen at random, is hit with SIGKILL:

- `child`: its pool process (the one running the task). Celery re-queues the task at once
  (task_reject_on_worker_lost) and the worker forks a new pool process: no replacement is needed.
- `main`: the worker's main process only (what an OOM kill of the parent does; its pool process is left
  orphaned, and the benchmark kills every process group it started at the end). The unacknowledged task comes back after queue.visibility_timeout,
  set to a small value here (--visibility, default 12 s) so the round does not wait an hour; a replacement
  worker is started.

The round waits until the queues are drained (Redis: the three queue lists and Celery's `unacked` hash
empty, every item scored, no flagged item waiting for match; the "drain s" column, from the first collect
task queued); then, both workers idle, two digest tasks are queued at once (the workers race for the
digest; "racers" says how many processes ran the two) and the round waits for the queues again. Checks against the feed server: entries lost (served but not stored),
duplicated (the same URL or the same (source, guid) stored twice), digest e-mails (exactly one per
recipient per round: after each round's check the digest ledger rows are deleted so the next round is a
fresh digest slot; the task takes no date, its slot is (recipient, today)), and whether the classify and
match backlogs drained.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._record import record  # noqa: E402
from bench.collect import Corpus, serve  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUEUES = ("collect", "stages", "notify")
RECIPIENTS = ("coord-vi@example.gov.vn", "analyst-en@example.gov.vn", "coord-en@example.gov.vn")


def _feed_process(feeds: int, entries: int, conn: Connection) -> None:
    """Serve the feeds; answer commands on `conn`: ("add", [feed...], n) and ("truth",) -> {feed: entries}."""
    corpus = Corpus(feeds, entries)
    server = serve(corpus)
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]  # killed clients reset
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        try:
            command = conn.recv()
        except EOFError:
            return
        if command[0] == "add":
            for feed in command[1]:
                corpus.add(feed, command[2])
            conn.send(None)
        elif command[0] == "truth":
            conn.send({f: len(e) for f, e in corpus.entries.items()})


class Workers:
    """`misinfo worker` processes (prefork, one pool process each), each in its own process group."""

    def __init__(self, config: Path, tmp: Path) -> None:
        self.config = config
        self.tmp = tmp
        self.live: dict[str, subprocess.Popen[bytes]] = {}
        self.groups: list[int] = []  # every process group started, killed at the end
        self.started = 0

    def start(self) -> str:
        self.started += 1
        name = f"w{self.started}"
        out = (self.tmp / f"{name}.out").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.distributed_boot", "--config", str(self.config), "worker"]
            + [
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--queues",
                ",".join(QUEUES),
                "--name",
                f"{name}@bench",
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.live[name] = proc
        self.groups.append(proc.pid)
        return name

    def wait_ready(self, names: list[str], log: Path, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            if all(f"{n}@bench ready." in text for n in names):
                return
            if time.monotonic() > deadline:
                tails = "\n".join((self.tmp / f"{n}.out").read_text(errors="replace")[-1500:] for n in names)
                raise RuntimeError(f"workers {names} not ready\n{tails}")
            time.sleep(0.2)

    def child(self, name: str) -> int | None:
        """The pool process of a worker (None while it has none)."""
        pid = self.live[name].pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        return int(text[0]) if text else None

    def stop_all(self) -> None:
        for pgid in self.groups:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        for proc in self.live.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pgid in self.groups:  # orphaned pool processes and anything that did not stop
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def config_data(
    tmp: Path, database: str, urls: list[str], broker: str, smtp_port: int, vt: float
) -> dict[str, Any]:
    return {
        "database": database,
        "state_dir": str(tmp / "var"),
        "sources": [
            {"name": f"feed{f}", "kind": "rss", "url": url, "interval": "1h"} for f, url in enumerate(urls)
        ],
        "classifier": {
            "model": "bundled:all-MiniLM-L6-v2"
        },  # replaced by the hashing encoder (distributed_boot)
        "collect": {"per_host_delay": 0, "retries": 0, "allow_private_hosts": True},
        "digest": {
            "recipients": [
                {"email": RECIPIENTS[0], "role": "coordinator", "language": "vi"},
                {"email": RECIPIENTS[1], "role": "analyst", "language": "en"},
                {"email": RECIPIENTS[2], "role": "admin", "language": "en"},
            ]
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "sender": "Misinfo <monitor@example.gov.vn>",
            "timeout": 5,
        },
        "web": {"base_url": "https://monitor.example.gov.vn"},
        "queue": {"broker": broker, "visibility_timeout": f"{vt:g}s", "lock_ttl": "4s"},
    }


def _query(cfg: Any, fn: Any) -> Any:
    """fn(db) on a fresh connection (SQLite or PostgreSQL: the store's own API), closed afterwards."""
    from monitor.store import connect

    db = connect(cfg.database_path)
    try:
        return fn(db)
    finally:
        db.conn.close()


def backlog(cfg: Any) -> tuple[int, int]:
    """(items without a score, flagged items not matched against the current library)."""
    from monitor.store.rebuttals import stale_flagged_items

    sql = "SELECT COUNT(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM item_scores s WHERE s.item_id = i.id)"
    return _query(cfg, lambda db: (int(db.execute(sql).fetchone()[0]), len(stale_flagged_items(db))))


def stored_items(cfg: Any) -> list[tuple[str, str, str | None]]:
    """(source name, guid, canonical URL) of every stored item."""
    sql = "SELECT s.name, i.external_id, i.canonical_url FROM items i JOIN sources s ON s.id = i.source_id"
    return _query(cfg, lambda db: [tuple(r) for r in db.execute(sql).fetchall()])


def reset_digest(cfg: Any) -> None:
    from monitor.store.db import write

    def delete(db: Any) -> None:
        with write(db):
            db.execute("DELETE FROM digests_sent WHERE kind = 'digest'")

    _query(cfg, delete)


def wait_drained(client: Any, cfg: Any, timeout: float) -> bool:
    """Wait until the queues are empty, nothing is taken and not acknowledged, and no stage has a backlog
    (three looks in a row, 0.5 s apart); False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    settled = 0
    while settled < 3:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
        settled = settled + 1 if drained(client) and backlog(cfg) == (0, 0) else 0
    return True


def running_tasks(log: Path, pid: int) -> str:
    """The tasks a worker (main process `pid`) had received and not finished, as 'collect feed12, classify'."""
    text = log.read_text(encoding="utf-8", errors="replace")
    received = re.findall(
        rf" INFO {pid} celery\.worker\.strategy: Task misinfo\.(\w+)\[([^\]]+)\] received", text
    )
    done = set(re.findall(r"Task misinfo\.\w+\[([^\]]+)\] (?:succeeded|retry|raised)", text))
    names = [name for name, task_id in received if task_id not in done]
    return ", ".join(names) or "nothing"


def drained(client: Any) -> bool:
    return all(client.llen(q) == 0 for q in QUEUES) and client.hlen("unacked") == 0


def run(args: argparse.Namespace, database: str, label: str) -> dict[str, Any]:
    from monitor.config import parse_config
    from monitor.distributed.app import COLLECT_TASK, DIGEST_TASK, configure, send
    from monitor.store import connect
    from tests.digest_seed import SmtpServer
    from tests.distributed_helpers import RedisServer, exit_unless_redis

    exit_unless_redis()

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="misinfo-failover-"))
    receive, child_end = multiprocessing.get_context("fork").Pipe()
    feeds = multiprocessing.get_context("fork").Process(
        target=_feed_process, args=(args.feeds, args.entries, child_end), daemon=True
    )
    feeds.start()
    redis_server = RedisServer(tmp / "redis")  # answers PING once constructed
    broker = redis_server.url
    smtp = SmtpServer().start()
    workers: Workers | None = None
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    try:
        feed_port = int(receive.recv())
        urls = [f"http://127.0.0.1:{feed_port}/feed/{f}.xml" for f in range(args.feeds)]
        data = config_data(tmp, database or str(tmp / "misinfo.db"), urls, broker, smtp.port, args.visibility)
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        cfg = parse_config(config.read_text(encoding="utf-8"), base_dir=tmp)
        client = redis_server.client
        connect(cfg.database_path).conn.close()  # migrated once, before the workers start
        configure(cfg)
        log = tmp / "var" / "logs" / "misinfo.log"
        workers = Workers(config, tmp)
        names = [workers.start(), workers.start()]
        workers.wait_ready(names, log)
        print(
            f"[{label}] seed {args.seed}; {args.feeds} feeds x {args.entries} entries; visibility_timeout {args.visibility:g} s"
        )
        print(
            f"{'round':>5} {'killed':>14} {'at s':>6} {'new':>5} {'items':>6} {'lost':>4} {'dup':>3} {'mails':>5} "
            f"{'racers':>6} {'unscored':>8} {'unmatched':>9} {'drain s':>7}"
        )
        for rnd in range(1, args.rounds + 1):
            if rnd > 1:  # keep collection finding new work: new entries on a random share of the feeds
                changed = rng.sample(range(args.feeds), max(1, int(args.feeds * args.changed)))
                receive.send(("add", changed, args.new_entries))
                receive.recv()
            receive.send(("truth",))
            truth: dict[int, int] = receive.recv()
            before = len(stored_items(cfg))
            mails_before = len(smtp.sink.envelopes)
            victim = rng.choice(sorted(workers.live))
            kind = rng.choice(("child", "main"))
            delay = rng.uniform(args.kill_min, args.kill_max)
            t0 = time.perf_counter()
            for f in range(args.feeds):
                send(COLLECT_TASK, f"feed{f}")
            time.sleep(delay)
            busy = not drained(client)
            in_flight = running_tasks(log, workers.live[victim].pid)
            target = workers.child(victim) if kind == "child" else workers.live[victim].pid
            if target is None:  # between two pool processes: hit the main process instead
                kind, target = "main", workers.live[victim].pid
            os.kill(target, signal.SIGKILL)
            killed_at = time.perf_counter() - t0
            if kind == "main":
                workers.live.pop(victim).wait()
                replacement = workers.start()
                workers.wait_ready([replacement], log)
            settled = wait_drained(client, cfg, args.round_timeout)
            drain = time.perf_counter() - t0
            # Then, both workers idle, they race for the digest: two tasks queued at once.
            digest_ids = [send(DIGEST_TASK), send(DIGEST_TASK)]
            wait_drained(client, cfg, 60)
            text = log.read_text(encoding="utf-8", errors="replace")
            runners = {
                pid
                for task_id in digest_ids
                for pid in re.findall(
                    rf" INFO (\d+) celery\.app\.trace: Task misinfo\.digest\[{task_id}\] succeeded", text
                )
            }
            unscored, unmatched = backlog(cfg)
            expected = {(f"feed{f}", f"f{f}-a{i}") for f, n in truth.items() for i in range(n)}
            stored = stored_items(cfg)
            # The rss connector resolves the guid against the feed's URL: compare its last path segment.
            keys = Counter((r[0], str(r[1]).rsplit("/", 1)[-1]) for r in stored)
            urls_seen = Counter(r[2] for r in stored if r[2] is not None)
            lost = len(expected - set(keys))
            dup = sum(c - 1 for c in keys.values() if c > 1) + sum(c - 1 for c in urls_seen.values() if c > 1)
            extra = len(set(keys) - expected)
            if lost or extra:
                missing = sorted(expected - set(keys))[:3]
                print(
                    f"      lost e.g. {missing}; stored but not served e.g. {sorted(set(keys) - expected)[:3]}"
                )
            mails = Counter(env.rcpt_tos[0] for env in smtp.sink.envelopes[mails_before:])
            once = set(mails) == set(RECIPIENTS) and set(mails.values()) == {1}
            row = {
                "round": rnd,
                "killed": f"{victim}/{kind}",
                "at": killed_at,
                "busy": busy,
                "in_flight": in_flight,
                "new": len(stored) - before,
                "items": len(stored),
                "expected": len(expected),
                "lost": lost,
                "dup": dup,
                "extra": extra,
                "mails": sum(mails.values()),
                "digest_once": once,
                "digest_runners": len(runners),
                "settled": settled,
                "unscored": unscored,
                "unmatched": unmatched,
                "drain": drain,
            }
            rows.append(row)
            print(
                f"{rnd:>5} {row['killed']:>14} {killed_at:>6.1f}{'' if busy else '*'} {row['new']:>5} {len(stored):>6} "
                f"{lost:>4} {dup:>3} {row['mails']:>5} "
                f"{len(runners):>6} {unscored:>8} {unmatched:>9} {drain:>7.1f}",
                flush=True,
            )
            print(f"      the killed worker had taken: {in_flight}")
            reset_digest(cfg)  # the next round is a fresh digest slot
        text = log.read_text(encoding="utf-8", errors="replace")
        errors = [line for line in text.splitlines() if " ERROR " in line and "WorkerLostError" not in line]
        lost_worker = sum(" ERROR " in line and "WorkerLostError" in line for line in text.splitlines())
    finally:
        if workers is not None:
            workers.stop_all()
        smtp.stop()
        redis_server.stop()
        feeds.terminate()
        feeds.join()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t_start
    return {"rows": rows, "total": total, "errors": errors, "worker_lost": lost_worker}


def start_database(kind: str) -> tuple[str, Any]:
    """A database URL or path for the run, and what to stop afterwards."""
    if kind == "sqlite":
        return "", None
    if kind == "pg":
        from tests.pg_server import PgServer, available

        if not available():
            sys.exit("PostgreSQL 15 (initdb, pg_ctl) or psycopg is missing")
        server = PgServer().start()
        return server.fresh_url(), server
    return kind, None


def summary(result: dict[str, Any], label: str) -> dict[str, object]:
    rows = result["rows"]
    kinds = Counter(r["killed"].split("/")[1] for r in rows)
    ok = [
        r
        for r in rows
        if r["lost"] == 0
        and r["dup"] == 0
        and r["digest_once"]
        and r["unscored"] == 0
        and r["unmatched"] == 0
    ]
    table = "; ".join(
        f"{r['round']}: {r['killed']} at {r['at']:.1f} s (running: {r['in_flight']}"
        f"{'' if r['busy'] else '; queues already empty'}),"
        f" {r['new']} new, lost {r['lost']}, dup {r['dup']}, mails {r['mails']}"
        f" (digest tasks run by {r['digest_runners']} process(es)), backlog {r['unscored']}/{r['unmatched']},"
        f" drained in {r['drain']:.1f} s"
        for r in rows
    )
    return {
        f"{label}: rounds clean (0 lost, 0 dup, one digest per recipient, backlogs drained)": f"{len(ok)}/{len(rows)}",
        f"{label}: kills": f"{kinds.get('child', 0)} pool process, {kinds.get('main', 0)} main process (replaced)",
        f"{label}: items stored / served": f"{rows[-1]['items']} / {rows[-1]['expected']}" if rows else "-",
        f"{label}: lost, duplicated (total)": f"{sum(r['lost'] for r in rows)}, {sum(r['dup'] for r in rows)}",
        f"{label}: digest e-mails": f"{sum(r['mails'] for r in rows)} for {len(rows)} slots x {len(RECIPIENTS)} recipients",
        f"{label}: per round": table,
        f"{label}: wall time": f"{result['total']:.0f} s; in the shared log: {result['worker_lost']} WorkerLostError"
        f" (a pool process killed), {len(result['errors'])} other ERROR lines"
        + (f" (first: {result['errors'][0][:300]})" if result["errors"] else ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=20, help="entries per feed at the start")
    parser.add_argument(
        "--changed", type=float, default=0.2, help="share of feeds given new entries per round"
    )
    parser.add_argument("--new-entries", type=int, default=3, help="entries added to each changed feed")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (printed; random when not given)")
    parser.add_argument("--kill-min", type=float, default=0.3, help="earliest kill, seconds after queueing")
    parser.add_argument("--kill-max", type=float, default=4.0, help="latest kill, seconds after queueing")
    parser.add_argument("--visibility", type=float, default=12.0, help="queue.visibility_timeout, seconds")
    parser.add_argument(
        "--round-timeout", type=float, default=120.0, help="seconds to wait for a round to drain"
    )
    parser.add_argument("--database", default="sqlite", help="sqlite, pg (a throwaway PostgreSQL) or a URL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, SQLite file)")
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to docs/benchmarks.md"
    )
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    figures: dict[str, object] = {
        "setup": f"{args.feeds} loopback feeds x {args.entries} entries (+{args.new_entries} entries on"
        f" {args.changed:.0%} of the feeds per round), 2 prefork workers (concurrency 1), redis-server,"
        f" aiosmtpd, hashing encoder; visibility_timeout {args.visibility:g} s, lock_ttl 4 s",
        "seed": args.seed,
        "CPUs": os.cpu_count(),
    }
    database, server = start_database(args.database)
    label = "SQLite" if args.database == "sqlite" else "PostgreSQL"
    try:
        result = run(args, database, label)
    finally:
        if server is not None:
            server.stop()
    figures.update(summary(result, label))
    if args.no_record:
        for key, value in figures.items():
            print(f"{key}: {value}")
    else:
        record(f"Failover: SIGKILL of a worker x{args.rounds} ({label})", figures)


if __name__ == "__main__":
    main()
