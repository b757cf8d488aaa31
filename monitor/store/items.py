"""Items: insert with de-duplication, sightings, evidence copies, full-text search."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, cast

import sqlite_utils

from classifiers.text import content_hash, fold
from monitor.store.backend import POSTGRESQL, dialect
from monitor.store.db import query_one, utcnow, write
from monitor.store.reports import count_new_items


@dataclass
class Evidence:
    """What was fetched: the raw body and where it came from."""

    body: bytes
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    fetched_at: str | None = None
    kind: str = "feed"  # feed | article | page | api


@dataclass
class NewItem:
    """A normalised item as a connector produces it (times are store-format strings, UTC)."""

    title: str
    text: str
    source_id: int | None = None
    url: str | None = None
    canonical_url: str | None = None
    external_id: str | None = None
    author: str | None = None
    published_at: str | None = None
    fetched_at: str | None = None
    lang: str | None = None
    html: str | None = None
    extraction_note: str | None = None
    simhash: int | None = None
    evidence: list[Evidence] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # image URLs to read (sources with `ocr: true`)
    # (title, text, hash) of the last content_hash computed: deduplication asks for it several times.
    _hashed: tuple[str, str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def content_hash(self) -> str:
        cached = self._hashed
        if cached is not None and cached[0] is self.title and cached[1] is self.text:
            return cached[2]
        digest = content_hash(self.title, self.text)
        self._hashed = (self.title, self.text, digest)
        return digest


def store_blob(db: sqlite_utils.Database, body: bytes) -> str:
    """Store a body once (gzip), return its sha256."""
    digest = hashlib.sha256(body).hexdigest()
    # A feed body is shared by all its entries: compress it once, not once per entry.
    if db.execute("SELECT 1 FROM evidence_blobs WHERE sha256 = ?", [digest]).fetchone() is None:
        db.execute(
            "INSERT OR IGNORE INTO evidence_blobs (sha256, size, body_gz) VALUES (?, ?, ?)",
            [digest, len(body), gzip.compress(body, compresslevel=6)],
        )
    return digest


def read_blob(db: sqlite_utils.Database, sha256: str) -> bytes | None:
    """The original bytes of an evidence body."""
    row = db.execute("SELECT body_gz FROM evidence_blobs WHERE sha256 = ?", [sha256]).fetchone()
    return gzip.decompress(row[0]) if row else None


def _attach_evidence(db: sqlite_utils.Database, item_id: int, evidence: list[Evidence], now: str) -> None:
    for ev in evidence:
        digest = store_blob(db, ev.body)
        db.execute(
            "INSERT OR IGNORE INTO evidence (item_id, kind, sha256, final_url, http_status, content_type, fetched_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [item_id, ev.kind, digest, ev.final_url, ev.http_status, ev.content_type, ev.fetched_at or now],
        )


def find_duplicate(db: sqlite_utils.Database, item: NewItem) -> int | None:
    """Id of an existing item with the same canonical URL, feed id (same source) or content hash."""
    if item.canonical_url:
        row = db.execute("SELECT id FROM items WHERE canonical_url = ?", [item.canonical_url]).fetchone()
        if row:
            return int(row[0])
    if item.external_id and item.source_id is not None:
        row = db.execute(
            "SELECT id FROM items WHERE source_id = ? AND external_id = ?", [item.source_id, item.external_id]
        ).fetchone()
        if row:
            return int(row[0])
    row = db.execute("SELECT id FROM items WHERE content_hash = ?", [item.content_hash]).fetchone()
    return int(row[0]) if row else None


def add_item(
    db: sqlite_utils.Database, item: NewItem, folded: tuple[str, str] | None = None
) -> tuple[int, bool]:
    """Insert an item or record a sighting of its duplicate. Returns (item_id, created).

    folded: (fold(item.title), fold(item.text)) when the caller already has them."""
    now = utcnow()
    with write(db):
        lock_item_keys(db, [item])
        existing = find_duplicate(db, item)
        if existing is not None:
            cur = db.execute(
                "INSERT OR IGNORE INTO item_sightings (item_id, source_id, url, external_id, author, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [existing, item.source_id, item.url, item.external_id, item.author, now],
            )
            if cur.rowcount:
                db.execute("UPDATE items SET sightings = sightings + 1 WHERE id = ?", [existing])
            _attach_evidence(db, existing, item.evidence, now)
            return existing, False
        item_id = next_item_id(db)
        rows = NewRows(now)
        folded_title, folded_text = folded or (fold(item.title), fold(item.text))
        rows.add(item, item_id, item_id, folded_title, folded_text)
        rows.write(db)
        return item_id, True


def next_item_id(db: sqlite_utils.Database) -> int:
    """The id of the next new item (call inside the write transaction that inserts it): MAX(id) + 1 on SQLite
    (one writer at a time), the next value of items_id_seq on PostgreSQL (writers at once)."""
    if dialect(db) == POSTGRESQL:
        return int(db.execute(f"SELECT nextval({_ITEMS_SEQUENCE})").fetchone()[0])
    row = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()
    return int(row[0])


_ITEMS_SEQUENCE = "'items_id_seq'"  # PostgreSQL: items.id has no default; the store draws ids from this


class ItemIds:
    """Ids for the new items of one write transaction. SQLite: counting up from MAX(id) + 1 (its write lock
    makes that safe). PostgreSQL: drawn from items_id_seq, `reserve` at a time, so collection
    batches of different sources write at once (write(exclusive=False) with lock_item_keys); unused ids are
    gaps, as any sequence leaves."""

    def __init__(self, db: sqlite_utils.Database, reserve: int = 1) -> None:
        self.db = db
        self.reserve = max(1, reserve)
        self.pg = dialect(db) == POSTGRESQL
        self.next_id: int | None = None
        self.pool: list[int] = []

    def take(self) -> int:
        """A new item id."""
        if self.pg:
            if not self.pool:
                rows = self.db.execute(
                    f"SELECT nextval({_ITEMS_SEQUENCE}) FROM generate_series(1, ?)", [self.reserve]
                ).fetchall()
                self.pool = sorted(int(r[0]) for r in rows)
            return self.pool.pop(0)
        if self.next_id is None:
            self.next_id = next_item_id(self.db)
        self.next_id += 1
        return self.next_id - 1

    def used(self, item_id: int) -> None:
        """An id another path (add_item) gave a new item in the same transaction."""
        if not self.pg and self.next_id is not None:
            self.next_id = max(self.next_id, item_id + 1)


def sync_item_ids(db: sqlite_utils.Database) -> None:
    """PostgreSQL: move items_id_seq past the largest id (ids written explicitly — by earlier versions, a copy,
    a bulk load — leave it behind). SQLite: nothing to do."""
    if dialect(db) == POSTGRESQL:
        db.execute(
            f"SELECT setval({_ITEMS_SEQUENCE}, GREATEST(COALESCE((SELECT MAX(id) FROM items), 0),"
            " (SELECT last_value FROM items_id_seq)), true)"
        )


# Dedup keys of an item, locked on PostgreSQL by a write that does not take the store-wide lock: two writers
# that might insert the same item (the same content, canonical URL, or source and feed id) go one after the
# other, and the second finds the first's row; any other two run at once. (namespace, 32-bit hash) advisory
# locks, taken in ascending order (no deadlock between two writers); a collision only serialises two writers.
_KEY_LOCK_NAMESPACE = 0x6974656D  # "item"


def lock_item_keys(db: sqlite_utils.Database, items: list[NewItem]) -> None:
    """Lock the dedup keys of `items` until the end of the transaction (PostgreSQL; SQLite: nothing to do —
    its one writer holds the database)."""
    if dialect(db) != POSTGRESQL or not items:
        return
    keys: set[int] = set()
    for item in items:
        parts = [f"h:{item.content_hash}"]
        if item.canonical_url:
            parts.append(f"u:{item.canonical_url}")
        if item.external_id and item.source_id is not None:
            parts.append(f"e:{item.source_id}:{item.external_id}")
        for part in parts:
            digest = hashlib.blake2b(part.encode("utf-8"), digest_size=4).digest()
            keys.add(int.from_bytes(digest, "big", signed=True))
    db.execute(
        "SELECT pg_advisory_xact_lock(?, s.k) FROM (SELECT k FROM unnest(?::int[]) AS k ORDER BY k) s",
        [_KEY_LOCK_NAMESPACE, sorted(keys)],
    ).fetchall()


class NewRows:
    """Rows of new items, written together with one executemany per table (inside the caller's write
    transaction): the item with its cluster, its search text, its first sighting and its evidence.

    The caller has checked that each item is new and chose its id (next_item_id, counting up)."""

    def __init__(
        self, now: str | None = None, packed: PackedBlobs | None = None, count_at_end: bool = False
    ) -> None:
        self.now = now or utcnow()
        self.packed = packed  # the evidence bodies, hashed and compressed before the transaction
        # count_at_end: the report counters (rows every writer updates: on PostgreSQL locked until COMMIT) are
        # updated by count_written() just before the transaction ends, not at each write().
        self.count_at_end = count_at_end
        self.uncounted: list[int] = []
        self.items: list[tuple[object, ...]] = []
        self.fts: list[tuple[int, str, str]] = []
        self.sightings: list[tuple[object, ...]] = []
        self.evidence: list[tuple[int, Evidence]] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: NewItem, item_id: int, cluster_id: int, folded_title: str, folded_text: str) -> None:
        """Queue a new item; folded_title/folded_text are fold(item.title)/fold(item.text) (full-text search)."""
        now = self.now
        self.items.append(
            (
                item_id,
                item.source_id,
                item.url,
                item.canonical_url,
                item.external_id,
                item.content_hash,
                item.title,
                item.text,
                item.html,
                item.author,
                item.published_at,
                item.fetched_at or now,
                item.lang,
                item.simhash,
                item.extraction_note,
                cluster_id,
            )
        )
        self.fts.append((item_id, folded_title, folded_text))
        self.sightings.append((item_id, item.source_id, item.url, item.external_id, item.author, now))
        self.evidence.extend((item_id, ev) for ev in item.evidence)

    def write(self, db: sqlite_utils.Database) -> None:
        """Insert the queued rows and empty the queue."""
        if not self.items:
            return
        conn = db.conn
        with write(db):
            conn.executemany(
                "INSERT INTO items (id, source_id, url, canonical_url, external_id, content_hash, title, text,"
                " html, author, published_at, fetched_at, lang, simhash, extraction_note, cluster_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.items,
            )
            written = [cast(int, row[0]) for row in self.items]
            if self.count_at_end:
                self.uncounted.extend(written)
            else:
                count_new_items(db, written)
            conn.executemany("INSERT INTO items_fts (rowid, title, text) VALUES (?, ?, ?)", self.fts)
            conn.executemany(
                "INSERT OR IGNORE INTO item_sightings (item_id, source_id, url, external_id, author, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                self.sightings,
            )
            digests = store_blobs(db, [ev.body for _, ev in self.evidence], self.packed)
            conn.executemany(
                "INSERT OR IGNORE INTO evidence (item_id, kind, sha256, final_url, http_status, content_type,"
                " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        item_id,
                        ev.kind,
                        digest,
                        ev.final_url,
                        ev.http_status,
                        ev.content_type,
                        ev.fetched_at or self.now,
                    )
                    for (item_id, ev), digest in zip(self.evidence, digests, strict=True)
                ],
            )
        self.items, self.fts, self.sightings, self.evidence = [], [], [], []

    def count_written(self, db: sqlite_utils.Database) -> None:
        """Add the items written so far to the report counters (count_at_end)."""
        if self.uncounted:
            count_new_items(db, self.uncounted)
            self.uncounted = []


class PackedBlobs(dict[int, tuple[str, bytes]]):
    """id(body) -> (sha256, gzip of the body) of evidence bodies, computed before the write transaction
    (pack_blobs), so the compressing is not done while the store's write lock is held."""


def pack_blobs(bodies: list[bytes]) -> PackedBlobs:
    """sha256 and gzip of each distinct body object (a feed's items share its body: it is packed once)."""
    packed = PackedBlobs()
    for body in bodies:
        if id(body) not in packed:
            packed[id(body)] = (hashlib.sha256(body).hexdigest(), gzip.compress(body, compresslevel=6))
    return packed


def store_blobs(
    db: sqlite_utils.Database, bodies: list[bytes], packed: PackedBlobs | None = None
) -> list[str]:
    """store_blob for many bodies: one lookup for those already stored, each new body compressed once
    (or taken from `packed`, pack_blobs of the same body objects)."""
    packed = packed if packed is not None else PackedBlobs()
    by_object: dict[int, str] = {}  # a feed's items share its one body object: hash it once, not per item
    digests = []
    for body in bodies:
        digest = by_object.get(id(body))
        if digest is None:
            done = packed.get(id(body))
            digest = by_object[id(body)] = done[0] if done else hashlib.sha256(body).hexdigest()
        digests.append(digest)
    if not digests:
        return digests
    wanted = dict(zip(digests, bodies, strict=True))
    have: set[str] = set()
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        have.update(
            r[0]
            for r in db.execute(
                f"SELECT sha256 FROM evidence_blobs WHERE sha256 IN ({', '.join('?' * len(chunk))})", chunk
            ).fetchall()
        )
    db.conn.executemany(
        "INSERT OR IGNORE INTO evidence_blobs (sha256, size, body_gz) VALUES (?, ?, ?)",
        [
            (digest, len(body), _gzipped(body, packed))
            for digest, body in wanted.items()
            if digest not in have
        ],
    )
    return digests


def _gzipped(body: bytes, packed: PackedBlobs) -> bytes:
    done = packed.get(id(body))
    return done[1] if done else gzip.compress(body, compresslevel=6)


# What a search may ask of FTS5: SQLite's cost grows with the square of the number of terms, so a typed
# query is cut to its first MAX_QUERY_CHARS characters and MAX_QUERY_TERMS distinct terms.
MAX_QUERY_CHARS = 1000
MAX_QUERY_TERMS = 32
_QUERY_NOISE = re.compile(r'[\x00-\x1f\x7f"]')


def fts_query(text: str) -> str | None:
    """Turn what a user typed into an FTS5 query: folded tokens, each quoted, all required.

    Control characters (NUL included) and quotes separate tokens; repeated tokens count once; at most
    MAX_QUERY_TERMS tokens from the first MAX_QUERY_CHARS characters, so the cost stays bounded."""
    if len(text) > MAX_QUERY_CHARS:
        cut = text[:MAX_QUERY_CHARS]
        # Drop a word cut in two (a cut "hello" must not search for "hell").
        text = cut if text[MAX_QUERY_CHARS].isspace() or not cut.split() else cut.rsplit(None, 1)[0]
    tokens: list[str] = []
    for token in _QUERY_NOISE.sub(" ", fold(text)).split():
        if any(ch.isalnum() for ch in token) and token not in tokens:
            tokens.append(token)
            if len(tokens) == MAX_QUERY_TERMS:
                break
    if not tokens:
        return None
    return " ".join(f'"{t}"' for t in tokens)


def search_items(db: sqlite_utils.Database, text: str, limit: int = 50, offset: int = 0) -> list[int]:
    """Ids of items matching `text` (accents optional), best match first."""
    q = fts_query(text)
    if q is None:
        return []
    rows = db.execute(
        "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rank LIMIT ? OFFSET ?",
        [q, limit, offset],
    ).fetchall()
    return [int(r[0]) for r in rows]


def get_item(db: sqlite_utils.Database, item_id: int) -> dict[str, Any] | None:
    """One item with its source name."""
    return query_one(
        db,
        "SELECT items.*, sources.name AS source_name, sources.kind AS source_kind FROM items"
        " LEFT JOIN sources ON sources.id = items.source_id WHERE items.id = ?",
        [item_id],
    )


def item_evidence(db: sqlite_utils.Database, item_id: int) -> list[dict[str, Any]]:
    """Evidence rows for an item (without bodies)."""
    return list(
        db.query(
            "SELECT evidence.*, evidence_blobs.size FROM evidence JOIN evidence_blobs USING (sha256)"
            " WHERE item_id = ? ORDER BY fetched_at",
            [item_id],
        )
    )


def add_image_evidence(db: sqlite_utils.Database, item_id: int, body: bytes, content_type: str) -> str:
    """Keep an image of an item (screenshot, attachment) as evidence; returns its sha256."""
    with write(db):
        _attach_evidence(
            db, item_id, [Evidence(body=body, content_type=content_type, kind="image")], utcnow()
        )
    return hashlib.sha256(body).hexdigest()
