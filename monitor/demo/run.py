"""The offline demo: local fixture and SMTP servers, a demo workspace, the whole pipeline, the web app.

`misinfo demo` builds a workspace (config, database, users, approved starter rebuttals), serves the bundled
sample sources from data/samples on 127.0.0.1, runs collect -> classify -> match -> group -> digest (mail goes to a
local SMTP server that saves .eml files), then serves the web app. `misinfo demo --check` runs the same
pipeline headless and checks what each stage produced. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import pipeline
from monitor.demo.fill import demo_figures
from monitor.demo.servers import (
    DemoFixtureServer,
    LocalSmtpServer,
    MailFolderHandler,
    free_port,
    port_is_free,
)
from monitor.demo.workspace import (
    DEMO_USERS,
    REPO_ROOT,
    SAMPLES,
    STARTER_REBUTTALS,
    default_workspace,
    demo_config,
    is_complete,
    open_workspace,
    prepare_workspace,
    read_state,
    reset_workspace,
    write_state,
)
from monitor.errors import UsageError
from monitor.library.io import import_file
from monitor.store.users import create_user, get_user, require_user

Echo = Callable[[str], None]

__all__ = [
    "DemoFixtureServer",
    "LocalSmtpServer",
    "MailFolderHandler",
    "free_port",
    "port_is_free",
    "REPO_ROOT",
    "SAMPLES",
    "demo_config",
    "open_workspace",
    "prepare_workspace",
    "run_demo",
    "run_demo_check",
]

# --- the pipeline -----------------------------------------------------------------------------------


@dataclass
class StageResult:
    name: str
    ok: bool
    seconds: float
    summary: str


def seed_users(db: Any) -> list[str]:
    """Create the demo users that do not exist yet; return the names created."""
    created = []
    for name, password, role, email, language in DEMO_USERS:
        if get_user(db, name) is None:
            create_user(db, name, password, role, email=email, language=language, actor="demo")
            created.append(name)
    return created


def import_starter_rebuttals(db: Any) -> str:
    """Import data/rebuttals/starter.yaml, approved by the demo approver."""
    if not STARTER_REBUTTALS.is_file():
        raise UsageError(f"{STARTER_REBUTTALS} is missing: the demo needs the starter rebuttal library")
    report = import_file(db, STARTER_REBUTTALS, approver=require_user(db, "approver"))
    return str(report.summary()) if hasattr(report, "summary") else str(report)


def _summary(value: Any) -> str:
    """A short human summary of whatever a stage function returned."""
    if value is None:
        return ""
    for attr in ("summary", "line"):
        fn = getattr(value, attr, None)
        if callable(fn):
            try:
                return str(fn())
            except TypeError:
                pass
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if isinstance(v, int | float | str))[:300]
    results = getattr(value, "results", None)
    if isinstance(results, list):
        return (
            "; ".join(f"{getattr(r, 'recipient', '?')}: {getattr(r, 'status', '?')}" for r in results)
            or "nothing to do"
        )
    sources = getattr(value, "sources", None)
    if isinstance(sources, list):
        parts = []
        for s in sources:
            status = getattr(s, "status", "?")
            new = getattr(s, "items_new", getattr(s, "new", None))
            parts.append(
                f"{getattr(s, 'name', '?')}: {status}" + (f" ({new} new)" if new is not None else "")
            )
        return "; ".join(parts)
    return str(value)[:300]


def quiet_model_loading() -> None:
    """Hide transformers' per-load progress bars: the demo prints one line per stage instead."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - cosmetic only
        pass


def run_stage(name: str, fn: Callable[[], Any], echo: Echo) -> StageResult:
    """Run one step, time it, print one line; a failure is reported, never raised (the demo degrades)."""
    echo(f"→ {name} ...")
    start = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - the demo shows every stage it can; the check fails on this one
        result = StageResult(name, False, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    else:
        result = StageResult(name, True, time.perf_counter() - start, _summary(out))
    mark = "✓" if result.ok else "✗"
    echo(f"  {mark} {name} ({result.seconds:.1f} s){': ' + result.summary if result.summary else ''}")
    return result


def build(cfg: Any, db: Any, echo: Echo) -> list[StageResult]:
    """Seed users and rebuttals, then collect -> classify -> match -> group -> digest (sent to the local SMTP
    server)."""
    quiet_model_loading()

    def collect_all() -> Any:
        # The demo runs every source now, whatever back-off an earlier failed run left behind.
        return pipeline.collect(cfg, db, force=True)

    stages = [
        ("users", lambda: f"created {', '.join(seed_users(db)) or 'none (already there)'}"),
        ("rebuttals", lambda: import_starter_rebuttals(db)),
        ("collect", collect_all),
        ("classify", lambda: pipeline.classify(cfg, db)),
        ("match", lambda: pipeline.match(cfg, db)),
        ("group", lambda: pipeline.group(cfg, db)),
        ("digest", lambda: pipeline.digest(cfg, db, send=True)),
    ]
    return [run_stage(name, fn, echo) for name, fn in stages]


@contextmanager
def demo_servers(
    workspace: Path, fixture_port: int = 0
) -> Iterator[tuple[DemoFixtureServer, LocalSmtpServer]]:
    """The fixture server and the SMTP server, stopped on exit whatever happens."""
    port = fixture_port if fixture_port and port_is_free(fixture_port) else 0
    fixtures = DemoFixtureServer(SAMPLES, port=port).start()
    try:
        smtp = LocalSmtpServer(workspace / "mail").start()
        try:
            yield fixtures, smtp
        finally:
            smtp.stop()
    finally:
        fixtures.stop()


# --- the check --------------------------------------------------------------------------------------


def evaluate(figures: dict[str, Any], mail_files: int) -> list[tuple[str, bool, str]]:
    """The checks `misinfo demo --check` makes: (what, passed, figure)."""
    per_source = figures["per_source"]
    with_items = sum(1 for n in per_source.values() if n)
    return [
        (
            "items collected",
            figures["items"] > 0,
            f"{figures['items']} items ({figures['sightings']} sightings) from {with_items}/{len(per_source)} sources",
        ),
        (
            "items flagged",
            figures["flagged"] > 0,
            f"{figures['flagged']} of {figures['scored']} scored items flagged",
        ),
        (
            "suggestions for flagged items",
            figures["flagged_with_suggestions"] > 0,
            f"{figures['flagged_with_suggestions']} of {figures['flagged']} flagged items have suggestions "
            f"({figures['suggestions']} suggestions, {figures['rebuttals_approved']} approved rebuttals)",
        ),
        (
            "digest written",
            figures["digests_sent"] > 0 and mail_files > 0,
            f"{figures['digests_sent']} digest(s) recorded sent, {mail_files} message(s) received by the local SMTP server",
        ),
        (
            "unanswered claims grouped",
            figures.get("unanswered_groups", 0) > 0,
            f"{figures.get('unanswered_groups', 0)} open group(s) of 2 or more flagged posts no rebuttal answers",
        ),
        (
            "robots.txt respected",
            figures["robots_violations"] == 0,
            f"{figures['robots_violations']} item(s) from the disallowed /press/noi-bo/",
        ),
    ]


def run_demo_check(workspace: Path | None = None, echo: Echo = print) -> int:
    """Run the whole demo pipeline headless in a fresh workspace; 0 only when every check passes."""
    temporary = workspace is None
    ws_path = Path(tempfile.mkdtemp(prefix="misinfo-demo-check-")) if temporary else workspace
    assert ws_path is not None
    ws_path = ws_path.resolve()
    started = time.perf_counter()
    ok = False
    try:
        reset_workspace(ws_path)
        with demo_servers(ws_path) as (fixtures, smtp):
            ws = prepare_workspace(ws_path, base_url=fixtures.base, smtp_port=smtp.port)
            echo(f"Demo check in {ws} (fixtures at {fixtures.base}, SMTP at 127.0.0.1:{smtp.port})")
            cfg, db = open_workspace(ws)
            try:
                stages = build(cfg, db, echo)
                figures = demo_figures(db)
            finally:
                db.conn.close()
            mail_files = len(list((ws / "mail").glob("*.eml")))
        for name, error in figures["source_errors"].items():
            echo(f"  warning: source {name}: {error}")
        echo("Checks:")
        checks = evaluate(figures, mail_files)
        for what, passed, figure in checks:
            echo(f"  {'PASS' if passed else 'FAIL'}  {what}: {figure}")
        failed_stages = [s.name for s in stages if not s.ok]
        if failed_stages:
            echo(f"  FAIL  stages: {', '.join(failed_stages)} did not complete (see above)")
        ok = all(p for _, p, _ in checks) and not failed_stages
        echo(f"Demo check {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s.")
        return 0 if ok else 1
    finally:
        if temporary and ok:
            shutil.rmtree(ws_path, ignore_errors=True)
        elif temporary:
            echo(f"Workspace kept for inspection: {ws_path}")


# --- the interactive demo ---------------------------------------------------------------------------


def print_logins(url: str, echo: Echo) -> None:
    """The URL and the demo logins."""
    echo("")
    echo(f"  Open {url} and log in as:")
    for name, password, role, _, _ in DEMO_USERS:
        echo(f"    {name:<12} / {password:<24} ({role})")
    echo("  (demo passwords for this local demo database only)")


def run_demo(workspace: Path | None = None, port: int = 8000, fresh: bool = False, echo: Echo = print) -> int:
    """Build (or reuse) the demo workspace, then serve the web app until Ctrl-C; return an exit code."""
    import uvicorn  # lazy: the web server loads only when the demo serves the web app (not for --check)

    ws = (workspace or default_workspace()).resolve()
    if not port_is_free(port):
        raise UsageError(
            f"port {port} on 127.0.0.1 is in use — stop what uses it or pass --port, e.g. --port 8010"
        )
    reuse = is_complete(ws) and not fresh
    if not reuse:
        reset_workspace(ws)
    state = read_state(ws)
    with demo_servers(ws, fixture_port=int(state.get("fixture_port") or 0)) as (fixtures, smtp):
        prepare_workspace(ws, base_url=fixtures.base, smtp_port=smtp.port, web_port=port)
        cfg, db = open_workspace(ws)
        try:
            if reuse:
                echo(
                    f"Reusing the demo workspace {ws} built {state.get('built_at', '')} (--fresh rebuilds it)."
                )
                if state.get("fixture_port") != fixtures.port:
                    echo(
                        "  note: the sample server got a new port; links to original posts of old items may not open."
                    )
            else:
                echo(f"Building the demo workspace in {ws} (sample sources at {fixtures.base}) ...")
                stages = build(cfg, db, echo)
                failed = [s.name for s in stages if not s.ok]
                write_state(
                    ws,
                    complete=not failed,
                    fixture_port=fixtures.port,
                    built_at=time.strftime("%Y-%m-%d %H:%M:%S"),
                    failed_stages=failed,
                )
                if failed:
                    echo(
                        f"  Some steps did not complete ({', '.join(failed)}): the demo shows what the others built."
                    )
            fig = demo_figures(db)
        finally:
            db.conn.close()
        mails = sorted((ws / "mail").glob("*.eml"))
        echo(
            f"Items {fig['items']}, flagged {fig['flagged']}, with suggestions {fig['flagged_with_suggestions']}, "
            f"approved rebuttals {fig['rebuttals_approved']}, digests {fig['digests_sent']}."
        )
        if mails:
            echo(f"Digest emails received by the local SMTP server: {ws / 'mail'} ({len(mails)} .eml files)")
        from monitor.web.app import create_app  # lazy: the web app in the CLI; --check runs headless

        app = create_app(cfg)
        url = f"http://127.0.0.1:{port}"
        print_logins(url, echo)
        echo("  Press Ctrl-C to stop the web app, the sample server and the SMTP server.")
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        try:
            server.run()
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl-C after its own clean shutdown; ours follows in the finally blocks
    echo("Demo stopped.")
    return 0
