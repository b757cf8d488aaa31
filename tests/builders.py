"""Test data builders: the one place tests write the rows the application would otherwise write itself.

Tests build their data through the stage functions (collect, classify, review, ...) or through these
builders, never with INSERT/UPDATE statements of their own, so a schema change is fixed here once. Each
builder is one write transaction (a savepoint when the caller already holds one) and returns the new id.

Sections belong to the areas that use them: "# digest/reports" first, then "# store/collect/classify"
and "# review", each appended by its owner.
"""

from __future__ import annotations

import csv
from pathlib import Path

import sqlite_utils

from monitor.store.db import write

# digest/reports -------------------------------------------------------------------------------------


def _id(cursor: object) -> int:
    return int(getattr(cursor, "lastrowid", 0) or 0)


def add_source(
    db: sqlite_utils.Database,
    name: str,
    url: str,
    *,
    at: str,
    kind: str = "rss",
    last_error: str | None = None,
    last_error_at: str | None = None,
    consecutive_failures: int = 0,
) -> int:
    """A configured source (optionally failing: its last error and how many failures in a row)."""
    with write(db):
        return _id(
            db.execute(
                "INSERT INTO sources (name, kind, url, created_at, updated_at, last_error, last_error_at,"
                " consecutive_failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [name, kind, url, at, at, last_error, last_error_at, consecutive_failures],
            )
        )


def add_user(db: sqlite_utils.Database, username: str, role: str, *, at: str) -> int:
    """A user without a password (an assignee who never logs in)."""
    with write(db):
        return _id(
            db.execute(
                "INSERT INTO users (username, role, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [username, role, at, at],
            )
        )


def user_id(db: sqlite_utils.Database, username: str) -> int:
    """The id of an existing user."""
    row = db.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()
    assert row, f"no user {username!r}"
    return int(row[0])


def add_approved_rebuttal(
    db: sqlite_utils.Database, key: str, title: str, short_answer: str, *, at: str, url: str | None = None
) -> int:
    """An approved library entry, stored as it is (no validation, no narrative: see add_narrative)."""
    with write(db):
        return _id(
            db.execute(
                "INSERT INTO rebuttals (key, title, short_answer, status, created_at, updated_at, url)"
                " VALUES (?, ?, ?, 'approved', ?, ?, ?)",
                [key, title, short_answer, at, at, url],
            )
        )


def add_narrative(db: sqlite_utils.Database, name: str, rebuttal_id: int | None, *, at: str) -> int:
    """A narrative (the claim a rebuttal answers)."""
    with write(db):
        return _id(
            db.execute(
                "INSERT INTO narratives (name, rebuttal_id, created_at) VALUES (?, ?, ?)",
                [name, rebuttal_id, at],
            )
        )


def add_flag(
    db: sqlite_utils.Database,
    item_id: int,
    *,
    flagged_at: str,
    risk: float = 0.8,
    relevance: float = 0.9,
    narrative_id: int | None = None,
    state: str = "new",
    handled_at: str | None = None,
) -> None:
    """A flag on an item, in a given review state."""
    with write(db):
        db.execute(
            "INSERT INTO flags (item_id, state, relevance, risk, narrative_id, flagged_at, updated_at, handled_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [item_id, state, relevance, risk, narrative_id, flagged_at, flagged_at, handled_at],
        )


def add_suggestion(
    db: sqlite_utils.Database, item_id: int, rebuttal_id: int, score: float, *, at: str, rank: int = 1
) -> None:
    """A matcher suggestion of a rebuttal for an item."""
    with write(db):
        db.execute(
            "INSERT INTO suggestions (item_id, rebuttal_id, rank, score, computed_at) VALUES (?, ?, ?, ?, ?)",
            [item_id, rebuttal_id, rank, score, at],
        )


def mark_linked(
    db: sqlite_utils.Database, item_id: int, rebuttal_id: int, user: int, *, at: str, score: float = 0.9
) -> None:
    """A flagged item linked to a rebuttal by `user` at `at` (history, without the audit entry)."""
    with write(db):
        db.execute(
            "INSERT INTO links (item_id, rebuttal_id, user_id, score, created_at) VALUES (?, ?, ?, ?, ?)",
            [item_id, rebuttal_id, user, score, at],
        )
        db.execute("UPDATE flags SET state = 'linked' WHERE item_id = ?", [item_id])


def mark_dismissed(db: sqlite_utils.Database, item_id: int, reason: str = "accurate") -> None:
    """A flagged item dismissed (history, without the audit entry)."""
    with write(db):
        db.execute(
            "UPDATE flags SET state = 'dismissed', dismiss_reason = ? WHERE item_id = ?", [reason, item_id]
        )


def add_assignment(
    db: sqlite_utils.Database,
    *,
    rebuttal_id: int,
    assignee_id: int,
    channel: str,
    created_at: str,
    item_id: int | None = None,
    narrative_id: int | None = None,
    due_at: str | None = None,
    status: str = "assigned",
    note: str | None = None,
    published_url: str | None = None,
    published_at: str | None = None,
    created_by: int | None = None,
    updated_at: str | None = None,
) -> int:
    """An assignment in any state (history for reports and digests; no e-mail, no audit entry)."""
    with write(db):
        return _id(
            db.execute(
                "INSERT INTO assignments (item_id, narrative_id, rebuttal_id, channel, assignee_id, due_at,"
                " status, note, published_url, published_at, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    item_id,
                    narrative_id,
                    rebuttal_id,
                    channel,
                    assignee_id,
                    due_at,
                    status,
                    note,
                    published_url,
                    published_at,
                    created_by,
                    created_at,
                    updated_at or created_at,
                ],
            )
        )


def expire_claim(db: sqlite_utils.Database, ledger_id: int, claimed_at: str) -> None:
    """Back-date a delivery claim in the e-mail ledger (a sender that crashed long ago)."""
    with write(db):
        db.execute("UPDATE digests_sent SET claimed_at = ? WHERE id = ?", [claimed_at, ledger_id])


# store/collect/classify -----------------------------------------------------------------------------


def add_claim(db: sqlite_utils.Database, rebuttal_id: int, text: str, language: str = "vi") -> int:
    """A claim a library entry answers (what the matcher and the library risk compare items with)."""
    with write(db):
        return _id(
            db.execute(
                "INSERT INTO rebuttal_claims (rebuttal_id, text, language) VALUES (?, ?, ?)",
                [rebuttal_id, text, language],
            )
        )


def put_in_cluster(db: sqlite_utils.Database, cluster_id: int, *item_ids: int) -> None:
    """Make items near-duplicates of `cluster_id` (what collect's clustering decides for similar texts)."""
    with write(db):
        for item_id in item_ids:
            db.execute("UPDATE items SET cluster_id = ? WHERE id = ?", [cluster_id, item_id])


def add_decided_flag(
    db: sqlite_utils.Database, item_id: int, state: str, reason: str | None = None, *, at: str
) -> None:
    """A flag an analyst already decided (linked, dismissed with a reason, in review), without links or audit."""
    with write(db):
        db.execute(
            "INSERT INTO flags (item_id, state, relevance, risk, flagged_at, updated_at, dismiss_reason)"
            " VALUES (?, ?, 0.9, 0.9, ?, ?, ?)",
            [item_id, state, at, at, reason],
        )


def add_link(db: sqlite_utils.Database, item_id: int, rebuttal_id: int, *, at: str) -> None:
    """A link from an item to a library entry (the matcher's training signal), flag state untouched."""
    with write(db):
        db.execute(
            "INSERT INTO links (item_id, rebuttal_id, created_at) VALUES (?, ?, ?)",
            [item_id, rebuttal_id, at],
        )


# review ---------------------------------------------------------------------------------------------


def set_item_html(db: sqlite_utils.Database, item_id: int, html: str) -> None:
    """Give an item the article HTML a press crawl would have kept (hostile-content tests)."""
    with write(db):
        db.execute("UPDATE items SET html = ? WHERE id = ?", [html, item_id])


def mark_published_long_ago(db: sqlite_utils.Database, assignment_id: int, url: str, *, at: str) -> None:
    """An assignment finished at `at` (older than the board shows)."""
    with write(db):
        db.execute(
            "UPDATE assignments SET status = 'published', published_url = ?, updated_at = ? WHERE id = ?",
            [url, at, assignment_id],
        )


def seed_subset(folder: Path, every: int = 3, flip: bool = False) -> Path:
    """A labelled-data folder holding every n-th row of the project's seed.csv (training on fewer rows keeps
    tests fast), labels inverted with `flip`."""
    from monitor.classify.train import REPO_SEED

    folder.mkdir(parents=True, exist_ok=True)
    with (
        (REPO_SEED / "seed.csv").open(encoding="utf-8") as src,
        (folder / "seed.csv").open("w", encoding="utf-8") as dst,
    ):
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for i, row in enumerate(reader):
            if i % every:
                continue
            if flip:
                row["relevant"] = str(1 - int(row["relevant"]))
                row["false_claim"] = str(1 - int(row["false_claim"]))
            writer.writerow(row)
    return folder
