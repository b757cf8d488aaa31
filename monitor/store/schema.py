"""The core schema. Later migrations add to it; none reshapes what users have stored."""

from __future__ import annotations

import sqlite3

import sqlite_utils

CORE_SQL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    role TEXT NOT NULL CHECK (role IN ('analyst', 'coordinator', 'approver', 'admin')),
    email TEXT,
    language TEXT NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    config_json TEXT NOT NULL DEFAULT '{}',
    etag TEXT,
    last_modified TEXT,
    last_attempt TEXT,
    last_success TEXT,
    last_error TEXT,
    last_error_at TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_after TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS fetch_log (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'not_modified', 'error')),
    http_status INTEGER,
    bytes INTEGER NOT NULL DEFAULT 0,
    items_new INTEGER NOT NULL DEFAULT 0,
    items_seen INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS fetch_log_source ON fetch_log(source_id, started_at);

-- Raw bodies, compressed, stored once per distinct body (a feed body is shared by its entries).
CREATE TABLE IF NOT EXISTS evidence_blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    body_gz BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    source_id INTEGER REFERENCES sources(id),
    url TEXT,
    canonical_url TEXT,
    external_id TEXT,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    html TEXT,
    author TEXT,
    published_at TEXT,
    fetched_at TEXT NOT NULL,
    lang TEXT,
    cluster_id INTEGER,
    simhash INTEGER,
    extraction_note TEXT,
    sightings INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS items_canonical_url ON items(canonical_url) WHERE canonical_url IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS items_external_id ON items(source_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS items_content_hash ON items(content_hash);
CREATE INDEX IF NOT EXISTS items_source_fetched ON items(source_id, fetched_at);
CREATE INDEX IF NOT EXISTS items_cluster ON items(cluster_id);

-- Every time an item is seen again (another source, a re-post, the same feed later).
CREATE TABLE IF NOT EXISTS item_sightings (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    source_id INTEGER REFERENCES sources(id),
    url TEXT,
    external_id TEXT,
    author TEXT,
    seen_at TEXT NOT NULL,
    UNIQUE (item_id, source_id, url, external_id)
);

CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    kind TEXT NOT NULL DEFAULT 'feed',
    sha256 TEXT NOT NULL REFERENCES evidence_blobs(sha256),
    final_url TEXT,
    http_status INTEGER,
    content_type TEXT,
    fetched_at TEXT NOT NULL,
    UNIQUE (item_id, sha256)
);

-- Full-text search; title/text are stored diacritics-folded (đ->d too), so unaccented queries match.
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(
    title, text, tokenize = 'unicode61 remove_diacritics 2'
);

-- Embedding cache: one vector per (text hash, model id), so two models never mix.
CREATE TABLE IF NOT EXISTS embeddings (
    text_hash TEXT NOT NULL,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (text_hash, model_id)
);

CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    card_json TEXT NOT NULL DEFAULT '{}',
    active INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (kind, version)
);

CREATE TABLE IF NOT EXISTS item_scores (
    item_id INTEGER NOT NULL REFERENCES items(id),
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    relevance REAL NOT NULL,
    risk REAL NOT NULL,
    reasons_json TEXT NOT NULL DEFAULT '{}',
    scored_at TEXT NOT NULL,
    PRIMARY KEY (item_id, model_version)
);

CREATE TABLE IF NOT EXISTS narratives (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    rebuttal_id INTEGER REFERENCES rebuttals(id),
    created_at TEXT NOT NULL,
    UNIQUE (rebuttal_id)
);

-- The review queue: one row per flagged item (the representative of its near-duplicate cluster).
CREATE TABLE IF NOT EXISTS flags (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL UNIQUE REFERENCES items(id),
    state TEXT NOT NULL DEFAULT 'new'
        CHECK (state IN ('new', 'in_review', 'linked', 'dismissed', 'escalated')),
    relevance REAL NOT NULL,
    risk REAL NOT NULL,
    reasons_json TEXT NOT NULL DEFAULT '{}',
    model_version TEXT,
    narrative_id INTEGER REFERENCES narratives(id),
    flagged_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    handled_by INTEGER REFERENCES users(id),
    handled_at TEXT,
    dismiss_reason TEXT CHECK (dismiss_reason IS NULL OR dismiss_reason IN ('accurate', 'off_topic', 'duplicate', 'other')),
    note TEXT,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS flags_queue ON flags(state, risk DESC, flagged_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS flags_order ON flags(risk DESC, flagged_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS flags_narrative ON flags(narrative_id, flagged_at);
CREATE INDEX IF NOT EXISTS flags_flagged_at ON flags(flagged_at);

CREATE TABLE IF NOT EXISTS rebuttals (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE,
    title TEXT NOT NULL,
    short_answer TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'vi',
    verdict TEXT,
    url TEXT,
    author TEXT,
    date_published TEXT,
    evidence_json TEXT NOT NULL DEFAULT '[]',
    media_json TEXT NOT NULL DEFAULT '[]',
    channels_json TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'approved', 'retired')),
    version INTEGER NOT NULL DEFAULT 1,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    approved_by INTEGER REFERENCES users(id),
    approved_at TEXT,
    retired_at TEXT
);
CREATE INDEX IF NOT EXISTS rebuttals_status ON rebuttals(status);

CREATE TABLE IF NOT EXISTS rebuttal_claims (
    id INTEGER PRIMARY KEY,
    rebuttal_id INTEGER NOT NULL REFERENCES rebuttals(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    language TEXT,
    UNIQUE (rebuttal_id, text)
);

CREATE TABLE IF NOT EXISTS rebuttal_versions (
    id INTEGER PRIMARY KEY,
    rebuttal_id INTEGER NOT NULL REFERENCES rebuttals(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    snapshot_json TEXT NOT NULL,
    changes TEXT,
    changed_by INTEGER REFERENCES users(id),
    changed_at TEXT NOT NULL,
    UNIQUE (rebuttal_id, version)
);

CREATE VIRTUAL TABLE IF NOT EXISTS rebuttals_fts USING fts5(
    title, body, claims, tokenize = 'unicode61 remove_diacritics 2'
);

-- Escalated items become requests for a new rebuttal.
CREATE TABLE IF NOT EXISTS rebuttal_requests (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    requested_by INTEGER REFERENCES users(id),
    note TEXT,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'rejected')),
    rebuttal_id INTEGER REFERENCES rebuttals(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Matcher output: suggested approved rebuttals per item.
CREATE TABLE IF NOT EXISTS suggestions (
    item_id INTEGER NOT NULL REFERENCES items(id),
    rebuttal_id INTEGER NOT NULL REFERENCES rebuttals(id),
    claim_id INTEGER REFERENCES rebuttal_claims(id),
    rank INTEGER NOT NULL,
    score REAL NOT NULL,
    claim TEXT,
    library_version TEXT,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (item_id, rebuttal_id)
);

CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    rebuttal_id INTEGER NOT NULL REFERENCES rebuttals(id),
    user_id INTEGER REFERENCES users(id),
    score REAL,
    created_at TEXT NOT NULL,
    UNIQUE (item_id, rebuttal_id)
);
CREATE INDEX IF NOT EXISTS links_rebuttal ON links(rebuttal_id);

CREATE TABLE IF NOT EXISTS assignments (
    id INTEGER PRIMARY KEY,
    item_id INTEGER REFERENCES items(id),
    narrative_id INTEGER REFERENCES narratives(id),
    rebuttal_id INTEGER NOT NULL REFERENCES rebuttals(id),
    channel TEXT NOT NULL,
    assignee_id INTEGER NOT NULL REFERENCES users(id),
    due_at TEXT,
    note TEXT,
    status TEXT NOT NULL DEFAULT 'assigned'
        CHECK (status IN ('assigned', 'in_progress', 'published', 'cancelled')),
    published_url TEXT,
    published_at TEXT,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    CHECK (item_id IS NOT NULL OR narrative_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS assignments_status ON assignments(status, due_at);
CREATE INDEX IF NOT EXISTS assignments_assignee ON assignments(assignee_id, status);

-- Append-only: triggers below refuse UPDATE and DELETE.
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT,
    object_id TEXT,
    detail_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Outgoing email ledger: one row per (kind, recipient, period) makes sending exactly-once.
CREATE TABLE IF NOT EXISTS digests_sent (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'digest',
    recipient TEXT NOT NULL,
    period TEXT NOT NULL,
    message_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_after TEXT,
    claimed_by TEXT,
    claimed_at TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    UNIQUE (kind, recipient, period)
);
"""


def run_script(db: sqlite_utils.Database, script: str) -> None:
    """Execute a multi-statement script inside the caller's transaction (executescript would commit)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            db.execute(buffer)
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer[:80]!r}")


def _core(db: sqlite_utils.Database) -> None:
    run_script(db, CORE_SQL)


# Every index below is written with every collected item, and each was redundant: items_fetched is a prefix
# of reports' items_fetched_source_lang (fetched_at, source_id, lang), item_sightings_item of the sightings'
# UNIQUE (item_id, …), evidence_item of evidence's UNIQUE (item_id, sha256); nothing reads by simhash
# (informational, usually NULL). All four were in 0001_core; a fresh database never has them.
LEAN_ITEM_INDEXES_SQL = """
DROP INDEX IF EXISTS items_fetched;
DROP INDEX IF EXISTS items_simhash;
DROP INDEX IF EXISTS item_sightings_item;
DROP INDEX IF EXISTS evidence_item;
"""


def _lean_item_indexes(db: sqlite_utils.Database) -> None:
    run_script(db, LEAN_ITEM_INDEXES_SQL)


MIGRATIONS = [
    ("0001_core", _core),
    ("0002_lean_item_indexes", _lean_item_indexes),
]
