"""`misinfo beat`: the schedule of the distributed mode (what APScheduler does for `misinfo run`).

One collect task per enabled source every sources[].interval (a source new to the schedule is collected at
once; a queued collect task expires after one interval, so a backlog never piles up), the digest at
digest.time in digest.timezone, surge alerts hourly, retention daily at 03:30 (digest.timezone). Beat keeps
its schedule in state_dir/celerybeat-schedule and writes a heartbeat to Redis on every tick (at least every
5 s) that `misinfo status` reads. Exactly one beat runs: it holds a lock in Redis while it runs, and a
second `misinfo beat` is refused with one line naming the first.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from celery.beat import PersistentScheduler
from celery.schedules import crontab

from monitor.config import Config
from monitor.distributed.app import (
    COLLECT_TASK,
    DIGEST_TASK,
    KEY_PREFIX,
    PRUNE_TASK,
    ROUTES,
    SURGE_TASK,
    app,
    current_config,
    redis_client,
)
from monitor.distributed.locks import RenewedLock
from monitor.errors import UsageError

log = logging.getLogger(__name__)

HEARTBEAT_KEY = f"{KEY_PREFIX}beat:heartbeat"
SCHEDULE_FILE = "celerybeat-schedule"
COLLECT_PREFIX = "collect:"


def beat_schedule(cfg: Config) -> dict[str, dict[str, Any]]:
    """Celery beat entries for this config."""
    entries: dict[str, dict[str, Any]] = {}
    for src in cfg.sources:
        if not src.enabled:
            continue
        entries[COLLECT_PREFIX + src.name] = {
            "task": COLLECT_TASK,
            "schedule": timedelta(seconds=src.interval),
            "args": (src.name,),
            "options": {"queue": ROUTES[COLLECT_TASK], "expires": src.interval},
        }
    hour, minute = (int(p) for p in cfg.digest.time.split(":")[:2])
    entries["digest"] = {
        "task": DIGEST_TASK,
        "schedule": crontab(hour=hour, minute=minute),
        "options": {"queue": ROUTES[DIGEST_TASK]},
    }
    entries["surge"] = {
        "task": SURGE_TASK,
        "schedule": timedelta(hours=1),
        "options": {"queue": ROUTES[SURGE_TASK], "expires": 3600},
    }
    entries["prune"] = {
        "task": PRUNE_TASK,
        "schedule": crontab(hour=3, minute=30),
        "options": {"queue": ROUTES[PRUNE_TASK]},
    }
    return entries


class MisinfoScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery's persistent scheduler, plus: new sources are collected at once, and a heartbeat in Redis."""

    def merge_inplace(self, b: dict[str, Any]) -> None:
        new = set(b) - set(self.schedule)
        super().merge_inplace(b)
        now = self.app.now()
        for name in new:
            entry = self.schedule[name]
            if name.startswith(COLLECT_PREFIX):
                entry.last_run_at = now - entry.schedule.run_every

    def tick(self, *args: Any, **kwargs: Any) -> float:
        beat_heartbeat()
        result: float = super().tick(*args, **kwargs)
        return result


def beat_heartbeat() -> None:
    """Record that beat is alive (a Redis key holding the Unix time); a Redis hiccup is only logged."""
    try:
        client = redis_client(current_config())
        client.set(HEARTBEAT_KEY, f"{time.time():.3f}")
        client.pexpire(BEAT_OWNER_KEY, int(BEAT_LOCK_TTL * 1000))
    except Exception as exc:
        log.warning("beat: cannot write its heartbeat to Redis: %s", exc)


BEAT_LOCK = "beat"
BEAT_OWNER_KEY = f"{KEY_PREFIX}beat:owner"
BEAT_LOCK_TTL = 30.0  # seconds: a killed beat's successor can start this long after it died


def hold_the_beat_lock(cfg: Config) -> RenewedLock:
    """The one-beat lock (renewed while this beat runs), or UsageError naming the beat that holds it.

    Two beats would queue every collection, digest and alert twice; Redis decides which one runs."""
    client = redis_client(cfg)
    lock = RenewedLock(client, BEAT_LOCK, BEAT_LOCK_TTL)
    if not lock.acquire():
        owner = client.get(BEAT_OWNER_KEY)
        who = owner.decode() if isinstance(owner, bytes) else str(owner or "unknown")
        raise UsageError(
            f"another `misinfo beat` is running ({who}); run exactly one beat per deployment — stop it first, "
            f"or wait {lock.remaining():.0f} s if it was killed"
        )
    client.set(BEAT_OWNER_KEY, f"pid {os.getpid()} on {socket.gethostname()}", px=int(BEAT_LOCK_TTL * 1000))
    return lock


def run_beat(cfg: Config, loglevel: str = "INFO") -> None:
    """Run beat in the foreground until SIGTERM/SIGINT (the app must be configured with cfg).

    Refuses to start (UsageError) while another beat holds the one-beat lock in Redis."""
    lock = hold_the_beat_lock(cfg)
    try:
        _run(cfg, loglevel)
    finally:
        lock.release()


def _run(cfg: Config, loglevel: str) -> None:
    app.conf.beat_schedule = beat_schedule(cfg)
    path = cfg.state_path / SCHEDULE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    beat = app.Beat(
        scheduler=MisinfoScheduler,
        schedule=str(path),
        max_interval=5.0,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
    )
    beat.run()
