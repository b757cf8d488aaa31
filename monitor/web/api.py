"""The JSON API (bearer tokens): queue, items and decisions, rebuttals, assignments."""

from __future__ import annotations

from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.errors import NotFound
from monitor.review import queue as review
from monitor.review import roles, service
from monitor.review.library import approve_rebuttal, create_rebuttal
from monitor.store import queue as q
from monitor.store.assignments import get_assignment
from monitor.store.rebuttals import get_rebuttal, list_rebuttals
from monitor.web.deps import api_user, config, get_db
from monitor.web.inline import InlineRoute, blocking

router = APIRouter(prefix="/api", tags=["api"], route_class=InlineRoute)


class LinkBody(BaseModel):
    """Link an item to an approved rebuttal."""

    model_config = ConfigDict(extra="forbid")
    rebuttal_id: int = Field(description="Id of an approved rebuttal.")
    version: int | None = Field(default=None, description="The flag version you saw (optimistic locking).")
    note: str | None = Field(default=None, description="Optional note.")


class DismissBody(BaseModel):
    """Dismiss a flagged item."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="accurate, off_topic, duplicate or other.")
    note: str | None = Field(default=None, description="Why; required when the reason is 'other'.")
    version: int | None = Field(default=None, description="The flag version you saw (optimistic locking).")


class EscalateBody(BaseModel):
    """Escalate a flagged item: a new rebuttal is needed."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, description="What claim needs an answer.")
    version: int | None = Field(default=None, description="The flag version you saw (optimistic locking).")


def _suggestions(db: sqlite_utils.Database, item_id: int, limit: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "rebuttal_id": int(s["rebuttal_id"]),
            "score": float(s["score"]),
            "claim": s.get("claim"),
            "title": s.get("title"),
        }
        for s in q.suggestions(db, item_id, limit)
    ]


def _queue_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "title": row["title"],
        "source": row.get("source"),
        "lang": row.get("lang"),
        "url": row.get("url"),
        "state": row.get("state"),
        "risk": row.get("risk"),
        "relevance": row.get("relevance"),
        "flagged_at": row.get("flagged_at"),
        "narrative_id": row.get("narrative_id"),
        "version": row.get("version"),
        "suggestions": [
            {
                "rebuttal_id": int(s["rebuttal_id"]),
                "score": float(s["score"]),
                "claim": s.get("claim"),
                "title": s.get("title"),
            }
            for s in row["suggestions"]
        ],
    }


@router.get("/queue", summary="Flagged items, highest risk then newest; keyset-paginated with `next`")
def api_queue(
    request: Request,
    state: str | None = Query(None, description="open (default), all, or one state"),
    source: int | None = Query(None, description="Source id"),
    lang: str | None = Query(None, description="Language code"),
    date_from: str | None = Query(None, alias="from", description="Flagged on or after (YYYY-MM-DD, local)"),
    date_to: str | None = Query(None, alias="to", description="Flagged on or before (YYYY-MM-DD, local)"),
    min_score: float | None = Query(None, description="Minimum risk, 0-1"),
    narrative: int | None = Query(None, description="Narrative id"),
    cursor: str | None = Query(None, description="`next` from the previous page"),
    limit: int = Query(50, ge=1, le=review.MAX_PAGE),
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """One page of the queue; pass `next` back as `cursor` for the following page."""
    filt = service.queue_filter(
        config(request),
        state=state,
        source=None if source is None else str(source),
        lang=lang,
        date_from=date_from,
        date_to=date_to,
        min_score=None if min_score is None else str(min_score),
        narrative=None if narrative is None else str(narrative),
    )
    rows, next_cursor = review.list_queue(db, filt, cursor, limit)
    q.attach_suggestions(db, rows, limit=3)
    return {"items": [_queue_item(r) for r in rows], "next": next_cursor}


@router.get("/items", summary="Full-text search across all items (accents optional)")
@blocking  # full-text search over every item can take longer than a page
def api_search(
    q_: str = Query("", alias="q", description="Words to find"),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000),
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """Items matching `q`, best first; flagged ones carry their state and risk."""
    rows = q.search(db, q_, limit=limit, offset=offset) if q_.strip() else []
    return {
        "items": [
            {
                "id": int(r["id"]),
                "title": r["title"],
                "source": r.get("source"),
                "lang": r.get("lang"),
                "url": r.get("url"),
                "fetched_at": r.get("fetched_at"),
                "state": r.get("state"),
                "risk": r.get("risk"),
                "relevance": r.get("relevance"),
            }
            for r in rows
        ]
    }


def _item_json(db: sqlite_utils.Database, item_id: int) -> dict[str, Any]:
    detail = q.item_detail(db, item_id)
    item, flag = detail["item"], detail["flag"]
    return {
        "id": int(item["id"]),
        "title": item["title"],
        "text": item["text"],
        "url": item.get("url"),
        "author": item.get("author"),
        "source": item.get("source_name"),
        "lang": item.get("lang"),
        "published_at": item.get("published_at"),
        "fetched_at": item.get("fetched_at"),
        "sightings": item.get("sightings"),
        "cluster_id": item.get("cluster_id"),
        "state": flag["state"] if flag else None,
        "risk": flag["risk"] if flag else None,
        "relevance": flag["relevance"] if flag else None,
        "reasons": flag["reasons"] if flag else None,
        "version": flag["version"] if flag else None,
        "handled_by": flag.get("handled_by_name") if flag else None,
        "handled_at": flag.get("handled_at") if flag else None,
        "dismiss_reason": flag.get("dismiss_reason") if flag else None,
        "narrative_id": flag.get("narrative_id") if flag else None,
        "suggestions": _suggestions(db, item_id, 10),
        "links": [
            {"rebuttal_id": int(link["rebuttal_id"]), "score": link["score"], "by": link["username"]}
            for link in detail["links"]
        ],
        "evidence": [
            {
                "id": int(e["id"]),
                "kind": e["kind"],
                "size": e["size"],
                "url": f"/items/{item_id}/evidence/{e['id']}",
            }
            for e in detail["evidence"]
        ],
    }


@router.get("/items/{item_id}", summary="One item with its state, scores and suggestions")
def api_item(
    item_id: int,
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """The item, its flag state and reasons, and suggested approved rebuttals."""
    return _item_json(db, item_id)


@router.post("/items/{item_id}/link", summary="Link an item to an approved rebuttal")
def api_link(
    item_id: int,
    body: LinkBody,
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """409 when someone handled it first."""
    review.link_item(db, item_id, body.rebuttal_id, user, expected_version=body.version, note=body.note)
    return _item_json(db, item_id)


@router.post("/items/{item_id}/dismiss", summary="Dismiss an item with a reason")
def api_dismiss(
    item_id: int,
    body: DismissBody,
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """409 when someone handled it first."""
    review.dismiss_item(db, item_id, body.reason, user, note=body.note, expected_version=body.version)
    return _item_json(db, item_id)


@router.post("/items/{item_id}/escalate", summary="Escalate: a new rebuttal is needed")
def api_escalate(
    item_id: int,
    body: EscalateBody | None = None,
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """Opens a request for coordinators; 409 when someone handled it first."""
    body = body or EscalateBody()
    request_id = review.escalate_item(db, item_id, user, note=body.note, expected_version=body.version)
    return {**_item_json(db, item_id), "request_id": request_id}


# --- rebuttals ---------------------------------------------------------------------------------------------


def _rebuttal_json(row: dict[str, Any]) -> dict[str, Any]:
    claims = row.get("claims") or []
    return {
        "id": int(row["id"]),
        "key": row.get("key"),
        "title": row["title"],
        "status": row["status"],
        "language": row.get("language"),
        "version": row.get("version"),
        "short_answer": row.get("short_answer"),
        "claims": [c["text"] if isinstance(c, dict) else c for c in claims],
    }


@router.get("/rebuttals", summary="Rebuttals, filtered by status and search words")
def api_rebuttals(
    status: str | None = Query(None, description="draft, approved or retired"),
    q_: str | None = Query(None, alias="q", description="Words to find (accents optional)"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    user: dict[str, Any] = Depends(api_user(roles.LIBRARY_READ)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """Each with id, title, status and the claims it refutes."""
    return {
        "rebuttals": [
            _rebuttal_json(r) for r in list_rebuttals(db, status=status, q=q_, limit=limit, offset=offset)
        ]
    }


@router.post("/rebuttals", status_code=201, summary="Create a draft rebuttal")
def api_create_rebuttal(
    fields: dict[str, Any],
    user: dict[str, Any] = Depends(api_user(roles.LIBRARY_EDIT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> JSONResponse:
    """Fields: title, claims (list), short_answer, body, language, key, verdict, url, ..."""
    rid = create_rebuttal(db, fields, user)
    row = get_rebuttal(db, rid)
    assert row is not None
    return JSONResponse(_rebuttal_json(row), status_code=201)


@router.post("/rebuttals/{rebuttal_id}/approve", summary="Approve a rebuttal (approver)")
def api_approve_rebuttal(
    rebuttal_id: int,
    user: dict[str, Any] = Depends(api_user(roles.LIBRARY_APPROVE)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """Draft -> approved; creates its narrative."""
    if get_rebuttal(db, rebuttal_id) is None:
        raise NotFound(f"rebuttal {rebuttal_id} does not exist")
    approve_rebuttal(db, rebuttal_id, user)
    row = get_rebuttal(db, rebuttal_id)
    assert row is not None
    return _rebuttal_json(row)


# --- assignments -----------------------------------------------------------------------------------------


@router.get("/assignments", summary="Assignments (coordinators see all; others their own)")
def api_assignments(
    status: str | None = Query(None, description="assigned, in_progress, published or cancelled"),
    user: dict[str, Any] = Depends(api_user(roles.ASSIGNMENTS_WORK)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """Soonest due first, with an `overdue` flag."""
    return {"assignments": service.visible_assignments(db, user, status=status)}


@router.post("/assignments", status_code=201, summary="Assign a response (coordinator)")
def api_create_assignment(
    request: Request,
    fields: dict[str, Any],
    user: dict[str, Any] = Depends(api_user(roles.ASSIGN)),
    db: sqlite_utils.Database = Depends(get_db),
) -> JSONResponse:
    """Fields: item_id or narrative_id, rebuttal_id, channel, assignee (name or id), due_at, note.

    The assignee's e-mail is queued with the assignment and sent at once; `notification_warning` says
    when it could not be (the assignment is saved either way)."""
    cfg = config(request)
    fields.pop("timezone", None)  # due dates are read in the configured web.timezone
    row = service.create_assignment(cfg, db, fields, user)
    warning = service.notify_assignee(cfg, db, row)
    return JSONResponse({**row, "notification_warning": warning}, status_code=201)


@router.patch("/assignments/{assignment_id}", summary="Update an assignment (status, published_url, details)")
def api_update_assignment(
    request: Request,
    assignment_id: int,
    fields: dict[str, Any],
    user: dict[str, Any] = Depends(api_user(roles.ASSIGNMENTS_WORK)),
    db: sqlite_utils.Database = Depends(get_db),
) -> dict[str, Any]:
    """The assignee moves status (published needs published_url); coordinators change the details."""
    version = fields.pop("version", None)
    fields.pop("timezone", None)  # due dates are read in the configured web.timezone
    service.update_assignment(config(request), db, assignment_id, fields, user, expected_version=version)
    row = get_assignment(db, assignment_id)
    assert row is not None
    return row
