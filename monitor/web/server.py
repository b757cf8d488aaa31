"""Run the web app under uvicorn with one or several worker processes (`web.workers`).

One worker serves in this process (as `misinfo serve` always did). Several workers are uvicorn's own
supervisor: it binds the socket once and starts N processes that each build the app from the same
validated Config, handed over as JSON in an environment variable (no second read of the file, no
second chance to fail validation). Nothing a request needs lives only in one process: sessions and
login throttling are rows in the database, the session signing key is one file (or the environment),
the CSRF token travels in the signed session, and SQLite in WAL mode takes writers from several
processes (busy_timeout waits for the lock).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from monitor.config import Config
from monitor.errors import UsageError
from monitor.logs import setup_logging

log = logging.getLogger(__name__)

ENV_WORKER_CONFIG = "MISINFO_WEB_WORKER_CONFIG"
APP_FACTORY = "monitor.web.server:worker_app"


def worker_app() -> FastAPI:
    """The app in a worker process (uvicorn's factory): the parent's Config, logging, the app."""
    from monitor.web.app import create_app  # lazy: keeps `import monitor.web.server` light for the CLI

    raw = os.environ.get(ENV_WORKER_CONFIG)
    if not raw:
        raise RuntimeError(
            f"{ENV_WORKER_CONFIG} is not set: start workers with `misinfo serve` or `misinfo run`"
        )
    data: dict[str, Any] = json.loads(raw)
    base_dir = data.pop("__base_dir__")
    cfg = Config.model_validate(data)
    cfg.base_dir = Path(base_dir)
    setup_logging(cfg)
    return create_app(cfg, migrate=False)


def run(
    cfg: Config,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    stopped: threading.Event | None = None,
) -> None:
    """Serve until SIGTERM/Ctrl-C; returns after uvicorn's clean shutdown.

    `stopped`: set by the caller's own signal handler (`misinfo run`); a signal that arrived before uvicorn
    installed its handlers is seen here and nothing starts."""
    import uvicorn  # lazy: the web server loads only for the commands that serve
    from uvicorn.supervisors import Multiprocess  # lazy: with uvicorn

    from monitor.store import connect  # lazy: migrations once, in the parent, before any worker starts
    from monitor.web.app import create_app, secret_key  # lazy: FastAPI + templates

    bind_host = host or cfg.web.host
    bind_port = port or cfg.web.port
    count = workers if workers is not None else cfg.web.worker_count
    if stopped is not None and stopped.is_set():
        return
    if count <= 1:
        uvicorn.Server(
            uvicorn.Config(
                create_app(cfg), host=bind_host, port=bind_port, log_level="info", proxy_headers=False
            )
        ).run()
        return
    db = connect(cfg.database_path)  # pending migrations applied once, before the workers open the file
    db.conn.close()
    secret_key(cfg)  # generated (when the environment has none) before workers race to create it
    payload = json.loads(cfg.model_dump_json())
    payload["__base_dir__"] = str(cfg.base_dir)
    os.environ[ENV_WORKER_CONFIG] = json.dumps(payload)
    log.info("web app: %d worker processes on %s:%d", count, bind_host, bind_port)
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=count,
        log_level="info",
        proxy_headers=False,
    )
    sock = listening_socket(bind_host, bind_port, config.backlog)
    try:
        supervisor = Multiprocess(
            config, sockets=[sock]
        )  # its signal handlers replace the caller's from here
        if stopped is not None and stopped.is_set():
            return
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", bind_host, sock.getsockname()[1]
        )
        supervisor.run()
    finally:
        sock.close()


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The shared listening socket for the workers, created as a TCP socket (protocol 6).

    uvicorn's own (`socket.socket(family)`, protocol 0) reaches the workers with protocol 0, and asyncio
    then skips TCP_NODELAY on every accepted connection: small responses wait ~40 ms for the client's
    delayed ACK. Here asyncio sees a TCP socket and turns Nagle off as it does in a single process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} — change web.host/web.port"
        ) from None
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
