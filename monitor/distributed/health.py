"""What `misinfo status` shows with a queue: section: workers, queue depths and beat's last tick."""

from __future__ import annotations

import time
from typing import Any

import redis

from monitor.config import Config
from monitor.distributed.app import QUEUES, app, client_url, configure
from monitor.distributed.beat import HEARTBEAT_KEY

BEAT_STALE = 60.0  # seconds without a tick before beat is reported as not running (it ticks every <= 5 s)
UNACKED_KEY = "unacked"  # kombu's hash of messages taken by workers and not yet acknowledged


def health(cfg: Config, timeout: float = 1.0) -> dict[str, Any]:
    """{broker, reachable, error, workers: [{name, concurrency, pool, tasks}], queues: {name: depth},
    running: taken and not yet acknowledged, beat: {last_tick, age_s, ok}}; never raises."""
    assert cfg.queue is not None
    out: dict[str, Any] = {"reachable": False, "error": None, "workers": [], "queues": {}, "beat": {}}
    client = redis.Redis.from_url(
        client_url(cfg.queue.broker), socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        pipe = client.pipeline()
        for name in QUEUES:
            pipe.llen(name)
        pipe.hlen(UNACKED_KEY)
        pipe.get(HEARTBEAT_KEY)
        *depths, running, beat = pipe.execute()
    except redis.RedisError as exc:
        out["error"] = f"cannot reach Redis ({' '.join(str(exc).split())[:160]})"
        return out
    finally:
        client.close()
    out["reachable"] = True
    out["queues"] = {name: int(depth) for name, depth in zip(QUEUES, depths, strict=True)}
    out["running"] = int(running)
    if beat is not None:
        last = float(beat)
        age = max(0.0, time.time() - last)
        out["beat"] = {
            "last_tick": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last)),
            "age_s": round(age, 1),
            "ok": age <= BEAT_STALE,
        }
    else:
        out["beat"] = {"last_tick": None, "age_s": None, "ok": False}
    configure(cfg)
    try:
        inspect = app.control.inspect(timeout=timeout)
        pings = inspect.ping() or {}
        stats = (inspect.stats() or {}) if pings else {}
    except Exception as exc:  # the broker went away between the two looks
        out["error"] = f"cannot ask the workers ({' '.join(str(exc).split())[:160]})"
        return out
    for name in sorted(pings):
        info = stats.get(name, {})
        pool = info.get("pool", {}) if isinstance(info, dict) else {}
        out["workers"].append(
            {
                "name": name,
                "concurrency": pool.get("max-concurrency"),
                "pool": (pool.get("implementation") or "").rsplit(":", 1)[-1] or None,
                "tasks": sum((info.get("total") or {}).values()) if isinstance(info, dict) else None,
            }
        )
    return out


def lines(data: dict[str, Any]) -> list[str]:
    """The status lines for `misinfo status`."""
    if not data["reachable"]:
        return [f"Queue: {data['error']}"]
    queues = ", ".join(f"{k} {v}" for k, v in data["queues"].items())
    out = [f"Queue: waiting {queues}; running {data['running']}"]
    workers = data["workers"]
    if workers:
        out.append(f"Workers: {len(workers)} responding")
        for w in workers:
            out.append(
                f"  {w['name']:<40} {w['pool'] or '?'} x{w['concurrency'] or '?'}; {w['tasks'] or 0} task(s) done"
            )
    else:
        out.append("Workers: none responding — start `misinfo worker`")
    if data.get("error"):
        out.append(f"Workers: {data['error']}")
    beat = data["beat"]
    if beat.get("last_tick") is None:
        out.append("Beat: never seen — start `misinfo beat` (exactly one)")
    elif beat["ok"]:
        out.append(f"Beat: running, last tick {beat['last_tick']} ({beat['age_s']:g} s ago)")
    else:
        out.append(
            f"Beat: NOT RUNNING — last tick {beat['last_tick']} ({beat['age_s']:g} s ago); start `misinfo beat`"
        )
    return out
