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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from celery import Task

from monitor import pipeline
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
from monitor.distributed.locks import RenewedLock, run_coalesced
from monitor.store import connect
from monitor.store.collect import prune as prune_rows
from monitor.store.db import to_db_time

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def task(**options: Any) -> Callable[[F], F]:
    """app.task, typed (the tasks are sent by name, never called through the Task object here)."""

    def register(fn: F) -> F:
        return cast(F, app.task(**options)(fn))

    return register


LOCKED_RETRIES = 5  # a source still locked after this many retries is left to the worker holding it


def _with_db(cfg: Config, fn: Callable[[Any], Any]) -> Any:
    db = connect(cfg.database_path)
    try:
        return fn(db)
    finally:
        db.conn.close()


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
        report = _with_db(cfg, lambda db: pipeline.collect(cfg, db, source=source, force=False))
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


def _stage(name: str, after: str | None) -> int:
    """Run pipeline.<name> once (coalescing with a run going on elsewhere), then ask for the next stage."""
    cfg = current_config()
    assert cfg.queue is not None

    def run() -> None:
        report = _with_db(cfg, lambda db: getattr(pipeline, name)(cfg, db))
        summary = getattr(report, "summary", None)
        log.info("%s: %s", name, summary() if callable(summary) else "done")

    runs = run_coalesced(redis_client(cfg), name, cfg.queue.lock_ttl, run)
    if runs == 0:
        log.info("%s: already running on another worker, which runs it again", name)
    elif after is not None:
        send(after)
    return runs


@task(name=CLASSIFY_TASK)
def classify() -> int:
    """Score every unscored item, flag those above the thresholds; then match."""
    return _stage("classify", MATCH_TASK)


@task(name=MATCH_TASK)
def match() -> int:
    """Rebuttal suggestions for flagged items whose suggestions are stale; then group."""
    return _stage("match", GROUP_TASK)


@task(name=GROUP_TASK)
def group() -> int:
    """Group the flagged items no approved rebuttal answers."""
    return _stage("group", None)


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
