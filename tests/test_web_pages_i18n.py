"""Every interface string of the pages and e-mails has a Vietnamese text, in the one catalogue system."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from monitor import i18n
from monitor.i18n import LOCALES_DIR, load_catalogues

MONITOR = Path(__file__).resolve().parent.parent / "monitor"
WEB = MONITOR / "web"
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
    assert not missing, f"add these to monitor/locales/vi/LC_MESSAGES/pages.po: {missing}"


def test_placeholders_survive_translation() -> None:
    for lang, po in ((lang, po) for lang in ("vi", "en") for po in ("pages.po", "email.po")):
        with (LOCALES_DIR / lang / "LC_MESSAGES" / po).open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for message in catalog:
            if message.id and message.string:
                names = sorted(re.findall(r"%\(\w+\)s", str(message.string)))
                assert sorted(re.findall(r"%\(\w+\)s", str(message.id))) == names, (lang, message.id)


# The e-mails: _("...") in the notify templates, f.t("...") (and its multi-line form) in notify/content.py,
# and the words looked up through COUNT_LABELS / ROLE_LABELS / WINDOW_NAMES.
NOTIFY = MONITOR / "notify"
EMAIL_MSGID = re.compile(r"""(?:\b_|\bf\.t)\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")


def email_msgids() -> set[str]:
    from monitor.notify.content import COUNT_LABELS, ROLE_LABELS, WINDOW_NAMES

    files = [*sorted((NOTIFY / "templates").glob("*")), NOTIFY / "content.py"]
    ids = {m.group(1)[1:-1] for path in files for m in EMAIL_MSGID.finditer(path.read_text(encoding="utf-8"))}
    return ids | {*COUNT_LABELS.values(), *ROLE_LABELS.values(), *WINDOW_NAMES.values()}


def test_every_email_string_is_in_both_catalogues() -> None:
    ids = email_msgids()
    catalogues = load_catalogues()
    in_catalogue = {k.split("\x04", 1)[1] for k in catalogues["vi"] if k.startswith("email\x04")}
    assert ids == in_catalogue, (sorted(ids - in_catalogue), sorted(in_catalogue - ids))  # none unused either
    for lang in ("vi", "en"):
        missing = sorted(i for i in ids if i18n.key(i, "email") not in catalogues[lang])
        assert not missing, (
            f"add these to monitor/locales/{lang}/LC_MESSAGES/email.po (msgctxt email): {missing}"
        )


def test_email_and_page_words_do_not_collide() -> None:
    """The same English word may read differently in a message and on a page: the context keeps both."""
    vi = load_catalogues()["vi"]
    assert vi["Risk"] == "Rủi ro" and vi[i18n.key("Risk", "email")] == "Mức rủi ro"
    assert vi["manager"] == "quản lý" and vi[i18n.key("manager", "email")] == "lãnh đạo"
    assert i18n.translate("vi", "Risk", context="email") == "Mức rủi ro"
    assert i18n.translate("en", "due %(time)s", context="email", time="10:00") == "due 10:00"
    assert i18n.translator("vi", "email")("hour") == "1 giờ"


def test_notify_reads_the_shared_catalogues_not_the_web_package() -> None:
    """notify imports monitor.i18n, never monitor.web (the web app depends on notify, not the reverse)."""
    for path in NOTIFY.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "monitor.web" not in text and "from monitor.web" not in text, path
    assert "STRINGS" not in (NOTIFY / "content.py").read_text(encoding="utf-8")
