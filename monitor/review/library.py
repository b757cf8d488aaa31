"""Rebuttal workflow rules: validation, who may write, approve and retire, and what an edit does.

Workflow: create -> draft; approve (approver/admin) -> approved, creating the rebuttal's narrative;
retire (approver/admin) -> retired. Editing an APPROVED rebuttal's content (title, answers, body, claims,
language, evidence, media, channels) returns it to draft: changed wording is not suggested or linked until
it is approved again. Metadata-only edits (author, date_published, url, verdict, key) keep it approved.
Every change bumps `version`, keeps a rebuttal_versions row (who, when, which fields) and an audit entry,
in one transaction. Field validation is rebuttals.library's (shared with the import files); the SQL is
monitor.store.rebuttals'.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.errors import Conflict, NotFound, UsageError
from monitor.review import roles
from monitor.store import audit
from monitor.store import rebuttals as store
from monitor.store.db import utcnow, write
from rebuttals.library import (
    CHANNELS,
    MEDIA_TYPES,
    STATUSES,
    RowError,
    changed_fields,
    clean_fields,
    edit_status,
    guess_language,
    next_status,
    snapshot,
)

__all__ = [
    "CHANNELS",
    "MEDIA_TYPES",
    "STATUSES",
    "approve_rebuttal",
    "check_approve",
    "check_edit",
    "clean",
    "create_rebuttal",
    "retire_rebuttal",
    "update_rebuttal",
]


def check_edit(user: dict[str, Any]) -> None:
    """PermissionDenied unless the user writes rebuttals (coordinators, approvers, admins)."""
    roles.require(
        user,
        roles.LIBRARY_EDIT,
        f"user '{user.get('username')}' ({user.get('role') or ''}) cannot write rebuttals — ask a coordinator",
    )


def check_approve(user: dict[str, Any]) -> None:
    """PermissionDenied unless the user approves and retires rebuttals (approvers, admins)."""
    roles.require(
        user,
        roles.LIBRARY_APPROVE,
        f"user '{user.get('username')}' ({user.get('role') or ''}) cannot approve or retire rebuttals — ask an approver",
    )


def clean(fields: dict[str, Any], partial: bool) -> dict[str, Any]:
    """Validated, normalised fields; UsageError saying which field and how to fix it."""
    try:
        return clean_fields(fields, partial=partial)
    except RowError as exc:
        raise UsageError(str(exc)) from None


def _claims(texts: list[str], language: str) -> list[tuple[str, str]]:
    return [(text, guess_language(text, language)) for text in texts]


def _record_version(
    db: sqlite_utils.Database, rebuttal_id: int, version: int, changes: str, user: dict[str, Any]
) -> None:
    current = store.get_rebuttal(db, rebuttal_id) or {}
    snap = snapshot({**current, "claims": [c["text"] for c in current.get("claims", [])]})
    snap["status"] = current.get("status")
    store.record_version(db, rebuttal_id, version, snap, changes, user.get("id"))


def create_rebuttal(db: sqlite_utils.Database, fields: dict[str, Any], user: dict[str, Any]) -> int:
    """Create a draft rebuttal with its claims; returns its id. Coordinators, approvers, admins only."""
    check_edit(user)
    f = clean(fields, partial=False)
    with write(db):
        if f.get("key") and store.id_for_key(db, f["key"]) is not None:
            raise Conflict(f"a rebuttal with key '{f['key']}' exists already — edit it or choose another key")
        rid = store.insert_rebuttal(db, f, user.get("id"))
        store.set_claims(db, rid, _claims(f["claims"], f["language"]))
        store.index_rebuttal(db, rid)
        _record_version(db, rid, 1, "created", user)
        audit.record(db, str(user.get("username")), "rebuttal.create", "rebuttal", rid, {"title": f["title"]})
    return rid


def update_rebuttal(
    db: sqlite_utils.Database,
    rebuttal_id: int,
    fields: dict[str, Any],
    user: dict[str, Any],
    expected_version: int | None = None,
) -> int:
    """Apply changed fields; returns the new version (unchanged when nothing differs).

    Conflict when `expected_version` is stale. An approved rebuttal goes back to draft.
    """
    check_edit(user)
    f = clean(fields, partial=True)
    if not f.get("key"):
        f.pop("key", None)  # an empty key in a form means "keep the key", never "erase it"
    with write(db):
        current = store.get_rebuttal(db, rebuttal_id)
        if current is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist")
        version = int(current["version"])
        if expected_version is not None and expected_version != version:
            raise Conflict(
                f"rebuttal {rebuttal_id} was changed by someone else (now version {version}, you edited "
                f"{expected_version}) — reload it and apply your change again"
            )
        before = snapshot({**current, "claims": [c["text"] for c in current["claims"]]})
        changed = changed_fields(before, f)
        if not changed:
            return version
        if "key" in changed and f.get("key"):
            other = store.id_for_key(db, f["key"], other_than=rebuttal_id)
            if other is not None:
                raise Conflict(f"key '{f['key']}' is used by rebuttal {other} — choose another key")
        status = edit_status(str(current["status"]), changed)
        values: dict[str, Any] = {name: f[name] for name in changed if name != "claims"}
        values.update(status=status, version=version + 1, updated_at=utcnow())
        if status != current["status"]:
            values.update(approved_by=None, approved_at=None)
        store.update_rebuttal_row(db, rebuttal_id, values)
        if "claims" in changed:
            store.set_claims(
                db, rebuttal_id, _claims(f["claims"], str(f.get("language") or current["language"]))
            )
        store.index_rebuttal(db, rebuttal_id)
        note = ", ".join(changed) + (
            f"; status {current['status']} -> {status}" if status != current["status"] else ""
        )
        _record_version(db, rebuttal_id, version + 1, note, user)
        audit.record(
            db,
            str(user.get("username")),
            "rebuttal.update",
            "rebuttal",
            rebuttal_id,
            {"changed": changed, "version": version + 1, "status": status},
        )
    return version + 1


def _transition(db: sqlite_utils.Database, rebuttal_id: int, user: dict[str, Any], action: str) -> None:
    check_approve(user)
    with write(db):
        current = store.get_rebuttal(db, rebuttal_id)
        if current is None:
            raise NotFound(f"rebuttal {rebuttal_id} does not exist")
        try:
            status = next_status(str(current["status"]), action)
        except RowError as exc:
            raise Conflict(str(exc)) from None
        now = utcnow()
        version = int(current["version"]) + 1
        if action == "approve":
            store.update_rebuttal_row(
                db,
                rebuttal_id,
                {
                    "status": status,
                    "version": version,
                    "approved_by": user.get("id"),
                    "approved_at": now,
                    "retired_at": None,
                    "updated_at": now,
                },
            )
            store.ensure_narrative(db, rebuttal_id, str(current["title"]), now)
        else:
            store.update_rebuttal_row(
                db, rebuttal_id, {"status": status, "version": version, "retired_at": now, "updated_at": now}
            )
        _record_version(db, rebuttal_id, version, f"status {current['status']} -> {status}", user)
        audit.record(
            db,
            str(user.get("username")),
            f"rebuttal.{action}",
            "rebuttal",
            rebuttal_id,
            {"from": current["status"], "to": status, "version": version},
        )


def approve_rebuttal(db: sqlite_utils.Database, rebuttal_id: int, user: dict[str, Any]) -> None:
    """Approve a draft (or retired) rebuttal and create its narrative if missing. Approvers/admins only."""
    _transition(db, rebuttal_id, user, "approve")


def retire_rebuttal(db: sqlite_utils.Database, rebuttal_id: int, user: dict[str, Any]) -> None:
    """Retire a rebuttal: it is no longer suggested or linkable. Approvers/admins only."""
    _transition(db, rebuttal_id, user, "retire")
