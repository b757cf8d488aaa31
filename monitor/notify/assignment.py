"""The assignee's e-mail: its text, and its place in the exactly-once outbox the digest uses.

`queue_assignment_email` runs inside the transaction that creates the assignment (see
monitor.review.assignments.create_assignment's `outbox`): it stores the complete message, with its
Message-ID, as a 'pending' ledger row (kind 'assignment', period 'a<id>'). `send_assignment_email` then
hands those stored bytes to the SMTP server through monitor.notify.delivery.deliver_once; a failure leaves
the row 'failed' and the next digest run retries it (monitor.notify.delivery.retry_failed).
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor import i18n
from monitor.config import Config
from monitor.errors import MailError
from monitor.notify import delivery, mailer
from monitor.notify.addresses import check_address
from monitor.store import mail as store
from monitor.store.db import from_db_time, utcnow

log = logging.getLogger(__name__)

KIND = "assignment"


def period_of(assignment_id: int) -> str:
    """The ledger period of an assignment's e-mail (one e-mail per assignment and recipient)."""
    return f"a{int(assignment_id)}"


def one_line(value: object) -> str:
    """User or scraped text for one line of a plain-text e-mail: every line break (CR, LF, U+2028, U+0085,
    ...) and run of whitespace becomes one space, other control characters (ESC, NUL) are dropped, so a
    title or a note cannot start a line that looks like part of the message (a forged "Due:" or link)."""
    text = "".join(" " if ch.isspace() else ch for ch in str(value or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return " ".join(text.split())


def valid_address(row: dict[str, Any]) -> str | None:
    """The assignee's address when it is a valid one (addresses stored before validation may not be)."""
    stored = str(row.get("assignee_email") or "")
    try:
        check_address(stored)
    except ValueError:
        return None
    return stored  # as stored: the outbox row is keyed by it


def _local(value: str | None, tz: str) -> str:
    dt = from_db_time(value) if value else None
    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if dt else ""


def assignment_email(cfg: Config, row: dict[str, Any], lang: str) -> tuple[str, str]:
    """Subject and plain-text body telling the assignee what to publish, where and by when."""

    def t(msgid: str, **values: Any) -> str:
        # Every value placed into the text is one clean line (see one_line); the templates hold the breaks.
        return i18n.translate(lang, msgid, **{k: one_line(v) for k, v in values.items()})

    base = cfg.web.base_url.rstrip("/")
    tz = str(cfg.web.timezone)
    what = (
        t("Item: %(title)s", title=row.get("item_title") or f"#{row['item_id']}")
        if row.get("item_id")
        else t("Narrative: %(name)s", name=row.get("narrative_name") or f"#{row['narrative_id']}")
    )
    due = _local(row.get("due_at"), tz) or t("no due date")
    subject = t(
        "[misinfo-monitor] New assignment #%(id)s: %(title)s", id=row["id"], title=row["rebuttal_title"]
    )
    lines = [
        t("You have been assigned a response by %(who)s.", who=row.get("created_by_name") or "?"),
        "",
        what,
        t("Rebuttal: %(title)s", title=row["rebuttal_title"]),
        t("Channel: %(channel)s", channel=t(row["channel"])),
        t("Due: %(due)s (%(tz)s)", due=due, tz=tz),
    ]
    if row.get("note"):
        lines.append(t("Note: %(note)s", note=row["note"]))
    lines += [
        "",
        t(
            "Open the board to mark it in progress or published: %(url)s",
            url=f"{base}/assignments#a{row['id']}",
        ),
        f"{base}/rebuttals/{row['rebuttal_id']}",
    ]
    # Titles come from scraped items, notes from people: t() put each on one line, so nothing can forge a
    # header, a field or a fake paragraph.
    return one_line(subject), "\n".join(lines) + "\n"


def queue_assignment_email(cfg: Config, db: sqlite_utils.Database, row: dict[str, Any], lang: str) -> bool:
    """Store the assignee's e-mail as a pending outbox row (inside the caller's transaction).

    False (nothing queued) when the assignee has no e-mail address, or one that is not valid (stored before
    addresses were checked): the assignment is still saved and the page warns (monitor.review.service).
    """
    if not row.get("assignee_email"):
        return False
    to = valid_address(row)
    if to is None:
        log.warning(
            "assignment %s: the assignee's address %r is not valid; no e-mail queued",
            row["id"],
            row["assignee_email"],
        )
        return False
    subject, text = assignment_email(cfg, row, lang)
    msg = mailer.build_message(cfg, str(to), subject, text)
    payload = mailer.message_bytes(msg).decode("utf-8")
    store.enqueue(db, KIND, str(to), period_of(int(row["id"])), str(msg["Message-ID"]), payload, utcnow())
    return True


def send_assignment_email(
    cfg: Config, db: sqlite_utils.Database, row: dict[str, Any], now: datetime | None = None
) -> delivery.SendResult | None:
    """Send the queued e-mail of an assignment (one SMTP attempt: a person is waiting; a failure is retried
    by the next digest run); None when none was queued (no address)."""
    to = valid_address(row)
    if not to:
        return None

    def no_build(now_text: str) -> tuple[str, bytes, str]:
        """The message was stored when the assignment was created."""
        raise MailError(f"assignment {row['id']} has no queued e-mail")

    result = delivery.deliver_once(
        cfg, db, KIND, str(to), period_of(int(row["id"])), no_build, delivery.now_utc(now), attempts=1
    )
    if result.status not in ("sent", "already_sent"):
        log.warning(
            "assignment %s saved but the email to %s is %s: %s", row["id"], to, result.status, result.error
        )
    return result
