"""APScheduler 3.x jobs that call the pipeline stages; jobs persist in a SQLite job store under state_dir.

Jobs are stored by reference ("monitor.scheduler:collect_job"): keep these function names and this module
path (COLLECT_JOB, DIGEST_JOB, SURGE_JOB), or a job store written by an older version cannot load its
jobs; sync_jobs re-adds at start-up any stored job whose reference or args are not the current ones.

The config is loaded once per process and handed down: start() keeps the Config object it is given in a
process-wide holder the jobs read (jobs run in this process's thread pool), and `misinfo run` gives that
same object to the web app. Jobs never re-read the file: a changed config takes effect on restart.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor import pipeline
from monitor.collect.fetch import clear_stop, request_stop
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.store import connect
from monitor.store.collect import prune
from monitor.store.db import to_db_time

log = logging.getLogger(__name__)

JOBSTORE_FILE = "scheduler.db"
COLLECT_PREFIX = "collect:"
# APScheduler stores jobs by "module:function" reference; these are the current ones.
COLLECT_JOB = "monitor.scheduler:collect_job"
DIGEST_JOB = "monitor.scheduler:digest_job"
SURGE_JOB = "monitor.scheduler:surge_job"
PRUNE_JOB = "monitor.scheduler:prune_job"


_config: Config | None = None  # the process's config, set by start() (or use_config) before any job runs
_config_lock = threading.Lock()


def use_config(cfg: Config) -> None:
    """Make `cfg` the config every job of this process runs with."""
    global _config
    with _config_lock:
        _config = cfg


def current_config() -> Config:
    """The config the jobs run with (set at start-up)."""
    with _config_lock:
        if _config is None:
            raise ConfigError(
                "the scheduler's jobs ran before start-up handed them a config — call start(cfg)"
            )
        return _config


def jobstore_path(cfg: Config) -> Path:
    """The job store's SQLite file (separate from the main database: APScheduler owns its schema)."""
    return cfg.state_path / JOBSTORE_FILE


def _run_stage(name: str, cfg: Config, db: Any, **kwargs: Any) -> Any:
    """Run a pipeline stage from a job: a failure is logged and never stops the scheduler."""
    try:
        return getattr(pipeline, name)(cfg, db, **kwargs)
    except Exception:
        log.exception("stage %s failed", name)
        return None


def _run_stages(cfg: Config, db: Any) -> None:
    """classify -> match -> group: what follows a collection that brought new items."""
    _run_stage("classify", cfg, db)
    _run_stage("match", cfg, db)
    _run_stage("group", cfg, db)


class StageRunner:
    """Runs classify -> match -> group in a thread of its own when collection brought new items.

    Collect jobs only ask for a run and return: they never wait on the model (its first load takes
    seconds), so a short interval never finds its job still running (no "maximum number of running
    instances" warnings), and the first poll's items are classified as soon as the model is loaded.
    Requests made while a run is going coalesce into one more run."""

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="misinfo-stages", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a run (one more after the current one, however many times it is asked)."""
        with self._lock:
            self._idle.clear()
            self._wanted.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is going or wanted; True when idle."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        """Finish the run going on (if any) and end the thread; a wanted run that has not started is dropped."""
        self._stopping.set()
        self._wanted.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping.is_set():
                self._idle.set()
                return
            self._wanted.clear()
            cfg = current_config()
            try:
                db = connect(cfg.database_path)
            except Exception:
                log.exception("stages after collection: cannot open the database")
            else:
                try:
                    _run_stages(cfg, db)
                finally:
                    db.conn.close()
            with self._lock:
                if not self._wanted.is_set():
                    self._idle.set()


_runner: StageRunner | None = None  # set while a scheduler started by start() runs


def collect_job(source_name: str) -> dict[str, Any] | None:
    """Collect one source (respecting its back-off and the cross-process lease); when it brought new items,
    classify, match and group them (in the scheduler's stage thread, or here when none runs)."""
    cfg = current_config()
    db = connect(cfg.database_path)
    try:
        # force=False: a source backing off after failures waits; the lease inside run_collect keeps a
        # manual `misinfo collect` and this job from collecting the same source at once.
        report = pipeline.collect(cfg, db, source=source_name, force=False)
        # One INFO line per poll only when it brought something (failures are logged as warnings by the
        # collect stage); a quiet poll is a DEBUG line.
        level = logging.INFO if report.new else logging.DEBUG
        for src in report.sources:
            log.log(level, "collect %s: %s, %d new, %d seen", src.name, src.status, src.new, src.seen)
        if report.new:
            runner = _runner
            if runner is not None:
                runner.request()
            else:
                _run_stages(cfg, db)
        return report.as_dict()
    finally:
        db.conn.close()


def digest_job() -> Any:
    """Send the daily digest (the digest module makes sending exactly-once)."""
    cfg = current_config()
    db = connect(cfg.database_path)
    try:
        return _run_stage("digest", cfg, db, send=True)
    finally:
        db.conn.close()


def surge_job() -> Any:
    """Check for narrative surges."""
    cfg = current_config()
    db = connect(cfg.database_path)
    try:
        return _run_stage("surge", cfg, db)
    finally:
        db.conn.close()


def prune_job() -> dict[str, int] | None:
    """Delete evidence copies and fetch log rows older than the retention: section says (daily)."""
    cfg = current_config()
    db = connect(cfg.database_path)
    try:
        now = datetime.now(UTC)
        return prune(
            db,
            evidence_before=to_db_time(now - timedelta(seconds=cfg.retention.evidence)),
            fetch_log_before=to_db_time(now - timedelta(seconds=cfg.retention.fetch_log)),
        )
    except Exception:
        log.exception("prune failed")
        return None
    finally:
        db.conn.close()


def build_scheduler(cfg: Config, max_workers: int = 4) -> BackgroundScheduler:
    """A scheduler with the persistent job store; jobs never overlap and missed runs coalesce into one."""
    path = jobstore_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")},
        executors={"default": ThreadPoolExecutor(max_workers=max_workers)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 300},
        timezone=UTC,
    )


def sync_jobs(scheduler: BackgroundScheduler, cfg: Config) -> dict[str, str]:
    """Make the stored jobs match the config: one interval job per enabled source, digest and surge jobs.

    A job whose trigger is unchanged keeps its stored next run time, so a restart does not reset
    the schedule; changed or new jobs run at once. Returns job id -> 'kept' | 'added' | 'removed'.
    """
    changes: dict[str, str] = {}
    wanted: set[str] = set()
    soon = datetime.now(UTC)  # a new or changed source is polled at once
    for src in cfg.sources:
        if not src.enabled:
            continue
        job_id = COLLECT_PREFIX + src.name
        wanted.add(job_id)
        args = [src.name]
        existing = scheduler.get_job(job_id)
        if (
            existing is not None
            and isinstance(existing.trigger, IntervalTrigger)
            and existing.trigger.interval == timedelta(seconds=src.interval)
            and list(existing.args) == args
            and existing.func_ref == COLLECT_JOB
        ):
            changes[job_id] = "kept"
            continue
        scheduler.add_job(
            COLLECT_JOB,
            IntervalTrigger(seconds=src.interval, timezone=UTC),
            args=args,
            id=job_id,
            name=f"collect {src.name}",
            replace_existing=True,
            next_run_time=soon,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(max(60, min(src.interval, 3600))),
        )
        changes[job_id] = "added"
    hour, minute = (int(p) for p in cfg.digest.time.split(":")[:2])
    scheduler.add_job(
        DIGEST_JOB,
        CronTrigger(hour=hour, minute=minute, timezone=cfg.digest.timezone),
        args=[],
        id="digest",
        name="daily digest",
        replace_existing=True,
        misfire_grace_time=3 * 3600,
    )
    scheduler.add_job(
        SURGE_JOB,
        IntervalTrigger(hours=1, timezone=UTC),
        args=[],
        id="surge",
        name="surge alerts",
        replace_existing=True,
        misfire_grace_time=1800,
    )
    scheduler.add_job(
        PRUNE_JOB,
        CronTrigger(hour=3, minute=30, timezone=UTC),
        args=[],
        id="prune",
        name="retention (evidence, fetch log)",
        replace_existing=True,
        misfire_grace_time=6 * 3600,
    )
    wanted |= {"digest", "surge", "prune"}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            scheduler.remove_job(job.id)
            changes[job.id] = "removed"
    return changes


# Loggers that would write a line per poll at INFO: the executor ("Running job", "executed
# successfully") and httpx (one line per request). Their warnings and errors still show.
CHATTY_LOGGERS = ("apscheduler.executors.default", "httpx", "httpcore")


def start(cfg: Config) -> BackgroundScheduler:
    """Start the scheduler with jobs synced to the config; its jobs run with this same Config object.

    Stages after collection run in one StageRunner thread, stopped when the scheduler shuts down."""
    global _runner
    use_config(cfg)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    scheduler = build_scheduler(cfg)
    runner = StageRunner()

    def _stopped(event: Any) -> None:
        global _runner
        if _runner is runner:
            _runner = None
        runner.stop()

    scheduler.add_listener(_stopped, EVENT_SCHEDULER_SHUTDOWN)
    _runner = runner
    scheduler.start(paused=True)  # the job store is only readable once started; run nothing until synced
    changes = sync_jobs(scheduler, cfg)
    scheduler.resume()
    log.info("scheduler started: %s", ", ".join(f"{k} {v}" for k, v in sorted(changes.items())) or "no jobs")
    return scheduler


def serve(cfg: Config, web: bool = True, echo: Callable[[str], None] = print) -> None:
    """Scheduler in the background, web app (unless web=False) in the foreground; stop on SIGTERM/Ctrl-C.

    Both get the one Config object loaded at start-up."""
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    # Installed before anything starts, so a SIGTERM at any moment ends in a clean shutdown. uvicorn
    # swaps in its own handlers while it runs and, on exit, re-raises the signal to the handler it
    # found: ours, which only sets the event, so the scheduler below still shuts down cleanly.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    clear_stop()
    scheduler = start(cfg)
    try:
        echo(f"Scheduler running {len(scheduler.get_jobs())} job(s); job store {jobstore_path(cfg)}")
        if web:
            from monitor.web import server  # lazy: FastAPI + templates, not needed with --no-web

            echo(
                f"Web app on http://{cfg.web.host}:{cfg.web.port} with {cfg.web.worker_count} worker process(es)"
            )
            # uvicorn installs its own SIGTERM/SIGINT handlers and returns from run() on either; with several
            # workers its supervisor stops them all first. The scheduler stays in this process only.
            server.run(cfg, stopped=stop)
        else:
            while not stop.wait(1.0):
                pass
    finally:
        echo("Stopping: waiting for running jobs to finish...")
        request_stop()  # running fetches and crawls end within a second, their passes recorded as stopped
        scheduler.shutdown(wait=True)
        clear_stop()  # this process may start a scheduler again (tests, the demo)
        echo("Stopped.")
