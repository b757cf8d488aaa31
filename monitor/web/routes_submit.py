"""Report an item: analysts submit a link, pasted text or a screenshot (page and JSON API); item images."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from monitor import i18n, pipeline
from monitor.config import Config
from monitor.errors import NotFound, UsageError
from monitor.review import roles
from monitor.store import submissions as store
from monitor.store.items import read_blob
from monitor.web.deps import api_user, config, flash, get_db, language, render, require_user, verify_csrf

router = APIRouter()
SHA256 = re.compile(r"^[0-9a-f]{64}$")


async def _image_bytes(upload: Any, cfg: Config) -> bytes | None:
    """The uploaded file's bytes, read at most ocr.max_bytes + 1 (a 50 MB upload is refused, not read)."""
    if not isinstance(upload, UploadFile) or not (upload.filename or upload.size):
        return None
    data = await upload.read(cfg.ocr.max_bytes + 1)
    if len(data) > cfg.ocr.max_bytes:
        raise UsageError(f"the image is larger than ocr.max_bytes ({cfg.ocr.max_bytes:,} bytes)")
    return data or None


def _field(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


async def _submission(request: Request, cfg: Config, user: dict[str, Any]) -> pipeline.Submission:
    """A Submission from a JSON body {url|text, note} or a form (multipart with an `image` file)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict) or set(body) - {"url", "text", "note"}:
            raise UsageError("send a JSON object with url or text, and an optional note")
        url, text, note = body.get("url"), body.get("text"), body.get("note")
        if any(v is not None and not isinstance(v, str) for v in (url, text, note)):
            raise UsageError("url, text and note must be strings")
        image = None
        name = "the image"
    else:
        form = await request.form()
        url, text, note = _field(form.get("url")), _field(form.get("text")), _field(form.get("note"))
        upload = form.get("image")
        image = await _image_bytes(upload, cfg)
        name = getattr(upload, "filename", None) or "the image"
        if text is None and "text" in form and url is None and image is None:
            text = ""  # an empty text box: say so, do not ask for one of three
    return pipeline.Submission(
        url=url,
        text=text,
        image=image,
        image_name=name,
        note=note,
        user_id=int(user["id"]),
        username=str(user["username"]),
    )


@router.get("/submit")
def submit_page(
    request: Request,
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_ACT)),
    cfg: Config = Depends(config),
) -> Response:
    """The Report an item form: a link, a text, or a screenshot (upload or paste)."""
    return render(request, "submit.html", values={}, error=None, max_bytes=cfg.ocr.max_bytes)


@router.post("/submit", dependencies=[Depends(verify_csrf)])
async def submit_action(
    request: Request,
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_ACT)),
    cfg: Config = Depends(config),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """Store, classify and match the submission; show its item page (risk and suggestions)."""
    form = await request.form()
    values = {k: _field(form.get(k)) or "" for k in ("url", "text", "note")}
    try:
        sub = await _submission(request, cfg, user)
        report = await run_in_threadpool(pipeline.submit, cfg, db, sub)
    except UsageError as exc:
        return render(
            request,
            "submit.html",
            status_code=400,
            values=values,
            error=str(exc),
            max_bytes=cfg.ocr.max_bytes,
        )
    lang = language(request)
    message = "Submitted: new item." if report.created else "Already stored: recorded as a new sighting."
    flash(request, i18n.translate(lang, message), "success")
    if report.group_flagged:
        # Only a near-duplicate group's representative gets a queue entry: say where this one's is.
        note = "Its near-duplicate group is already in the review queue as item #%(id)s."
        flash(request, i18n.translate(lang, note, id=report.flagged_item_id), "info")
    return RedirectResponse(f"/items/{report.item_id}", status_code=303)


@router.post("/api/submissions", status_code=201, summary="Submit a link, text or screenshot", tags=["api"])
async def api_submit(
    request: Request,
    user: dict[str, Any] = Depends(api_user(roles.QUEUE_ACT)),
    cfg: Config = Depends(config),
    db: sqlite_utils.Database = Depends(get_db),
) -> JSONResponse:
    """JSON {url|text, note} or multipart (url, text, note, image). 201 with the item, its risk and the
    suggested approved rebuttals; `flagged` when the item has its own queue entry, `group_flagged` and
    `flagged_item_id` when its near-duplicate group is already in the queue as that item; 400 for bad
    input (nothing stored)."""
    sub = await _submission(request, cfg, user)
    report = await run_in_threadpool(pipeline.submit, cfg, db, sub)
    return JSONResponse(report.as_dict() | {"url": f"/items/{report.item_id}"}, status_code=201)


@router.get("/items/{item_id}/images/{sha256}")
def item_image(
    item_id: int,
    sha256: str,
    user: dict[str, Any] = Depends(require_user(roles.QUEUE_VIEW)),
    db: sqlite_utils.Database = Depends(get_db),
) -> Response:
    """An image of an item, with its own image content type (never HTML), not sniffable, sandboxed."""
    row = store.item_image(db, item_id, sha256) if SHA256.match(sha256) else None
    body = read_blob(db, sha256) if row else None
    if row is None or body is None:
        raise NotFound(f"item {item_id} has no image {sha256[:64]}")
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }
    return Response(content=body, media_type=str(row["content_type"]), headers=headers)
