"""Bulk synthetic data for the web benchmark (bench/web.py): a million items in a few minutes.

Never used by the application itself. Rows are written with executemany inside large transactions and
skip the FTS index (search is not what the benchmark measures).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from monitor.store.db import to_db_time, utcnow, write

_VOCABULARY = (
    "sáp nhập tỉnh xã căn cước CCCD VNeID tài khoản ngân hàng lương hưu tinh giản biên chế giáo viên bác sĩ "
    "biển số xe sổ đỏ tiền mặt thanh toán điện tử dịch vụ công trực tuyến chính quyền hai cấp cấp huyện "
    "người dân phải làm lại giấy tờ phí mới thông báo khẩn chia sẻ ngay tin đồn mạng xã hội"
)
WORDS = _VOCABULARY.split()


def fill(
    db: sqlite_utils.Database,
    items: int,
    flagged: int,
    sources: int = 20,
    rebuttals: int = 12,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Insert `items` items, flag `flagged` of them (mixed states), with sources, rebuttals and suggestions."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    stamp = utcnow()
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
        " JOIN narratives n ON n.rebuttal_id = r.id WHERE r.key LIKE 'bench-%'"
    ).fetchall()
    start = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]) + 1
    flag_every = max(1, items // max(1, flagged))
    batch = 20_000
    done = 0
    while done < items:
        n = min(batch, items - done)
        item_rows: list[tuple[Any, ...]] = []
        flag_rows: list[tuple[Any, ...]] = []
        sugg_rows: list[tuple[Any, ...]] = []
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
        with write(db):
            db.conn.executemany(
                "INSERT INTO items (id, source_id, url, canonical_url, content_hash, title, text, published_at,"
                " fetched_at, lang, cluster_id, sightings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                item_rows,
            )
            db.conn.executemany(
                "INSERT INTO flags (item_id, state, relevance, risk, reasons_json, model_version, narrative_id,"
                " flagged_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                flag_rows,
            )
            db.conn.executemany(
                "INSERT OR IGNORE INTO suggestions (item_id, rebuttal_id, claim_id, rank, score, claim, library_version,"
                " computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                sugg_rows,
            )
        done += n
        if progress:
            progress(n)
    return {
        "items": int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0]),
        "flags": int(db.execute("SELECT COUNT(*) FROM flags").fetchone()[0]),
        "open": int(
            db.execute("SELECT COUNT(*) FROM flags WHERE state IN ('new', 'in_review')").fetchone()[0]
        ),
    }


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
