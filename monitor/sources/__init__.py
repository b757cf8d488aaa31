"""Connectors, one module per source kind, registered by kind."""

from __future__ import annotations

from monitor.sources.base import Connector, SourceRun
from monitor.sources.bluesky import BlueskyConnector
from monitor.sources.mastodon import MastodonConnector
from monitor.sources.press import PressConnector
from monitor.sources.reddit import RedditConnector
from monitor.sources.rss import RssConnector
from monitor.sources.telegram import TelegramConnector
from monitor.sources.youtube import YoutubeConnector

REGISTRY: dict[str, Connector] = {
    "rss": RssConnector(),
    "press": PressConnector(),
    "mastodon": MastodonConnector(),
    "bluesky": BlueskyConnector(),
    "reddit": RedditConnector(),
    "telegram": TelegramConnector(),
    "youtube": YoutubeConnector(),
}

__all__ = ["REGISTRY", "Connector", "SourceRun"]
