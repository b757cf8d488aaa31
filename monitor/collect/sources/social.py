"""Helpers the social connectors share: JSON bodies with clear errors, short titles from post text."""

from __future__ import annotations

import json
from typing import Any

from monitor.collect.fetch import FetchResult
from monitor.errors import FetchError


def load_json(res: FetchResult) -> Any:
    """The JSON document of a response; FetchError naming what came back instead."""
    if not res.body.strip():
        raise FetchError(f"{res.final_url}: empty response body (HTTP {res.status}) — expected JSON")
    try:
        return json.loads(res.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        kind = res.content_type or "no content type"
        raise FetchError(f"{res.final_url}: expected JSON, got {kind} that does not parse ({exc})") from None


def title_from(text: str, limit: int = 120) -> str:
    """First line of a post, cut at a word boundary (posts have no titles)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut + "…"
