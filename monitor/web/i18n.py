"""Interface translations: gettext .po catalogues read with Babel at start (no compile step).

Every .po file under locales/<lang>/LC_MESSAGES/ is merged into that language's catalogue, so each
feature area ships its own file (core.po, library.po, ...). Message ids are the English text; a
missing translation falls back to the English id.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("vi", "en")
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
LOCALES_DIR = Path(__file__).resolve().parent / "locales"

log = logging.getLogger(__name__)
_catalogues: dict[str, dict[str, str]] = {}


def load_catalogues(locales_dir: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Read every .po file of every language; return {lang: {msgid: msgstr}}."""
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
                out[lang][str(msgid)] = str(text)
    return out


def reload() -> None:
    """(Re)load all catalogues; called once when the app is created."""
    global _catalogues
    _catalogues = load_catalogues()
    log.debug("loaded translations: %s", {k: len(v) for k, v in _catalogues.items()})


def translate(lang: str, msgid: str, **values: Any) -> str:
    """The translation of `msgid` in `lang` (English id when missing); `%(name)s` filled from values."""
    if not _catalogues:
        reload()
    text = _catalogues.get(lang, {}).get(msgid, msgid)
    if values:
        try:
            return text % values
        except (KeyError, ValueError, TypeError):
            return msgid % values
    return text


def translator(lang: str) -> Any:
    """A `_` function bound to one language, for templates."""

    def _(msgid: str, **values: Any) -> str:
        return translate(lang, msgid, **values)

    return _


def normalise(lang: str | None, default: str = "vi") -> str:
    """A supported language code, or the default."""
    return lang if lang in LANGUAGES else default
