"""Local servers for the offline demo: the sample-source fixture server and an SMTP server saving .eml files.

Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import monitor
from monitor.errors import UsageError

SAMPLES = Path(monitor.__file__).resolve().parent.parent / "data" / "samples"

# --- fixture server ---------------------------------------------------------------------------------

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
# Platform URLs have no extension (/api/v1/timelines/tag/x, /s/channel): the file carries one.
FALLBACK_SUFFIXES = (".json", ".html", ".xml")


class _QuietServer(ThreadingHTTPServer):
    """A threaded server that logs a client's dropped connection instead of printing a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        logging.getLogger(__name__).debug("sample server: connection from %s ended abruptly", client_address)


class DemoFixtureServer:
    """Serve data/samples on 127.0.0.1 with {{BASE}} replaced by the server's own base URL.

    Answers GET and HEAD, sends an ETag and honours If-None-Match (so a second collection costs no
    parsing), ignores query strings, and never serves a file outside its root.
    """

    def __init__(self, root: Path = SAMPLES, port: int = 0) -> None:
        self.root = root.resolve()
        self.requests: list[str] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._answer(send_body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(send_body=False)

            def _answer(self, send_body: bool) -> None:
                outer.requests.append(self.path)
                status, body, ctype, etag = outer.resolve(self.path)
                if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    if etag:
                        self.send_header("ETag", etag)
                    self.end_headers()
                    if send_body and body:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = _QuietServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="demo-fixtures", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return self.base + path

    def find(self, path: str) -> Path | None:
        """The file answering a URL path, or None."""
        rel = path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
        local = (self.root / rel).resolve()
        if local != self.root and self.root not in local.parents:
            return None
        candidates = [
            local,
            *(local.with_name(local.name + s) for s in FALLBACK_SUFFIXES),
            local / "index.html",
        ]
        return next((c for c in candidates if c.is_file()), None)

    def resolve(self, path: str) -> tuple[int, bytes, str, str | None]:
        """(status, body, content type, etag) for a request path."""
        found = self.find(path)
        if found is None:
            return 404, b"not found\n", "text/plain; charset=utf-8", None
        body = found.read_bytes()
        ctype = CONTENT_TYPES.get(found.suffix, "application/octet-stream")
        if found.name == "robots.txt":
            ctype = CONTENT_TYPES[".txt"]
        if ctype.endswith("charset=utf-8"):
            body = body.replace(b"{{BASE}}", self.base.encode())
        return 200, body, ctype, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def start(self) -> DemoFixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> DemoFixtureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- local SMTP server ------------------------------------------------------------------------------


def free_port(preferred: int = 0) -> int:
    """A port free on 127.0.0.1: `preferred` when it can be bound, else one the OS picks."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise UsageError("no free TCP port on 127.0.0.1")


def port_is_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class MailFolderHandler:
    """aiosmtpd handler: every accepted message is saved as NNNN-recipient.eml in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                n = len(list(self.folder.glob("*.eml"))) + 1
                safe = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in rcpt)[:80]
                (self.folder / f"{n:04d}-{safe}.eml").write_bytes(data)
        return "250 Message accepted for delivery"


class LocalSmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 writing each received message into `folder`."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        from aiosmtpd.controller import Controller

        # Controller(port=0) cannot report the port it got: pick a free one first.
        self.port = free_port(port)
        self.folder = folder
        self._controller = Controller(MailFolderHandler(folder), hostname="127.0.0.1", port=self.port)

    def start(self) -> LocalSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[Path]:
        """The .eml files received so far."""
        return sorted(self.folder.glob("*.eml"))
