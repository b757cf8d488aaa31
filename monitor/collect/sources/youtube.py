"""YouTube channel/playlist Atom feeds (feeds/videos.xml): yt:videoId, media:group/media:description."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.collect.sources.base import SourceRun
from monitor.collect.sources.rss import FEED_ACCEPT, feed_items, parse_feed
from monitor.store.items import NewItem


class YoutubeConnector:
    """Video titles and descriptions from public channel or playlist feeds (feedparser maps
    media:description to the entry summary; the video id is the stable external id)."""

    kind = "youtube"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        res = run.fetch_main(accept=FEED_ACCEPT)
        if res is None:
            return
        parsed = parse_feed(res)
        for entry in parsed.entries:
            if entry.get("yt_videoid"):
                entry["id"] = f"yt:video:{entry['yt_videoid']}"
        yield from feed_items(run, res, parsed)
