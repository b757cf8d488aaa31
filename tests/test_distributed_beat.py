"""Exactly one `misinfo beat`: a second one is refused with one line while the first runs (real redis-server,
real beat processes), and a successor starts once the first has stopped."""

from __future__ import annotations

import time
from pathlib import Path

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
