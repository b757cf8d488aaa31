"""Coordination through Redis only: one politeness timer per host, one collection per source, one run
per stage at a time. No lock service of our own: Redis keys with expiry, changed atomically by Lua scripts
(redis-py's Lock for the locks)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.lock import Lock

from monitor.distributed.app import KEY_PREFIX
from monitor.errors import FetchError

log = logging.getLogger(__name__)

# Reserve the next request slot of one host: the slot starts at max(now, the host's next free time); the
# next free time moves to slot + delay. Redis' own clock (TIME), so workers on machines whose clocks
# differ still space their requests. Returns how many milliseconds the caller waits before sending.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, nxt)
local free = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], free, 'PX', free - now + 1000)
return start - now
"""


class RedisHostLimiter:
    """monitor.collect.fetch.HostLimiter shared by every worker process: one timer per host in Redis."""

    def __init__(self, client: Callable[[], redis.Redis]) -> None:
        self._client = client
        self._scripts: dict[int, Any] = {}

    def reserve(self, host: str, delay: float) -> float:
        """Seconds to wait before this process may send its request to `host`."""
        client = self._client()
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(_RESERVE)
        try:
            wait_ms = int(script(keys=[f"{KEY_PREFIX}host:{host}"], args=[int(delay * 1000)]))
        except redis.RedisError as exc:
            raise FetchError(f"{host}: the shared politeness timer in Redis is unavailable ({exc})") from None
        return wait_ms / 1000.0


class RenewedLock:
    """A Redis lock that expires `ttl` seconds after its holder stops renewing it (killed), renewed every
    ttl/3 by a thread while held. Never blocks: acquire() says whether it was free."""

    def __init__(self, client: redis.Redis, name: str, ttl: float) -> None:
        self.client = client
        self.key = f"{KEY_PREFIX}lock:{name}"
        self.ttl = ttl
        self._lock: Lock = client.lock(self.key, timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False  # the renewal failed: another holder may have it now

    def acquire(self) -> bool:
        if not self._lock.acquire(blocking=False):
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name=f"renew {self.key}", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except Exception as exc:  # lost (expired while Redis was away) or Redis unreachable
                self.lost = True
                log.warning("lock %s could not be renewed: %s", self.key, exc)
                return

    def release(self) -> None:
        """Stop renewing and delete the key if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self._lock.release()
        except Exception as exc:  # expired and possibly taken by another worker: leave it to them
            log.info("lock %s was no longer held at release: %s", self.key, exc)

    def remaining(self) -> float:
        """Seconds until the key expires (0 when free)."""
        ms = self.client.pttl(self.key)
        return max(0.0, int(ms) / 1000.0) if ms and int(ms) > 0 else 0.0


def wanted_key(name: str) -> str:
    """The Redis key saying stage `name` was asked for and not yet run."""
    return f"{KEY_PREFIX}wanted:{name}"


def run_coalesced(
    client: redis.Redis, name: str, ttl: float, run: Callable[[], None], ask: bool = True
) -> int:
    """Run `run` unless another worker is running it; then that worker runs it once more instead.

    Requests made while a run is going coalesce into one more run (like the single-machine StageRunner).
    Returns how many runs this call made (0: handed to the worker already running it, or — with ask=False,
    a second look — nothing asked for any more). ask=False runs only what is still asked for."""
    wanted = wanted_key(name)
    if ask:
        client.set(wanted, "1")
    elif not client.exists(wanted):
        return 0
    runs = 0
    while True:
        lock = RenewedLock(client, f"stage:{name}", ttl)
        if not lock.acquire():
            return runs
        try:
            while client.getdel(wanted) is not None:
                run()
                runs += 1
        finally:
            lock.release()
        if not client.exists(wanted):  # asked again between our last look and the release
            return runs
