"""Real servers for the distributed tests: a redis-server of their own (127.0.0.1, a free port, a tmp
dir) and `misinfo worker` / `misinfo beat` subprocesses, stopped (by their pid) when the test ends.

`RedisServer` is also the benchmarks' redis-server (bench/failover.py, bench/collect_distributed.py); they
call `exit_unless_redis()` first: it exits with `REDIS_INSTALL` when redis-server is missing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.conftest import require

REPO = Path(__file__).resolve().parent.parent
REDIS_INSTALL = "apt-get install redis-server (`make install` and .ci/run do it when run as root)"


def exit_unless_redis() -> None:
    """For the benchmarks (not tests): exit with how to install redis-server when it is missing."""
    if shutil.which("redis-server") is None:
        sys.exit(f"redis-server is missing: {REDIS_INSTALL}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """redis-server on 127.0.0.1:<free port>, no persistence, its files in a tmp dir."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("redis-server")
        require(exe is not None, "redis-server", REDIS_INSTALL)
        assert exe is not None
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
            + ["--dir", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class Processes:
    """`misinfo` subprocesses of one test: workers (with the fake encoder) and beat."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, config: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
        out = (self.tmp_path / f"{name}.out").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.distributed_boot", "--config", str(config), *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def worker(self, config: Path, name: str, *args: str, pool: str = "solo") -> subprocess.Popen[bytes]:
        return self.start(config, name, "worker", "--pool", pool, "--name", f"{name}@test", *args)

    def output(self, name: str) -> str:
        return (self.tmp_path / f"{name}.out").read_text(encoding="utf-8", errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL a worker outright (its pool processes too, when it has any)."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def log_text(state_dir: Path) -> str:
    """The shared log file every process of the test writes (monitor/logs.py)."""
    path = state_dir / "logs" / "misinfo.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def wait_for(what: str, check: Callable[[], Any], timeout: float, on_timeout: Callable[[], str]) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` and some context otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{on_timeout()}")
        time.sleep(0.1)
