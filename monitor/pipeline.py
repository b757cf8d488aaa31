"""The stage functions. The CLI and the scheduler call these same functions; each is idempotent.

Data flows one way: collect -> classify -> match -> digest. Each stage reads what the previous
stage wrote and writes only its own rows, so any stage can be re-run by hand at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlite_utils

from monitor.config import Config

Progress = Callable[[int], None] | None


def collect(cfg: Config, db: sqlite_utils.Database, source: str | None = None, progress: Any = None) -> Any:
    """Fetch every enabled source (or one by name) and store new items. Never raises for a bad source."""
    from monitor.collect import run_collect

    return run_collect(cfg, db, source=source, progress=progress)


def classify(cfg: Config, db: sqlite_utils.Database, progress: Any = None) -> Any:
    """Score every item not yet scored by the current model version; flag those above thresholds."""
    from monitor.classify import run_classify

    return run_classify(cfg, db, progress=progress)


def match(
    cfg: Config, db: sqlite_utils.Database, item_ids: list[int] | None = None, progress: Any = None
) -> Any:
    """Compute rebuttal suggestions for flagged items (all stale ones, or the given ids)."""
    from monitor.match import run_match

    return run_match(cfg, db, item_ids=item_ids, progress=progress)


def digest(cfg: Config, db: sqlite_utils.Database, **kwargs: Any) -> Any:
    """Build and send (or write, with dry_run) the daily digest for each recipient, exactly once."""
    from monitor.digest import run_digest

    return run_digest(cfg, db, **kwargs)


def surge(cfg: Config, db: sqlite_utils.Database) -> Any:
    """Detect narratives whose flagged volume surges and alert coordinators once per window."""
    from monitor.digest import run_surge

    return run_surge(cfg, db)
