"""Translations for pages and e-mails: gettext .po catalogues read with Babel at start (no compile step).

One system for the whole application: the web app (monitor.web) and the e-mails (monitor.notify) both
read the catalogues under monitor/locales/<lang>/LC_MESSAGES/. Every .po file there is merged into that
language's catalogue, so each area ships its own file (core.po and pages.po for the web interface,
email.po for the digest and surge alerts). Message ids are the English text; a missing translation falls
back to the English id. Placeholders are `%(name)s`. Messages with a `msgctxt` (the e-mails use "email",
where a word reads differently in a message than on a page) are looked up with `context=`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("vi", "en")
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
CONTEXT_SEPARATOR = "\x04"  # gettext's own key for a message with a context: "<context>\x04<msgid>"

log = logging.getLogger(__name__)
_catalogues: dict[str, dict[str, str]] = {}


def key(msgid: str, context: str | None = None) -> str:
    """The catalogue key of `msgid` (in `context`, when given)."""
    return f"{context}{CONTEXT_SEPARATOR}{msgid}" if context else msgid


def load_catalogues(locales_dir: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Read every .po file of every language; return {lang: {key: msgstr}} (key: see `key`)."""
    out: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for lang in LANGUAGES:
        folder = locales_dir / lang / "LC_MESSAGES"
        for po in sorted(folder.glob("*.po")) if folder.is_dir() else []:
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
            for message in catalog:
                if not message.id or not message.string or message.fuzzy:
                    continue
                # Plural entries: keep the singular pair.
                msgid = message.id[0] if isinstance(message.id, list | tuple) else message.id
                text = message.string[0] if isinstance(message.string, list | tuple) else message.string
                out[lang][key(str(msgid), message.context)] = str(text)
    return out


def reload() -> None:
    """(Re)load all catalogues; called once when the app is created (and on first use elsewhere)."""
    global _catalogues
    _catalogues = load_catalogues()
    log.debug("loaded translations: %s", {k: len(v) for k, v in _catalogues.items()})


def translate(lang: str, msgid: str, *, context: str | None = None, **values: Any) -> str:
    """The translation of `msgid` in `lang` (English id when missing); `%(name)s` filled from values."""
    if not _catalogues:
        reload()
    text = _catalogues.get(lang, {}).get(key(msgid, context), msgid)
    if values:
        try:
            return text % values
        except (KeyError, ValueError, TypeError):
            return msgid % values
    return text


def translator(lang: str, context: str | None = None) -> Any:
    """A `_` function bound to one language (and message context), for templates."""

    def _(msgid: str, **values: Any) -> str:
        return translate(lang, msgid, context=context, **values)

    return _


def normalise(lang: str | None, default: str = "vi") -> str:
    """A supported language code, or the default."""
    return lang if lang in LANGUAGES else default
