"""Bulk synthetic data for the web benchmark (bench/web.py): a million items in a few minutes.

Never used by the application itself. Rows are written with executemany inside large transactions (SQLite)
or COPY FROM STDIN (PostgreSQL: fill_pg) and skip the FTS index (search is not what the benchmark measures).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlite_utils

from monitor.store.backend import POSTGRESQL, PgDatabase, dialect
from monitor.store.db import to_db_time, write
from monitor.store.items import sync_item_ids
from monitor.store.reports import count_new_items, recount

_VOCABULARY = (
    "sáp nhập tỉnh xã căn cước CCCD VNeID tài khoản ngân hàng lương hưu tinh giản biên chế giáo viên bác sĩ "
    "biển số xe sổ đỏ tiền mặt thanh toán điện tử dịch vụ công trực tuyến chính quyền hai cấp cấp huyện "
    "người dân phải làm lại giấy tờ phí mới thông báo khẩn chia sẻ ngay tin đồn mạng xã hội"
)
WORDS = _VOCABULARY.split()


Rows = list[tuple[Any, ...]]


def fill(
    db: sqlite_utils.Database,
    items: int,
    flagged: int,
    sources: int = 20,
    rebuttals: int = 12,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Insert `items` items, flag `flagged` of them (mixed states), with sources, rebuttals and suggestions.

    The same rows on both backends (one generator, one seed, and `now`: the time the rows' times count back
    from, default the current time): SQLite through executemany, PostgreSQL through COPY (fill_pg's
    docstring says what it does to load fast)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    stamp = to_db_time(now)
    with write(db):
        for s in range(sources):
            db.execute(
                "INSERT OR IGNORE INTO sources (name, kind, url, created_at, updated_at) VALUES (?, 'rss', ?, ?, ?)",
                [f"nguon-{s:02d}", f"https://example.gov.vn/feed/{s}", stamp, stamp],
            )
        for r in range(rebuttals):
            cur = db.execute(
                "INSERT INTO rebuttals (key, title, short_answer, status, created_at, updated_at, approved_at)"
                " VALUES (?, ?, 'Thông tin này sai.', 'approved', ?, ?, ?)",
                [f"bench-{r}", f"Phản bác số {r}", stamp, stamp, stamp],
            )
            rid = int(cur.lastrowid or 0)
            db.execute(
                "INSERT INTO rebuttal_claims (rebuttal_id, text, language) VALUES (?, ?, 'vi')",
                [rid, f"luận điệu sai số {r}"],
            )
            db.execute(
                "INSERT INTO narratives (name, rebuttal_id, created_at) VALUES (?, ?, ?)",
                [f"Phản bác số {r}", rid, stamp],
            )
    source_ids = [int(r[0]) for r in db.execute("SELECT id FROM sources ORDER BY id").fetchall()]
    rebuttal_rows = db.execute(
        "SELECT r.id, c.id, c.text, n.id FROM rebuttals r JOIN rebuttal_claims c ON c.rebuttal_id = r.id"
        " JOIN narratives n ON n.rebuttal_id = r.id WHERE r.key LIKE 'bench-%' ORDER BY r.id"
    ).fetchall()
    start = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]) + 1
    batches = _batches(rng, now, stamp, start, items, flagged, source_ids, rebuttal_rows)
    if dialect(db) == POSTGRESQL:
        fill_pg(db, batches, progress)
    else:
        for item_rows, flag_rows, sugg_rows in batches:
            with write(db):
                db.conn.executemany(
                    "INSERT INTO items (id, source_id, url, canonical_url, content_hash, title, text, published_at,"
                    " fetched_at, lang, cluster_id, sightings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    item_rows,
                )
                count_new_items(db, [row[0] for row in item_rows])
                db.conn.executemany(
                    "INSERT INTO flags (item_id, state, relevance, risk, reasons_json, model_version, narrative_id,"
                    " flagged_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    flag_rows,
                )
                db.conn.executemany(
                    "INSERT OR IGNORE INTO suggestions (item_id, rebuttal_id, claim_id, rank, score, claim,"
                    " library_version, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    sugg_rows,
                )
            if progress:
                progress(len(item_rows))
    return {
        "items": int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0]),
        "flags": int(db.execute("SELECT COUNT(*) FROM flags").fetchone()[0]),
        "open": int(
            db.execute("SELECT COUNT(*) FROM flags WHERE state IN ('new', 'in_review')").fetchone()[0]
        ),
    }


def _batches(
    rng: random.Random,
    now: datetime,
    stamp: str,
    start: int,
    items: int,
    flagged: int,
    source_ids: list[int],
    rebuttal_rows: list[Any],
    batch: int = 20_000,
) -> Iterator[tuple[Rows, Rows, Rows]]:
    """The synthetic rows, `batch` items at a time: (items, flags, suggestions) in the INSERT column orders."""
    flag_every = max(1, items // max(1, flagged))
    done = 0
    while done < items:
        n = min(batch, items - done)
        item_rows: Rows = []
        flag_rows: Rows = []
        sugg_rows: Rows = []
        for k in range(n):
            iid = start + done + k
            words = rng.choices(WORDS, k=30)
            title = " ".join(words[:9]).capitalize()
            text = " ".join(words)
            fetched = to_db_time(now - timedelta(seconds=rng.randint(0, 90 * 86400)))
            digest = hashlib.sha1(f"{iid}:{text}".encode()).hexdigest()
            lang = "vi" if rng.random() < 0.8 else "en"
            cluster = iid if rng.random() < 0.9 else max(start, iid - rng.randint(1, 50))
            item_rows.append(
                (
                    iid,
                    source_ids[rng.randrange(len(source_ids))],
                    f"https://example.gov.vn/a/{iid}",
                    f"https://example.gov.vn/a/{iid}",
                    digest,
                    title,
                    text,
                    fetched,
                    fetched,
                    lang,
                    cluster,
                    1 + (iid % 7 == 0),
                )
            )
            if (done + k) % flag_every == 0 and len(flag_rows) + done // flag_every < flagged:
                rb = rebuttal_rows[iid % len(rebuttal_rows)]
                risk = round(rng.uniform(0.5, 1.0), 2)
                state = rng.choices(
                    ["new", "in_review", "linked", "dismissed", "escalated"], [60, 5, 20, 12, 3]
                )[0]
                reasons = {
                    "nearest_claims": [{"claim": rb[2], "similarity": risk, "rebuttal_id": rb[0]}],
                    "model": "bench",
                }
                flag_rows.append(
                    (
                        iid,
                        state,
                        round(rng.uniform(0.5, 1.0), 2),
                        risk,
                        json.dumps(reasons, ensure_ascii=False),
                        "bench",
                        rb[3],
                        fetched,
                        fetched,
                    )
                )
                sugg_rows.append((iid, rb[0], rb[1], 1, risk, rb[2], "bench", stamp))
        yield item_rows, flag_rows, sugg_rows
        done += n


# --- PostgreSQL: COPY ------------------------------------------------------------------------------------------

_ITEM_COLUMNS = (
    "id, source_id, url, canonical_url, content_hash, title, text, published_at, fetched_at, lang, cluster_id,"
    " sightings"
)
# flags.source_id / lang are the item's (kept by a trigger in the application; written here directly).
_FLAG_COLUMNS = (
    "item_id, state, relevance, risk, reasons_json, model_version, narrative_id, flagged_at, updated_at,"
    " source_id, lang"
)
_SUGGESTION_COLUMNS = "item_id, rebuttal_id, claim_id, rank, score, claim, library_version, computed_at"
_BULK_TABLES = ("items", "flags", "suggestions")
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple[Any, ...]) -> str:
    """One row in COPY's text format."""
    out = []
    for v in row:
        if v is None:
            out.append("\\N")
        elif isinstance(v, str):
            out.append(v.translate(_ESCAPES) if _SPECIAL.search(v) else v)
        else:
            out.append(str(int(v) if isinstance(v, bool) else v))
    return "\t".join(out) + "\n"


def fill_pg(
    db: sqlite_utils.Database,
    batches: Iterator[tuple[Rows, Rows, Rows]],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Load the batches into PostgreSQL with COPY FROM STDIN, in one transaction (all or nothing).

    For speed, inside that transaction: the secondary indexes of items, flags and suggestions that the
    migrations create (not the primary keys and UNIQUE constraints) are dropped and created again after the
    load (several times faster than maintaining them row by row); when the role may (a superuser),
    `session_replication_role = replica` skips the foreign-key checks and the triggers for the loaded rows (the
    generator writes valid ids and flags.source_id / lang itself; the report counters, when the database has
    them, are recounted once after the load). The FTS table is not
    filled, as on SQLite. VACUUM ANALYZE afterwards (visibility map and statistics for the planner)."""
    import psycopg

    raw = cast(PgDatabase, db).pg.raw
    with write(db):
        raw.execute("SET LOCAL maintenance_work_mem = '1GB'")
        raw.execute("SAVEPOINT replica")
        try:
            raw.execute("SET LOCAL session_replication_role = replica")
            raw.execute("RELEASE SAVEPOINT replica")
        except psycopg.Error:  # not a superuser: the checks stay
            raw.execute("ROLLBACK TO SAVEPOINT replica")
        indexes = raw.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema()"
            " AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
            " WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
            [list(_BULK_TABLES)],
        ).fetchall()
        for name, _ in indexes:
            raw.execute(f'DROP INDEX "{name}"')
        cur = raw.cursor()
        for item_rows, flag_rows, sugg_rows in batches:
            of_item = {row[0]: row for row in item_rows}
            with cur.copy(f"COPY items ({_ITEM_COLUMNS}) FROM STDIN") as copy:
                copy.write("".join(map(_copy_line, item_rows)))
            with cur.copy(f"COPY flags ({_FLAG_COLUMNS}) FROM STDIN") as copy:
                copy.write("".join(_copy_line((*f, of_item[f[0]][1], of_item[f[0]][9])) for f in flag_rows))
            with cur.copy(f"COPY suggestions ({_SUGGESTION_COLUMNS}) FROM STDIN") as copy:
                copy.write("".join(map(_copy_line, sugg_rows)))
            if progress:
                progress(len(item_rows))
        for _, definition in indexes:
            raw.execute(definition)
        replica = raw.execute("SHOW session_replication_role").fetchone()
    if replica and replica[0] == "replica" and "report_slots" in db.table_names():
        # The report counters' triggers were skipped with the others: count the loaded rows once instead.
        recount(db)
    sync_item_ids(db)  # the loaded ids were written explicitly: new items take theirs from the sequence
    for table in _BULK_TABLES:
        raw.execute(f"VACUUM (ANALYZE) {table}")


def flag_at_offset(db: sqlite_utils.Database, state: str, offset: int) -> dict[str, Any] | None:
    """The queue row at `offset` in one state's order (to start a deep page without walking to it)."""
    for row in db.query(
        "SELECT id AS flag_id, item_id AS id, risk, flagged_at FROM flags WHERE state = ?"
        " ORDER BY risk DESC, flagged_at DESC, id DESC LIMIT 1 OFFSET ?",
        [state, offset],
    ):
        return row
    return None


def sample_item_ids(db: sqlite_utils.Database, count: int, seed: int = 3) -> list[int]:
    """Random flagged item ids for item-page requests."""
    top = int(db.execute("SELECT MAX(id) FROM flags").fetchone()[0] or 0)
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < count and top:
        row = db.execute("SELECT item_id FROM flags WHERE id = ?", [rng.randint(1, top)]).fetchone()
        if row:
            out.append(int(row[0]))
    return out
