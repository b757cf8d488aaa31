"""Bluesky public author feeds: app.bsky.feed.getAuthorFeed (feed[].post.record.text, uri, author.handle)."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.collect.sources.base import SourceRun, evidence_of, make_item
from monitor.collect.sources.social import load_json, title_from
from monitor.errors import FetchError
from monitor.store.items import NewItem


def post_url(uri: str, handle: str | None) -> str | None:
    """at://did/app.bsky.feed.post/RKEY -> https://bsky.app/profile/HANDLE/post/RKEY."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    return f"https://bsky.app/profile/{handle or parts[0]}/post/{parts[2]}"


class BlueskyConnector:
    """Public author feeds from the Bluesky AppView (no login)."""

    kind = "bluesky"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        res = run.fetch_main(accept="application/json")
        if res is None:
            return
        data = load_json(res)
        if not isinstance(data, dict) or not isinstance(data.get("feed"), list):
            message = data.get("message") if isinstance(data, dict) else None
            raise FetchError(
                f"{res.final_url}: expected an app.bsky.feed.getAuthorFeed answer with 'feed'"
                + (f" (server said: {str(message)[:200]})" if message else "")
            )
        ev = evidence_of(res, kind="api")
        for index, entry in enumerate(data["feed"]):
            post = entry.get("post") if isinstance(entry, dict) else None
            if not isinstance(post, dict):
                run.note(f"feed entry {index + 1} has no post; skipped")
                continue
            record = post.get("record") or {}
            text = (record.get("text") or "").strip()
            external = ((record.get("embed") or {}).get("external") or {}) if isinstance(record, dict) else {}
            if external.get("title") or external.get("description"):
                text = "\n".join(t for t in (text, external.get("title"), external.get("description")) if t)
            if not text:
                run.note(f"post {post.get('uri')} has no text; skipped")
                continue
            author = post.get("author") or {}
            uri = str(post.get("uri") or "")
            langs = record.get("langs") or []
            yield make_item(
                run,
                title=title_from(text),
                text=text,
                url=post_url(uri, author.get("handle")) if uri else None,
                external_id=uri or post.get("cid"),
                author=author.get("handle"),
                published=record.get("createdAt") or post.get("indexedAt"),
                fetched_at=res.fetched_at,
                evidence=[ev],
                lang=langs[0] if langs else None,
            )
