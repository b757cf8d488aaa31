"""The one bounded HTTP fetch every connector uses: timeouts, size limits, redirects, robots.txt, politeness."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

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
_host_lock = threading.Lock()
_host_next: dict[str, float] = {}
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


def check_url(url: str, allow_private: bool) -> None:
    """Refuse anything but http(s) to a public host (private/loopback only when allowed)."""
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
        infos = socket.getaddrinfo(parts.hostname, parts.port or 0, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchError(f"{url}: cannot resolve host '{parts.hostname}' ({exc})") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast:
            raise FetchError(
                f"{url}: host resolves to a private address {addr}; set collect.allow_private_hosts: true "
                "only for local fixtures"
            )


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
        self.client = client or httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
            trust_env=False,
        )
        self._sleep = sleep if callable(sleep) else time.sleep

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
                log.info("retrying %s in %.1fs: %s", url, wait, exc)
                self._sleep(min(wait, MAX_RETRY_AFTER))
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
        with _host_lock:
            now = time.monotonic()
            start = max(now, _host_next.get(key, 0.0))
            _host_next[key] = start + delay
        if start > now:
            self._sleep(start - now)

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
