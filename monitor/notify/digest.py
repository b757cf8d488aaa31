"""Daily digest and surge alerts by email, each message delivered at most once.

Rendering lives in monitor.notify.content (strings, templates), delivery and the ledger protocol in
monitor.notify.delivery.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.config import Config, Recipient
from monitor.errors import UsageError
from monitor.notify import mailer
from monitor.notify.content import Window, digest_context, render, surge_context
from monitor.notify.delivery import (
    CRASH_HOOK_ENV,
    SendResult,
    deliver_once,
    now_utc,
    retry_failed,
    write_files,
)
from monitor.review import roles
from monitor.store import groups as groups_store
from monitor.store import mail as store
from monitor.store.db import from_db_time, to_db_time

__all__ = [
    "CRASH_HOOK_ENV",
    "DigestReport",
    "SurgeReport",
    "preview_html",
    "render_digest",
    "run_digest",
    "run_surge",
]

BASELINE_DAYS = 7


@dataclass
class DigestReport:
    """The outcome of one digest run."""

    period: str
    results: list[SendResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SendResult]:
        """Messages not delivered in this run because of an error."""
        return [r for r in self.results if r.status in ("failed", "uncertain", "not_attempted")]

    @property
    def sent(self) -> list[SendResult]:
        """Messages the SMTP server accepted in this run."""
        return [r for r in self.results if r.status == "sent"]

    @property
    def paths(self) -> list[Path]:
        """Files written by a dry run."""
        return [p for r in self.results for p in r.paths]


@dataclass
class SurgeReport:
    """Surges found and the alerts sent for them."""

    surges: list[dict[str, Any]] = field(default_factory=list)
    results: list[SendResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SendResult]:
        """Messages not delivered in this run because of an error."""
        return [r for r in self.results if r.status in ("failed", "uncertain", "not_attempted")]


# --- periods and windows -----------------------------------------------------------------------------


def local_today(cfg: Config, now: datetime | None = None) -> date:
    """Today's date in the digest time zone: the current period."""
    return now_utc(now).astimezone(ZoneInfo(cfg.digest.timezone)).date()


def digest_window(cfg: Config, db: sqlite_utils.Database, email: str, period: date, now: datetime) -> Window:
    """(start, end] reported for `period`: since this recipient's previous digest, else 24 h, at most 7 days."""
    tz = ZoneInfo(cfg.digest.timezone)
    if period >= now.astimezone(tz).date():
        end = now
    else:  # a past period re-rendered: it ends at that day's digest time
        end = datetime.combine(period, dtime.fromisoformat(cfg.digest.time), tzinfo=tz).astimezone(UTC)
    start = end - timedelta(hours=24)
    previous = from_db_time(store.previous_window_end(db, "digest", email, period.isoformat()))
    if previous is not None and end - timedelta(days=7) <= previous < end:
        start = previous
    return Window(period=period.isoformat(), start=to_db_time(start), end=to_db_time(end))


def _recipients(cfg: Config, to: str | None) -> list[Recipient]:
    """The configured recipients, or only --to (configured or ad hoc)."""
    if not to:
        return list(cfg.digest.recipients)
    chosen = [r for r in cfg.digest.recipients if r.email.lower() == to.lower()]
    if chosen:
        return chosen
    try:  # an address not in the config: a test send, with the coordinator's content
        return [Recipient(email=to, role="coordinator", language=cfg.web.default_language)]
    except ValueError:
        raise UsageError(f"--to {to}: not an email address — write it as name@example.gov.vn") from None


# --- rendering ---------------------------------------------------------------------------------------


def render_digest(
    cfg: Config,
    db: sqlite_utils.Database,
    recipient: Recipient,
    period: date | Window,
    now: datetime | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) of one recipient's digest for a period (a local date or an explicit window)."""
    window = (
        period
        if isinstance(period, Window)
        else digest_window(cfg, db, recipient.email, period, now_utc(now))
    )
    ctx = digest_context(cfg, db, recipient, window)
    text, html = render("digest", ctx)
    return ctx["subject"], text, html


def preview_html(cfg: Config, db: sqlite_utils.Database, role: str, language: str) -> str:
    """The current digest as a recipient with this role and language would get it (web /digest/preview)."""
    recipient = Recipient(
        email="preview@example.org",  # RFC 2606: never a real mailbox, and a valid address
        role=role if role in roles.ROLES else "analyst",
        language=language if language in ("vi", "en") else cfg.web.default_language,  # type: ignore[arg-type]
    )
    return render_digest(cfg, db, recipient, local_today(cfg))[2]


# --- exactly-once delivery ---------------------------------------------------------------------------


# --- the digest --------------------------------------------------------------------------------------


def run_digest(
    cfg: Config,
    db: sqlite_utils.Database,
    send: bool = False,
    dry_run: bool = False,
    date: date | None = None,
    to: str | None = None,
    out_dir: Path | None = None,
    force: bool = False,
    now: datetime | None = None,
    retry_only: bool = False,
) -> DigestReport:
    """Build the digest for each recipient; write files (dry_run), send them (send) or just report.

    retry_only: send nothing new, only re-send failed messages (digests and alerts) whose backoff passed.
    """
    current = now_utc(now)
    if retry_only:
        report = DigestReport(period=local_today(cfg, current).isoformat())
        report.results = retry_failed(cfg, db, current)
        return report
    today = local_today(cfg, current)
    period = date or today
    if period > today:
        raise UsageError(
            f"--date {period}: the period is in the future (today is {today} in {cfg.digest.timezone})"
        )
    report = DigestReport(period=period.isoformat())
    out = out_dir or cfg.path(cfg.digest.outbox)
    unreachable: str | None = None
    for recipient in _recipients(cfg, to):

        def build(now_text: str, r: Recipient = recipient) -> tuple[str, bytes, str]:
            """Render this message: (subject, bytes to send, html)."""
            window = digest_window(cfg, db, r.email, period, from_db_time(now_text) or current)
            subject, text, html = render_digest(cfg, db, r, window)
            msg = mailer.build_message(cfg, r.email, subject, text, html)
            return subject, mailer.message_bytes(msg), html

        if dry_run or not send:
            subject, data, html = build(to_db_time(current))
            row = store.ledger_row(db, "digest", recipient.email, period.isoformat())
            result = SendResult(
                recipient.email, "digest", period.isoformat(), "written" if dry_run else "preview"
            )
            result.subject = subject
            result.error = f"ledger: {row['status']}" if row and not dry_run else None
            if dry_run:
                result.paths = write_files(out, recipient.email, data, html)
            report.results.append(result)
            continue
        if unreachable:  # the server is down: do not wait out a timeout per recipient; the next run sends
            report.results.append(
                SendResult(recipient.email, "digest", period.isoformat(), "not_attempted", error=unreachable)
            )
            continue
        result = deliver_once(
            cfg,
            db,
            "digest",
            recipient.email,
            period.isoformat(),
            build,
            current,
            force,
        )
        if result.unreachable:
            unreachable = result.error
        report.results.append(result)
    if send and not dry_run and not to and not unreachable:
        # Also re-send earlier failures (yesterday's digest, alerts) whose backoff has passed.
        handled = {(r.kind, r.recipient, r.period) for r in report.results}
        report.results += retry_failed(cfg, db, current, exclude=handled)
    return report


# --- surge alerts ------------------------------------------------------------------------------------


def _over_baseline(
    cfg: Config,
    volumes: Callable[[str, str], dict[int, int]],
    current_time: datetime,
) -> list[tuple[int, str, str, int, float, str]]:
    """(id, window, period, count, baseline, start) of the ids whose volume in the last hour / day exceeds
    factor x their trailing 7-day baseline (and surge_min_items)."""
    out = []
    for window, span in (("hour", timedelta(hours=1)), ("day", timedelta(days=1))):
        start = current_time - span
        current = volumes(to_db_time(start), to_db_time(current_time))
        base = volumes(to_db_time(start - timedelta(days=BASELINE_DAYS)), to_db_time(start))
        per_window = timedelta(days=BASELINE_DAYS) / span
        for key_id, count in sorted(current.items()):
            baseline = max(1.0, base.get(key_id, 0) / per_window)
            if count >= cfg.digest.surge_min_items and count > cfg.digest.surge_factor * baseline:
                if window == "hour":
                    period = current_time.strftime("%Y-%m-%dT%H")
                else:
                    period = local_today(cfg, current_time).isoformat()
                out.append((key_id, window, period, count, baseline, to_db_time(start)))
    return out


def detect_surges(
    cfg: Config, db: sqlite_utils.Database, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Narratives, and open unanswered-claim groups, whose flagged volume in the last hour / day exceeds
    factor x their trailing baseline. Each surge's `key` names it in the ledger: the narrative id, or
    `group:<id>`."""
    current_time = now_utc(now)
    end = to_db_time(current_time)
    found: list[dict[str, Any]] = [
        {
            "key": str(nid),
            "narrative_id": nid,
            "window": window,
            "period": period,
            "count": count,
            "baseline": baseline,
            "start": start,
            "end": end,
        }
        for nid, window, period, count, baseline, start in _over_baseline(
            cfg, lambda a, b: store.narrative_volumes(db, a, b), current_time
        )
    ]
    info = store.narrative_info(db, sorted({s["narrative_id"] for s in found}))
    for surge in found:
        n = info.get(surge["narrative_id"], {})
        surge["name"] = n.get("name") or f"#{surge['narrative_id']}"
        surge["examples"] = store.narrative_examples(db, surge["narrative_id"], surge["start"], surge["end"])
        url = n.get("rebuttal_url") or ""
        surge["rebuttal"] = (
            {
                "title": n["rebuttal_title"],
                "answer": n.get("short_answer") or "",
                "url": url if re.match(r"^https?://", url) else "",
            }
            if n.get("rebuttal_title")
            else None
        )
    # Unanswered claims (no approved rebuttal yet): the same rule on each open group's flagged posts.
    for gid, window, period, count, baseline, start in _over_baseline(
        cfg, lambda a, b: groups_store.group_volumes(db, a, b), current_time
    ):
        group = groups_store.get_group(db, gid) or {}
        found.append(
            {
                "key": f"group:{gid}",
                "group_id": gid,
                "window": window,
                "period": period,
                "count": count,
                "baseline": baseline,
                "start": start,
                "end": end,
                "name": str(group.get("label") or f"#{gid}"),
                "examples": groups_store.group_examples(db, gid, start, end),
                "rebuttal": None,
            }
        )
    return found


def run_surge(
    cfg: Config,
    db: sqlite_utils.Database,
    now: datetime | None = None,
    dry_run: bool = False,
    out_dir: Path | None = None,
) -> SurgeReport:
    """Detect surges and alert coordinators/admins once per narrative (or unanswered-claim group) per window
    (ledger kind surge:<id>:<window>, surge:group:<id>:<window>)."""
    current = now_utc(now)
    found = detect_surges(cfg, db, current)
    hourly = {s["key"] for s in found if s["window"] == "hour"}
    day_ago = to_db_time(current - timedelta(days=1))
    # A fast surge trips both windows: the hour alert covers it, so the day alert is kept for slow build-ups
    # (no hour alert for that narrative in the last 24 h).
    surges = [
        s
        for s in found
        if s["window"] == "hour"
        or (s["key"] not in hourly and not store.claimed_since(db, f"surge:{s['key']}:hour", day_ago))
    ]
    report = SurgeReport(surges=surges)
    recipients = [r for r in cfg.digest.recipients if roles.can(r.role, roles.SURGE_ALERTS)]
    out = out_dir or cfg.path(cfg.digest.outbox)
    unreachable: str | None = None
    for surge in report.surges:
        kind = f"surge:{surge['key']}:{surge['window']}"
        for recipient in recipients:

            def build(
                now_text: str, r: Recipient = recipient, s: dict[str, Any] = surge
            ) -> tuple[str, bytes, str]:
                """Render this message: (subject, bytes to send, html)."""
                ctx = surge_context(cfg, db, r, s)
                text, html = render("surge", ctx)
                msg = mailer.build_message(cfg, r.email, ctx["subject"], text, html)
                return ctx["subject"], mailer.message_bytes(msg), html

            if dry_run:
                subject, data, html = build(to_db_time(current))
                result = SendResult(recipient.email, kind, surge["period"], "written", subject=subject)
                suffix = f"-surge-{surge['key'].replace(':', '-')}-{surge['window']}"
                result.paths = write_files(out, recipient.email, data, html, suffix)
            elif unreachable:
                result = SendResult(
                    recipient.email, kind, surge["period"], "not_attempted", error=unreachable
                )
            else:
                result = deliver_once(cfg, db, kind, recipient.email, surge["period"], build, current)
                if result.unreachable:
                    unreachable = result.error
            report.results.append(result)
    if not dry_run and not unreachable:
        # The hourly surge job doubles as the retry loop for failed digests and alerts past their backoff.
        handled = {(r.kind, r.recipient, r.period) for r in report.results}
        report.results += retry_failed(cfg, db, current, exclude=handled)
    return report
