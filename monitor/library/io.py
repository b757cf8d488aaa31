"""Import and export of the rebuttal library: YAML, JSON, CSV and ClaimReview JSON-LD files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.errors import ImportFileError, PermissionDenied
from monitor.review import library as review
from monitor.review import roles
from monitor.store import rebuttals as store
from monitor.store.db import write
from rebuttals import claimreview
from rebuttals.library import RowError, clean_fields, parse_file, stable_key

# The actor of imports run from the command line without --approved-by (drafts only).
CLI_USER: dict[str, Any] = {"id": None, "username": "cli", "role": "coordinator"}


@dataclass
class ImportReport:
    """What an import did."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    approved: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.approved)} approved"
        )


def read_rows(name: str, data: bytes) -> tuple[list[dict[str, Any]], str]:
    """Raw rows and the detected format ('claimreview', 'csv', 'json', 'yaml')."""
    lower = name.lower()
    if lower.endswith((".json", ".jsonld")):
        try:
            parsed = json.loads(data.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFileError(
                f"{name}: not valid JSON ({exc}) — fix the syntax and import again"
            ) from None
        if claimreview.is_claimreview(parsed):
            try:
                return claimreview.parse(parsed), "claimreview"
            except RowError as exc:
                raise ImportFileError(f"{name}: {exc}") from None
    try:
        rows = parse_file(name, data)
    except RowError as exc:
        raise ImportFileError(f"{name}: {exc}") from None
    return rows, "csv" if lower.endswith(".csv") else "json" if lower.endswith(
        (".json", ".jsonld")
    ) else "yaml"


def validate_rows(name: str, rows: list[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """Clean every row before anything is written; the first bad row stops the import with its position."""
    cleaned: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        where = f"row {n}" + (f" (line {n + 1})" if fmt == "csv" else "")
        label = row.get("key") or row.get("title") or ""
        try:
            f = clean_fields({k: v for k, v in row.items() if k != "status"}, partial=False)
        except RowError as exc:
            raise ImportFileError(
                f"{name}: {where}{f' [{label}]' if label else ''}: {exc}; nothing was imported"
            ) from None
        f["key"] = f.get("key") or stable_key(f["title"], f["claims"])
        if f["key"] in seen:
            raise ImportFileError(
                f"{name}: {where}: key '{f['key']}' repeats row {seen[f['key']]} — give each rebuttal its own key;"
                " nothing was imported"
            )
        seen[f["key"]] = n
        cleaned.append(f)
    return cleaned


def import_file(
    db: sqlite_utils.Database,
    path: Path,
    user: dict[str, Any] | None = None,
    approver: dict[str, Any] | None = None,
) -> ImportReport:
    """Import a file in one transaction: upsert by key (re-import creates nothing), approve when asked."""
    if approver is not None and not roles.can(approver, roles.LIBRARY_APPROVE):
        raise PermissionDenied(
            f"user '{approver.get('username')}' is {approver.get('role')}, not an approver — name an approver or admin"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    rows, fmt = read_rows(path.name, data)
    cleaned = validate_rows(path.name, rows, fmt)
    actor = approver or user or CLI_USER
    report = ImportReport()
    with write(db):
        for f in cleaned:
            existing = store.get_rebuttal_by_key(db, f["key"])
            if existing is None:
                rid = review.create_rebuttal(db, f, actor)
                report.created.append(rid)
            else:
                rid = int(existing["id"])
                before = int(existing["version"])
                if review.update_rebuttal(db, rid, f, actor) != before:
                    report.updated.append(rid)
                else:
                    report.unchanged.append(rid)
            if approver is not None:
                current = store.get_rebuttal(db, rid)
                if current is not None and current["status"] != "approved":
                    review.approve_rebuttal(db, rid, approver)
                    report.approved.append(rid)
    return report


def export_claimreview(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """ClaimReview JSON-LD objects for every approved rebuttal (one per refuted claim)."""
    rows = []
    for r in store.list_rebuttals(db, status="approved", limit=1_000_000):
        full = store.get_rebuttal(db, int(r["id"]))
        if full is not None:
            rows.append(full)
    return claimreview.export(rows)
