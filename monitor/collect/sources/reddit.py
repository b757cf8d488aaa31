"""Reddit listings as JSON (subreddit /new.json or search.json): data.children[].data."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

from monitor.collect.sources.base import SourceRun, evidence_of, make_item
from monitor.collect.sources.social import load_json
from monitor.errors import FetchError
from monitor.store.items import NewItem

REDDIT = "https://www.reddit.com"


class RedditConnector:
    """Public subreddit or search listings (no login)."""

    kind = "reddit"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        res = run.fetch_main(accept="application/json")
        if res is None:
            return
        data = load_json(res)
        children = data.get("data", {}).get("children") if isinstance(data, dict) else None
        if not isinstance(children, list):
            raise FetchError(
                f"{res.final_url}: expected a Reddit Listing (data.children) — use a .json listing URL"
            )
        ev = evidence_of(res, kind="api")
        for index, child in enumerate(children):
            post = child.get("data") if isinstance(child, dict) else None
            if not isinstance(post, dict):
                run.note(f"listing entry {index + 1} has no data; skipped")
                continue
            title = (post.get("title") or "").strip()
            text = (post.get("selftext") or post.get("body") or "").strip()
            linked = post.get("url_overridden_by_dest") or ""
            if linked and linked not in text:
                text = f"{text}\n{linked}".strip()
            if not title and not text:
                continue
            permalink = post.get("permalink")
            yield make_item(
                run,
                title=title or text[:120],
                text=text,
                url=urljoin(REDDIT, permalink) if permalink else None,
                external_id=post.get("name") or post.get("id"),
                author=post.get("author"),
                published=post.get("created_utc"),
                fetched_at=res.fetched_at,
                evidence=[ev],
            )
