"""The audit log page (admin only): every action, who, when, what; filters and keyset pagination."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from monitor.review import roles
from monitor.store.audit_query import audit_actions, audit_actors, search_audit
from monitor.store.db import to_db_time
from monitor.web.deps import config, get_db, render, require_user
from monitor.web.inline import InlineRoute, blocking

router = APIRouter(route_class=InlineRoute)

PAGE_SIZE = 50


def _local_day_start(value: str, tz: str) -> str | None:
    """A YYYY-MM-DD typed in the filter as the UTC start of that local day; None when empty or invalid."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return to_db_time(datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(tz)))


@router.get("/audit", include_in_schema=False)
@blocking  # filters over the whole audit log
def audit_page(
    request: Request,
    actor: str = "",
    action: str = "",
    date_from: str = "",
    date_to: str = "",
    before: int | None = None,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_user(roles.AUDIT)),
) -> Response:
    """Newest first; filter by actor, action (or its prefix, e.g. 'assignment') and local date range."""
    tz = config(request).web.timezone
    since = _local_day_start(date_from, tz) if date_from else None
    until = None
    if date_to:
        start = _local_day_start(date_to, tz)
        if start:
            # The 'to' day is inclusive: stop at the start of the next local day.
            until = to_db_time(datetime.fromisoformat(start) + timedelta(days=1))
    rows = search_audit(
        db,
        actor=actor.strip() or None,
        action=action.strip() or None,
        since=since,
        until=until,
        before_id=before,
        limit=PAGE_SIZE + 1,
    )
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for row in rows:
        try:
            detail = json.loads(row.get("detail_json") or "{}")
        except ValueError:
            detail = {"raw": row.get("detail_json")}
        row["detail"] = detail
        row["detail_text"] = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    return render(
        request,
        "audit.html",
        rows=rows,
        has_next=has_next,
        next_before=rows[-1]["id"] if rows and has_next else None,
        filters={"actor": actor, "action": action, "date_from": date_from, "date_to": date_to},
        actions=audit_actions(db),
        actors=audit_actors(db),
        first_page=before is None,
    )
