"""Outgoing-mail ledger and outbox (digests_sent: digests, surge alerts, assignment e-mails) and the read-only queries behind the digest and surge alerts."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import query_one, write

# --- migrations ------------------------------------------------------------------------------------


def _add_payload(db: sqlite_utils.Database) -> None:
    """Add digests_sent.payload (the exact message bytes); safe to re-run."""
    # The exact bytes of the message, stored before the first SMTP attempt, so every retry (and an
    # operator's --force) sends the identical message with the identical Message-ID.
    cols = {row[1] for row in db.execute("PRAGMA table_info(digests_sent)").fetchall()}
    if "payload" not in cols:
        db.execute("ALTER TABLE digests_sent ADD COLUMN payload TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS digests_sent_recipient ON digests_sent(kind, recipient, period)")


MIGRATIONS = [("mail_0001_payload", _add_payload)]

# --- ledger ------------------------------------------------------------------------------------------


def ledger_row(db: sqlite_utils.Database, kind: str, recipient: str, period: str) -> dict[str, Any] | None:
    """The ledger row for one message, or None when it was never claimed."""
    return query_one(
        db,
        "SELECT * FROM digests_sent WHERE kind = ? AND recipient = ? AND period = ?",
        [kind, recipient, period],
    )


def ledger_rows(
    db: sqlite_utils.Database, kind_prefix: str = "", period: str | None = None
) -> list[dict[str, Any]]:
    """Ledger rows whose kind starts with `kind_prefix` (optionally one period), newest first."""
    sql = "SELECT * FROM digests_sent WHERE kind LIKE ? || '%'"
    params: list[Any] = [kind_prefix]
    if period is not None:
        sql += " AND period = ?"
        params.append(period)
    return list(db.query(sql + " ORDER BY id DESC", params))


def previous_window_end(db: sqlite_utils.Database, kind: str, recipient: str, period: str) -> str | None:
    """When the last earlier message of this kind to this recipient was rendered (its window's end)."""
    value = db.execute(
        "SELECT MAX(created_at) FROM digests_sent WHERE kind = ? AND recipient = ? AND period < ?",
        [kind, recipient, period],
    ).fetchone()[0]
    return str(value) if value else None


def due_failed(db: sqlite_utils.Database, now: str, since: str) -> list[dict[str, Any]]:
    """Messages created after `since` whose bytes are stored and that are due: failed ones whose backoff
    has passed, and queued ('pending') ones nobody sent yet."""
    return list(
        db.query(
            "SELECT * FROM digests_sent WHERE payload IS NOT NULL AND created_at > ?"
            " AND ((status = 'failed' AND (next_attempt_after IS NULL OR next_attempt_after <= ?))"
            " OR status = 'pending') ORDER BY id",
            [since, now],
        )
    )


def enqueue(
    db: sqlite_utils.Database, kind: str, recipient: str, period: str, message_id: str, payload: str, now: str
) -> bool:
    """Queue a complete message as a 'pending' row (the outbox); False when that row exists already.

    Call it inside the transaction that makes the message necessary, so both are saved or neither.
    """
    with write(db):
        cur = db.execute(
            "INSERT OR IGNORE INTO digests_sent (kind, recipient, period, message_id, payload, status, attempts,"
            " created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
            [kind, recipient, period, message_id, payload, now],
        )
        return cur.rowcount == 1


def claimed_since(db: sqlite_utils.Database, kind: str, since: str) -> bool:
    """Whether any message of this kind was claimed (sent, sending or failed) after `since`."""
    row = db.execute("SELECT 1 FROM digests_sent WHERE kind = ? AND created_at > ? LIMIT 1", [kind, since])
    return row.fetchone() is not None


def claim(
    db: sqlite_utils.Database,
    kind: str,
    recipient: str,
    period: str,
    worker: str,
    now: str,
    message_id: str,
    payload: str,
    stale_before: str | None = None,
    ignore_backoff: bool = False,
) -> dict[str, Any] | None:
    """Atomically take the right to send one message; the row (with the stored payload) or None.

    Claimable: a new row; a 'failed' row whose backoff has passed (or ignore_backoff); with
    stale_before, a 'sending' row claimed before that time (operator --force only). The Message-ID and
    payload are stored here, before any SMTP traffic; an existing row keeps its original ones.
    """
    with write(db):
        db.execute(
            "INSERT OR IGNORE INTO digests_sent (kind, recipient, period, message_id, payload, status, attempts,"
            " created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
            [kind, recipient, period, message_id, payload, now],
        )
        # PostgreSQL wants a boolean for OR and a type for a bare NULL parameter: the same test, typed.
        pg = dialect(db) == POSTGRESQL
        ignore, stale = ("CAST(? AS INTEGER) <> 0", "CAST(? AS TEXT)") if pg else ("?", "?")
        cur = db.execute(
            f"""
            UPDATE digests_sent
               SET status = 'sending', claimed_by = ?, claimed_at = ?, attempts = attempts + 1,
                   message_id = COALESCE(message_id, ?), payload = COALESCE(payload, ?)
             WHERE kind = ? AND recipient = ? AND period = ?
               AND (status = 'pending'
                    OR (status = 'failed' AND ({ignore} OR next_attempt_after IS NULL OR next_attempt_after <= ?))
                    OR (status = 'sending' AND {stale} IS NOT NULL AND claimed_at <= ?))
            """,
            [
                worker,
                now,
                message_id,
                payload,
                kind,
                recipient,
                period,
                int(ignore_backoff),
                now,
                stale_before,
                stale_before,
            ],
        )
        if cur.rowcount != 1:
            return None
        return ledger_row(db, kind, recipient, period)


def mark_sent(db: sqlite_utils.Database, row_id: int, worker: str, now: str) -> None:
    """Record that the SMTP server accepted the message."""
    with write(db):
        db.execute(
            "UPDATE digests_sent SET status = 'sent', sent_at = ?, last_error = NULL, next_attempt_after = NULL"
            " WHERE id = ? AND claimed_by = ?",
            [now, row_id, worker],
        )


def mark_failed(
    db: sqlite_utils.Database, row_id: int, worker: str, error: str, next_attempt_after: str
) -> None:
    """Record a send that certainly did not deliver; a later run retries after next_attempt_after."""
    with write(db):
        db.execute(
            "UPDATE digests_sent SET status = 'failed', last_error = ?, next_attempt_after = ?"
            " WHERE id = ? AND claimed_by = ? AND status = 'sending'",
            [error[:1000], next_attempt_after, row_id, worker],
        )


def mark_uncertain(db: sqlite_utils.Database, row_id: int, worker: str, error: str) -> None:
    """Keep the row 'sending' (possibly delivered) and say why: only an operator's --force re-sends it."""
    with write(db):
        db.execute(
            "UPDATE digests_sent SET last_error = ? WHERE id = ? AND claimed_by = ? AND status = 'sending'",
            [("delivery uncertain: " + error)[:1000], row_id, worker],
        )


# --- digest content ----------------------------------------------------------------------------------


def digest_counts(db: sqlite_utils.Database, start: str, end: str) -> dict[str, int]:
    """New items, new flags and decisions (linked, dismissed, escalated) in (start, end]."""
    new_items = db.execute(
        "SELECT COUNT(*) FROM items WHERE fetched_at > ? AND fetched_at <= ?", [start, end]
    )
    new_flagged = db.execute(
        "SELECT COUNT(*) FROM flags WHERE flagged_at > ? AND flagged_at <= ?", [start, end]
    )
    out = {"new_items": int(new_items.fetchone()[0]), "new_flagged": int(new_flagged.fetchone()[0])}
    for state in ("linked", "dismissed", "escalated"):
        row = db.execute(
            "SELECT COUNT(*) FROM flags WHERE state = ? AND COALESCE(handled_at, updated_at) > ?"
            " AND COALESCE(handled_at, updated_at) <= ?",
            [state, start, end],
        ).fetchone()
        out[state] = int(row[0])
    return out


def top_flagged(db: sqlite_utils.Database, start: str, end: str, limit: int) -> list[dict[str, Any]]:
    """The riskiest flags raised in (start, end] with their item, source and narrative."""
    return list(
        db.query(
            """
            SELECT f.id AS flag_id, f.item_id, f.risk, f.relevance, f.state, f.flagged_at, f.narrative_id,
                   i.title, i.url, i.published_at, i.fetched_at, s.name AS source_name, n.name AS narrative
              FROM flags f
              JOIN items i ON i.id = f.item_id
              LEFT JOIN sources s ON s.id = i.source_id
              LEFT JOIN narratives n ON n.id = f.narrative_id
             WHERE f.flagged_at > ? AND f.flagged_at <= ?
             ORDER BY f.risk DESC, f.flagged_at DESC, f.id DESC
             LIMIT ?
            """,
            [start, end, limit],
        )
    )


def best_rebuttals(db: sqlite_utils.Database, item_ids: list[int]) -> dict[int, dict[str, Any]]:
    """item_id -> the best-ranked approved rebuttal the matcher suggested for it."""
    if not item_ids:
        return {}
    marks = ",".join("?" for _ in item_ids)
    rows = db.query(
        f"""
        SELECT s.item_id, s.score, s.rank, r.id AS rebuttal_id, r.key, r.title, r.short_answer, r.url
          FROM suggestions s JOIN rebuttals r ON r.id = s.rebuttal_id AND r.status = 'approved'
         WHERE s.item_id IN ({marks})
         ORDER BY s.item_id, s.rank, s.score DESC
        """,
        item_ids,
    )
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(int(row["item_id"]), row)
    return out


def narrative_volumes(db: sqlite_utils.Database, start: str, end: str) -> dict[int, int]:
    """narrative_id -> flags raised in (start, end]."""
    rows = db.execute(
        "SELECT narrative_id, COUNT(*) FROM flags WHERE narrative_id IS NOT NULL AND flagged_at > ?"
        " AND flagged_at <= ? GROUP BY narrative_id",
        [start, end],
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def narrative_info(db: sqlite_utils.Database, narrative_ids: list[int]) -> dict[int, dict[str, Any]]:
    """narrative_id -> name plus its rebuttal (title, short answer, url) when that rebuttal is approved."""
    if not narrative_ids:
        return {}
    marks = ",".join("?" for _ in narrative_ids)
    rows = db.query(
        f"""
        SELECT n.id, n.name, n.description, r.id AS rebuttal_id, r.key, r.title AS rebuttal_title,
               r.short_answer, r.url AS rebuttal_url
          FROM narratives n LEFT JOIN rebuttals r ON r.id = n.rebuttal_id AND r.status = 'approved'
         WHERE n.id IN ({marks})
        """,
        narrative_ids,
    )
    return {int(r["id"]): r for r in rows}


def open_assignments(db: sqlite_utils.Database, due_before: str, limit: int = 50) -> list[dict[str, Any]]:
    """Assignments not yet published or cancelled that are due before `due_before` (overdue ones first)."""
    return list(
        db.query(
            """
            SELECT a.id, a.channel, a.due_at, a.status, a.item_id, a.narrative_id, u.username AS assignee,
                   r.title AS rebuttal_title, i.title AS item_title, n.name AS narrative
              FROM assignments a
              JOIN users u ON u.id = a.assignee_id
              JOIN rebuttals r ON r.id = a.rebuttal_id
              LEFT JOIN items i ON i.id = a.item_id
              LEFT JOIN narratives n ON n.id = a.narrative_id
             WHERE a.status IN ('assigned', 'in_progress') AND a.due_at IS NOT NULL AND a.due_at <= ?
             ORDER BY a.due_at, a.id
             LIMIT ?
            """,
            [due_before, limit],
        )
    )


def failing_sources(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Enabled sources whose last fetch failed."""
    return list(
        db.query(
            """
            SELECT name, kind, last_error, last_error_at, last_success, consecutive_failures
              FROM sources
             WHERE enabled = 1 AND last_error IS NOT NULL AND consecutive_failures > 0
             ORDER BY consecutive_failures DESC, name
            """
        )
    )


def narrative_examples(
    db: sqlite_utils.Database, narrative_id: int, start: str, end: str, limit: int = 3
) -> list[dict[str, Any]]:
    """The riskiest flagged items of one narrative in (start, end]."""
    return list(
        db.query(
            """
            SELECT f.item_id, f.risk, f.flagged_at, i.title, i.url, s.name AS source_name
              FROM flags f JOIN items i ON i.id = f.item_id LEFT JOIN sources s ON s.id = i.source_id
             WHERE f.narrative_id = ? AND f.flagged_at > ? AND f.flagged_at <= ?
             ORDER BY f.risk DESC, f.flagged_at DESC LIMIT ?
            """,
            [narrative_id, start, end, limit],
        )
    )
