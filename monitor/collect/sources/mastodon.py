"""Mastodon public API: hashtag timelines (/api/v1/timelines/tag/X) and account statuses (/api/v1/accounts/ID/statuses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monitor.collect.normalize import html_to_text
from monitor.collect.sources.base import SourceRun, evidence_of, make_item
from monitor.collect.sources.social import load_json, title_from
from monitor.errors import FetchError
from monitor.store.items import NewItem


class MastodonConnector:
    """Public Mastodon timelines (no login): statuses' HTML content becomes plain text."""

    kind = "mastodon"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        res = run.fetch_main(accept="application/json")
        if res is None:
            return
        data = load_json(res)
        if isinstance(data, dict) and data.get("error"):
            raise FetchError(f"{res.final_url}: the server answered an error: {str(data['error'])[:200]}")
        if not isinstance(data, list):
            raise FetchError(f"{res.final_url}: expected a list of statuses (a /api/v1/... timeline URL)")
        ev = evidence_of(res, kind="api")
        for index, status in enumerate(data):
            if not isinstance(status, dict):
                run.note(f"status {index + 1} is not an object; skipped")
                continue
            # A boost carries the original post in `reblog`: the original is what was said, and by whom.
            reblog = status.get("reblog")
            post: dict[str, Any] = reblog if isinstance(reblog, dict) else status
            text = html_to_text(post.get("content") or "")
            spoiler = (post.get("spoiler_text") or "").strip()
            if spoiler:
                text = f"{spoiler}\n{text}"
            if not text:
                run.note(f"status {post.get('id')} has no text; skipped")
                continue
            account = post.get("account") or {}
            yield make_item(
                run,
                title=title_from(text),
                text=text,
                url=post.get("url") or post.get("uri"),
                external_id=post.get("uri") or post.get("id"),
                author=account.get("acct") or account.get("username"),
                published=post.get("created_at"),
                fetched_at=res.fetched_at,
                evidence=[ev],
                lang=post.get("language"),
                images=[
                    str(m.get("url"))
                    for m in post.get("media_attachments") or []
                    if isinstance(m, dict) and m.get("type") == "image" and m.get("url")
                ],
            )
