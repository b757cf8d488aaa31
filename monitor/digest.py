"""Daily digest and surge alerts by email, each message delivered at most once (see docs/digest.md).

Exactly-once protocol, per (kind, recipient, period) row of the `digests_sent` ledger:
1. render the message and give it a Message-ID;
2. claim the row in one write transaction (INSERT OR IGNORE + conditional UPDATE to 'sending'),
   storing the Message-ID and the exact message bytes before any SMTP traffic;
3. hand the stored bytes to the SMTP server; 4. mark the row 'sent'.
A failure the server certainly did not accept marks the row 'failed' with a backoff; retries resend
the stored bytes. A row left in 'sending' (crash between 3 and 4, or a connection lost mid-DATA) may
have been delivered, so it is never re-sent automatically: `--force` re-sends it, with the same
Message-ID, once its lease has expired.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor import mailer
from monitor.config import Config, Recipient
from monitor.digest_content import Window, digest_context, render, surge_context
from monitor.errors import MailError, UsageError
from monitor.store import mail as store
from monitor.store.db import from_db_time, to_db_time

SENDING_LEASE = timedelta(minutes=10)  # a 'sending' row older than this is stuck, not in progress
MAX_BACKOFF = timedelta(hours=6)
CRASH_HOOK_ENV = "MISINFO_TEST_CRASH_AFTER_SEND"  # tests only: die between SMTP acceptance and the ledger
SURGE_ROLES = ("coordinator", "admin")
BASELINE_DAYS = 7


@dataclass
class SendResult:
    """What happened to one message."""

    recipient: str
    kind: str
    period: str
    status: str  # sent, already_sent, in_progress, stuck, deferred, failed, uncertain, written, not_attempted
    message_id: str | None = None
    subject: str = ""
    error: str | None = None
    unreachable: bool = False
    paths: list[Path] = field(default_factory=list)

    def line(self) -> str:
        """One human-readable line for the CLI."""
        text = f"{self.status:<13} {self.recipient} [{self.kind} {self.period}]"
        if self.message_id:
            text += f" {self.message_id}"
        if self.paths:
            text += " -> " + ", ".join(str(p) for p in self.paths)
        if self.error:
            text += f": {self.error}"
        return text


@dataclass
class DigestReport:
    """The outcome of one digest run."""

    period: str
    results: list[SendResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SendResult]:
        return [r for r in self.results if r.status in ("failed", "uncertain", "not_attempted")]

    @property
    def sent(self) -> list[SendResult]:
        return [r for r in self.results if r.status == "sent"]

    @property
    def paths(self) -> list[Path]:
        return [p for r in self.results for p in r.paths]


@dataclass
class SurgeReport:
    """Surges found and the alerts sent for them."""

    surges: list[dict[str, Any]] = field(default_factory=list)
    results: list[SendResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SendResult]:
        return [r for r in self.results if r.status in ("failed", "uncertain", "not_attempted")]


# --- periods and windows -----------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def local_today(cfg: Config, now: datetime | None = None) -> date:
    """Today's date in the digest time zone: the current period."""
    return _now(now).astimezone(ZoneInfo(cfg.digest.timezone)).date()


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
        period if isinstance(period, Window) else digest_window(cfg, db, recipient.email, period, _now(now))
    )
    ctx = digest_context(cfg, db, recipient, window)
    text, html = render("digest", ctx)
    return ctx["subject"], text, html


def preview_html(cfg: Config, db: sqlite_utils.Database, role: str, language: str) -> str:
    """The current digest as a recipient with this role and language would get it (web /digest/preview)."""
    recipient = Recipient(
        email="preview@example.invalid",
        role=role if role in ("analyst", "coordinator", "approver", "admin", "manager") else "analyst",  # type: ignore[arg-type]
        language=language if language in ("vi", "en") else cfg.web.default_language,  # type: ignore[arg-type]
    )
    return render_digest(cfg, db, recipient, local_today(cfg))[2]


def _safe_name(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", email)


# --- exactly-once delivery ---------------------------------------------------------------------------


def worker_id() -> str:
    """Who holds a claim: host, process and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _backoff(cfg: Config, attempts: int) -> timedelta:
    seconds = cfg.smtp.retry_backoff * (2 ** max(0, attempts - 1))
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def _explain(row: dict[str, Any], result: SendResult, now: datetime) -> SendResult:
    """Fill a result for a row this run does not send."""
    result.message_id = row.get("message_id")
    status = row["status"]
    if status == "sent":
        result.status = "already_sent"
    elif status == "sending":
        claimed = from_db_time(row.get("claimed_at")) or now
        if claimed > now - SENDING_LEASE:
            result.status = "in_progress"
        else:
            result.status = "stuck"
            result.error = (
                f"possibly delivered ({row.get('last_error') or 'the sender stopped before recording the result'});"
                f" look for {row.get('message_id')} in the mail server log, then re-send with --force if it is absent"
            )
    else:
        result.status = "deferred"
        result.error = f"retry after {row.get('next_attempt_after')} (attempt {row['attempts']}: {row.get('last_error')})"
    return result


def deliver_once(
    cfg: Config,
    db: sqlite_utils.Database,
    kind: str,
    recipient: str,
    period: str,
    build: Callable[[str], tuple[str, bytes, str]],
    now: datetime,
    force: bool = False,
    worker: str | None = None,
) -> SendResult:
    """Send one ledger-tracked message at most once. `build(now_text)` -> (subject, message bytes, html)."""
    worker = worker or worker_id()
    result = SendResult(recipient=recipient, kind=kind, period=period, status="failed")
    now_text = to_db_time(now)
    stale_before = to_db_time(now - SENDING_LEASE) if force else None
    row = store.ledger_row(db, kind, recipient, period)
    if row is not None and not (
        (row["status"] == "failed" and (row["next_attempt_after"] or "") <= now_text)
        or (
            row["status"] == "sending"
            and stale_before is not None
            and (row["claimed_at"] or "") <= stale_before
        )
    ):
        return _explain(row, result, now)
    if row is not None and row.get("payload"):
        message_id, payload = str(row["message_id"]), str(row["payload"])
    else:
        result.subject, data, _html = build(now_text)
        payload = data.decode("utf-8")
        message_id = _header(payload, "Message-ID")
    for attempt in range(cfg.smtp.retries + 1):
        claimed = store.claim(
            db,
            kind,
            recipient,
            period,
            worker,
            to_db_time(_now(None)) if attempt else now_text,
            message_id,
            payload,
            stale_before=stale_before if attempt == 0 else None,
            ignore_backoff=attempt > 0,
        )
        if claimed is None:  # another process got there first
            again = store.ledger_row(db, kind, recipient, period)
            return _explain(again, result, now) if again else result
        result.message_id = str(claimed["message_id"])
        try:
            mailer.deliver(cfg, recipient, str(claimed["payload"]).encode("utf-8"))
        except mailer.MailUncertain as exc:
            store.mark_uncertain(db, int(claimed["id"]), worker, str(exc))
            result.status, result.error = "uncertain", str(exc)
            return result
        except MailError as exc:
            retry_at = _now(None) + _backoff(cfg, int(claimed["attempts"]))
            store.mark_failed(db, int(claimed["id"]), worker, str(exc), to_db_time(retry_at))
            result.status, result.error = "failed", str(exc)
            result.unreachable = isinstance(exc, mailer.MailUnreachable)
            if attempt < cfg.smtp.retries:
                time.sleep(min(2.0**attempt, cfg.smtp.retry_backoff))
                continue
            return result
        if os.environ.get(CRASH_HOOK_ENV):
            os._exit(1)  # simulate a crash after the server accepted the message, before the ledger update
        store.mark_sent(db, int(claimed["id"]), worker, to_db_time(_now(None)))
        result.status, result.error = "sent", None
        return result
    return result


def _header(payload: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(\S+)", payload, re.MULTILINE | re.IGNORECASE)
    if not match:
        raise MailError(f"built message has no {name} header")
    return match.group(1)


def _write_files(out_dir: Path, email: str, data: bytes, html: str, suffix: str = "") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    eml = out_dir / f"{_safe_name(email)}{suffix}.eml"
    page = out_dir / f"{_safe_name(email)}{suffix}.html"
    eml.write_bytes(data)
    page.write_text(html, encoding="utf-8")
    return [eml, page]


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
    current = _now(now)
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
                result.paths = _write_files(out, recipient.email, data, html)
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
    return report


def retry_failed(cfg: Config, db: sqlite_utils.Database, now: datetime | None = None) -> list[SendResult]:
    """Re-send every failed message of the last 3 days whose backoff has passed (its stored bytes)."""
    current = _now(now)

    def no_build(now_text: str) -> tuple[str, bytes, str]:
        raise MailError("a failed ledger row has no stored message — run `misinfo digest --send` instead")

    results: list[SendResult] = []
    unreachable: str | None = None
    for row in store.due_failed(db, to_db_time(current), to_db_time(current - timedelta(days=3))):
        if unreachable:
            results.append(
                SendResult(row["recipient"], row["kind"], row["period"], "not_attempted", error=unreachable)
            )
            continue
        result = deliver_once(cfg, db, row["kind"], row["recipient"], row["period"], no_build, current)
        unreachable = result.error if result.unreachable else None
        results.append(result)
    return results


# --- surge alerts ------------------------------------------------------------------------------------


def detect_surges(
    cfg: Config, db: sqlite_utils.Database, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Narratives whose flagged volume in the last hour / day exceeds factor x their trailing baseline."""
    current_time = _now(now)
    found: list[dict[str, Any]] = []
    for window, span in (("hour", timedelta(hours=1)), ("day", timedelta(days=1))):
        start = current_time - span
        current = store.narrative_volumes(db, to_db_time(start), to_db_time(current_time))
        base = store.narrative_volumes(
            db, to_db_time(start - timedelta(days=BASELINE_DAYS)), to_db_time(start)
        )
        per_window = timedelta(days=BASELINE_DAYS) / span
        for narrative_id, count in sorted(current.items()):
            baseline = max(1.0, base.get(narrative_id, 0) / per_window)
            if count >= cfg.digest.surge_min_items and count > cfg.digest.surge_factor * baseline:
                if window == "hour":
                    key = current_time.strftime("%Y-%m-%dT%H")
                else:
                    key = local_today(cfg, current_time).isoformat()
                found.append(
                    {
                        "narrative_id": narrative_id,
                        "window": window,
                        "period": key,
                        "count": count,
                        "baseline": baseline,
                        "start": to_db_time(start),
                        "end": to_db_time(current_time),
                    }
                )
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
    return found


def run_surge(
    cfg: Config,
    db: sqlite_utils.Database,
    now: datetime | None = None,
    dry_run: bool = False,
    out_dir: Path | None = None,
) -> SurgeReport:
    """Detect surges and alert coordinators/admins once per narrative per window (ledger kind surge:<id>:<window>)."""
    current = _now(now)
    found = detect_surges(cfg, db, current)
    hourly = {s["narrative_id"] for s in found if s["window"] == "hour"}
    day_ago = to_db_time(current - timedelta(days=1))
    # A fast surge trips both windows: the hour alert covers it, so the day alert is kept for slow build-ups
    # (no hour alert for that narrative in the last 24 h).
    surges = [
        s
        for s in found
        if s["window"] == "hour"
        or (
            s["narrative_id"] not in hourly
            and not store.claimed_since(db, f"surge:{s['narrative_id']}:hour", day_ago)
        )
    ]
    report = SurgeReport(surges=surges)
    recipients = [r for r in cfg.digest.recipients if r.role in SURGE_ROLES]
    out = out_dir or cfg.path(cfg.digest.outbox)
    unreachable: str | None = None
    for surge in report.surges:
        kind = f"surge:{surge['narrative_id']}:{surge['window']}"
        for recipient in recipients:

            def build(
                now_text: str, r: Recipient = recipient, s: dict[str, Any] = surge
            ) -> tuple[str, bytes, str]:
                ctx = surge_context(cfg, db, r, s)
                text, html = render("surge", ctx)
                msg = mailer.build_message(cfg, r.email, ctx["subject"], text, html)
                return ctx["subject"], mailer.message_bytes(msg), html

            if dry_run:
                subject, data, html = build(to_db_time(current))
                result = SendResult(recipient.email, kind, surge["period"], "written", subject=subject)
                suffix = f"-surge-{surge['narrative_id']}-{surge['window']}"
                result.paths = _write_files(out, recipient.email, data, html, suffix)
            elif unreachable:
                result = SendResult(
                    recipient.email, kind, surge["period"], "not_attempted", error=unreachable
                )
            else:
                result = deliver_once(cfg, db, kind, recipient.email, surge["period"], build, current)
                if result.unreachable:
                    unreachable = result.error
            report.results.append(result)
    return report
