"""Review-queue rules: the states and dismiss reasons, the queue filter, and the analyst's decisions
(link, dismiss, escalate) with the conflict messages (and their message ids) shown when someone was first.

The SQL is in monitor.store.queue; every function here validates, then writes through it in one transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.errors import Conflict, NotFound, UsageError
from monitor.store import audit
from monitor.store import queue as store
from monitor.store.db import to_db_time, write
from monitor.store.queue import MAX_PAGE, QueueFilter

__all__ = [
    "DISMISS_REASONS",
    "MAX_PAGE",
    "OPEN_STATES",
    "STATES",
    "QueueFilter",
    "build_filter",
    "close_request",
    "dismiss_item",
    "escalate_item",
    "link_item",
    "list_queue",
    "opt_int",
    "validate_filter",
]

STATES = ("new", "in_review", "linked", "dismissed", "escalated")
OPEN_STATES = ("new", "in_review")
DISMISS_REASONS = ("accurate", "off_topic", "duplicate", "other")
REQUEST_OUTCOMES = ("done", "rejected")

# Message ids of the conflicts (the web app translates them for the user; see conflict()).
MSG_CHANGED = "item %(id)s was changed while you were looking at it — reload the page and decide again"
MSG_HANDLED = "item %(id)s was already handled by %(who)s (%(state)s, %(when)s) — reload to see the decision"


# --- the filter ------------------------------------------------------------------------------------------


def validate_filter(filt: QueueFilter) -> QueueFilter:
    """The filter with its states checked (UsageError for an unknown one); empty states: every state."""
    for state in filt.states:
        if state not in STATES:
            raise UsageError(f"state '{state}' does not exist — use one of {', '.join(STATES)}")
    if not filt.states:
        filt.states = STATES
    return filt


def _local_day_bound(value: str | None, tz: str, next_day: bool = False) -> str | None:
    """A YYYY-MM-DD typed in local time -> the store's UTC string at that local midnight."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"'{value}' is not a date — use YYYY-MM-DD") from None
    if next_day:
        day += timedelta(days=1)
    return to_db_time(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)))


def opt_int(value: str | None, name: str) -> int | None:
    """A number typed in a form or query string; None when empty, UsageError when not a number."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name} must be a number") from None


def _opt_float(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number between 0 and 1") from None
    return number / 100 if number > 1 else number  # accept 70 as 70%


def build_filter(
    tz: str,
    state: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    min_score: str | None = None,
    narrative: str | None = None,
) -> QueueFilter:
    """A QueueFilter from query-string values (state 'open' = new + in review, 'all' = every state).

    `tz` is the configured time zone the dates are typed in.
    """
    if not state or state == "open":
        states: tuple[str, ...] = OPEN_STATES
    elif state == "all":
        states = ()
    else:
        states = (state,)
    filt = QueueFilter(
        states=states,
        source_id=opt_int(source, "source"),
        lang=(lang or "").strip() or None,
        date_from=_local_day_bound(date_from, tz),
        date_to=_local_day_bound(date_to, tz, next_day=True),
        min_risk=_opt_float(min_score, "minimum score"),
        narrative_id=opt_int(narrative, "narrative"),
    )
    return validate_filter(filt)


def list_queue(
    db: sqlite_utils.Database, filt: QueueFilter | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of flagged items, highest risk then newest first; returns (rows, next cursor or None)."""
    return store.list_queue(db, validate_filter(filt or QueueFilter(states=OPEN_STATES)), cursor, limit)


# --- decisions -------------------------------------------------------------------------------------------


def conflict(msgid: str, **values: Any) -> Conflict:
    """A Conflict whose English text is `msgid % values`; the web app re-translates msgid for the user.

    `state` holds a "state:<name>" message id and `when` a store-format time; the English text shows them
    as the bare state name and UTC time.
    """
    english = {**values, "state": str(values.get("state", "")).removeprefix("state:")}
    exc = Conflict(msgid % english)
    exc.msgid = msgid  # type: ignore[attr-defined]
    exc.values = values  # type: ignore[attr-defined]
    return exc


def _claim(
    db: sqlite_utils.Database,
    item_id: int,
    user: dict[str, Any],
    expected_version: int | None,
    sets: dict[str, Any],
    keep_when_none: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Move an open flag to a decided state, or raise Conflict naming who handled it first."""
    if store.claim_flag(db, item_id, user["id"], expected_version, sets, OPEN_STATES, keep_when_none):
        flag = store.get_flag(db, item_id)
        assert flag is not None
        return flag
    flag = store.get_flag(db, item_id)
    if flag is None:
        if not store.item_exists(db, item_id):
            raise NotFound(f"item {item_id} does not exist")
        raise Conflict(f"item {item_id} is not in the review queue (it was never flagged)")
    if flag["state"] in OPEN_STATES:
        raise conflict(MSG_CHANGED, id=item_id)
    raise conflict(
        MSG_HANDLED,
        id=item_id,
        who=flag.get("handled_by_name") or "?",
        state=f"state:{flag['state']}",
        when=flag.get("handled_at") or "",
    )


def link_item(
    db: sqlite_utils.Database,
    item_id: int,
    rebuttal_id: int,
    user: dict[str, Any],
    expected_version: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Link a flagged item to an APPROVED rebuttal: flag -> linked with the rebuttal's narrative, a links row, audit."""
    with write(db):
        rebuttal = store.rebuttal_status(db, rebuttal_id)
        if rebuttal is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist — pick one from the suggestions or search")
        if rebuttal["status"] != "approved":
            raise Conflict(
                f"rebuttal {rebuttal_id} is {rebuttal['status']}, not approved — only approved rebuttals can be linked"
            )
        narrative_id = store.narrative_of_rebuttal(db, rebuttal_id)
        flag = _claim(
            db,
            item_id,
            user,
            expected_version,
            {"state": "linked", "narrative_id": narrative_id, "note": note or None, "dismiss_reason": None},
            keep_when_none=("narrative_id",),
        )
        suggested, score = store.suggestion_score(db, item_id, rebuttal_id)
        store.add_link(db, item_id, rebuttal_id, user["id"], score)
        audit.record(
            db,
            str(user["username"]),
            "item.link",
            "item",
            item_id,
            {
                "rebuttal_id": rebuttal_id,
                "score": score,
                "narrative_id": narrative_id,
                "suggested": suggested,
            },
        )
    return flag


def dismiss_item(
    db: sqlite_utils.Database,
    item_id: int,
    reason: str,
    user: dict[str, Any],
    note: str | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Dismiss a flagged item with a reason (accurate, off_topic, duplicate, other) and an optional note."""
    if reason not in DISMISS_REASONS:
        raise UsageError(
            f"dismiss reason '{reason}' does not exist — use one of {', '.join(DISMISS_REASONS)}"
        )
    if reason == "other" and not (note or "").strip():
        raise UsageError("say why in the note when the reason is 'other'")
    with write(db):
        flag = _claim(
            db,
            item_id,
            user,
            expected_version,
            {"state": "dismissed", "dismiss_reason": reason, "note": (note or "").strip() or None},
        )
        audit.record(
            db, str(user["username"]), "item.dismiss", "item", item_id, {"reason": reason, "note": note or ""}
        )
    return flag


def escalate_item(
    db: sqlite_utils.Database,
    item_id: int,
    user: dict[str, Any],
    note: str | None = None,
    expected_version: int | None = None,
) -> int:
    """Escalate: the item needs a new rebuttal. Opens a rebuttal_requests row for coordinators; returns its id."""
    text = (note or "").strip() or None
    with write(db):
        _claim(db, item_id, user, expected_version, {"state": "escalated", "note": text})
        request_id = store.add_request(db, item_id, user["id"], text)
        audit.record(
            db,
            str(user["username"]),
            "item.escalate",
            "item",
            item_id,
            {"request_id": request_id, "note": note or ""},
        )
    return request_id


def close_request(
    db: sqlite_utils.Database,
    request_id: int,
    status: str,
    user: dict[str, Any],
    rebuttal_id: int | None = None,
) -> None:
    """Mark a request done (optionally with the rebuttal written for it) or rejected."""
    if status not in REQUEST_OUTCOMES:
        raise UsageError("a request is closed as 'done' or 'rejected'")
    with write(db):
        if not store.close_request_row(db, request_id, status, rebuttal_id):
            raise Conflict(f"request {request_id} is not open (or does not exist)")
        audit.record(
            db,
            str(user["username"]),
            f"request.{status}",
            "rebuttal_request",
            request_id,
            {"rebuttal_id": rebuttal_id},
        )
