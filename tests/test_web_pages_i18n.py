"""Every interface string of the library, assignments, reports, audit and digest pages has a Vietnamese text."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from monitor.web.i18n import load_catalogues

WEB = Path(__file__).resolve().parent.parent / "monitor" / "web"
FILES = [
    *sorted((WEB / "templates").glob("library_*.html")),
    *sorted((WEB / "templates").glob("assignments_*.html")),
    WEB / "templates" / "reports.html",
    WEB / "templates" / "audit.html",
    WEB / "templates" / "digest_preview.html",
    WEB / "routes_library.py",
    WEB / "routes_assignments.py",
    WEB / "routes_reports.py",
]
# _("..."), _('...'), and the routes' _t(lang|request, "...") helpers.
MSGID = re.compile(r"""(?:\b_|\b_t)\(\s*(?:lang,\s*|request,\s*)?("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
# Values shown through _(value): statuses, channels, report columns and measures.
DYNAMIC = [
    "draft",
    "approved",
    "retired",
    "assigned",
    "in_progress",
    "published",
    "cancelled",
    "website",
    "fanpage",
    "press_release",
    "newsletter",
    "social",
    "broadcast",
    "other",
    "first_seen_to_linked",
    "first_seen_to_published",
    "median_hours",
    "p90_hours",
    "hours_overdue",
    "Volumes per day",
    "By source",
    "By language",
    "By narrative",
    "Response times",
    "Overdue work",
]


def test_every_page_string_has_a_vietnamese_translation() -> None:
    vi = load_catalogues()["vi"]
    ids = {m.group(1)[1:-1] for path in FILES for m in MSGID.finditer(path.read_text(encoding="utf-8"))}
    assert len(ids) > 100
    missing = sorted(i for i in ids | set(DYNAMIC) if i not in vi)
    assert not missing, f"add these to monitor/web/locales/vi/LC_MESSAGES/pages.po: {missing}"


def test_placeholders_survive_translation() -> None:
    for lang in ("vi", "en"):
        with (WEB / "locales" / lang / "LC_MESSAGES" / "pages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for message in catalog:
            if message.id and message.string:
                names = sorted(re.findall(r"%\(\w+\)s", str(message.string)))
                assert sorted(re.findall(r"%\(\w+\)s", str(message.id))) == names, (lang, message.id)
