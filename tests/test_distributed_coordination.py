"""Coordination through Redis (real redis-server): exactly one `misinfo beat` (a second one is refused with one
line while the first runs; a successor starts once it has stopped), and a stage whose worker was killed runs
again once the dead worker's lock expires."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import base_config
from tests.distributed_helpers import Processes, RedisServer, processes, redis_server, wait_for, write_config

__all__ = ["processes", "redis_server"]


def test_a_second_beat_is_refused_while_one_runs(
    tmp_path: Path, redis_server: RedisServer, processes: Processes
) -> None:
    data = base_config(tmp_path)
    data["queue"] = {"broker": redis_server.url}
    config = write_config(tmp_path, data)
    first = processes.start(config, "beat1", "beat")
    wait_for(
        "the first beat's heartbeat",
        lambda: redis_server.client.get("misinfo:beat:heartbeat") is not None,
        30,
        lambda: processes.output("beat1")[-2000:],
    )
    owner = redis_server.client.get("misinfo:beat:owner")
    assert owner is not None and f"pid {first.pid}".encode() in owner

    second = processes.start(config, "beat2", "beat")
    assert second.wait(timeout=60) == 2
    out = processes.output("beat2")
    assert "another `misinfo beat` is running" in out and f"pid {first.pid}" in out, out
    assert first.poll() is None  # the running beat is untouched

    processes.stop_all()  # SIGTERM: the first beat releases its lock on the way out
    assert first.returncode is not None
    third = processes.start(config, "beat3", "beat")
    wait_for(
        "a new beat after the first stopped",
        lambda: (
            (owner := redis_server.client.get("misinfo:beat:owner")) is not None
            and f"pid {third.pid}".encode() in owner
        ),
        10,  # well under the lock's 30 s expiry: the stopped beat released it
        lambda: processes.output("beat3")[-2000:],
    )
    time.sleep(0.5)
    assert third.poll() is None


class _Retry(Exception):
    def __init__(self, countdown: float) -> None:
        super().__init__(countdown)
        self.countdown = countdown


class _FakeTask:
    """What _stage reads of a bound Celery task: request.retries, and retry() raising."""

    def __init__(self, retries: int) -> None:
        self.request = SimpleNamespace(retries=retries)

    def retry(self, countdown: float) -> _Retry:
        raise _Retry(countdown)


def test_a_stage_whose_holder_was_killed_runs_once_its_lock_expires(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import parse_config
    from monitor.distributed import tasks
    from monitor.distributed.locks import run_coalesced, wanted_key

    client = redis_server.client
    cfg = parse_config(f"queue: {{broker: '{redis_server.url}', lock_ttl: 5s}}\n", base_dir=tmp_path)
    ran: list[str] = []
    sent: list[str] = []
    monkeypatch.setattr(tasks, "current_config", lambda: cfg)
    monkeypatch.setattr(tasks, "redis_client", lambda _cfg: client)
    monkeypatch.setattr(tasks, "_with_db", lambda _cfg, fn: fn(None))
    monkeypatch.setattr(tasks, "pipeline", SimpleNamespace(classify=lambda _cfg, _db: ran.append("classify")))
    monkeypatch.setattr(tasks, "send", sent.append)

    # A worker took the stage and was killed: its lock stays until it expires, the request with it.
    client.set("misinfo:lock:stage:classify", "a-dead-worker", px=800)
    with pytest.raises(_Retry) as retry:
        tasks._stage(_FakeTask(0), "classify", "misinfo.match")  # type: ignore[arg-type]
    assert 0.5 < retry.value.countdown <= 1.4  # looks again when the dead worker's lock would expire
    assert ran == [] and client.exists(wanted_key("classify"))

    time.sleep(0.9)
    assert tasks._stage(_FakeTask(1), "classify", "misinfo.match") == 1  # type: ignore[arg-type]
    assert ran == ["classify"] and sent == ["misinfo.match"]
    # A second look when a live worker already ran it: nothing asked any more, nothing run, no retry.
    assert tasks._stage(_FakeTask(1), "classify", "misinfo.match") == 0  # type: ignore[arg-type]
    assert ran == ["classify"]
    assert run_coalesced(client, "classify", 5.0, lambda: ran.append("again"), ask=False) == 0


def test_a_worker_thread_keeps_its_http_client_from_task_to_task(tmp_path: Path) -> None:
    import threading

    from monitor.config import parse_config
    from monitor.distributed import tasks

    cfg = parse_config("queue: {broker: 'redis://127.0.0.1:1/0'}\n", base_dir=tmp_path)
    first = tasks._fetcher(cfg)
    assert tasks._fetcher(cfg) is first  # the next task on this thread: same client, connections kept
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(tasks._fetcher(cfg)))
    thread.start()
    thread.join()
    assert other and other[0] is not first  # a thread of a `--pool threads` worker has its own
