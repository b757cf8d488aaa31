"""Build the FastAPI app: routers, sessions, static files, security headers, one error handler."""

from __future__ import annotations

import logging
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from monitor import i18n
from monitor.config import Config
from monitor.errors import Conflict, MonitorError, NotFound, PermissionDenied, StoreError, UsageError
from monitor.store import connect
from monitor.store.db import ConnectionPool
from monitor.store.users import SESSION_LIFETIME_S
from monitor.web import (
    api,
    routes_admin,
    routes_assignments,
    routes_auth,
    routes_digest,
    routes_library,
    routes_queue,
    routes_reports,
    routes_submit,
    routes_unanswered,
)
from monitor.web.deps import AuthRequired, LoginRequired, is_api, is_htmx, language, localtime, render
from monitor.web.fragments import FragmentCache, Rendered

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Feature modules' routers, included in this order (module name -> its `router`).
ROUTER_MODULES: dict[str, APIRouter] = {
    "monitor.web.routes_auth": routes_auth.router,
    "monitor.web.routes_queue": routes_queue.router,
    "monitor.web.api": api.router,
    "monitor.web.routes_library": routes_library.router,
    "monitor.web.routes_assignments": routes_assignments.router,
    "monitor.web.routes_reports": routes_reports.router,
    "monitor.web.routes_admin": routes_admin.router,
    "monitor.web.routes_digest": routes_digest.router,
    "monitor.web.routes_unanswered": routes_unanswered.router,
    "monitor.web.routes_submit": routes_submit.router,
}

STATUS_FOR_ERROR: list[tuple[type[MonitorError], int]] = [
    (NotFound, 404),
    (PermissionDenied, 403),
    (Conflict, 409),
    (UsageError, 400),
    (StoreError, 503),
]

# Bidirectional-text controls (embeddings, overrides, isolates, marks): a scraped title with U+202E
# would show reversed text ("gnp.exe" read as "exe.png"). Every value a template prints loses them.
BIDI_CONTROLS = dict.fromkeys(
    [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
)


BIDI_RE = re.compile("[" + "".join(chr(c) for c in BIDI_CONTROLS) + "]")


def without_bidi(value: Any) -> Any:
    """`value` with bidi controls removed (Markup stays Markup); other types unchanged.

    Called for every value a template prints: a C-speed search first, the copy only when one is there;
    not at all for a fragment this environment already rendered (fragments.Rendered: the queue's rows)."""
    if value.__class__ is Rendered:
        return value
    if isinstance(value, str) and BIDI_RE.search(value) is not None:
        if isinstance(value, Markup):
            return Markup(str.translate(value, BIDI_CONTROLS))
        return value.translate(BIDI_CONTROLS)
    return value


# No inline scripts anywhere: scraped content cannot run code even if an escaping bug slipped through.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; connect-src 'self'"
)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
]


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response, `Cache-Control: no-store` on HTML.

    (Not BaseHTTPMiddleware, which streams every response body through an extra task and memory stream.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                ctype = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>misinfo-monitor API</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/swagger/init.js"></script>
</body></html>
"""


def secret_key(cfg: Config) -> str:
    """The session signing key: from the configured env var, else a generated one kept in state_dir."""
    from_env = cfg.secret(cfg.web.secret_key_env)
    if from_env:
        return from_env
    path = cfg.state_path / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written whole under a temporary name, then linked into place: several web workers starting at
    # once agree on the first key linked, and none reads a half-written file.
    tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink(missing_ok=True)
    log.warning(
        "environment variable %s is not set: generated a session key and saved it in %s (set the variable "
        "in production so every instance signs sessions with the same key)",
        cfg.web.secret_key_env,
        path,
    )
    return key


DICT_ATTRIBUTES = frozenset(dir(dict))


class RowEnvironment(Environment):
    """Jinja2 where `row.title` on a plain dict (a database row) is a key lookup first.

    Jinja's default tries the attribute, catches the AttributeError and then tries the key: a queue page
    reads ~1,500 row fields, and that exception path was the largest single cost of rendering it. Names of
    dict methods (`row.items()`) keep Jinja's order, so every lookup returns what it returned before."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def risk_badge(value: Any) -> Markup:
    """The risk as a coloured percentage badge (a filter, not a macro: the queue shows 50 per page and a
    Jinja macro call costs more than the rest of the cell)."""
    if value is None:
        return Markup('<span class="risk risk-low"></span>')
    v = float(value)
    level = "risk-high" if v >= 0.8 else "risk-mid" if v >= 0.5 else "risk-low"
    return Markup(f'<span class="risk {level}">{v * 100:.0f}%</span>')


def make_templates(cfg: Config) -> Jinja2Templates:
    """Jinja2 with autoescape on for every template, and the app's filters."""
    env = RowEnvironment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=without_bidi,
        auto_reload=False,  # templates ship with the code: no stat() of every template on every render
    )
    tz = cfg.web.timezone

    def _localtime(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return localtime(value, fmt, tz)

    env.filters["localtime"] = _localtime
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v) * 100:.0f}%"
    env.filters["risk"] = risk_badge
    env.filters["score"] = lambda v: "" if v is None else f"{float(v):.2f}"
    env.globals["timezone"] = tz
    return Jinja2Templates(env=env)


def _status_for(exc: MonitorError) -> int:
    for cls, status in STATUS_FOR_ERROR:
        if isinstance(exc, cls):
            return status
    return 500 if not isinstance(exc, UsageError) else 400


def _error_response(request: Request, status: int, message: str) -> Response:
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status)
    if is_htmx(request):
        # htmx swaps this into the flash area (see the htmx-config meta in base.html).
        response = render(request, "_flash_error.html", status_code=status, message=message)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "error.html", status_code=status, message=message, status=status)


def _message(request: Request, exc: MonitorError) -> str:
    """The error's text; in the user's language when the raiser gave a message id (HTML pages only)."""
    msgid = getattr(exc, "msgid", None)
    if not msgid or is_api(request):
        return str(exc)
    lang = language(request)
    values = dict(getattr(exc, "values", {}) or {})
    if "state" in values:
        values["state"] = i18n.translate(lang, str(values["state"]))
    if "when" in values:
        values["when"] = localtime(str(values["when"]), tz=request.app.state.cfg.web.timezone)
    return i18n.translate(lang, msgid, **values)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(MonitorError)
    async def monitor_error(request: Request, exc: MonitorError) -> Response:
        status = _status_for(exc)
        if status >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return _error_response(request, status, _message(request, exc))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import quote

        target = "/login?next=" + quote(exc.next_url, safe="/")
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(AuthRequired)
    async def auth_required(request: Request, exc: AuthRequired) -> Response:
        return JSONResponse({"error": exc.message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()) if p not in ('body', 'query', 'path'))}: {err.get('msg')}"
            for err in exc.errors()[:5]
        )
        message = f"invalid request — {problems}"
        if is_api(request):
            return JSONResponse({"error": message, "detail": jsonable_encoder(exc.errors())}, status_code=422)
        return _error_response(request, 400, message)

    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, exc: OverflowError) -> Response:
        # An id or page above SQLite's 64-bit integers, or a date whose day boundary leaves datetime's range.
        return _error_response(request, 400, "a number or date in the request is out of range")

    @app.exception_handler(sqlite3.OperationalError)
    async def database_error(request: Request, exc: sqlite3.OperationalError) -> Response:
        cfg: Config = request.app.state.cfg
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            message = (
                f"the database {cfg.database_label} is read-only: nothing can be saved (sign-ins included) — "
                "check the file's and its folder's permissions and the disk"
            )
        else:
            message = (
                f"the database {cfg.database_label} cannot be used right now ({text}) — try again shortly"
            )
        log.error("database error on %s: %s", request.url.path, text)
        return _error_response(request, 503, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404 and not is_api(request):
            message = "Page not found"
        return _error_response(request, exc.status_code, message)


def _include_routers(app: FastAPI) -> list[str]:
    included: list[str] = []
    for name, router in ROUTER_MODULES.items():
        app.include_router(router)
        included.append(name)
    return included


def create_app(cfg: Config, migrate: bool = True) -> FastAPI:
    """The web app for one configuration (the database is migrated here, once, unless the caller did)."""
    if migrate:
        db = connect(cfg.database_path)  # applies pending migrations before the first request
        db.conn.close()
    i18n.reload()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Page and API handlers are plain functions run on this thread pool. Python threads share one
        # interpreter lock, and SQLite hands it back and forth on every row: many threads in one process
        # wait on each other and burn CPU switching. Concurrency comes from worker processes (web.workers);
        # a few threads per process keep one slow page from holding up the rest.
        anyio.to_thread.current_default_thread_limiter().total_tokens = cfg.web.threads
        yield
        app.state.db_pool.close()

    app = FastAPI(
        lifespan=lifespan,
        title="misinfo-monitor",
        description="Review queue and JSON API. API routes take `Authorization: Bearer <token>` "
        "(create one with `misinfo users token NAME`).",
        version="0.1.0",
        docs_url=None,  # served below from vendored Swagger UI files
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.cfg = cfg
    app.state.templates = make_templates(cfg)
    app.state.db_pool = ConnectionPool(cfg.database_path)
    app.state.fragments = FragmentCache()
    for note in cfg.web.cookie_warnings():
        log.warning("%s", note)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(cfg),
        session_cookie="misinfo_session",
        max_age=SESSION_LIFETIME_S,
        same_site="lax",
        https_only=cfg.web.cookies_secure,
    )

    app.add_middleware(SecurityHeaders)

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _install_handlers(app)
    app.state.routers = _include_routers(app)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
