"""What every connector shares: the run context it reads and writes, and the item normaliser."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from monitor.collect.fetch import Fetcher, FetchResult
from monitor.collect.normalize import canonical_url, detect_lang, parse_time, simhash
from monitor.config import Config
from monitor.store.items import Evidence, NewItem

MAX_TITLE = 500
# items.simhash is informational only (clusters come from MinHash bands, store/collect.py); off by
# default because it doubles the shingling cost per item.
FINGERPRINT = False
MAX_TEXT = 200_000  # characters kept per item; the evidence copy keeps the whole body


@dataclass
class SourceRun:
    """One collection pass of one source: inputs (config, validators) and what the connector reports back."""

    cfg: Config
    source: Any  # a SourceConfig model
    source_id: int
    fetcher: Fetcher
    etag: str | None = None
    last_modified: str | None = None
    db: Any = None  # the store, for connectors that skip what they already have (press)
    # Filled in by the connector:
    http_status: int | None = None
    nbytes: int = 0
    not_modified: bool = False
    new_etag: str | None = None
    new_last_modified: str | None = None
    notes: list[str] = field(default_factory=list)

    def fetch_main(self, url: str | None = None, accept: str | None = None) -> FetchResult | None:
        """Conditional GET of the source's endpoint; None (and not_modified) on 304."""
        res = self.fetcher.get(
            url or self.source.url, etag=self.etag, last_modified=self.last_modified, accept=accept
        )
        self.http_status = res.status
        self.nbytes += res.raw_bytes
        if res.not_modified:
            self.not_modified = True
            self.new_etag, self.new_last_modified = self.etag, self.last_modified
            return None
        self.new_etag, self.new_last_modified = res.etag, res.last_modified
        return res

    def note(self, message: str) -> None:
        """A non-fatal problem worth showing (kept in fetch_log.error of a successful run)."""
        if message not in self.notes and len(self.notes) < 20:
            self.notes.append(message)


class Connector(Protocol):
    """A source kind: turns one pass over a source into normalised items."""

    kind: str

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        """Fetch the source and yield items; raise FetchError (or MonitorError) when the source fails."""
        ...


def evidence_of(res: FetchResult, kind: str = "feed") -> Evidence:
    """The evidence record of a fetch."""
    return Evidence(
        body=res.body,
        final_url=res.final_url,
        http_status=res.status,
        content_type=res.content_type,
        fetched_at=res.fetched_at,
        kind=kind,
    )


def make_item(
    run: SourceRun,
    *,
    title: str,
    text: str,
    url: str | None,
    external_id: str | None,
    author: str | None,
    published: Any,
    fetched_at: str | None,
    evidence: list[Evidence],
    lang: str | None = None,
    html: str | None = None,
    notes: list[str] | None = None,
    default_tz: Any = None,
    images: list[str] | None = None,
) -> NewItem:
    """Normalise a connector's raw fields into a NewItem (canonical URL, UTC times, language, simhash)."""
    title = " ".join((title or "").split())[:MAX_TITLE]
    text = (text or "").strip()[:MAX_TEXT]
    if default_tz is None:
        default_tz = ZoneInfo(run.source.timezone)  # every source kind has one (config.TimeZone)
    published_at, date_note = parse_time(published, default_tz)
    all_notes = [n for n in [*(notes or []), date_note] if n]
    for n in all_notes:
        run.note(n)
    body = f"{title}\n{text}".strip()
    if not external_id and not url:
        # No id and no link: the content itself identifies the entry (stable across passes).
        external_id = "sha1:" + hashlib.sha1(body.encode("utf-8")).hexdigest()
    return NewItem(
        title=title,
        text=text,
        source_id=run.source_id,
        url=url,
        canonical_url=canonical_url(url),
        external_id=(external_id or None) and str(external_id)[:500],
        author=(author or None) and " ".join(str(author).split())[:200],
        published_at=published_at,
        fetched_at=fetched_at,
        # The text decides; a declared language (feed, platform) only fills in for texts too short to tell.
        lang=detect_lang(body) or (lang.split("-")[0].lower() if lang else None),
        html=html,
        extraction_note="; ".join(all_notes) or None,
        simhash=simhash(body) if FINGERPRINT else None,
        evidence=evidence,
        images=[u for u in (images or []) if isinstance(u, str) and u.startswith(("http://", "https://"))],
    )
