"""The Celery app, configured once per process from the `queue:` section, and the Redis client it shares.

Late acknowledgement everywhere: a task is acknowledged when it has finished, so a worker killed mid-task
leaves its message in the broker, and another worker runs it again (at once when only a pool process died,
`task_reject_on_worker_lost`; after `queue.visibility_timeout` when the whole worker died). Every task is
safe to run twice: the store deduplicates items, the stages are idempotent and e-mail goes through the
exactly-once outbox.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from celery import Celery

from monitor.config import Config, QueueConfig
from monitor.errors import ConfigError

COLLECT_QUEUE = "collect"
STAGES_QUEUE = "stages"
NOTIFY_QUEUE = "notify"
QUEUES = (COLLECT_QUEUE, STAGES_QUEUE, NOTIFY_QUEUE)

# Task names (stable: they travel in the broker's messages).
COLLECT_TASK = "misinfo.collect"
CLASSIFY_TASK = "misinfo.classify"
MATCH_TASK = "misinfo.match"
GROUP_TASK = "misinfo.group"
DIGEST_TASK = "misinfo.digest"
SURGE_TASK = "misinfo.surge"
PRUNE_TASK = "misinfo.prune"
ROUTES = {
    COLLECT_TASK: COLLECT_QUEUE,
    CLASSIFY_TASK: STAGES_QUEUE,
    MATCH_TASK: STAGES_QUEUE,
    GROUP_TASK: STAGES_QUEUE,
    DIGEST_TASK: NOTIFY_QUEUE,
    SURGE_TASK: NOTIFY_QUEUE,
    PRUNE_TASK: NOTIFY_QUEUE,
}
KEY_PREFIX = "misinfo:"  # every key this project keeps in Redis besides Celery's own

# One app per process; configure() gives it the broker. Tasks register on it at import (tasks.py).
app = Celery("misinfo", set_as_current=False)

_config: Config | None = None
_lock = threading.Lock()
_clients: dict[int, redis.Redis] = {}


def configure(cfg: Config) -> Celery:
    """Point the app at cfg.queue.broker and make `cfg` the config every task of this process runs with."""
    global _config
    queue = _queue(cfg)
    with _lock:
        _config = cfg
        _clients.clear()
    if app.conf.broker_url and app.conf.broker_url != queue.broker:
        # Configured before with another broker (tests, the demo): drop the connections to the old one.
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
    options = {
        "visibility_timeout": queue.visibility_timeout,
        # A restored (abandoned) message is looked for this often; every sweep scans (throttle 1).
        "unacked_restore_interval": max(1, min(10, int(queue.visibility_timeout / 4))),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": queue.connect_timeout,
    }
    app.conf.update(
        broker_url=queue.broker,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=queue.connect_timeout,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_routes={name: {"queue": queue_name} for name, queue_name in ROUTES.items()},
        task_default_queue=STAGES_QUEUE,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,  # monitor/logs.py: INFO to the shared log file, warnings to stderr
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone=cfg.digest.timezone,  # beat's crontab entries (the digest time) are in the digest's zone
        beat_max_loop_interval=5.0,  # beat ticks (and writes its heartbeat) at least this often
    )
    return app


def _queue(cfg: Config) -> QueueConfig:
    if cfg.queue is None:
        raise ConfigError(
            "no queue: section in the config — add queue: {broker: redis://HOST:6379/0} to run workers and beat"
        )
    return cfg.queue


def current_config() -> Config:
    """The config the tasks of this process run with (set by configure())."""
    with _lock:
        if _config is None:
            raise ConfigError("the Celery app ran a task before configure(cfg) handed it a config")
        return _config


def client_url(broker: str) -> str:
    """The redis-py URL of a broker URL (kombu's redis+socket:// is redis-py's unix://)."""
    if broker.lower().startswith("redis+socket://"):
        return "unix://" + broker.split("://", 1)[1]
    return broker


def redis_client(cfg: Config | None = None) -> redis.Redis:
    """One Redis client per process (a forked pool process makes its own: sockets are not shared)."""
    cfg = cfg or current_config()
    pid = os.getpid()
    with _lock:
        client = _clients.get(pid)
        if client is None:
            queue = _queue(cfg)
            client = redis.Redis.from_url(
                client_url(queue.broker),
                socket_connect_timeout=queue.connect_timeout,
                socket_timeout=max(queue.connect_timeout, 10.0),
                health_check_interval=30,
            )
            _clients[pid] = client
        return client


def check_broker(cfg: Config) -> None:
    """Raise ConfigError (one line) when Redis at queue.broker cannot be reached."""
    queue = _queue(cfg)
    probe = redis.Redis.from_url(
        client_url(queue.broker),
        socket_connect_timeout=queue.connect_timeout,
        socket_timeout=queue.connect_timeout,
    )
    try:
        probe.ping()
    except redis.RedisError as exc:
        raise ConfigError(
            f"queue.broker {_safe(queue.broker)}: cannot reach Redis ({_reason(exc)}) — start redis-server "
            "or fix queue.broker"
        ) from None
    finally:
        probe.close()


def _safe(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def send(name: str, *args: Any, **options: Any) -> str:
    """Enqueue task `name` on its queue; the task id."""
    result = app.send_task(name, args=list(args), queue=ROUTES.get(name, STAGES_QUEUE), **options)
    return str(result.id)
