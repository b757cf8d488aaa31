"""Public Telegram channels through the web preview t.me/s/NAME (.tgme_widget_message blocks)."""

from __future__ import annotations

from collections.abc import Iterator

import lxml.html
from lxml import etree

from monitor.collect.normalize import html_to_text
from monitor.collect.sources.base import SourceRun, evidence_of, make_item
from monitor.collect.sources.social import title_from
from monitor.errors import FetchError
from monitor.store.items import NewItem

MESSAGE = '//div[contains(concat(" ", normalize-space(@class), " "), " tgme_widget_message ")][@data-post]'


def _first(node: lxml.html.HtmlElement, xpath: str) -> lxml.html.HtmlElement | None:
    found = node.xpath(xpath)
    return found[0] if found else None


class TelegramConnector:
    """Public channel previews; no API key, no login."""

    kind = "telegram"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        res = run.fetch_main(accept="text/html")
        if res is None:
            return
        if not res.body.strip():
            raise FetchError(f"{res.final_url}: empty response body — expected the t.me/s/NAME page")
        try:
            doc = lxml.html.document_fromstring(res.body)
        except (etree.ParserError, ValueError) as exc:
            raise FetchError(f"{res.final_url}: the page is not HTML ({exc})") from None
        messages = doc.xpath(MESSAGE)
        if not messages and not doc.xpath('//*[contains(@class, "tgme_channel_info")]'):
            raise FetchError(
                f"{res.final_url}: no channel messages found — use the public preview URL https://t.me/s/NAME"
            )
        ev = evidence_of(res, kind="page")
        for msg in messages:
            post = msg.get("data-post") or ""
            body = _first(msg, './/div[contains(@class, "tgme_widget_message_text")]')
            text = html_to_text(lxml.html.tostring(body, encoding="unicode")) if body is not None else ""
            if not text:
                continue  # photo/sticker-only posts carry nothing to read
            when = _first(msg, './/a[contains(@class, "tgme_widget_message_date")]//time')
            owner = _first(msg, './/*[contains(@class, "tgme_widget_message_owner_name")]')
            yield make_item(
                run,
                title=title_from(text),
                text=text,
                url=f"https://t.me/{post}" if post else None,
                external_id=post or None,
                author=owner.text_content().strip() if owner is not None else post.split("/")[0] or None,
                published=when.get("datetime") if when is not None else None,
                fetched_at=res.fetched_at,
                evidence=[ev],
            )
