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

from monitor.config import Config, Recipient
from monitor.store import mail as store
from monitor.store.db import from_db_time, to_db_time

TEMPLATES = Path(__file__).resolve().parent / "templates"
COORDINATOR_ROLES = ("coordinator", "admin", "manager")

# Every string a recipient reads, in both languages. {placeholders} are filled with str.format.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "[misinfo-monitor] Daily digest {date}: {n} new flagged item(s)",
        "heading": "Daily digest",
        "window": "From {start} to {end}",
        "counts": "Since the last digest",
        "new_items": "New items collected",
        "new_flagged": "New flagged items",
        "linked": "Linked to a rebuttal",
        "dismissed": "Dismissed",
        "escalated": "Escalated as new claims",
        "top": "Top new flagged items",
        "title": "Title",
        "source": "Source",
        "time": "Time",
        "risk": "Risk",
        "rebuttal": "Suggested rebuttal",
        "no_rebuttal": "none yet",
        "no_items": "No new flagged items.",
        "growing": "Growing narratives",
        "growing_line": "{current} flagged (previous period: {previous})",
        "no_growing": "No narrative is growing.",
        "assignments": "Assignments due and overdue",
        "overdue": "OVERDUE",
        "due": "due {time}",
        "assigned_to": "assigned to {who}, channel {channel}",
        "no_assignments": "No assignment is due.",
        "sources": "Failing sources",
        "source_line": "{n} failure(s) in a row since {time}: {error}",
        "no_sources": "All sources are healthy.",
        "open": "Open in the app",
        "footer": "Sent automatically by misinfo-monitor to {email} ({role}). Times are in {tz}.",
        "surge_subject": "[misinfo-monitor] Surge alert: {narrative}: {count} flagged in the last {window}",
        "surge_heading": "Surge alert",
        "surge_line": "{count} flagged items in the last {window}, against a usual {baseline} per {window} "
        "({ratio}× the baseline; alert threshold {factor}×).",
        "examples": "Examples",
        "best_rebuttal": "Approved rebuttal",
        "hour": "hour",
        "day": "24 hours",
        "role_analyst": "analyst",
        "role_coordinator": "coordinator",
        "role_approver": "approver",
        "role_admin": "administrator",
        "role_manager": "manager",
    },
    "vi": {
        "subject": "[misinfo-monitor] Bản tin ngày {date}: {n} tin mới bị gắn cờ",
        "heading": "Bản tin hằng ngày",
        "window": "Từ {start} đến {end}",
        "counts": "Từ bản tin trước",
        "new_items": "Tin mới thu thập",
        "new_flagged": "Tin mới bị gắn cờ",
        "linked": "Đã gắn bài phản bác",
        "dismissed": "Đã bỏ qua",
        "escalated": "Chuyển thành luận điệu mới",
        "top": "Tin bị gắn cờ nổi bật",
        "title": "Tiêu đề",
        "source": "Nguồn",
        "time": "Thời gian",
        "risk": "Mức rủi ro",
        "rebuttal": "Bài phản bác đề xuất",
        "no_rebuttal": "chưa có",
        "no_items": "Không có tin mới bị gắn cờ.",
        "growing": "Luận điệu đang gia tăng",
        "growing_line": "{current} tin bị gắn cờ (kỳ trước: {previous})",
        "no_growing": "Không có luận điệu nào đang gia tăng.",
        "assignments": "Phân công đến hạn và quá hạn",
        "overdue": "QUÁ HẠN",
        "due": "hạn {time}",
        "assigned_to": "giao cho {who}, kênh {channel}",
        "no_assignments": "Không có phân công nào đến hạn.",
        "sources": "Nguồn đang lỗi",
        "source_line": "lỗi {n} lần liên tiếp từ {time}: {error}",
        "no_sources": "Tất cả các nguồn hoạt động bình thường.",
        "open": "Mở trong ứng dụng",
        "footer": "Thư gửi tự động từ misinfo-monitor tới {email} ({role}). Giờ theo múi giờ {tz}.",
        "surge_subject": "[misinfo-monitor] Cảnh báo tăng đột biến: {narrative}: {count} tin trong {window} qua",
        "surge_heading": "Cảnh báo tăng đột biến",
        "surge_line": "{count} tin bị gắn cờ trong {window} qua, so với mức thường lệ {baseline} tin mỗi {window} "
        "(gấp {ratio} lần; ngưỡng cảnh báo {factor} lần).",
        "examples": "Ví dụ",
        "best_rebuttal": "Bài phản bác đã duyệt",
        "hour": "1 giờ",
        "day": "24 giờ",
        "role_analyst": "chuyên viên phân tích",
        "role_coordinator": "điều phối viên",
        "role_approver": "người duyệt",
        "role_admin": "quản trị viên",
        "role_manager": "lãnh đạo",
    },
}

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
        self.s = STRINGS[language]

    def t(self, key: str, **values: object) -> str:
        """The string `key`, formatted with `values`."""
        return self.s[key].format(**values) if values else self.s[key]

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
            "line": f.t("growing_line", current=current[n], previous=previous.get(n, 0)),
        }
        for n in growing_ids
    ]
    ctx: dict[str, Any] = {
        "t": f.s,
        "lang": recipient.language,
        "heading": f"{f.t('heading')}: {f.long_day(date.fromisoformat(window.period))}",
        "window": f.t("window", start=f.dt(window.start), end=f.dt(window.end)),
        "counts": [
            (f.t(k), counts[k]) for k in ("new_items", "new_flagged", "linked", "dismissed", "escalated")
        ],
        "items": items,
        "growing": growing,
        "coordinator": recipient.role in COORDINATOR_ROLES,
        "assignments": [],
        "sources": [],
        "app_link": cfg.web.base_url.rstrip("/") + "/",
        "footer": f.t(
            "footer", email=recipient.email, role=f.t("role_" + recipient.role), tz=cfg.digest.timezone
        ),
    }
    if ctx["coordinator"]:
        # Relative to the window's end (the send time), so a re-rendered message says what it said then.
        horizon = to_db_time(end + timedelta(days=1))
        now = window.end
        for a in store.open_assignments(db, horizon):
            what = a["item_title"] or a["narrative"] or ""
            ctx["assignments"].append(
                {
                    "overdue": str(a["due_at"]) < now,
                    "due": f.t("due", time=f.dt(a["due_at"])),
                    "what": one_line(f"{a['rebuttal_title']}: {what}" if what else a["rebuttal_title"], 200),
                    "who": f.t(
                        "assigned_to", who=one_line(a["assignee"], 60), channel=one_line(a["channel"], 40)
                    ),
                }
            )
        ctx["sources"] = [
            {
                "name": one_line(s["name"], 80),
                "line": f.t(
                    "source_line",
                    n=s["consecutive_failures"],
                    time=f.dt(s["last_error_at"]) or "?",
                    error=one_line(s["last_error"], 200),
                ),
            }
            for s in store.failing_sources(db)
        ]
    ctx["subject"] = f.t("subject", date=f.day(date.fromisoformat(window.period)), n=counts["new_flagged"])
    return ctx


def render(name: str, ctx: dict[str, Any]) -> tuple[str, str]:
    """(text, html) from `<name>.txt` and `<name>.html`."""
    return env().get_template(f"{name}.txt").render(**ctx), env().get_template(f"{name}.html").render(**ctx)


def surge_context(
    cfg: Config, db: sqlite_utils.Database, recipient: Recipient, surge: dict[str, Any]
) -> dict[str, Any]:
    """Everything a surge alert shows: narrative, volume vs baseline, examples, the approved rebuttal."""
    f = Formatter(recipient.language, cfg.digest.timezone)
    window = f.t(surge["window"])
    name = one_line(surge["name"], 160)
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
        "t": f.s,
        "lang": recipient.language,
        "subject": f.t("surge_subject", narrative=name, count=surge["count"], window=window),
        "heading": f"{f.t('surge_heading')}: {name}",
        "line": f.t(
            "surge_line",
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
        "app_link": cfg.web.base_url.rstrip("/") + "/",
        "footer": f.t(
            "footer", email=recipient.email, role=f.t("role_" + recipient.role), tz=cfg.digest.timezone
        ),
    }
