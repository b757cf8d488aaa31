"""The Celery tasks: thin wrappers over monitor/pipeline.py, each safe to run twice.

- misinfo.collect(source): one source, under a Redis lock per source (never two workers on one source);
  a source locked by another worker is retried when that lock would expire. New items ask for classify.
- misinfo.classify -> misinfo.match -> misinfo.group: the stages after collection, each run by one worker
  at a time; requests while one runs coalesce into one more run. Each stage works through everything
  pending in the stage's own batches (score.BATCH items per scoring batch, 64 per matching batch).
- misinfo.digest, misinfo.surge: through the exactly-once outbox (the ledger row is the lock, so two
  workers racing send each message once); misinfo.prune: retention.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from celery import Task

from monitor import pipeline
from monitor.collect.fetch import Fetcher
from monitor.config import Config
from monitor.distributed.app import (
    CLASSIFY_TASK,
    COLLECT_TASK,
    DIGEST_TASK,
    GROUP_TASK,
    MATCH_TASK,
    PRUNE_TASK,
    SURGE_TASK,
    app,
    current_config,
    redis_client,
    send,
)
from monitor.distributed.locks import RenewedLock, run_coalesced, wanted_key
from monitor.store.collect import prune as prune_rows
from monitor.store.db import ConnectionPool, to_db_time

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def task(**options: Any) -> Callable[[F], F]:
    """app.task, typed (the tasks are sent by name, never called through the Task object here)."""

    def register(fn: F) -> F:
        return cast(F, app.task(**options)(fn))

    return register


LOCKED_RETRIES = 5  # a source still locked after this many retries is left to the worker holding it


# One pool of open connections per process (a prefork child opens its own: keyed by pid). Opening one per task
# — with the migration check, and on PostgreSQL a new server backend process — cost more than a small collect
# task itself. The worker migrated the database once at start (worker._prepare).
_POOLS: dict[tuple[int, str], ConnectionPool] = {}


# One HTTP client per worker thread (a prefork child has its own: keyed by pid), kept from one collect task to
# the next: its connections to a host stay alive instead of a TCP connection per task.
_FETCHERS: dict[tuple[int, int], Fetcher] = {}


def _fetcher(cfg: Config) -> Fetcher:
    key = (os.getpid(), threading.get_ident())
    fetcher = _FETCHERS.get(key)
    if fetcher is None:
        fetcher = _FETCHERS[key] = Fetcher(cfg.collect)
    return fetcher


def _with_db(cfg: Config, fn: Callable[[Any], Any]) -> Any:
    key = (os.getpid(), str(cfg.database_path))
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = ConnectionPool(cfg.database_path, keep=2)
    db = pool.get()
    try:
        result = fn(db)
    except BaseException:
        db.conn.close()  # a failed task's connection is not reused
        raise
    pool.put(db)
    return result


@task(name=COLLECT_TASK, bind=True, max_retries=LOCKED_RETRIES)
def collect_source(self: Task, source: str) -> dict[str, Any]:
    """Collect one source (respecting its failure back-off); ask for classify when it brought new items."""
    cfg = current_config()
    assert cfg.queue is not None
    lock = RenewedLock(redis_client(cfg), f"collect:{source}", cfg.queue.lock_ttl)
    if not lock.acquire():
        wait = lock.remaining() + 0.2
        if self.request.retries >= LOCKED_RETRIES:
            log.info("collect %s: skipped, being collected by another worker", source)
            return {"source": source, "status": "skipped", "error": "being collected by another worker"}
        log.info("collect %s: being collected by another worker; retrying in %.1fs", source, wait)
        raise self.retry(countdown=wait)
    try:
        fetcher = _fetcher(cfg)
        report = _with_db(
            cfg, lambda db: pipeline.collect(cfg, db, source=source, force=False, fetcher=fetcher)
        )
    finally:
        lock.release()
    for src in report.sources:
        log.info(
            "collect %s: %s, %d new, %d seen%s",
            src.name,
            src.status,
            src.new,
            src.seen,
            f" ({src.error})" if src.error else "",
        )
    if report.new:
        send(CLASSIFY_TASK)
    result: dict[str, Any] = report.as_dict()
    return result


STAGE_RETRIES = 10  # looks at a stage whose lock another worker holds, each when that lock would expire


def _stage(task: Task, name: str, after: str | None) -> int:
    """Run pipeline.<name> once (coalescing with a run going on elsewhere), then ask for the next stage.

    When another worker holds the stage, it runs the request too — unless it was killed: its lock then
    expires after queue.lock_ttl with the request still pending, so this task looks again when the lock
    would expire (a retry that runs the stage only if it is still asked for)."""
    cfg = current_config()
    assert cfg.queue is not None
    client = redis_client(cfg)

    def run() -> None:
        report = _with_db(cfg, lambda db: getattr(pipeline, name)(cfg, db))
        summary = getattr(report, "summary", None)
        log.info("%s: %s", name, summary() if callable(summary) else "done")

    first_look = task.request.retries == 0
    runs = run_coalesced(client, name, cfg.queue.lock_ttl, run, ask=first_look)
    if runs == 0:
        if client.exists(wanted_key(name)) and task.request.retries < STAGE_RETRIES:
            wait = RenewedLock(client, f"stage:{name}", cfg.queue.lock_ttl).remaining() + 0.5
            log.info("%s: running on another worker; looking again in %.1fs", name, wait)
            raise task.retry(countdown=wait)
        log.info("%s: already run by another worker", name)
    elif after is not None:
        send(after)
    return runs


@task(name=CLASSIFY_TASK, bind=True, max_retries=STAGE_RETRIES)
def classify(self: Task) -> int:
    """Score every unscored item, flag those above the thresholds; then match."""
    return _stage(self, "classify", MATCH_TASK)


@task(name=MATCH_TASK, bind=True, max_retries=STAGE_RETRIES)
def match(self: Task) -> int:
    """Rebuttal suggestions for flagged items whose suggestions are stale; then group."""
    return _stage(self, "match", GROUP_TASK)


@task(name=GROUP_TASK, bind=True, max_retries=STAGE_RETRIES)
def group(self: Task) -> int:
    """Group the flagged items no approved rebuttal answers."""
    return _stage(self, "group", None)


@task(name=DIGEST_TASK)
def digest() -> dict[str, int]:
    """Send the daily digest; the outbox's ledger row makes each message go once, whichever worker runs it."""
    cfg = current_config()
    report = _with_db(cfg, lambda db: pipeline.digest(cfg, db, send=True))
    counts: dict[str, int] = {}
    for result in report.results:
        counts[result.status] = counts.get(result.status, 0) + 1
        log.info("digest: %s", result.line())
    return counts


@task(name=SURGE_TASK)
def surge() -> dict[str, Any]:
    """Alert coordinators of surging narratives and unanswered claims, once per claim and window."""
    cfg = current_config()
    report: pipeline.SurgeReport = _with_db(cfg, lambda db: pipeline.surge(cfg, db))
    for result in report.results:
        log.info("surge: %s", result.line())
    return {"surges": len(report.surges), "messages": len(report.results)}


@task(name=PRUNE_TASK)
def prune() -> dict[str, int]:
    """Delete evidence copies and fetch log rows older than the retention: section says."""
    cfg = current_config()
    now = datetime.now(UTC)
    counts: dict[str, int] = _with_db(
        cfg,
        lambda db: prune_rows(
            db,
            evidence_before=to_db_time(now - timedelta(seconds=cfg.retention.evidence)),
            fetch_log_before=to_db_time(now - timedelta(seconds=cfg.retention.fetch_log)),
        ),
    )
    log.info("prune: %s", counts)
    return counts
