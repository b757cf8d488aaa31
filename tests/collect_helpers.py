"""Helpers for the collection tests: fixture files with their expectations, configs, counts."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from monitor.cli import cli
from tests.httpserver import Response

RESOURCES = Path(__file__).parent / "resources" / "collect"

# Short limits so the bad-input cases finish fast: a stalled server costs read_timeout.
FAST_COLLECT = {
    "connect_timeout": 1.0,
    "read_timeout": 0.5,
    "max_bytes": 1_000_000,
    "max_redirects": 3,
    "per_host_delay": 0,
    "retries": 0,
    "backoff": 0.01,
    "respect_robots": True,
    "allow_private_hosts": True,
}


@dataclass
class Fixture:
    """One recorded HTTP response plus what collecting it must do."""

    name: str
    response: Response
    expect_error: str | None
    expect_new: int
    expect_note: str | None = None
    extra_routes: dict[str, Response] = field(default_factory=dict)


def load_fixture(path: Path) -> Fixture:
    """Parse a fixture: '# key: value' header lines, '# ---', then the body bytes."""
    raw = path.read_bytes()
    head, _, body = raw.partition(b"# ---\n")
    meta: dict[str, list[str]] = {}
    for line in head.decode("utf-8").splitlines():
        if ":" in line and line.startswith("# ") and line[2:].split(":", 1)[0].replace("-", "").isalpha():
            key, value = line[2:].split(":", 1)
            meta.setdefault(key.strip(), []).append(value.strip())
    headers = dict(h.split(": ", 1) for h in meta.get("header", []))
    for spec in meta.get("generate", []):
        kind, size = spec.split()
        zeros = b"\0" * int(size) if kind == "zeros" else b" " * int(size)
        body = gzip.compress(zeros, 9) if kind == "gzip-bomb" else zeros
    response = Response(
        status=int(meta.get("status", ["200"])[0]),
        body=body,
        headers=headers,
        delay=float(meta.get("delay", ["0"])[0]),
    )
    extra = {}
    for back in meta.get("redirect-back", []):
        extra[back] = Response(302, b"", {"Location": "/feed.xml"})
    error = meta["expect-error"][0]
    return Fixture(
        name=path.stem,
        response=response,
        expect_error=None if error == "none" else error,
        expect_new=int(meta["expect-new"][0]),
        expect_note=meta.get("expect-note", [None])[0],
        extra_routes=extra,
    )


def rss(items: list[dict[str, str]], title: str = "Feed") -> bytes:
    """A small RSS 2.0 document."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>']
    for it in items:
        parts.append("<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in it.items()) + "</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def invoke(config: Path, *args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def status_of(config: Path, name: str) -> dict[str, Any]:
    """The source's health as `misinfo status --json` shows it."""
    data = json.loads(invoke(config, "status", "--json").output)
    return next(s for s in data["sources"] if s["name"] == name)


def make_sources(make_config: Callable[..., Path], sources: list[dict[str, Any]], **collect: Any) -> Path:
    """A config with these sources and fast collection limits."""
    return make_config(sources=sources, collect={**FAST_COLLECT, **collect})
