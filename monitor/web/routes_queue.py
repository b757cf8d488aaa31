"""The review queue, search, the item page and the analyst's decisions (link, dismiss, escalate)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import nh3
import sqlite_utils
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from monitor import i18n
from monitor.errors import UsageError
from monitor.i18n import translate
from monitor.review import queue as review
from monitor.review import roles, service
from monitor.review.queue import opt_int
from monitor.store import queue as q
from monitor.store import submissions as submissions_store
from monitor.store.rebuttals import list_rebuttals
from monitor.web.deps import can, config, flash, get_db, is_htmx, language, render, require_user, verify_csrf
from monitor.web.fragments import FragmentCache
from monitor.web.inline import InlineRoute, blocking

router = APIRouter(include_in_schema=False, route_class=InlineRoute)

# Who may look at the queue and who may decide: roles.QUEUE_VIEW, roles.QUEUE_ACT, roles.REQUESTS
# (monitor.review.roles). Approvers read (they approve what analysts escalate).

# Kept HTML (items.html) is shown only after nh3 strips everything but plain formatting: no images
# (they would leak requests), no scripts, styles, forms or event handlers; links lose javascript:.
SAFE_TAGS = {
    "p",
    "br",
    "b",
    "i",
    "em",
    "strong",
    "u",
    "s",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h2",
    "h3",
    "h4",
    "pre",
    "code",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "figure",
    "figcaption",
}


def sanitise_html(html: str | None) -> str:
    """HTML from a scraped page, reduced to harmless formatting."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=SAFE_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow ugc",
    )


def safe_url(url: str | None) -> str | None:
    """Only http(s) URLs become links; anything else (javascript:, data:) is shown as text."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


@router.get("/queue")
def queue_page(
    request: Request,
    state: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    date_from: str | None = Query(None, alias="from"),
    date_to: str | None = Query(None, alias="to"),
    min_score: str | None = None,
    narrative: str | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=review.MAX_PAGE),
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Flagged items, highest risk then newest, filtered, one keyset page at a time."""
    filt = service.queue_filter(
        config(request),
        state=state,
        source=source,
        lang=lang,
        date_from=date_from,
        date_to=date_to,
        min_score=min_score,
        narrative=narrative,
    )
    rows, next_cursor = review.list_queue(db, filt, cursor, limit)
    rows = q.collapse_duplicates(db, rows)
    q.attach_suggestions(db, rows, limit=1)
    params = {
        k: v
        for k, v in {
            "state": state,
            "source": source,
            "lang": lang,
            "from": date_from,
            "to": date_to,
            "min_score": min_score,
            "narrative": narrative,
        }.items()
        if v
    }
    if limit != 50:
        params["limit"] = str(limit)
    here = "/queue" + (
        f"?{urlencode({**params, 'cursor': cursor})}"
        if cursor
        else (f"?{urlencode(params)}" if params else "")
    )
    can_act = _can_act(user)
    lang = language(request)
    translate_ = i18n.translator(lang)
    env = request.app.state.templates.env
    cache: FragmentCache = request.app.state.fragments

    def queue_row(row: dict[str, Any]) -> Markup:
        return cache.render(
            env,
            "_queue_row.html",
            (lang, can_act, here),
            row,
            _=translate_,
            here=here,
            can_act=can_act,
            states=review.STATES,
        )

    # The menus list every source (hundreds in a real deployment): read them only when they changed.
    queue_filters = cache.render_keyed(
        env,
        "_queue_filters.html",
        (lang, tuple(sorted(params.items())), state or "open", q.choices_version(db)),
        lambda: {
            "r": {
                "filters": params,
                "state": state or "open",
                "states": review.STATES,
                "sources": q.source_choices(db),
                "narratives": q.narrative_choices(db),
            },
            "_": translate_,
        },
    )
    return render(
        request,
        "queue.html",
        rows=rows,
        queue_row=queue_row,
        queue_filters=queue_filters,
        filters=params,
        state=state or "open",
        next_url=("/queue?" + urlencode({**params, "cursor": next_cursor})) if next_cursor else None,
        first_url=("/queue?" + urlencode(params)) if cursor else None,
        here=here,
        can_act=can_act,
        safe_url=safe_url,
    )


def _can_act(user: dict[str, Any]) -> bool:
    return can(user, roles.QUEUE_ACT)


@router.get("/search")
@blocking  # full-text search over every item can take longer than a page
def search_page(
    request: Request,
    q_: str = Query("", alias="q"),
    page: int = Query(1, ge=1, le=100),
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Full-text search across all items, flagged or not (accents optional)."""
    per_page = 50
    results = q.search(db, q_, limit=per_page + 1, offset=(page - 1) * per_page) if q_.strip() else []
    more = len(results) > per_page
    return render(
        request,
        "search.html",
        q=q_,
        results=results[:per_page],
        page=page,
        next_url=f"/search?{urlencode({'q': q_, 'page': page + 1})}" if more else None,
        prev_url=f"/search?{urlencode({'q': q_, 'page': page - 1})}" if page > 1 else None,
        safe_url=safe_url,
    )


@router.get("/items/{item_id}")
def item_page(
    request: Request,
    item_id: int,
    focus: str | None = None,
    next: str | None = None,
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """One item: content (escaped), source, time, evidence, scores with reasons, suggestions, actions."""
    detail = q.item_detail(db, item_id)
    item = detail["item"]
    return render(
        request,
        "item.html",
        **detail,
        item_url=safe_url(item.get("url")),
        html_view=sanitise_html(item.get("html")),
        can_act=_can_act(user),
        focus=focus if focus in ("link", "dismiss", "escalate") else None,
        back=_safe_back(next),
        reasons_list=reasons_list,
        dismiss_reasons=review.DISMISS_REASONS,
        safe_url=safe_url,
        images=submissions_store.ocr_for(db, item_id),
        submissions=submissions_store.submissions_for(db, item_id),
    )


def _safe_back(target: str | None) -> str:
    if target and target.startswith("/queue") and "//" not in target:
        return target
    return "/queue"


@router.get("/items/{item_id}/evidence/{evidence_id}")
def evidence_download(
    item_id: int,
    evidence_id: int,
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """The evidence copy as fetched, as a plain-text download: never rendered as HTML by the browser."""
    row, body = q.evidence_body(db, item_id, evidence_id)
    headers = {
        "Content-Disposition": f'attachment; filename="item-{item_id}-evidence-{evidence_id}.txt"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    }
    return Response(content=body, media_type="text/plain; charset=utf-8", headers=headers)


@router.get("/items/{item_id}/rebuttal-search")
def rebuttal_search(
    request: Request,
    item_id: int,
    q_: str = Query("", alias="q"),
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """htmx fragment: approved rebuttals matching a search, to link one that was not suggested."""
    found = list_rebuttals(db, status="approved", q=q_, limit=10) if q_.strip() else []
    return render(request, "_rebuttal_choices.html", item_id=item_id, found=found, q=q_)


def _after_action(request: Request, item_id: int, message: str, back: str | None) -> Response:
    flash(request, message, "success")
    target = _safe_back(back)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _version(value: str | None) -> int | None:
    return opt_int(value, "version")


@router.post("/items/{item_id}/link", dependencies=[Depends(verify_csrf)])
def link_action(
    request: Request,
    item_id: int,
    rebuttal_id: str = Form(""),
    version: str | None = Form(None),
    note: str = Form(""),
    next: str | None = Form(None),
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Link the item to an approved rebuttal."""
    rid = opt_int(rebuttal_id, "rebuttal")
    if rid is None:
        raise UsageError(translate(language(request), "Choose a rebuttal to link."))
    review.link_item(db, item_id, rid, user, expected_version=_version(version), note=note)
    return _after_action(
        request, item_id, translate(language(request), "Item %(id)s linked.", id=item_id), next
    )


@router.post("/items/{item_id}/dismiss", dependencies=[Depends(verify_csrf)])
def dismiss_action(
    request: Request,
    item_id: int,
    reason: str = Form(""),
    note: str = Form(""),
    version: str | None = Form(None),
    next: str | None = Form(None),
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Dismiss the item with a reason."""
    review.dismiss_item(db, item_id, reason, user, note=note, expected_version=_version(version))
    return _after_action(
        request, item_id, translate(language(request), "Item %(id)s dismissed.", id=item_id), next
    )


@router.post("/items/{item_id}/escalate", dependencies=[Depends(verify_csrf)])
def escalate_action(
    request: Request,
    item_id: int,
    note: str = Form(""),
    version: str | None = Form(None),
    next: str | None = Form(None),
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_ACT)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Escalate: a new rebuttal is needed; coordinators get a request."""
    review.escalate_item(db, item_id, user, note=note, expected_version=_version(version))
    return _after_action(
        request,
        item_id,
        translate(language(request), "Item %(id)s escalated to the coordinators.", id=item_id),
        next,
    )


@router.get("/requests")
def requests_page(
    request: Request,
    user: dict[str, Any] = Depends(require_user(roles.REQUESTS)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Open requests for a new rebuttal (escalated items)."""
    return render(request, "requests.html", requests=q.open_requests(db))


@router.post("/requests/{request_id}/close", dependencies=[Depends(verify_csrf)])
def close_request(
    request: Request,
    request_id: int,
    status: str = Form(...),
    rebuttal_id: str = Form(""),
    user: dict[str, Any] = Depends(require_user(roles.REQUESTS)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Close a request as done (a rebuttal was written) or rejected."""
    review.close_request(db, request_id, status, user, opt_int(rebuttal_id, "rebuttal"))
    flash(request, translate(language(request), "Request closed."), "success")
    return RedirectResponse("/requests", status_code=303)


# --- reasons ---------------------------------------------------------------------------------------------


def reasons_list(reasons: Any) -> dict[str, Any]:
    """Turn the classifier's reasons_json into display rows: nearest known claims and labelled facts.

    The classifier writes {"model": {...}, "relevance": {...}, "risk": {"nearest_claims": [...], "cues": [...]},
    "matched_sentence": {"text", "similarity", "claim"}, "thresholds": {...}}.
    """
    if not isinstance(reasons, dict):
        return {"claims": [], "facts": []}
    risk, relevance, model, matched = (
        _section(reasons, k) for k in ("risk", "relevance", "model", "matched_sentence")
    )
    claims: list[dict[str, Any]] = []
    for entry in risk.get("nearest_claims") or []:
        if not isinstance(entry, dict):
            continue
        text = str(entry.get("text") or entry.get("claim") or "")
        claims.append(
            {
                "claim": text,
                "similarity": _num(entry.get("similarity")),
                "sentence": str(matched.get("text") or "") if matched.get("claim") == text else "",
                "rebuttal_id": entry.get("rebuttal_id"),
            }
        )
    facts: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value is None or value == [] or value == "":
            return
        if isinstance(value, float):
            value = f"{value:.2f}"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        facts.append((label, str(value)))

    add("Relevance: topic similarity", _num(relevance.get("topic_similarity")))
    add("Relevance: lexical similarity", _num(relevance.get("lexical_similarity")))
    add("Topic keywords", relevance.get("keywords"))
    add("Relevance cues", relevance.get("cues"))
    add("Risk: similarity to known false claims", _num(risk.get("claim_similarity")))
    add("Risk cues", risk.get("cues"))
    if model:
        add("Model", f"{model.get('encoder', '?')} / {model.get('version', '?')}")
    return {"claims": claims, "facts": facts}


def _section(reasons: dict[str, Any], key: str) -> dict[str, Any]:
    value = reasons.get(key)
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
