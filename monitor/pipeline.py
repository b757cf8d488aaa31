"""The stage functions. The CLI, the scheduler and the demo call these same functions; each is idempotent.

Data flows one way: collect -> classify -> match -> digest (and surge alerts). Each stage reads what the
previous stage wrote and writes only its own rows, so any stage can be re-run by hand at any time.
Each stage lives in its own package (monitor.collect, monitor.classify, monitor.match, monitor.notify);
this module is the one place that names them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from pathlib import Path

import sqlite_utils

from monitor.classify.score import ClassifyReport, rescore_after_library_change, run_classify
from monitor.collect.fetch import Fetcher
from monitor.collect.run import CollectReport, ProgressFn, run_collect
from monitor.config import Config
from monitor.group.run import GroupReport, run_group, unanswered
from monitor.intake.submit import Submission, submit_item
from monitor.match.suggest import MatchReport, run_match
from monitor.notify.digest import DigestReport, SurgeReport, run_digest, run_surge
from monitor.store import submissions as submission_store

__all__ = [
    "ClassifyReport",
    "CollectReport",
    "DigestReport",
    "GroupReport",
    "MatchReport",
    "RescoreReport",
    "Submission",
    "SubmitReport",
    "SurgeReport",
    "classify",
    "collect",
    "digest",
    "group",
    "match",
    "rescore",
    "submit",
    "surge",
    "unanswered",
]


@dataclass
class RescoreReport:
    """What a re-score against a changed rebuttal library did."""

    flagged: int = 0

    def summary(self) -> str:
        """One line for the log."""
        return f"re-scored recent items against the library: {self.flagged} newly flagged"


def collect(
    cfg: Config,
    db: sqlite_utils.Database,
    source: str | None = None,
    progress: ProgressFn | None = None,
    force: bool | None = None,
    fetcher: Fetcher | None = None,
) -> CollectReport:
    """Fetch every enabled source (or one by name) and store new items. Never raises for a bad source.

    force: also collect sources backing off after failures (default: only when a source is named).
    fetcher: an open Fetcher to reuse (left open); default: one for this run.
    """
    return run_collect(cfg, db, source=source, progress=progress, force=force, fetcher=fetcher)


def classify(
    cfg: Config, db: sqlite_utils.Database, progress: Callable[[int, int], None] | None = None
) -> ClassifyReport:
    """Score every item not yet scored by the current model version; flag those above thresholds."""
    return run_classify(cfg, db, progress=progress)


def rescore(cfg: Config, db: sqlite_utils.Database, force: bool = False) -> RescoreReport:
    """Re-score recent unflagged items when the approved library changed (always with force)."""
    return RescoreReport(flagged=rescore_after_library_change(cfg, db, force=force))


def match(
    cfg: Config,
    db: sqlite_utils.Database,
    item_ids: list[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> MatchReport:
    """Compute rebuttal suggestions for flagged items (all stale ones, or the given ids)."""
    return run_match(cfg, db, item_ids=item_ids, progress=progress)


def digest(
    cfg: Config,
    db: sqlite_utils.Database,
    send: bool = False,
    dry_run: bool = False,
    date: Date | None = None,
    to: str | None = None,
    out_dir: Path | None = None,
    force: bool = False,
    now: datetime | None = None,
    retry_only: bool = False,
) -> DigestReport:
    """Build and send (or write, with dry_run) the daily digest for each recipient, exactly once."""
    return run_digest(
        cfg,
        db,
        send=send,
        dry_run=dry_run,
        date=date,
        to=to,
        out_dir=out_dir,
        force=force,
        now=now,
        retry_only=retry_only,
    )


def surge(
    cfg: Config,
    db: sqlite_utils.Database,
    dry_run: bool = False,
    out_dir: Path | None = None,
    now: datetime | None = None,
) -> SurgeReport:
    """Detect narratives whose flagged volume surges and alert coordinators once per window."""
    return run_surge(cfg, db, now=now, dry_run=dry_run, out_dir=out_dir)


@dataclass
class SubmitReport:
    """An analyst's submission after storing, classifying and matching it."""

    item_id: int
    created: bool
    kind: str
    text: str
    flagged: bool  # this item has its own queue entry
    risk: float | None
    relevance: float | None
    suggestions: list[dict[str, object]]
    # Its near-duplicate group is already in the queue through another item (the group's representative,
    # flagged_item_id): only a representative is flagged, so `flagged` stays false for this one.
    group_flagged: bool = False
    flagged_item_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        """The `misinfo submit --json` document."""
        return {
            "item_id": self.item_id,
            "created": self.created,
            "kind": self.kind,
            "text": self.text,
            "flagged": self.flagged,
            "group_flagged": self.group_flagged,
            "flagged_item_id": self.flagged_item_id,
            "risk": self.risk,
            "relevance": self.relevance,
            "suggestions": self.suggestions,
        }


def submit(cfg: Config, db: sqlite_utils.Database, submission: Submission) -> SubmitReport:
    """Store a submitted link, text or screenshot as an item, then classify and match it at once.

    UsageError (400 / exit 2) for bad input, with nothing stored.
    """
    stored = submit_item(cfg, db, submission)
    classify(cfg, db)
    match(cfg, db, item_ids=[stored.item_id])
    score = submission_store.latest_score(db, stored.item_id) or {}
    item_text = submission_store.item_text(db, stored.item_id)
    flagged = bool(score.get("flagged"))
    representative = None if flagged else submission_store.flagged_representative(db, stored.item_id)
    return SubmitReport(
        item_id=stored.item_id,
        created=stored.created,
        kind=stored.kind,
        text=item_text,
        flagged=flagged,
        group_flagged=representative is not None,
        flagged_item_id=representative,
        risk=None if score.get("risk") is None else round(float(score["risk"]), 4),
        relevance=None if score.get("relevance") is None else round(float(score["relevance"]), 4),
        suggestions=[
            {
                "rebuttal_id": int(s["rebuttal_id"]),
                "key": s["key"],
                "title": s["title"],
                "score": round(float(s["score"]), 4),
            }
            for s in submission_store.approved_suggestions(db, stored.item_id, cfg.match.top_k)
        ],
    )


def group(cfg: Config, db: sqlite_utils.Database) -> GroupReport:
    """Group the flagged items no approved rebuttal answers (incremental; answered groups are closed)."""
    return run_group(cfg, db)
