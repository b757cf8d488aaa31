"""Exactly-once delivery of ledger-tracked email (digests_sent); see docs/digest.md.

Every e-mail the application sends goes through here: digests, surge alerts and assignment e-mails
(monitor.notify.assignment queues those as 'pending' rows in the transaction that creates the assignment).

Protocol per (kind, recipient, period) row:
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.config import Config
from monitor.errors import MailError
from monitor.notify import mailer
from monitor.store import mail as store
from monitor.store.db import from_db_time, to_db_time

SENDING_LEASE = timedelta(minutes=10)  # a 'sending' row older than this is stuck, not in progress
MAX_BACKOFF = timedelta(hours=6)
CRASH_HOOK_ENV = "MISINFO_TEST_CRASH_AFTER_SEND"  # tests only: die between SMTP acceptance and the ledger


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


def now_utc(now: datetime | None) -> datetime:
    """`now` (default: the current time) in UTC, whole seconds, as the store keeps times."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def _safe_name(email: str) -> str:
    """An address as a file name."""
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", email)


def worker_id() -> str:
    """Who holds a claim: host, process and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _backoff(cfg: Config, attempts: int) -> timedelta:
    """Wait before the next run may retry: retry_backoff doubled per attempt, capped."""
    # Capped before it becomes a timedelta: 2**attempts grows past what timedelta holds after ~40 failures.
    doublings = min(max(0, attempts - 1), 32)
    seconds = min(cfg.smtp.retry_backoff * (2**doublings), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds)


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
    attempts: int | None = None,
) -> SendResult:
    """Send one ledger-tracked message at most once. `build(now_text)` -> (subject, message bytes, html).

    A queued ('pending') row is sent with its stored bytes. `attempts` caps the SMTP attempts of this call
    (default 1 + smtp.retries).
    """
    worker = worker or worker_id()
    result = SendResult(recipient=recipient, kind=kind, period=period, status="failed")
    started = time.monotonic()

    def clock() -> datetime:
        """The current time on the caller's clock."""
        # `now` advanced by the real time spent here: callers (and tests) may pass a fixed `now`.
        return now + timedelta(seconds=time.monotonic() - started)

    now_text = to_db_time(now)
    stale_before = to_db_time(now - SENDING_LEASE) if force else None
    row = store.ledger_row(db, kind, recipient, period)
    if row is not None and not (
        row["status"] == "pending"
        or (row["status"] == "failed" and (row["next_attempt_after"] or "") <= now_text)
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
    tries = cfg.smtp.retries + 1 if attempts is None else max(1, attempts)
    for attempt in range(tries):
        claimed = store.claim(
            db,
            kind,
            recipient,
            period,
            worker,
            to_db_time(clock()) if attempt else now_text,
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
            retry_at = clock() + _backoff(cfg, int(claimed["attempts"]))
            store.mark_failed(db, int(claimed["id"]), worker, str(exc), to_db_time(retry_at))
            result.status, result.error = "failed", str(exc)
            result.unreachable = isinstance(exc, mailer.MailUnreachable)
            if attempt < tries - 1:
                time.sleep(min(2.0**attempt, cfg.smtp.retry_backoff))
                continue
            return result
        if os.environ.get(CRASH_HOOK_ENV):
            os._exit(1)  # simulate a crash after the server accepted the message, before the ledger update
        store.mark_sent(db, int(claimed["id"]), worker, to_db_time(clock()))
        result.status, result.error = "sent", None
        return result
    return result


def _header(payload: str, name: str) -> str:
    """The first value of a header in a raw message."""
    match = re.search(rf"^{name}:\s*(\S+)", payload, re.MULTILINE | re.IGNORECASE)
    if not match:
        raise MailError(f"built message has no {name} header")
    return match.group(1)


def write_files(out_dir: Path, email: str, data: bytes, html: str, suffix: str = "") -> list[Path]:
    """Write <email><suffix>.eml and .html (dry runs); return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    eml = out_dir / f"{_safe_name(email)}{suffix}.eml"
    page = out_dir / f"{_safe_name(email)}{suffix}.html"
    eml.write_bytes(data)
    page.write_text(html, encoding="utf-8")
    return [eml, page]


def retry_failed(
    cfg: Config,
    db: sqlite_utils.Database,
    now: datetime | None = None,
    exclude: set[tuple[str, str, str]] | None = None,
) -> list[SendResult]:
    """Re-send every failed message of the last 3 days whose backoff has passed, and send every queued one
    (their stored bytes).

    exclude: (kind, recipient, period) already handled by the caller in this run.
    """
    current = now_utc(now)

    def no_build(now_text: str) -> tuple[str, bytes, str]:
        """Rows retried here always carry their stored bytes."""
        raise MailError("a failed ledger row has no stored message — run `misinfo digest --send` instead")

    results: list[SendResult] = []
    unreachable: str | None = None
    for row in store.due_failed(db, to_db_time(current), to_db_time(current - timedelta(days=3))):
        if (row["kind"], row["recipient"], row["period"]) in (exclude or set()):
            continue
        if unreachable:
            results.append(
                SendResult(row["recipient"], row["kind"], row["period"], "not_attempted", error=unreachable)
            )
            continue
        result = deliver_once(cfg, db, row["kind"], row["recipient"], row["period"], no_build, current)
        unreachable = result.error if result.unreachable else None
        results.append(result)
    return results
