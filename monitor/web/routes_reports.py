"""Reports: volumes over time (inline SVG), breakdowns, response times, overdue work; CSV of any table."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import sqlite_utils
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from monitor import i18n
from monitor.errors import NotFound
from monitor.review import roles
from monitor.store import reports
from monitor.web import charts
from monitor.web.deps import config, get_db, language, render, require_roles

router = APIRouter()

REPORT_ROLES = roles.roles_with(roles.REPORTS)
DAY_CHOICES = (7, 30, 90, 365)
# Cells a spreadsheet would run as a formula. Prefixing a quote makes them text (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _window(request: Request, days: int) -> reports.Window:
    days = min(max(int(days), 1), 366)
    return reports.Window(days=days, tz=config(request).web.timezone)


def csv_cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text starting like a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value  # numbers (negative ones too) are data, not formulas
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Rows as CSV text (RFC 4180 quoting by the csv module), one header line, formula-safe cells."""
    columns = columns or (list(rows[0].keys()) if rows else [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


@router.get("/reports", include_in_schema=False)
def reports_page(
    request: Request,
    days: int = 30,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles(*REPORT_ROLES)),
) -> Response:
    """Every report table on one page, with charts for volumes, sources and narratives."""
    window = _window(request, days)
    lang = language(request)
    _ = i18n.translator(lang)
    tables = {name: reports.table(db, name, window) for name in reports.TABLES}
    volumes = tables["volumes"]
    volume_chart = charts.line_chart(
        [row["day"] for row in volumes],
        {
            _("Items collected"): [row["items"] for row in volumes],
            _("Items flagged"): [row["flags"] for row in volumes],
        },
        title=_("Items collected and flagged per day"),
    )
    narrative_chart = charts.bar_chart(
        [(row["narrative"], row["flagged"]) for row in tables["narratives"][:12]],
        title=_("Flagged items by narrative"),
    )
    source_chart = charts.bar_chart(
        [(row["source"], row["flagged"]) for row in tables["sources"][:12]],
        title=_("Flagged items by source"),
    )
    return render(
        request,
        "reports.html",
        window=window,
        days=window.days,
        day_choices=DAY_CHOICES,
        tables=tables,
        titles={name: title for name, (title, _fn) in reports.TABLES.items()},
        volume_chart=volume_chart,
        narrative_chart=narrative_chart,
        source_chart=source_chart,
        totals={
            "items": sum(row["items"] for row in volumes),
            "flags": sum(row["flags"] for row in volumes),
            "overdue": len(tables["overdue"]),
        },
    )


@router.get("/reports/{table}.csv", include_in_schema=False)
def report_csv(
    table: str,
    request: Request,
    days: int = 30,
    db: sqlite_utils.Database = Depends(get_db),
    user: dict[str, Any] = Depends(require_roles(*REPORT_ROLES)),
) -> Response:
    """One report table as a CSV download (UTF-8 with BOM so spreadsheet programs read Vietnamese right)."""
    if table not in reports.TABLES:
        raise NotFound(f"there is no report table '{table}' — use one of {', '.join(reports.TABLES)}")
    window = _window(request, days)
    rows = reports.table(db, table, window)
    columns = list(rows[0].keys()) if rows else _empty_columns(table)
    body = "\ufeff" + to_csv(rows, columns)
    filename = f"{table}-{date.today().isoformat()}-{window.days}d.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _empty_columns(table: str) -> list[str]:
    """Headers for a table with no rows, so an empty export still says what it would hold."""
    return {
        "volumes": ["day", "items", "flags"],
        "sources": ["source", "items", "flagged", "linked", "dismissed", "escalated"],
        "languages": ["language", "items", "flagged"],
        "narratives": ["narrative", "flagged", "linked", "assignments", "published"],
        "response_times": ["measure", "n", "median_hours", "p90_hours"],
        "overdue": [
            "id",
            "due_at",
            "assignee",
            "channel",
            "status",
            "rebuttal",
            "item_id",
            "item",
            "narrative",
            "hours_overdue",
        ],
    }[table]
