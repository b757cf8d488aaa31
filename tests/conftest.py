"""Shared fixtures: real SQLite files under tmp_path, configs, a local HTTP server, encoders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner, Result

from monitor.cli import cli
from tests.browser_helpers import browser, chromium  # noqa: F401  (the Playwright fixtures, shared)
from tests.fakes import HashingEncoder
from tests.httpserver import FixtureServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MISINFO_SECRET_KEY", "test-secret-key-not-for-production")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
BENCHMARKS = SHARED / "benchmarks"


def in_ci() -> bool:
    """True when the CI environment variable says so (CI=true, as CI services and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(available: bool, what: str, install: str) -> None:
    """The one place a test gives up for a missing data set or service: skip locally, FAIL under CI=true.

    `what` names what is missing, `install` says how to get it; both appear in the message.
    """
    if available:
        return
    message = f"{what} is missing: {install}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: this test must run in CI, it may not skip)", pytrace=False)
    pytest.skip(message)


def require_benchmark(name: str) -> Path:
    """The public benchmark folder ../shared/benchmarks/<name>; skip (locally) or fail (CI) when absent."""
    path = BENCHMARKS / name
    require(
        path.is_dir(),
        f"benchmark data {path}",
        f"put the public data set '{name}' at {path} (the shared benchmarks folder sits beside the repo;"
        " see its README.md)",
    )
    return path


def base_config(tmp_path: Path) -> dict[str, Any]:
    """A minimal valid config whose state lives under tmp_path."""
    return {
        "database": str(tmp_path / "misinfo.db"),
        "state_dir": str(tmp_path / "var"),
        "sources": [],
        "classifier": {"model": "bundled:all-MiniLM-L6-v2"},
        "collect": {"respect_robots": True, "per_host_delay": 0, "retries": 0, "allow_private_hosts": True},
    }


@pytest.fixture(scope="session", autouse=True)
def seed_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One seed-model cache for the session (monitor.classify.seed_cache): each throwaway installation that
    classifies with no model trains the first model from the seed data once per distinct input, not once
    per test. Subprocesses (the demo, workers) inherit it. Tests of the cache itself set their own."""
    from monitor.classify.seed_cache import ENV

    previous = os.environ.get(ENV)
    folder = tmp_path_factory.mktemp("seed-model-cache")
    os.environ[ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = previous


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config.yaml under tmp_path (base config updated with **overrides); return its path."""

    def _make(**overrides: Any) -> Path:
        data = base_config(tmp_path)
        data.update(overrides)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return _make


@pytest.fixture
def config_path(make_config: Callable[..., Path]) -> Path:
    return make_config()


@pytest.fixture
def run_cli(config_path: Path) -> Callable[..., Result]:
    """Invoke the CLI in-process with the test config: run_cli('status', '--json', input=...)."""

    def _run(*args: str, input: str | None = None, config: Path | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli, ["--config", str(config or config_path), *args], input=input, catch_exceptions=False
        )

    return _run


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    """A migrated database in a real file."""
    from monitor.store import connect

    database = connect(tmp_path / "test.db")
    yield database
    database.conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (tests/pg_server.py); skip locally, FAIL in CI when
    postgresql-15 is not installed."""
    from tests import pg_server as pg

    require(pg.available(), "PostgreSQL (initdb, pg_ctl) and psycopg", pg.INSTALL)
    server = pg.PgServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    """A migrated database on each backend: a SQLite file, then a fresh schema on the test PostgreSQL."""
    from monitor.store import connect

    target = str(tmp_path / "test.db")
    if request.param == "postgresql":
        target = request.getfixturevalue("pg_server").fresh_url()
    database = connect(target)
    yield database
    database.conn.close()


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="session")
def real_encoder() -> Any:
    """The bundled all-MiniLM-L6-v2, loaded once per session (~9 s)."""
    from classifiers.embed import BUNDLED, SentenceEncoder

    enc = SentenceEncoder(BUNDLED)
    enc.load()
    return enc


@pytest.fixture
def http_server() -> Iterator[FixtureServer]:
    """A real HTTP server on 127.0.0.1 with an ephemeral port; set .routes or .root."""
    server = FixtureServer().start()
    yield server
    server.stop()
