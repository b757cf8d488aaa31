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
    data = json.loads(invoke(config, "status", "--json").stdout)
    return next(s for s in data["sources"] if s["name"] == name)


def make_sources(make_config: Callable[..., Path], sources: list[dict[str, Any]], **collect: Any) -> Path:
    """A config with these sources and fast collection limits."""
    return make_config(sources=sources, collect={**FAST_COLLECT, **collect})


class TrickleServer:
    """A real HTTP server on 127.0.0.1 that answers slowly: one byte of body (mode 'body') or one header
    line (mode 'headers') every `step` seconds, for as long as the client keeps reading."""

    def __init__(self, mode: str = "body", step: float = 0.2) -> None:
        import socket
        import threading

        self.mode, self.step = mode, step
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        import threading

        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        try:
            request = conn.recv(65536)
            if b"/robots.txt" in request.split(b"\r\n", 1)[0]:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if self.mode == "headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                n = 0
                while not self.stopped.wait(self.step):
                    n += 1
                    conn.sendall(f"X-Slow-{n}: {n}\r\n".encode())
            else:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n"
                )
                while not self.stopped.wait(self.step):
                    conn.sendall(b" ")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()
