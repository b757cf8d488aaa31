"""What the digest and surge emails say: queries -> template context -> (subject, text, html), vi and en."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor import i18n
from monitor.config import Config, Recipient
from monitor.group.run import unanswered
from monitor.review import roles
from monitor.store import mail as store
from monitor.store.db import from_db_time, to_db_time
from monitor.store.sources import source_health

TEMPLATES = Path(__file__).resolve().parent / "templates"

# The e-mails' strings live in the one translation system (monitor.i18n), in
# monitor/locales/<lang>/LC_MESSAGES/email.po under this message context.
CONTEXT = "email"
# The words shown for the digest's counts, a surge window and a recipient's role (message ids there).
COUNT_LABELS = {
    "new_items": "New items collected",
    "new_flagged": "New flagged items",
    "linked": "Linked to a rebuttal",
    "dismissed": "Dismissed",
    "escalated": "Escalated as new claims",
}
WINDOW_NAMES = {"hour": "hour", "day": "24 hours"}
ROLE_LABELS = {
    "analyst": "analyst",
    "coordinator": "coordinator",
    "approver": "approver",
    "admin": "administrator",
    "manager": "manager",
}

TOP_GROUPS = 5  # unanswered-claim groups listed in a digest

_DATE = {"en": "yyyy-MM-dd", "vi": "dd/MM/yyyy"}
_DATETIME = {"en": "d MMM yyyy, HH:mm", "vi": "HH:mm, dd/MM/yyyy"}


@dataclass
class Window:
    """The stretch of time one message reports on: (start, end], store-format UTC strings."""

    period: str  # local date, YYYY-MM-DD
    start: str
    end: str


_env: Environment | None = None


def env() -> Environment:
    """The Jinja2 environment: autoescape for .html templates, strict about missing values."""
    global _env
    if _env is None:
        _env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def one_line(value: object, limit: int = 240) -> str:
    """Scraped text for one table cell or text line: whitespace collapsed, bounded."""
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Formatter:
    """Dates, times and strings for one language and time zone."""

    def __init__(self, language: str, tz: str) -> None:
        """Strings and formats for `language`, times shown in `tz`."""
        self.language = language
        self.tz = ZoneInfo(tz)
        self._ = i18n.translator(language, CONTEXT)

    def t(self, msgid: str, **values: object) -> str:
        """The e-mail string `msgid` in this language, `%(name)s` filled from `values`."""
        return str(self._(msgid, **values))

    def dt(self, value: str | datetime | None) -> str:
        """A stored time (or datetime) as local date and time."""
        when = from_db_time(value) if isinstance(value, str) or value is None else value
        if when is None:
            return ""
        return format_datetime(when, _DATETIME[self.language], tzinfo=self.tz, locale=self.language)

    def day(self, value: date) -> str:
        """A date, short form."""
        return format_date(value, _DATE[self.language], locale=self.language)

    def long_day(self, value: date) -> str:
        """A date with the weekday, for headings."""
        return format_date(value, "full", locale=self.language)


def item_link(cfg: Config, item_id: int) -> str:
    """Where an item opens in the web app."""
    return f"{cfg.web.base_url.rstrip('/')}/items/{item_id}"


def unanswered_link(cfg: Config) -> str:
    """Where the unanswered claims open in the web app."""
    return f"{cfg.web.base_url.rstrip('/')}/unanswered"


def _unanswered_groups(
    cfg: Config, db: sqlite_utils.Database, f: Formatter, end: str
) -> list[dict[str, Any]]:
    """The top unanswered-claim groups as of `end` (ranked by size x growth), one line each."""
    when = from_db_time(end)
    return [
        {
            "label": one_line(g["label"] or f"#{g['id']}", 200),
            "line": f.t(
                "%(size)s post(s), %(last)s in the last 24 hours (growth %(growth)s×)",
                size=g["size"],
                last=g["last_24h"],
                growth=f"{float(g['growth']):.1f}",
            ),
            "link": f"{unanswered_link(cfg)}#g{g['id']}",
        }
        for g in unanswered(cfg, db, now=when)[:TOP_GROUPS]
    ]


def digest_context(
    cfg: Config, db: sqlite_utils.Database, recipient: Recipient, window: Window
) -> dict[str, Any]:
    """Everything the digest templates show for one recipient."""
    f = Formatter(recipient.language, cfg.digest.timezone)
    counts = store.digest_counts(db, window.start, window.end)
    flagged = store.top_flagged(db, window.start, window.end, cfg.digest.top_items)
    rebuttals = store.best_rebuttals(db, [int(r["item_id"]) for r in flagged])
    items = []
    for row in flagged:
        reb = rebuttals.get(int(row["item_id"]))
        items.append(
            {
                "title": one_line(row["title"]) or f"#{row['item_id']}",
                "source": one_line(row["source_name"] or "", 60),
                "time": f.dt(row["published_at"] or row["fetched_at"]),
                "risk": f"{round(float(row['risk']) * 100)}%",
                "rebuttal": one_line(reb["title"], 160) if reb else None,
                "rebuttal_answer": one_line(reb["short_answer"], 300) if reb else "",
                "link": item_link(cfg, int(row["item_id"])),
            }
        )
    start, end = from_db_time(window.start), from_db_time(window.end)
    assert start is not None and end is not None
    current = store.narrative_volumes(db, window.start, window.end)
    previous = store.narrative_volumes(db, to_db_time(start - (end - start)), window.start)
    growing_ids = sorted(
        (n for n, c in current.items() if c > previous.get(n, 0)),
        key=lambda n: (-(current[n] - previous.get(n, 0)), n),
    )[:10]
    info = store.narrative_info(db, growing_ids)
    growing = [
        {
            "name": one_line(info.get(n, {}).get("name") or f"#{n}", 160),
            "line": f.t(
                "%(current)s flagged (previous period: %(previous)s)",
                current=current[n],
                previous=previous.get(n, 0),
            ),
        }
        for n in growing_ids
    ]
    ctx: dict[str, Any] = {
        "_": f._,
        "lang": recipient.language,
        "heading": f"{f.t('Daily digest')}: {f.long_day(date.fromisoformat(window.period))}",
        "window": f.t("From %(start)s to %(end)s", start=f.dt(window.start), end=f.dt(window.end)),
        "counts": [(f.t(label), counts[k]) for k, label in COUNT_LABELS.items()],
        "items": items,
        "growing": growing,
        "coordinator": roles.can(recipient.role, roles.DIGEST_COORDINATION),
        "show_unanswered": roles.can(recipient.role, roles.DIGEST_UNANSWERED),
        "unanswered": [],
        "unanswered_link": unanswered_link(cfg),
        "assignments": [],
        "sources": [],
        "warnings": [],
        "app_link": cfg.web.base_url.rstrip("/") + "/",
        "footer": f.t(
            "Sent automatically by misinfo-monitor to %(email)s (%(role)s). Times are in %(tz)s.",
            email=recipient.email,
            role=f.t(ROLE_LABELS[recipient.role]),
            tz=cfg.digest.timezone,
        ),
    }
    if ctx["show_unanswered"]:
        ctx["unanswered"] = _unanswered_groups(cfg, db, f, window.end)
    if ctx["coordinator"]:
        # Relative to the window's end (the send time), so a re-rendered message says what it said then.
        horizon = to_db_time(end + timedelta(days=1))
        now = window.end
        for a in store.open_assignments(db, horizon):
            what = a["item_title"] or a["narrative"] or ""
            ctx["assignments"].append(
                {
                    "overdue": str(a["due_at"]) < now,
                    "due": f.t("due %(time)s", time=f.dt(a["due_at"])),
                    "what": one_line(f"{a['rebuttal_title']}: {what}" if what else a["rebuttal_title"], 200),
                    "who": f.t(
                        "assigned to %(who)s, channel %(channel)s",
                        who=one_line(a["assignee"], 60),
                        channel=one_line(a["channel"], 40),
                    ),
                }
            )
        ctx["sources"] = [
            {
                "name": one_line(s["name"], 80),
                "line": f.t(
                    "%(n)s failure(s) in a row since %(time)s: %(error)s",
                    n=s["consecutive_failures"],
                    time=f.dt(s["last_error_at"]) or "?",
                    error=one_line(s["last_error"], 200),
                ),
            }
            for s in store.failing_sources(db)
        ]
        # Sources whose last pass succeeded, with a warning (e.g. pages a press crawl could not get).
        ctx["warnings"] = [
            {
                "name": one_line(s["name"], 80),
                "line": f.t(
                    "last pass succeeded with a warning: %(warning)s", warning=one_line(s["warning"], 200)
                ),
            }
            for s in source_health(db)
            if s["enabled"] and s["warning"] and not s["consecutive_failures"]
        ]
    ctx["subject"] = f.t(
        "[misinfo-monitor] Daily digest %(date)s: %(n)s new flagged item(s)",
        date=f.day(date.fromisoformat(window.period)),
        n=counts["new_flagged"],
    )
    return ctx


def render(name: str, ctx: dict[str, Any]) -> tuple[str, str]:
    """(text, html) from `<name>.txt` and `<name>.html`."""
    return env().get_template(f"{name}.txt").render(**ctx), env().get_template(f"{name}.html").render(**ctx)


def surge_context(
    cfg: Config, db: sqlite_utils.Database, recipient: Recipient, surge: dict[str, Any]
) -> dict[str, Any]:
    """Everything a surge alert shows: narrative, volume vs baseline, examples, the approved rebuttal."""
    f = Formatter(recipient.language, cfg.digest.timezone)
    window = f.t(WINDOW_NAMES[surge["window"]])
    name = one_line(surge["name"], 160)
    if surge.get("group_id") is not None:  # a growing unanswered claim: no rebuttal yet, say so in the name
        name = f"{f.t('Unanswered claim')}: {name}"
    examples = [
        {
            "title": one_line(e["title"]) or f"#{e['item_id']}",
            "source": one_line(e["source_name"] or "", 60),
            "time": f.dt(e["flagged_at"]),
            "risk": f"{round(float(e['risk']) * 100)}%",
            "link": item_link(cfg, int(e["item_id"])),
        }
        for e in surge["examples"]
    ]
    reb = surge.get("rebuttal")
    return {
        "_": f._,
        "lang": recipient.language,
        "subject": f.t(
            "[misinfo-monitor] Surge alert: %(narrative)s: %(count)s flagged in the last %(window)s",
            narrative=name,
            count=surge["count"],
            window=window,
        ),
        "heading": f"{f.t('Surge alert')}: {name}",
        "line": f.t(
            "%(count)s flagged items in the last %(window)s, against a usual %(baseline)s per %(window)s (%(ratio)s× the baseline; alert threshold %(factor)s×).",
            count=surge["count"],
            window=window,
            baseline=f"{surge['baseline']:.1f}",
            ratio=f"{surge['count'] / surge['baseline']:.1f}",
            factor=f"{cfg.digest.surge_factor:g}",
        ),
        "examples": examples,
        "rebuttal": (
            {
                "title": one_line(reb["title"], 200),
                "answer": one_line(reb["answer"], 400),
                "url": reb["url"] or "",
            }
            if reb
            else None
        ),
        "group_link": (
            f"{unanswered_link(cfg)}#g{surge['group_id']}" if surge.get("group_id") is not None else ""
        ),
        "app_link": cfg.web.base_url.rstrip("/") + "/",
        "footer": f.t(
            "Sent automatically by misinfo-monitor to %(email)s (%(role)s). Times are in %(tz)s.",
            email=recipient.email,
            role=f.t(ROLE_LABELS[recipient.role]),
            tz=cfg.digest.timezone,
        ),
    }
