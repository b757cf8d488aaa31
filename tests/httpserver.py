"""A real HTTP server on 127.0.0.1 (ephemeral port) that answers from a route table."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering


Handler = Callable[[BaseHTTPRequestHandler], Response]


class FixtureServer:
    """Serve fixed responses, or files under a folder; record every request."""

    def __init__(self, root: Path | None = None) -> None:
        self.routes: dict[str, Response | Handler] = {}
        self.root = root
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(("GET", self.path, dict(self.headers.items())))
                resp = outer._resolve(self)
                if resp.delay:
                    time.sleep(resp.delay)
                try:
                    self.send_response(resp.status)
                    headers = {"Content-Length": str(len(resp.body)), **resp.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(resp.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                # A client closing a keep-alive connection (reset) is normal; socketserver would print a
                # traceback to sys.stderr, which CliRunner captures into the command's output.
                outer.errors.append(str(sys.exc_info()[1]))

        self.errors: list[str] = []
        self.httpd = _Server(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def _resolve(self, handler: BaseHTTPRequestHandler) -> Response:
        path = handler.path
        route = self.routes.get(path) or self.routes.get(path.split("?", 1)[0])
        if route is not None:
            return route(handler) if callable(route) else route
        if self.root is not None:
            local = (self.root / path.split("?", 1)[0].lstrip("/")).resolve()
            if local.is_file() and self.root.resolve() in local.parents:
                return Response(200, local.read_bytes(), {"Content-Type": _guess(local)})
        return Response(404, b"not found", {"Content-Type": "text/plain"})

    def start(self) -> FixtureServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _guess(path: Path) -> str:
    return {
        ".xml": "application/xml",
        ".rss": "application/rss+xml",
        ".atom": "application/atom+xml",
        ".json": "application/json",
        ".html": "text/html; charset=utf-8",
        ".txt": "text/plain; charset=utf-8",
    }.get(path.suffix, "application/octet-stream")
