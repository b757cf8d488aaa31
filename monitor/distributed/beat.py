"""`misinfo beat`: the schedule of the distributed mode (what APScheduler does for `misinfo run`).

One collect task per enabled source every sources[].interval (a source new to the schedule is collected at
once; a queued collect task expires after one interval, so a backlog never piles up), the digest at
digest.time in digest.timezone, surge alerts hourly, retention daily at 03:30 (digest.timezone). Beat keeps
its schedule in state_dir/celerybeat-schedule and writes a heartbeat to Redis on every tick (at least every
5 s) that `misinfo status` reads. Run exactly one beat.
"""

from __future__ import annotations

import logging
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
        redis_client(current_config()).set(HEARTBEAT_KEY, f"{time.time():.3f}")
    except Exception as exc:
        log.warning("beat: cannot write its heartbeat to Redis: %s", exc)


def run_beat(cfg: Config, loglevel: str = "INFO") -> None:
    """Run beat in the foreground until SIGTERM/SIGINT (the app must be configured with cfg)."""
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
