"""The one bounded HTTP fetch every connector uses: timeouts, size limits, redirects, robots.txt, politeness."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
from httpcore._backends.sync import SyncStream

from monitor.config import CollectConfig
from monitor.errors import FetchError
from monitor.store.db import utcnow

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
ROBOTS_TTL = 3600.0  # seconds a robots.txt answer is trusted before it is fetched again
ROBOTS_RETRY = 300.0  # seconds before an unreadable robots.txt is tried again
MAX_RETRY_AFTER = 60.0  # never sleep longer than this on a Retry-After header
CHUNK = 65536

# Per-host politeness is process-wide: scheduler jobs run in threads and each has its own Fetcher.
# A HostLimiter installed with set_host_limiter() replaces it (Celery workers share one timer per host
# through Redis: monitor/distributed/locks.py).
_host_lock = threading.Lock()
_host_next: dict[str, float] = {}


class HostLimiter(Protocol):
    """Reserves the next request slot to a host: how many seconds to wait before sending (0: at once)."""

    def reserve(self, host: str, delay: float) -> float: ...


_host_limiter: HostLimiter | None = None


def set_host_limiter(limiter: HostLimiter | None) -> None:
    """Use `limiter` for per-host politeness in this process (None: the process-wide timers)."""
    global _host_limiter
    _host_limiter = limiter


_robots_lock = threading.Lock()
_robots_cache: dict[str, tuple[float, RobotFileParser | None, str | None]] = {}


@dataclass
class FetchResult:
    """What one fetch returned (after redirects)."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: str
    raw_bytes: int = 0  # bytes that crossed the wire (compressed), for the conditional-GET figures
    redirects: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def clear_caches() -> None:
    """Forget robots.txt answers and per-host timers (tests, long-running processes after config reload)."""
    with _robots_lock:
        _robots_cache.clear()
    with _host_lock:
        _host_next.clear()


def host_key(url: str) -> str:
    """scheme://host:port, the unit of politeness and robots.txt."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(addr: IPAddress) -> bool:
    """Whether an address is on the public internet (ipaddress' is_global), looking inside IPv4-mapped,
    6to4, Teredo and NAT64 IPv6 addresses, which carry an IPv4 address that decides."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return is_public_address(addr.ipv4_mapped)
        if addr.sixtofour is not None:
            return is_public_address(addr.sixtofour)
        if addr.teredo is not None:
            return all(is_public_address(a) for a in addr.teredo)
        if addr in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return bool(addr.is_global) and not addr.is_multicast


def _refuse(where: str, addr: IPAddress) -> FetchError:
    return FetchError(
        f"{where}: host resolves to {addr}, not a public address (a private address or a reserved range); "
        "set collect.allow_private_hosts: true only for local fixtures"
    )


def _resolve(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) of every address `host` resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(int(info[0]), str(info[4][0])) for info in infos]


def check_url(url: str, allow_private: bool) -> None:
    """Refuse anything but http(s) to a public host (non-public addresses only when allowed).

    Checked again at connect time (the connection goes to an address checked then), so a DNS answer
    that changes between this look-up and the connection (DNS rebinding) cannot reach a private host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(
            f"{url}: only http and https URLs are fetched (got scheme '{parts.scheme or 'none'}')"
        )
    if not parts.hostname:
        raise FetchError(f"{url}: the URL has no host name")
    if allow_private:
        return
    try:
        addrs = _resolve(parts.hostname, parts.port or 0)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"{url}: cannot resolve host '{parts.hostname}' ({exc})") from None
    for _, raw in addrs:
        addr = ipaddress.ip_address(raw.split("%", 1)[0])
        if not is_public_address(addr):
            raise _refuse(url, addr)


# --- stopping: SIGTERM ends fetches within a second -------------------------------------------------------

_stop = threading.Event()
STOP_POLL = 0.5  # seconds a blocking read waits before looking at the stop flag and the deadline again


def request_stop() -> None:
    """Make every fetch in this process give up at once (the process is shutting down)."""
    _stop.set()


def clear_stop() -> None:
    """Allow fetches again (a new scheduler start in the same process; tests)."""
    _stop.clear()


def stopping() -> bool:
    """Whether request_stop() was called."""
    return _stop.is_set()


def wait_stop(seconds: float) -> bool:
    """Sleep up to `seconds`, waking at once on request_stop(); True when stopping."""
    return _stop.wait(seconds)


class _Guard:
    """The stop flag and the current source's deadline, as the network layer sees them."""

    def __init__(self, cfg: CollectConfig) -> None:
        self.cfg = cfg
        self.deadline: float | None = None  # time.monotonic() by which the current source's pass ends
        self.limit = 0.0

    def check(self, what: str = "") -> None:
        if _stop.is_set():
            raise FetchError(f"{what or 'fetch'}: stopped (the process is shutting down)")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise FetchError(
                f"{what or 'fetch'}: gave up after collect.source_timeout ({self.limit:g}s) for this source"
            )

    def slice(self, end: float | None) -> float:
        """How long the next blocking wait may last."""
        now = time.monotonic()
        wait = STOP_POLL
        if end is not None:
            wait = min(wait, end - now)
        if self.deadline is not None:
            wait = min(wait, self.deadline - now)
        return max(wait, 0.001)


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes end at the stop flag or the source's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, guard: _Guard, where: str) -> None:
        self.inner, self.guard, self.where = inner, guard, where

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self.guard.check(self.where)
            try:
                return self.inner.read(max_bytes, self.guard.slice(end))
            except httpcore.ReadTimeout:
                if end is not None and time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.guard.check(self.where)
        self.inner.write(buffer, timeout)

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self.guard.check(self.where)
        return _GuardedStream(
            self.inner.start_tls(ssl_context, server_hostname, timeout), self.guard, self.where
        )

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks the addresses (unless private hosts are allowed) and connects to a checked one."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        where = f"{host}:{port}"
        self.guard.check(where)
        try:
            addrs = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve host '{host}' ({exc})") from None
        if not self.guard.cfg.allow_private_hosts:
            for _, raw in addrs:
                addr = ipaddress.ip_address(raw.split("%", 1)[0])
                if not is_public_address(addr):
                    raise _refuse(where, addr)
        last: Exception | None = None
        for family, raw in addrs:
            self.guard.check(where)
            wait = timeout
            if self.guard.deadline is not None:
                wait = max(min(timeout or 1e9, self.guard.deadline - time.monotonic()), 0.001)
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(wait)
                if local_address is not None:
                    sock.bind((local_address, 0))
                sock.connect((raw, port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for option in socket_options or []:
                    sock.setsockopt(*option)
            except TimeoutError as exc:
                sock.close()
                last = httpcore.ConnectTimeout(str(exc))
                continue
            except OSError as exc:
                sock.close()
                last = httpcore.ConnectError(str(exc))
                continue
            return _GuardedStream(SyncStream(sock), self.guard, where)
        raise last or httpcore.ConnectError(f"no address for host '{host}'")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        _stop.wait(seconds)


class _Decoder:
    """Decompress gzip/deflate ourselves so a compressed bomb is stopped at max_bytes, never inflated whole."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self.limit = limit
        self.url = url
        self.size = 0
        self.parts: list[bytes] = []
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self.zobj = None
        elif enc in ("gzip", "x-gzip"):
            self.zobj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self.zobj = zlib.decompressobj(zlib.MAX_WBITS | 32)
        else:
            raise FetchError(f"{url}: unsupported Content-Encoding '{encoding}'")

    def feed(self, data: bytes) -> None:
        if self.zobj is None:
            self._add(data)
            return
        try:
            # max_length bounds memory: at most limit+1 bytes are inflated from any chunk.
            out = self.zobj.decompress(data, self.limit - self.size + 1)
            self._add(out)
            while self.zobj.unconsumed_tail:
                out = self.zobj.decompress(self.zobj.unconsumed_tail, self.limit - self.size + 1)
                self._add(out)
        except zlib.error as exc:
            raise FetchError(f"{self.url}: the compressed body is corrupt ({exc})") from None

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise FetchError(
                f"{self.url}: response larger than collect.max_bytes ({self.limit} bytes after decompression)"
            )
        self.parts.append(data)

    def finish(self) -> bytes:
        if self.zobj is not None:
            try:
                self._add(self.zobj.flush())
            except zlib.error as exc:
                raise FetchError(f"{self.url}: the compressed body is corrupt ({exc})") from None
        return b"".join(self.parts)


class Fetcher:
    """A bounded HTTP client. One per collection run (or per thread); close() when done."""

    def __init__(self, cfg: CollectConfig, client: httpx.Client | None = None, sleep: object = None) -> None:
        self.cfg = cfg
        timeout = httpx.Timeout(
            connect=cfg.connect_timeout,
            read=cfg.read_timeout,
            write=cfg.read_timeout,
            pool=cfg.connect_timeout,
        )
        self.guard = _Guard(cfg)
        if client is None:
            transport = httpx.HTTPTransport(trust_env=False)
            # Every connection goes through the guarded backend: address checks at connect time, the
            # source's deadline and the stop flag on every read (httpx's read timeout is per read only).
            transport._pool._network_backend = _GuardedBackend(self.guard)
            client = httpx.Client(
                timeout=timeout,
                follow_redirects=False,
                headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
                trust_env=False,
                transport=transport,
            )
        self.client = client
        self._sleep = sleep if callable(sleep) else _stop.wait

    def set_deadline(self, seconds: float | None) -> None:
        """End every fetch after `seconds` from now (the source's pass); None: no deadline."""
        self.guard.deadline = None if seconds is None else time.monotonic() + seconds
        self.guard.limit = seconds or 0.0

    def check_deadline(self, what: str) -> None:
        """Raise FetchError when the process is stopping or the source's deadline has passed."""
        self.guard.check(what)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public ------------------------------------------------------------------------------------

    def get(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        robots: bool = True,
    ) -> FetchResult:
        """GET with retries; follow redirects by hand. Raises FetchError with the reason."""
        attempt = 0
        while True:
            try:
                result = self._get_following(url, etag, last_modified, accept, robots)
            except _Retryable as exc:
                if attempt >= self.cfg.retries:
                    raise FetchError(str(exc)) from None
                wait = exc.retry_after if exc.retry_after is not None else self.cfg.backoff * (2**attempt)
                wait = min(wait, MAX_RETRY_AFTER)
                deadline = self.guard.deadline
                if deadline is not None and time.monotonic() + wait >= deadline:
                    raise FetchError(f"{exc} (no time left to retry within collect.source_timeout)") from None
                log.info("retrying %s in %.1fs: %s", url, wait, exc)
                self._sleep(wait)
                self.guard.check(url)
                attempt += 1
                continue
            return result

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our User-Agent fetch `url` (always True when respect_robots is off)."""
        return self.robots_verdict(url)[0]

    def robots_verdict(self, url: str) -> tuple[bool, str | None]:
        """(allowed, why robots.txt could not be read) for `url`, cached per host."""
        if not self.cfg.respect_robots:
            return True, None
        key = host_key(url)
        now = time.monotonic()
        with _robots_lock:
            cached = _robots_cache.get(key)
        if cached is None or cached[0] < now:
            parser, problem = self._load_robots(key)
            # A failure is retried sooner than a good answer, so a blip does not block a host for an hour.
            ttl = ROBOTS_TTL if problem is None else ROBOTS_RETRY
            cached = (now + ttl, parser, problem)
            with _robots_lock:
                _robots_cache[key] = cached
        parser, problem = cached[1], cached[2]
        if parser is None:
            return False, problem
        return parser.can_fetch(self.cfg.user_agent, url), None

    # --- internals ---------------------------------------------------------------------------------

    def _load_robots(self, key: str) -> tuple[RobotFileParser | None, str | None]:
        """Fetch and parse robots.txt; 4xx means no rules; 401/403/5xx means keep out for now (RFC 9309)."""
        parser = RobotFileParser(key + "/robots.txt")
        try:
            res = self._get_following(key + "/robots.txt", None, None, "text/plain", robots=False)
        except _Retryable as exc:
            log.warning("robots.txt unavailable (%s): not fetching from %s for now", exc, key)
            return None, str(exc)
        except FetchError as exc:
            status = getattr(exc, "http_status", None)
            if status is not None and 400 <= status < 500 and status not in (401, 403):
                parser.parse([])
                return parser, None
            log.warning("robots.txt unavailable (%s): not fetching from %s for now", exc, key)
            return None, str(exc)
        parser.parse(res.body.decode("utf-8", errors="replace").splitlines())
        return parser, None

    def _polite_wait(self, url: str) -> None:
        """Sleep until this host's minimum delay has passed, then reserve the next slot."""
        delay = self.cfg.per_host_delay
        if delay <= 0:
            return
        key = host_key(url)
        limiter = _host_limiter
        if limiter is not None:
            wait = limiter.reserve(key, delay)
        else:
            with _host_lock:
                now = time.monotonic()
                start = max(now, _host_next.get(key, 0.0))
                _host_next[key] = start + delay
            wait = start - now
        if wait > 0:
            self.guard.check(url)
            self._sleep(wait)
        self.guard.check(url)

    def _get_following(
        self, url: str, etag: str | None, last_modified: str | None, accept: str | None, robots: bool
    ) -> FetchResult:
        seen = [url]
        current = url
        while True:
            check_url(current, self.cfg.allow_private_hosts)
            if robots:
                ok, problem = self.robots_verdict(current)
                if problem:
                    raise FetchError(
                        f"{current}: robots.txt could not be read ({problem}); not fetching for now"
                    )
                if not ok:
                    raise FetchError(f"{current}: robots.txt disallows fetching this URL for our User-Agent")
            headers: dict[str, str] = {}
            if accept:
                headers["Accept"] = accept
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            self._polite_wait(current)
            status, resp_headers, body, raw = self._one(current, headers)
            if status in (301, 302, 303, 307, 308):
                location = resp_headers.get("location")
                if not location:
                    raise FetchError(f"{current}: HTTP {status} redirect without a Location header")
                target = urljoin(current, location.strip())
                if target in seen:
                    raise FetchError(f"{url}: redirect loop ({' -> '.join([*seen, target])})")
                if len(seen) > self.cfg.max_redirects:
                    raise FetchError(
                        f"{url}: more than collect.max_redirects ({self.cfg.max_redirects}) redirects"
                    )
                seen.append(target)
                current = target
                continue
            if status in RETRY_STATUSES:
                raise _Retryable(f"{current}: HTTP {status} from the server", _retry_after(resp_headers))
            if status >= 400:
                err = FetchError(f"{current}: HTTP {status} — check the URL or whether the page still exists")
                err.http_status = status  # type: ignore[attr-defined]
                raise err
            return FetchResult(
                url=url,
                final_url=current,
                status=status,
                headers=resp_headers,
                body=body,
                fetched_at=utcnow(),
                raw_bytes=raw,
                redirects=seen[1:],
            )

    def _one(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes, int]:
        """One request, streamed, with the body bounded before and after decompression."""
        limit = self.cfg.max_bytes
        try:
            with self.client.stream("GET", url, headers=headers) as resp:
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status_code in (301, 302, 303, 307, 308, 304) or resp.status_code >= 400:
                    return resp.status_code, resp_headers, b"", 0
                declared = resp_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(
                        f"{url}: response of {declared} bytes is larger than collect.max_bytes ({limit})"
                    )
                decoder = _Decoder(resp_headers.get("content-encoding", ""), limit, url)
                raw = 0
                for chunk in resp.iter_raw(CHUNK):
                    raw += len(chunk)
                    if raw > limit:
                        raise FetchError(f"{url}: response larger than collect.max_bytes ({limit} bytes)")
                    decoder.feed(chunk)
                return resp.status_code, resp_headers, decoder.finish(), raw
        except httpx.TimeoutException as exc:
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for data"
            raise _Retryable(f"{url}: timed out {kind} (collect.connect_timeout/read_timeout)") from None
        except httpx.ConnectError as exc:
            raise _Retryable(f"{url}: cannot connect ({exc})") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Retryable(f"{url}: connection broken ({exc})") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


class _Retryable(Exception):
    """A failure worth retrying (5xx, 429, timeouts, refused connections)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
