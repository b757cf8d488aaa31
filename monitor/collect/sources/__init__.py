"""Connectors, one module per source kind, registered by kind."""

from __future__ import annotations

from monitor.collect.sources.base import Connector, SourceRun
from monitor.collect.sources.bluesky import BlueskyConnector
from monitor.collect.sources.mastodon import MastodonConnector
from monitor.collect.sources.press import PressConnector
from monitor.collect.sources.reddit import RedditConnector
from monitor.collect.sources.rss import RssConnector
from monitor.collect.sources.telegram import TelegramConnector
from monitor.collect.sources.youtube import YoutubeConnector

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
