"""The collect stage: run each enabled source's connector and store its items, one source never stopping another."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from monitor.collect.cluster import BatchClusters, Prepared, assign_cluster, prepare, prepare_many
from monitor.collect.fetch import Fetcher, stopping
from monitor.collect.images import read_item_images
from monitor.collect.sources import REGISTRY
from monitor.collect.sources.base import SourceRun
from monitor.config import Config
from monitor.errors import MonitorError, NotFound
from monitor.intake.ocr import OcrResult
from monitor.store import collect as store
from monitor.store import submissions as ocr_store
from monitor.store.db import utcnow, write
from monitor.store.items import (
    ItemIds,
    NewItem,
    NewRows,
    add_image_evidence,
    add_item,
    lock_item_keys,
    pack_blobs,
)
from monitor.store.sources import sync_sources

log = logging.getLogger(__name__)

LEASE_TTL = 3600.0  # a lease outlives any sane pass; a dead owner on this host is detected at once
# Entries are stored in batches of one transaction each: at most BATCH_ITEMS entries, and a batch is
# written once its first entry has waited BATCH_SECONDS (so a slow source's items still land promptly).
BATCH_ITEMS = 200
BATCH_SECONDS = 0.5

# progress(event, source_name, detail): "start", "item", "done"; the CLI draws a bar from it.
ProgressFn = Callable[[str, str, dict[str, Any]], None]


@dataclass
class SourceResult:
    """What one pass over one source did."""

    name: str
    kind: str
    status: str = "ok"  # ok | not_modified | error | skipped
    new: int = 0
    seen: int = 0
    bytes: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)


@dataclass
class CollectReport:
    """Per-source results of a collection run."""

    sources: list[SourceResult] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def seen(self) -> int:
        return sum(s.seen for s in self.sources)

    @property
    def failed(self) -> list[SourceResult]:
        return [s for s in self.sources if s.status == "error"]

    @property
    def new_ids(self) -> list[int]:
        return [i for s in self.sources for i in s.new_ids]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "new": self.new,
            "seen": self.seen,
            "sources": [{k: v for k, v in vars(s).items() if k != "new_ids"} for s in self.sources],
        }


def store_item(
    db: sqlite_utils.Database,
    item: NewItem,
    ocr: list[OcrResult] | None = None,
    prepared: Prepared | None = None,
) -> tuple[int, bool]:
    """Store one item with its cluster (and the text read from its images) in one transaction: a kill
    between items loses nothing, doubles nothing."""
    item_id, created, _ = _store_one(db, item, ocr, prepared)
    return item_id, created


def _store_one(
    db: sqlite_utils.Database, item: NewItem, ocr: list[OcrResult] | None, prepared: Prepared | None
) -> tuple[int, bool, int | None]:
    """store_item, also returning the new item's cluster (None when it was already known)."""
    assert item.source_id is not None
    prepared = prepared or prepare(item.title, item.text)
    with write(db):
        known = store.seen_in_source(
            db, item.source_id, item.external_id, item.canonical_url, item.content_hash
        )
        if known is not None:
            return known, False, None
        item_id, created = add_item(db, item, folded=(prepared.folded_title, prepared.folded_text))
        cluster = None
        if created:
            cluster = assign_cluster(db, item_id, f"{item.title}\n{item.text}", prepared)
        for result in ocr or []:
            store_ocr(db, item_id, result)
        return item_id, created, cluster


def store_batch(
    db: sqlite_utils.Database, source_id: int, entries: list[tuple[NewItem, list[OcrResult]]]
) -> list[tuple[int, bool]]:
    """Store a batch of one source's items in ONE write transaction; (item_id, created) per entry, in order.

    Same outcome as store_item on each entry in turn (dedup, sightings, clusters, evidence), but the
    store is asked once per batch which of the batch's ids, URLs and content hashes it already holds;
    an entry none of whose keys it holds (nor an earlier entry of the batch) is new for certain and is
    written with the batch's other new items in one executemany per table. Any other entry (a possible
    duplicate, or one with OCR results) goes through store_item's exact path. All or nothing: an error
    rolls the whole batch back, and what earlier batches committed stays."""
    # The CPU work is done before the write transaction, so other writers wait less for the store's lock.
    prepared = prepare_many([(item.title, item.text) for item, _ in entries])
    ext_ids = {item.external_id for item, _ in entries if item.external_id}
    urls = {item.canonical_url for item, _ in entries if item.canonical_url}
    hashes = {item.content_hash for item, _ in entries}
    packed = pack_blobs([ev.body for item, ocr in entries if not ocr for ev in item.evidence])
    out: list[tuple[int, bool]] = []
    # On PostgreSQL the batch does not take the store-wide write lock: it locks its items' dedup keys, so
    # batches of different sources are written at once and two that carry the same item go one after the
    # other (the second finds the first's row); new ids come from the items sequence (ItemIds).
    with write(db, exclusive=False):
        lock_item_keys(db, [item for item, _ in entries])
        known = store.known_keys(db, source_id, ext_ids, urls, hashes)
        clusters = BatchClusters(db, prepared)
        rows = NewRows(packed=packed, count_at_end=True)
        bands: list[tuple[int, int, int]] = []
        ids = ItemIds(db, reserve=len(entries))
        for (item, ocr), prep in zip(entries, prepared, strict=True):
            if item.source_id != source_id:
                raise ValueError(f"item of source {item.source_id} in a batch of source {source_id}")
            maybe_known = (
                (
                    item.external_id is not None
                    and (item.external_id in known.sighting_ids or item.external_id in known.item_ids)
                )
                or (item.canonical_url is not None and item.canonical_url in known.urls)
                or item.content_hash in known.hashes
            )
            if ocr or maybe_known:
                rows.write(db)  # the exact path reads the store: everything before it must be there
                store.save_bands(db, bands)
                bands.clear()
                item_id, created, cluster = _store_one(db, item, ocr, prep)
                if created and cluster is not None:
                    clusters.added(item_id, prep, cluster)
                ids.used(item_id)
            else:
                item_id, created = ids.take(), True
                cluster = clusters.choose(item_id, prep)
                rows.add(item, item_id, cluster, prep.folded_title, prep.folded_text)
                bands.extend((band, value, item_id) for band, value in enumerate(prep.bands or []))
                clusters.added(item_id, prep, cluster)
            if item.external_id:
                known.sighting_ids.add(item.external_id)
                known.item_ids.add(item.external_id)
            if item.canonical_url:
                known.urls.add(item.canonical_url)
            known.hashes.add(item.content_hash)
            out.append((item_id, created))
        rows.write(db)
        store.save_bands(db, bands)
        rows.count_written(db)  # last: every writer updates these rows
    return out


def store_ocr(db: sqlite_utils.Database, item_id: int, result: OcrResult) -> None:
    """Keep an image (as evidence) and the text read from it beside the item's text."""
    img = result.image
    add_image_evidence(db, item_id, img.data, img.content_type)
    ocr_store.add_ocr(
        db,
        item_id,
        img.sha256,
        result.text,
        lang=result.lang,
        content_type=img.content_type,
        width=img.width,
        height=img.height,
    )


def due(row: dict[str, Any]) -> bool:
    """Whether a source is out of its failure back-off."""
    after = row.get("next_attempt_after")
    return not after or str(after) <= utcnow()


def collect_source(
    cfg: Config,
    db: sqlite_utils.Database,
    src: Any,
    source_id: int,
    fetcher: Fetcher,
    progress: ProgressFn | None,
) -> SourceResult:
    """One pass over one source. Errors end up on the source's row, never raised."""
    result = SourceResult(name=src.name, kind=src.kind)
    connector = REGISTRY.get(src.kind)
    state = store.source_state(db, source_id)
    run = SourceRun(
        cfg=cfg,
        source=src,
        source_id=source_id,
        fetcher=fetcher,
        etag=state.get("etag"),
        last_modified=state.get("last_modified"),
        db=db,
    )
    log_id = store.start_fetch(db, source_id)
    if progress:
        progress("start", src.name, {})
    # One deadline for the whole pass (every fetch, every retry); a press crawl has its own crawl_timeout.
    fetcher.set_deadline(None if src.kind == "press" else cfg.collect.source_timeout)
    pending: list[tuple[NewItem, list[OcrResult]]] = []
    oldest = 0.0  # when the first entry of `pending` arrived

    def flush() -> None:
        """Store the pending entries as one batch (one transaction); count them once committed."""
        if not pending:
            return
        batch = pending[:]
        pending.clear()  # a batch that fails is not retried: the next pass fetches it again
        for item_id, created in store_batch(db, source_id, batch):
            if created:
                result.new += 1
                result.new_ids.append(item_id)
            else:
                result.seen += 1
            if progress:
                progress("item", src.name, {"created": created})

    try:
        if connector is None:
            raise MonitorError(f"no connector for kind '{src.kind}'")
        for item in connector.items(run):
            if src.kind != "press":
                fetcher.check_deadline(src.url)
            ocr: list[OcrResult] = []
            if getattr(src, "ocr", False) and item.images:
                flush()  # whether it is already stored must take every earlier entry into account
                if not store.seen_in_source(
                    db, source_id, item.external_id, item.canonical_url, item.content_hash
                ):
                    ocr = read_item_images(run, item)
            if not pending:
                oldest = time.monotonic()
            pending.append((item, ocr))
            # A fast feed is stored in batches; a slow source (articles, crawls) at least every BATCH_SECONDS.
            if len(pending) >= BATCH_ITEMS or time.monotonic() - oldest >= BATCH_SECONDS:
                flush()
        flush()
    except MonitorError as exc:
        result.status, result.error = "error", str(exc)
    except Exception as exc:  # a connector bug must not stop the other sources
        log.exception("source %s failed", src.name)
        result.status, result.error = "error", f"unexpected {type(exc).__name__}: {exc}"
    finally:
        fetcher.set_deadline(None)
    if pending:  # entries read before the connector failed (a deadline, a stop) are kept
        try:
            flush()
        except Exception as exc:
            log.exception("source %s: storing its last entries failed", src.name)
            result.error = f"{result.error}; storing its last entries failed: {type(exc).__name__}: {exc}"
    result.bytes, result.notes = run.nbytes, list(run.notes)
    if result.status == "error":
        next_at = store.finish_error(
            db,
            log_id,
            source_id,
            error=result.error or "failed",
            interval=src.interval,
            nbytes=run.nbytes,
            items_new=result.new,
            items_seen=result.seen,
        )
        log.warning("source %s failed (next attempt after %s): %s", src.name, next_at, result.error)
    else:
        result.status = "not_modified" if run.not_modified else "ok"
        store.finish_ok(
            db,
            log_id,
            source_id,
            status=result.status,
            http_status=run.http_status,
            nbytes=run.nbytes,
            items_new=result.new,
            items_seen=result.seen,
            note="; ".join(run.notes) or None,
            etag=run.new_etag,
            last_modified=run.new_last_modified,
        )
    if progress:
        progress("done", src.name, {"result": result})
    return result


def run_collect(
    cfg: Config,
    db: sqlite_utils.Database,
    source: str | None = None,
    progress: ProgressFn | None = None,
    force: bool | None = None,
    fetcher: Fetcher | None = None,
) -> CollectReport:
    """Collect every enabled source (or the one named). Sources backing off after failures are skipped
    unless `force` (default: True when a source is named); a failing source records its error and the
    others go on. A source being collected by another process at the moment is skipped.

    fetcher: an open Fetcher to use (and leave open: a distributed worker keeps one per thread, so its
    connections stay alive from one collect task to the next); default: one for this run."""
    if force is None:
        force = source is not None
    ids = sync_sources(db, cfg.sources)
    chosen = [s for s in cfg.sources if s.enabled and (source is None or s.name == source)]
    if source is not None and not chosen:
        names = ", ".join(s.name for s in cfg.sources) or "none configured"
        raise NotFound(f"no enabled source named '{source}' (sources: {names})")
    report = CollectReport()
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    with contextlib.nullcontext(fetcher) if fetcher is not None else Fetcher(cfg.collect) as fetcher:
        for src in chosen:
            if stopping():
                report.sources.append(
                    SourceResult(name=src.name, kind=src.kind, status="skipped", error="stopping")
                )
                continue
            if not (force or due(store.source_state(db, ids[src.name]))):
                report.sources.append(
                    SourceResult(
                        name=src.name, kind=src.kind, status="skipped", error="backing off after failures"
                    )
                )
                continue
            lease = f"collect:{src.name}"
            if not store.acquire_lease(db, lease, owner, ttl=LEASE_TTL):
                report.sources.append(
                    SourceResult(
                        name=src.name, kind=src.kind, status="skipped", error="being collected elsewhere"
                    )
                )
                continue
            try:
                store.close_interrupted(db, ids[src.name])
                report.sources.append(collect_source(cfg, db, src, ids[src.name], fetcher, progress))
            finally:
                store.release_lease(db, lease, owner)
    return report
