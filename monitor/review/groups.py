"""Decisions on unanswered-claim groups: draft a rebuttal from a group, dismiss a whole group.

Permission checks and rules live here (the pages and the JSON API both call it); SQL in monitor.store.groups.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.errors import Conflict, NotFound
from monitor.review import roles
from monitor.review.library import create_rebuttal
from monitor.review.queue import dismiss_item
from monitor.store import audit
from monitor.store import groups as store
from monitor.store.db import write

VIEW_ROLES = roles.roles_with(roles.LIBRARY_EDIT)  # approvers, coordinators, admins
MAX_CLAIMS = 3


def can_view(user: dict[str, Any]) -> bool:
    """Approvers, coordinators and admins see the unanswered claims."""
    return roles.can(user, roles.LIBRARY_EDIT)


def require_view(user: dict[str, Any]) -> None:
    """PermissionDenied unless the user may see (and act on) unanswered claims."""
    roles.require(user, roles.LIBRARY_EDIT, "only approvers, coordinators and admins see unanswered claims")


def _open_group(db: sqlite_utils.Database, group_id: int) -> dict[str, Any]:
    group = store.get_group(db, group_id)
    if group is None:
        raise NotFound(f"group {group_id} does not exist")
    if group["status"] != "open":
        raise Conflict(f"group {group_id} is {group['status']} already")
    return group


def representative_sentences(
    db: sqlite_utils.Database, group: dict[str, Any], k: int = MAX_CLAIMS
) -> list[str]:
    """The group's label, then the first lines of its representative and other posts: the draft's claims."""
    texts = store.item_texts(db, group["item_ids"])
    order = [group.get("representative_item_id"), *group["item_ids"]]
    out: list[str] = [str(group["label"])] if group.get("label") else []
    for iid in order:
        if iid is None or int(iid) not in texts:
            continue
        first = texts[int(iid)].strip().splitlines()[0][:300].strip() if texts[int(iid)].strip() else ""
        if first and first not in out:
            out.append(first)
        if len(out) >= k:
            break
    return out


def draft_from_group(db: sqlite_utils.Database, group_id: int, user: dict[str, Any]) -> int:
    """Create a draft rebuttal whose claims are the group's representative sentences; returns its id.

    When an approver approves it, the group stage (monitor.group.run.resolve_answered) gives the group's
    items the rebuttal as their suggestion, re-matches them and closes the group."""
    require_view(user)
    group = _open_group(db, group_id)
    if group.get("rebuttal_id"):
        return int(group["rebuttal_id"])
    claims = representative_sentences(db, group)
    with write(db):
        rid = create_rebuttal(
            db,
            {
                "title": (group["label"] or f"Unanswered claim #{group_id}")[:200],
                "claims": claims,
                "language": "vi",
            },
            user,
        )
        store.set_rebuttal(db, group_id, rid)
        audit.record(db, str(user["username"]), "group.draft", "claim_group", group_id, {"rebuttal_id": rid})
    return rid


def dismiss_group(
    db: sqlite_utils.Database, group_id: int, reason: str, user: dict[str, Any], note: str | None = None
) -> int:
    """Dismiss every item of the group with the reason (recorded per item, so it trains like single
    dismissals) and close the group; returns how many items were dismissed."""
    require_view(user)
    roles.require(user, roles.QUEUE_ACT, "only coordinators and admins dismiss items")
    group = _open_group(db, group_id)
    with write(db):
        for iid in group["item_ids"]:
            dismiss_item(db, iid, reason, user, note=note)
        store.close_group(db, group_id, "dismissed", int(user["id"]) if user.get("id") else None)
        audit.record(
            db,
            str(user["username"]),
            "group.dismiss",
            "claim_group",
            group_id,
            {"reason": reason, "note": note or "", "items": group["item_ids"]},
        )
    return len(group["item_ids"])
