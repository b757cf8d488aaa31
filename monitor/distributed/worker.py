"""Start a Celery worker or beat for `misinfo worker` / `misinfo beat`, with the project's settings."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery.signals import worker_shutting_down

from monitor.collect.fetch import request_stop, set_host_limiter
from monitor.config import Config
from monitor.distributed import tasks
from monitor.distributed.app import QUEUES, app, check_broker, configure, redis_client
from monitor.distributed.beat import run_beat
from monitor.distributed.locks import RedisHostLimiter
from monitor.errors import UsageError
from monitor.store import connect

__all__ = ["parse_queues", "start_beat", "start_worker", "tasks"]
POOLS = ("prefork", "solo", "threads")
CHATTY_LOGGERS = ("httpx", "httpcore")


def parse_queues(text: str) -> list[str]:
    """'collect,stages' -> ['collect', 'stages']; UsageError naming the known queues otherwise."""
    names = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if not names or unknown:
        raise UsageError(
            f"--queues: unknown queue(s) {', '.join(unknown) or '(none given)'}; the queues are {', '.join(QUEUES)}"
        )
    return names


def _prepare(cfg: Config) -> None:
    """Configure the app, check Redis (one line when unreachable), migrate the database once."""
    configure(cfg)
    check_broker(cfg)
    db = connect(cfg.database_path)  # migrations run here, before pool processes fork
    db.conn.close()


def _stop_fetches(**kwargs: Any) -> None:
    request_stop()  # a warm shutdown: running fetches end within a second, their passes recorded as stopped


def start_worker(
    cfg: Config, queues: list[str], concurrency: int | None, pool: str, name: str | None, verbose: bool
) -> None:
    """Run a worker in the foreground until SIGTERM (warm shutdown) or SIGQUIT/SIGINT twice (cold)."""
    _prepare(cfg)
    for chatty in CHATTY_LOGGERS:  # one line per request or per job at INFO: warnings still show
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # One politeness timer per host for every worker process of every machine (pool processes fork from
    # here and each opens its own Redis connection on first use).
    set_host_limiter(RedisHostLimiter(lambda: redis_client(cfg)))
    worker_shutting_down.connect(_stop_fetches, weak=False)
    argv = [
        "worker",
        f"--queues={','.join(queues)}",
        f"--pool={pool}",
        f"--hostname={name or f'misinfo-{os.getpid()}@{socket.gethostname()}'}",
        f"--loglevel={'DEBUG' if verbose else 'INFO'}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


def start_beat(cfg: Config, verbose: bool) -> None:
    """Run beat in the foreground until SIGTERM."""
    _prepare(cfg)
    run_beat(cfg, loglevel="DEBUG" if verbose else "INFO")
