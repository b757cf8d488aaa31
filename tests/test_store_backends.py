"""The store's important behaviours on both backends: a SQLite file and a throwaway PostgreSQL (any_db).

The PostgreSQL half needs Debian's postgresql-15 (initdb, pg_ctl) and psycopg: skipped locally without them,
failed under CI=true (tests/conftest.py: require).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from monitor.errors import StoreError
from monitor.store import audit as audit_store
from monitor.store import connect, migrate
from monitor.store import queue as store_queue
from monitor.store import users as store_users
from monitor.store.backend import check_url, dialect, redact, translate
from monitor.store.db import write
from monitor.store.items import Evidence, NewItem, add_item, read_blob, search_items
from monitor.store.migrations import MIGRATIONS, pending_on_postgresql
from monitor.store.pg_schema import PG_MIGRATIONS


@pytest.fixture(autouse=True)
def _fast_hashing() -> None:
    store_users.use_fast_hashing()


def _item(**kw: object) -> NewItem:
    base = dict(
        title="Sáp nhập tỉnh: Đà Nẵng và Quảng Nam", text="Chính quyền địa phương hai cấp bắt đầu vận hành."
    )
    base.update(kw)
    return NewItem(**base)  # type: ignore[arg-type]


def test_migrations_are_idempotent_on_both(any_db: sqlite_utils.Database) -> None:
    tables = set(any_db.table_names())
    assert {"items", "flags", "rebuttals", "assignments", "audit_log", "digests_sent", "users"} <= tables
    assert migrate(any_db) == []
    assert migrate(any_db) == []
    done = {r[0] for r in any_db.execute("SELECT name FROM schema_migrations").fetchall()}
    every = {name for module in MIGRATIONS.values() for name, _ in module}
    expected = every if dialect(any_db) == "sqlite" else every - set(pending_on_postgresql())
    assert done == expected


def test_every_migration_has_a_postgresql_entry() -> None:
    names = [name for module in MIGRATIONS.values() for name, _ in module]
    assert list(PG_MIGRATIONS) == names, "add the PostgreSQL twin (or None: not ported yet) in pg_schema.py"
    pending = pending_on_postgresql()
    assert "reports_0002_daily_counts" not in pending and "reports_0003_link_times" not in pending


def test_both_backends_have_the_same_tables_and_columns(tmp_path: Path, pg_server: object) -> None:
    lite = connect(tmp_path / "s.db")
    pg = connect(pg_server.fresh_url())  # type: ignore[attr-defined]
    lite_tables = set(lite.table_names()) - {t for t in lite.table_names() if "_fts" in t}
    pg_tables = set(pg.table_names()) - {"items_fts", "rebuttals_fts"}
    assert lite_tables == pg_tables
    for table in sorted(lite_tables):
        lite_cols = {r[1] for r in lite.execute(f"PRAGMA table_info({table})").fetchall()}
        pg_cols = {
            r[0]
            for r in pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ?",
                [table],
            ).fetchall()
        }
        assert lite_cols == pg_cols, table
    lite.conn.close()
    pg.conn.close()


def test_dedup_by_url_id_and_hash(any_db: sqlite_utils.Database) -> None:
    db = any_db
    a, created = add_item(db, _item(canonical_url="https://a.vn/1", evidence=[Evidence(b"<rss/>")]))
    assert created
    b, created = add_item(db, _item(canonical_url="https://a.vn/1", title="other"))
    assert (b, created) == (a, False)
    c, created = add_item(db, _item(title="Khác hẳn", text="x", canonical_url="https://b.vn/2"))
    assert created and c != a
    d, created = add_item(db, _item(canonical_url="https://c.vn/3"))  # same content as a
    assert (d, created) == (a, False)
    assert db.execute("SELECT sightings FROM items WHERE id = ?", [a]).fetchone()[0] == 3
    sha = db.execute("SELECT sha256 FROM evidence WHERE item_id = ?", [a]).fetchone()[0]
    assert read_blob(db, sha) == b"<rss/>"
    assert db["items"].count == 2


@pytest.mark.parametrize("query", ["sap nhap tinh", "Sáp nhập", "da nang", "DA NANG", "Đà Nẵng"])
def test_search_with_accents_optional(any_db: sqlite_utils.Database, query: str) -> None:
    item_id, _ = add_item(any_db, _item())
    add_item(any_db, _item(title="Giá vàng hôm nay", text="Thị trường vàng tăng nhẹ."))
    assert search_items(any_db, query) == [item_id]
    assert search_items(any_db, '"; DROP TABLE items; --') == []
    assert any_db["items"].count == 2


def test_audit_log_is_append_only(any_db: sqlite_utils.Database) -> None:
    audit_store.record(any_db, "alice", "test.action", "item", 1, {"k": "v"})
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        any_db.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        any_db.execute("DELETE FROM audit_log")
    assert any_db["audit_log"].count == 1
    assert [e["action"] for e in audit_store.entries(any_db)] == ["test.action"]


def test_users_sessions_tokens_and_login(any_db: sqlite_utils.Database) -> None:
    db = any_db
    uid = store_users.create_user(db, "lan", "a-long-password-1", "analyst", email="lan@example.vn")
    assert uid > 0 and store_users.get_user_by_id(db, uid)["username"] == "lan"  # type: ignore[index]
    token = store_users.create_token(db, "lan")
    assert store_users.user_for_token(db, token)["id"] == uid  # type: ignore[index]
    sid = store_users.start_session(db, uid)
    assert store_users.user_for_session(db, sid)["id"] == uid  # type: ignore[index]
    store_users.end_session(db, sid)
    assert store_users.user_for_session(db, sid) is None
    assert store_users.authenticate(db, "lan", "wrong-password-xx", "10.0.0.1") is None
    assert store_users.authenticate(db, "lan", "a-long-password-1", "10.0.0.2")["id"] == uid  # type: ignore[index]
    tokens = store_users.list_tokens(db, "lan")
    store_users.revoke_token(db, "lan", int(tokens[0]["id"]))
    assert store_users.user_for_token(db, token) is None
    from monitor.errors import Conflict

    with pytest.raises(Conflict):
        store_users.create_user(db, "lan", "a-long-password-2", "analyst")
    actions = [e["action"] for e in audit_store.entries(db)]
    assert "user.create" in actions and "user.login_failed" in actions


def test_queue_listing_and_decisions(any_db: sqlite_utils.Database) -> None:
    db = any_db
    src = store_queue.ensure_source(db, "feed-a")
    ids = [add_item(db, _item(title=f"Tin {n}", text=f"nội dung {n}", source_id=src))[0] for n in range(5)]
    for n, item_id in enumerate(ids):
        store_queue.insert_flag(
            db, item_id, relevance=0.9, risk=0.1 * (n + 1), flagged_at=f"2025-01-0{n + 1}T00:00:00+00:00"
        )
    store_queue.insert_flag(db, ids[0], relevance=0.9, risk=0.99)  # already flagged: ignored
    rows, cursor = store_queue.list_queue(db, limit=3)
    assert [r["id"] for r in rows] == [ids[4], ids[3], ids[2]] and cursor
    rest, cursor2 = store_queue.list_queue(db, cursor=cursor, limit=3)
    assert [r["id"] for r in rest] == [ids[1], ids[0]] and cursor2 is None
    filtered, _ = store_queue.list_queue(db, store_queue.QueueFilter(source_id=src, min_risk=0.35))
    assert [r["id"] for r in filtered] == [ids[4], ids[3]]
    uid = store_users.create_user(db, "minh", "a-long-password-1", "analyst")
    flag = store_queue.get_flag(db, ids[4])
    assert flag is not None
    sets = {"state": "dismissed", "dismiss_reason": "off_topic"}
    assert store_queue.claim_flag(db, ids[4], uid, int(flag["version"]), sets, ("new", "in_review"))
    assert not store_queue.claim_flag(db, ids[4], uid, int(flag["version"]), sets, ("new", "in_review"))
    rows, _ = store_queue.list_queue(db)
    assert ids[4] not in [r["id"] for r in rows]
    done, _ = store_queue.list_queue(db, store_queue.QueueFilter(states=("dismissed",)))
    assert [r["id"] for r in done] == [ids[4]] and done[0]["handled_by_name"] == "minh"


def test_embedding_cache_stores_vectors_as_bytes(any_db: sqlite_utils.Database) -> None:
    from classifiers.text import text_hash
    from monitor.classify.encoder import encode_cached
    from monitor.store.embeddings import cached_vectors
    from tests.fakes import HashingEncoder

    enc = HashingEncoder()
    first = encode_cached(any_db, enc, ["một", "hai", "một"])
    again = encode_cached(any_db, enc, ["hai", "một"])
    assert enc.calls == 1 and (again[1] == first[0]).all()
    assert set(cached_vectors(any_db, enc.model_id, [text_hash("một"), text_hash("ba")])) == {
        text_hash("một")
    }


def test_sqlite_only_sql_says_not_supported(pg_server: object) -> None:
    db = connect(pg_server.fresh_url())  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match="not supported yet on PostgreSQL"):
        db.execute("SELECT strftime('%Y', 'now')")
    db.conn.close()


def test_config_checks_the_database_url() -> None:
    from pydantic import ValidationError

    from monitor.config import Config

    assert Config(database="postgresql://m@db:5432/misinfo").database_path == "postgresql://m@db:5432/misinfo"
    with pytest.raises(ValidationError, match="names no database"):
        Config(database="postgresql://m@db:5432")


# --- the modules ported in round 2 (scores, rebuttals, sources/status, groups, submissions) ---------------


def _with_ocr(db: sqlite_utils.Database) -> int:
    """An item with an image whose read text differs from the item's."""
    from monitor.store.submissions import add_ocr

    item_id, _ = add_item(db, _item(evidence=[Evidence(b"\x89PNG fake")]))
    sha = db.execute("SELECT sha256 FROM evidence WHERE item_id = ?", [item_id]).fetchone()[0]
    assert add_ocr(
        db, item_id, sha, "Chữ trên ảnh", lang="vi", content_type="image/png", width=None, height=None
    )
    return int(item_id)


def test_scores_upsert_flag_once_and_item_text(any_db: sqlite_utils.Database) -> None:
    from monitor.store import scores

    db = any_db
    item_id = _with_ocr(db)
    (row,) = scores.unscored_items(db, "v1")
    assert (
        row["text"]
        == "Sáp nhập tỉnh: Đà Nẵng và Quảng Nam\nChính quyền địa phương hai cấp bắt đầu vận hành.\nChữ trên ảnh"
    )
    assert [r["id"] for r in scores.recent_unflagged_items(db, 2)] == [item_id]
    score = scores.ScoreRow(item_id, "m", "v1", 0.9, 0.8, {"why": "x"}, flag=True)
    assert scores.save_scores(db, [score]) == 1
    again = scores.ScoreRow(item_id, "m", "v1", 0.5, 0.4, {"why": "y"}, flag=True)
    assert scores.save_scores(db, [again]) == 0  # replaced, never flagged twice
    (stored,) = scores.scores_for(db, item_id)
    assert (stored["risk"], stored["reasons"]) == (0.4, {"why": "y"})
    assert scores.count_unscored(db, "v1") == 0 and scores.count_unscored(db, "v2") == 1
    assert scores.recent_unflagged_items(db, 2) == []
    flag = scores.flag_for(db, item_id)
    assert flag is not None and flag["risk"] == 0.8


def test_rebuttal_search_ids_and_match_state(any_db: sqlite_utils.Database) -> None:
    from monitor.store import rebuttals
    from monitor.store.db import write
    from tests.builders import add_approved_rebuttal, add_claim

    db = any_db
    with write(db):
        rid = add_approved_rebuttal(db, "sap-nhap", "Sáp nhập tỉnh không đổi căn cước", "", at="2026-01-01")
        add_claim(db, rid, "Phải làm lại căn cước sau sáp nhập")
        rebuttals.index_rebuttal(db, rid)
    assert [r["id"] for r in rebuttals.list_rebuttals(db, q="can cuoc")] == [rid]
    assert [r["id"] for r in rebuttals.list_rebuttals(db, status="approved", q="lam lai")] == [rid]
    assert rebuttals.list_rebuttals(db, status="draft", q="can cuoc") == []
    assert rebuttals.id_for_key(db, "sap-nhap") == rid
    assert rebuttals.id_for_key(db, "sap-nhap", other_than=rid) is None
    item_id = _with_ocr(db)
    assert rebuttals.item_texts(db, [item_id])[item_id].endswith("vận hành.\nChữ trên ảnh")
    store_queue.insert_flag(db, item_id, relevance=0.9, risk=0.9)
    assert rebuttals.stale_flagged_items(db) == [item_id]
    version = rebuttals.library_version(db)
    row = {"rebuttal_id": rid, "score": 0.7, "claim": "c"}
    rebuttals.replace_suggestions(db, item_id, [row], "old")
    rebuttals.replace_suggestions(db, item_id, [row], version)  # match_state replaced, not duplicated
    assert db["match_state"].count == 1 and rebuttals.stale_flagged_items(db) == []
    assert [s["rebuttal_id"] for s in rebuttals.suggestions_for(db, item_id)] == [rid]


def test_status_and_sources_count_the_last_24_hours(any_db: sqlite_utils.Database) -> None:
    from monitor.store.status import status

    db = any_db
    src = store_queue.ensure_source(db, "feed-a")
    add_item(db, _item(source_id=src))
    add_item(db, _item(title="Cũ", text="tin cũ", source_id=src))
    db.execute("UPDATE items SET fetched_at = '2020-01-01T00:00:00+00:00' WHERE title = 'Cũ'")
    db.execute(
        "INSERT INTO fetch_log (source_id, started_at, status, error) VALUES (?, ?, 'ok', 'trang 3 lỗi')",
        [src, "2026-01-01T00:00:00+00:00"],
    )
    out = status(db)
    assert out["items"] == 2 and out["flagged"]["new"] == 0
    (health,) = out["sources"]
    assert (health["name"], health["items_24h"], health["warning"]) == ("feed-a", 1, "trang 3 lỗi")
    assert health["enabled"] is True


def test_groups_move_items_between_groups(any_db: sqlite_utils.Database) -> None:
    from monitor.store import groups

    db = any_db
    a, _ = add_item(db, _item())
    b, _ = add_item(db, _item(title="Khác", text="khác"))
    first = groups.create_group(db, [a, b])
    second = groups.create_group(db, [])
    groups.add_items(db, second, [b])  # b moves (one group per item)
    assert groups.get_group(db, first)["item_ids"] == [a]  # type: ignore[index]
    assert groups.open_membership(db) == {first: [a], second: [b]}
    groups.remove_items(db, [a])
    assert groups.get_group(db, first) is None and groups.grouped_item_ids(db) == {b}


def test_submissions_latest_score_and_item_text(any_db: sqlite_utils.Database) -> None:
    from monitor.store import scores, submissions

    db = any_db
    item_id = _with_ocr(db)
    assert submissions.item_text(db, item_id).endswith("vận hành.\nChữ trên ảnh")
    scores.save_scores(db, [scores.ScoreRow(item_id, "m", "v1", 0.2, 0.1, {})])
    scores.save_scores(db, [scores.ScoreRow(item_id, "m", "v2", 0.9, 0.7, {}, flag=True)])
    latest = submissions.latest_score(db, item_id)
    assert latest == {"relevance": 0.9, "risk": 0.7, "model_version": "v2", "flagged": 1}
    sid = submissions.submission_source_id(db)
    assert sid == submissions.submission_source_id(db) and sid > 0


def test_like_ignores_case_and_booleans_read_as_integers(any_db: sqlite_utils.Database) -> None:
    from monitor.store.status import set_meta

    set_meta(any_db, "classifier.version", "v1")
    assert any_db.execute("SELECT COUNT(*) FROM meta WHERE key LIKE ?", ["CLASSIFIER.%"]).fetchone()[0] == 1
    row = any_db.execute(
        "SELECT 1 = 1, 1 = 2, EXISTS (SELECT 1 FROM meta), (SELECT 2 > 1) FROM meta LIMIT 1"
    ).fetchone()
    assert tuple(row) == (1, 0, 1, 1) and all(type(v) is int for v in row)


def test_classify_and_match_end_to_end_on_postgresql(
    pg_server: object, make_config: object, run_cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from monitor import pipeline
    from monitor.config import load_config
    from monitor.review.queue import link_item
    from monitor.store import rebuttals, scores
    from tests.fakes import HashingEncoder
    from tests.test_classify_pipeline import FALSE_VI, OFF_VI, TOPIC, approve_claim

    url = pg_server.fresh_url()  # type: ignore[attr-defined]
    config_file = make_config(topic=TOPIC, database=url)  # type: ignore[operator]
    cfg = load_config(config_file)
    encoder = HashingEncoder()
    monkeypatch.setattr("monitor.classify.score.get_encoder", lambda *a, **k: (encoder, None))
    monkeypatch.setattr("monitor.match.suggest.get_encoder", lambda *a, **k: (encoder, None))
    monkeypatch.setattr("monitor.group.run.shared_encoder", lambda *a, **k: (encoder, None))
    db = connect(cfg.database_path)
    assert dialect(db) == "postgresql"
    try:
        false_id, _ = add_item(db, NewItem(title="", text=FALSE_VI))
        off_id, _ = add_item(db, NewItem(title="", text=OFF_VI))
        rid, _ = approve_claim(db, "can-cuoc", FALSE_VI)
        report = pipeline.classify(cfg, db)
        assert report.scored == 2 and report.flagged >= 1
        assert scores.flag_for(db, false_id) is not None and scores.flag_for(db, off_id) is None
        matched = pipeline.match(cfg, db)
        assert matched.items >= 1
        assert rebuttals.suggestions_for(db, false_id)[0]["rebuttal_id"] == rid
        pipeline.group(cfg, db)  # answered by a suggestion: nothing to group, but the stage runs
        uid = store_users.create_user(db, "lan", "a-long-password-1", "analyst")
        user = store_users.get_user_by_id(db, uid)
        assert user is not None
        link_item(db, false_id, rid, user)
        assert db.execute("SELECT state FROM flags WHERE item_id = ?", [false_id]).fetchone()[0] == "linked"
        actions = {e["action"] for e in audit_store.entries(db, limit=500)}
        assert {"model.trained", "user.create"} <= actions and any("link" in a for a in actions)
        shown = run_cli("status", "--json", config=config_file)  # type: ignore[operator]
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.output)["flagged"]["linked"] == 1
    finally:
        db.conn.close()


# --- the adapter, without a server ----------------------------------------------------------------------------


def test_translation_of_placeholders_and_insert_or_ignore() -> None:
    t = translate("INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)")
    assert (
        t.sql == "INSERT INTO links (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        and t.insert_into == "links"
    )
    assert (
        translate("SELECT * FROM d WHERE kind LIKE ? || '%'").sql
        == "SELECT * FROM d WHERE kind ILIKE %s || '%%'"
    )
    assert translate("SELECT 'LIKE', likes FROM t WHERE a NOT LIKE ?").sql == (
        "SELECT 'LIKE', likes FROM t WHERE a NOT ILIKE %s"
    )
    assert (
        translate("SELECT '?' , x FROM t WHERE a = :a", named=True).sql
        == "SELECT '?' , x FROM t WHERE a = %(a)s"
    )
    for sqlite_only in (
        "INSERT OR REPLACE INTO t VALUES (?)",
        "PRAGMA table_info(t)",
        "SELECT strftime('%s', x) FROM t",
        "SELECT GROUP_CONCAT(x) FROM t",
        "SELECT * FROM flags f INDEXED BY flags_open_queue",
    ):
        with pytest.raises(StoreError, match="not supported yet on PostgreSQL"):
            translate(sqlite_only)


def test_database_urls_are_checked_and_redacted() -> None:
    assert check_url("postgresql://misinfo:secret@db.example:5432/misinfo") is None
    assert check_url("postgresql://misinfo@/misinfo?host=/run/postgresql") is None
    assert "names no database" in str(check_url("postgresql://misinfo@db.example:5432"))
    assert "not a supported" in str(check_url("mysql://x@y/z"))
    assert "invalid port" in str(check_url("postgresql://x@y:port/z"))
    assert redact("postgresql://misinfo:secret@db:5432/m") == "postgresql://misinfo:***@db:5432/m"


def test_messages_name_a_postgresql_database_without_its_password(tmp_path: Path) -> None:
    from monitor.config import parse_config

    cfg = parse_config("database: postgresql://monitor:s3cret@127.0.0.1:5432/misinfo\n", base_dir=tmp_path)
    assert cfg.database_label == "postgresql://monitor:***@127.0.0.1:5432/misinfo"
    assert "s3cret" not in cfg.database_label
    assert parse_config("database: m.db\n", base_dir=tmp_path).database_label == str(tmp_path / "m.db")


# --- round 3: reports, retention, collection, digests -----------------------------------------------------

REPORT_ZONES = ["Asia/Ho_Chi_Minh", "UTC", "Asia/Kathmandu", "America/St_Johns"]


def _report_fill(db: sqlite_utils.Database, now: datetime, seed: int = 3) -> None:
    """Items over 40 days at any minute, flags, links, decisions, moves, corrections and deletions: the same
    rows on whichever backend (times computed here, never by the database)."""
    import random

    from monitor.store.db import to_db_time, write
    from tests import builders

    rng = random.Random(seed)
    at = to_db_time(now)
    admin = builders.add_user(db, "admin-r", "admin", at=at)
    r1 = builders.add_approved_rebuttal(db, "r1", "Phản bác một", "", at=at)
    r2 = builders.add_approved_rebuttal(db, "r2", "Phản bác hai", "", at=at)
    n1 = builders.add_narrative(db, "Luận điệu một", r1, at=at)
    n2 = builders.add_narrative(db, "Luận điệu hai", r2, at=at)
    sources = [store_queue.ensure_source(db, name) for name in ("nguon-a", "nguon-b", "nguon-c")]
    items: list[tuple[int, datetime]] = []
    for k in range(90):
        seen = now - timedelta(minutes=rng.randint(0, 40 * 1440))
        item_id, _ = add_item(
            db,
            NewItem(
                title=f"Tin {k}",
                text=f"nội dung {k}",
                source_id=rng.choice([*sources, None]),
                lang=rng.choice(["vi", "vi", "en", ""]),
                fetched_at=to_db_time(seen),
            ),
        )
        items.append((item_id, seen))
        if rng.random() < 0.6:
            store_queue.insert_flag(
                db,
                item_id,
                relevance=0.9,
                risk=0.8,
                narrative_id=rng.choice([n1, n2, None]),
                flagged_at=to_db_time(seen + timedelta(minutes=rng.randint(0, 600))),
            )
    flagged = [int(r[0]) for r in db.execute("SELECT item_id FROM flags ORDER BY item_id").fetchall()]
    for k, item_id in enumerate(flagged[::4]):
        builders.mark_linked(db, item_id, r1, admin, at=to_db_time(now - timedelta(hours=k % 50)))
    for item_id in flagged[::8]:
        builders.add_link(db, item_id, r2, at=at)
    for item_id in flagged[1::5]:
        builders.mark_dismissed(db, item_id)
    for item_id in flagged[2::9]:
        builders.add_assignment(
            db,
            item_id=item_id,
            narrative_id=n1,
            rebuttal_id=r1,
            assignee_id=admin,
            created_by=admin,
            channel="website",
            status="published",
            published_at=at,
            created_at=at,
        )
    with write(db):
        for item_id in flagged[2::7]:
            db.execute("UPDATE flags SET state = 'escalated' WHERE item_id = ?", [item_id])
        for item_id in flagged[3::6]:
            db.execute("UPDATE flags SET narrative_id = ? WHERE item_id = ?", [n2, item_id])
        for item_id, _ in items[::9]:
            db.execute("UPDATE items SET lang = 'en', source_id = ? WHERE id = ?", [sources[0], item_id])
        for item_id, seen in items[5::11]:  # a time corrected across midnight
            moved = to_db_time(seen - timedelta(hours=13))
            db.execute("UPDATE items SET fetched_at = ? WHERE id = ?", [moved, item_id])
        for item_id in flagged[4::13]:
            db.execute("DELETE FROM assignments WHERE item_id = ?", [item_id])
            db.execute("DELETE FROM links WHERE item_id = ?", [item_id])
            db.execute("DELETE FROM flags WHERE item_id = ?", [item_id])


def _all_reports(db: sqlite_utils.Database) -> dict[tuple[str, int, str], object]:
    from monitor.store import reports

    return {
        (tz, days, name): reports.table(db, name, reports.Window(days=days, tz=tz))
        for tz in REPORT_ZONES
        for days in (1, 2, 7, 30)
        for name in reports.TABLES
    }


def test_reports_give_the_same_figures_on_both_backends(tmp_path: Path, pg_server: object) -> None:
    from monitor.store import reports

    now = datetime.now(UTC).replace(microsecond=0)
    lite = connect(tmp_path / "s.db")
    pg = connect(pg_server.fresh_url())  # type: ignore[attr-defined]
    try:
        for db in (lite, pg):
            _report_fill(db, now)
        expected, got = _all_reports(lite), _all_reports(pg)
        for key, rows in expected.items():
            assert got[key] == rows, key
        month = expected[("Asia/Ho_Chi_Minh", 30, "volumes")]
        assert sum(r["items"] for r in month) > 40 and sum(r["flags"] for r in month) > 20  # type: ignore[attr-defined]
        linked = expected[("UTC", 30, "response_times")][0]  # type: ignore[index]
        assert linked["n"] > 0 and linked["median_hours"] is not None
        for table in ("report_slots", "report_days", "report_link_times"):
            assert pg[table].count == lite[table].count > 0, table
        before = sorted(tuple(r) for r in pg.execute("SELECT dim, day, key, measure, n FROM report_days"))
        reports.recount(pg)  # the back-fill gives what the triggers kept
        after = sorted(tuple(r) for r in pg.execute("SELECT dim, day, key, measure, n FROM report_days"))
        assert after == [r for r in before if r[4] != 0] and _all_reports(pg) == got
    finally:
        lite.conn.close()
        pg.conn.close()


def test_report_percentiles_are_the_same_on_both_backends(any_db: sqlite_utils.Database) -> None:
    """PostgreSQL picks the two values percentile() interpolates between in SQL; SQLite sorts in Python: the
    same figures, to the last bit, for ties, NULLs, one value, every rank and an empty window."""
    import random

    from monitor.store import reports
    from monitor.store.db import write

    db = any_db
    empty = reports.response_times(db, reports.Window(days=30, tz="Asia/Ho_Chi_Minh"))
    assert [(r["n"], r["median_hours"], r["p90_hours"]) for r in empty] == [(0, None, None)] * 2
    rng = random.Random(16)
    ps = (0, 1, 25, 50, 90, 99, 100)
    with write(db):
        db.execute("CREATE TABLE pct_values (grp INTEGER, hours DOUBLE PRECISION)")
        for n in range(0, 23):
            for _ in range(
                n
            ):  # ties: few distinct values; fractions: interpolation between unequal neighbours
                value = rng.choice([1.0, 2.5, 2.5, 7 / 3, 1e-3, 48.0, rng.random() * 100])
                db.execute("INSERT INTO pct_values (grp, hours) VALUES (?, ?)", [n, value])
            db.execute("INSERT INTO pct_values (grp, hours) VALUES (?, NULL)", [n])  # NULLs are left out
    for n in range(0, 23):
        values = [
            float(r[0])
            for r in db.execute("SELECT hours FROM pct_values WHERE grp = ?", [n]).fetchall()
            if r[0] is not None
        ]
        got = reports._percentiles(db, "SELECT hours FROM pct_values WHERE grp = ?", [n], ps)
        assert got == (n, [reports.percentile(values, p) for p in ps]), n
    ties = reports._percentiles(db, "SELECT 2.5 AS hours FROM pct_values WHERE grp = ?", [9], (50, 90))
    assert ties == (10, [2.5, 2.5])


def test_prune_keeps_blobs_still_referenced_on_both(any_db: sqlite_utils.Database) -> None:
    from monitor.store.collect import finish_ok, prune, start_fetch
    from monitor.store.db import write

    db = any_db
    old, cut, new = "2020-01-01T00:00:00+00:00", "2021-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"
    aged, _ = add_item(db, _item(title="Cũ", text="cũ", evidence=[Evidence(b"<old/>", fetched_at=old)]))
    kept, _ = add_item(db, _item(title="Mới", text="mới", evidence=[Evidence(b"<new/>", fetched_at=new)]))
    read = _with_ocr(db)  # its image is referenced by the OCR text too
    src = store_queue.ensure_source(db, "feed-a")
    for started in (old, new):
        log = start_fetch(db, src)
        finish_ok(db, log, src, status="ok", http_status=200, nbytes=1, items_new=0, items_seen=0, note=None,
                  etag=None, last_modified=None)  # fmt: skip
        with write(db):
            db.execute("UPDATE fetch_log SET started_at = ? WHERE id = ?", [started, log])
    running = start_fetch(db, src)
    with write(db):
        db.execute("UPDATE evidence SET fetched_at = ? WHERE item_id = ?", [old, read])
        db.execute("UPDATE fetch_log SET started_at = ? WHERE id = ?", [old, running])
    counts = prune(db, cut, cut, batch=1)  # batches of one: the loops run more than once
    assert counts == {"evidence": 2, "evidence_blobs": 1, "fetch_log": 1}
    assert read_blob(db, _sha(b"<old/>")) is None and read_blob(db, _sha(b"<new/>")) == b"<new/>"
    assert read_blob(db, _sha(b"\x89PNG fake")) == b"\x89PNG fake"  # the OCR text still refers to it
    assert db["items"].count == 3 and db["fetch_log"].count == 2  # items kept; a running pass kept
    assert [r[0] for r in db.execute("SELECT item_id FROM evidence").fetchall()] == [kept]
    assert aged != kept


def _sha(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


def test_fetch_passes_leases_and_interrupted_runs_on_both(any_db: sqlite_utils.Database) -> None:
    from monitor.store import collect

    db = any_db
    src = store_queue.ensure_source(db, "feed-a")
    log = collect.start_fetch(db, src)
    assert log > 0 and collect.fetch_log(db, src)[0]["status"] == "running"
    collect.finish_ok(db, log, src, status="ok", http_status=200, nbytes=512, items_new=3, items_seen=4,
                      note=None, etag='"v1"', last_modified="Mon, 01 Dec 2025 00:00:00 GMT")  # fmt: skip
    (row,) = collect.fetch_log(db, src)
    assert (row["status"], row["bytes"], row["items_new"], row["items_seen"]) == ("ok", 512, 3, 4)
    state = collect.source_state(db, src)
    assert state["etag"] == '"v1"' and state["consecutive_failures"] == 0
    failed = collect.start_fetch(db, src)
    next_at = collect.finish_error(db, failed, src, error="HTTP 503", interval=60)
    assert collect.source_state(db, src)["next_attempt_after"] == next_at
    assert collect.source_state(db, src)["consecutive_failures"] == 1
    # Leases: one owner at a time; another live owner is refused; released, it can be taken.
    me, other = "otherhost:1:1", "elsewhere:2:1"  # other hosts: always taken as alive
    assert collect.acquire_lease(db, "collect:feed-a", me, ttl=60)
    assert collect.acquire_lease(db, "collect:feed-a", me, ttl=60)  # renewed by its owner
    assert not collect.acquire_lease(db, "collect:feed-a", other, ttl=60)
    collect.release_lease(db, "collect:feed-a", other)  # not the holder: nothing happens
    assert not collect.acquire_lease(db, "collect:feed-a", other, ttl=60)
    collect.release_lease(db, "collect:feed-a", me)
    assert collect.acquire_lease(db, "collect:feed-a", other, ttl=60)
    collect.release_lease(db, "collect:feed-a", other)
    # A pass left running by a killed process is closed (no live lease holds it).
    collect.start_fetch(db, src)
    assert collect.close_abandoned(db) == 1
    assert collect.fetch_log(db, src)[0]["error"] == collect.INTERRUPTED
    collect.start_fetch(db, src)
    assert collect.close_interrupted(db, src) == 1 and collect.close_interrupted(db, src) == 0
    assert (
        db.execute("SELECT last_error FROM sources WHERE id = ?", [src]).fetchone()[0] == collect.INTERRUPTED
    )


def test_near_duplicate_bands_and_clusters_on_both(any_db: sqlite_utils.Database) -> None:
    from monitor.store import collect

    db = any_db
    src = store_queue.ensure_source(db, "feed-a")
    a, _ = add_item(db, _item(source_id=src, external_id="e1", canonical_url="https://a.vn/1"))
    b, _ = add_item(db, _item(title="Gần giống", text="gần giống", source_id=src))
    c, _ = add_item(db, _item(title="Khác", text="khác hẳn"))
    big = 2**62 + 7  # band values use the whole signed 64-bit range
    collect.save_cluster(db, a, a, [11, big, 33])
    assert collect.cluster_candidates(db, b, [11, 99, 98]) == [a]
    collect.save_cluster(db, b, a, [11, 99, 98])
    collect.save_bands(db, [(0, 11, c), (1, 5, c)])
    found = collect.band_candidates(db, {(0, 11), (1, big), (2, 1234)}, per_key=2)
    assert found == {(0, 11): [a, b], (1, big): [a]}
    assert collect.cluster_members(db, a) == [a, b]
    assert collect.cluster_text(db, b) == ("Gần giống\ngần giống", a)
    assert collect.seen_in_source(db, src, "e1", None, "x") == a
    keys = collect.known_keys(db, src, {"e1", "e9"}, {"https://a.vn/1", "https://z.vn"}, {"nope"})
    assert (keys.item_ids, keys.urls, keys.hashes) == ({"e1"}, {"https://a.vn/1"}, set())
    assert collect.known_urls(db, src, 10) == ["https://a.vn/1"]


def test_digest_ledger_claims_each_message_once_on_both(any_db: sqlite_utils.Database) -> None:
    from monitor.store import mail

    db = any_db
    now = "2026-01-05T08:00:00+00:00"
    row = mail.claim(db, "digest", "lan@example.vn", "2026-01-05", "w1", now, "<m1@x>", "bytes-1")
    assert row is not None and row["status"] == "sending" and row["attempts"] == 1
    assert mail.claim(db, "digest", "lan@example.vn", "2026-01-05", "w2", now, "<m2@x>", "bytes-2") is None
    mail.mark_failed(db, int(row["id"]), "w1", "SMTP 451", "2026-01-05T08:10:00+00:00")
    early = "2026-01-05T08:05:00+00:00"
    assert mail.claim(db, "digest", "lan@example.vn", "2026-01-05", "w2", early, "<m3@x>", "b") is None
    later = "2026-01-05T08:11:00+00:00"
    again = mail.claim(db, "digest", "lan@example.vn", "2026-01-05", "w2", later, "<m3@x>", "b")
    assert again is not None and (again["message_id"], again["payload"], again["attempts"]) == (
        "<m1@x>",
        "bytes-1",
        2,
    )
    mail.mark_sent(db, int(again["id"]), "w2", later)
    assert mail.ledger_row(db, "digest", "lan@example.vn", "2026-01-05")["status"] == "sent"  # type: ignore[index]
    assert mail.enqueue(db, "alert:surge", "ops@example.vn", "p1", "<a@x>", "alert", now)
    assert not mail.enqueue(db, "alert:surge", "ops@example.vn", "p1", "<a@x>", "alert", now)
    assert [r["kind"] for r in mail.due_failed(db, later, "2026-01-01")] == ["alert:surge"]
    assert [r["kind"] for r in mail.ledger_rows(db, "ALERT:")] == ["alert:surge"]
    assert mail.claimed_since(db, "digest", "2026-01-01") and not mail.claimed_since(db, "x", "2026-01-01")
    assert mail.previous_window_end(db, "digest", "lan@example.vn", "2026-01-06") == now
    assert mail.digest_counts(db, "2026-01-01", later) == {
        "new_items": 0, "new_flagged": 0, "linked": 0, "dismissed": 0, "escalated": 0,
    }  # fmt: skip
    # An operator's --force: a stale 'sending' row, a failed row before its backoff.
    stuck = mail.claim(db, "digest", "minh@example.vn", "2026-01-05", "w1", now, "<s@x>", "s")
    assert stuck is not None
    taken = mail.claim(
        db, "digest", "minh@example.vn", "2026-01-05", "w3", later, "<t@x>", "t", stale_before=later
    )
    assert taken is not None and taken["claimed_by"] == "w3"
    mail.mark_failed(db, int(taken["id"]), "w3", "SMTP 451", "2027-01-01T00:00:00+00:00")
    forced = mail.claim(
        db, "digest", "minh@example.vn", "2026-01-05", "w4", later, "<u@x>", "u", ignore_backoff=True
    )
    assert forced is not None and forced["attempts"] == 3
    # The read-only queries behind the digest and the surge alerts run on either backend.
    assert mail.top_flagged(db, "2026-01-01", later, 5) == [] and mail.best_rebuttals(db, [1, 2]) == {}
    assert mail.narrative_volumes(db, "2026-01-01", later) == {} and mail.narrative_info(db, [1]) == {}
    assert mail.open_assignments(db, later) == [] and mail.failing_sources(db) == []
    assert mail.narrative_examples(db, 1, "2026-01-01", later) == []


def test_collect_classify_match_from_a_loopback_feed_on_postgresql(
    pg_server: object, make_config: object, http_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import pipeline
    from monitor.config import load_config
    from monitor.store import collect, rebuttals, scores
    from tests.collect_helpers import FAST_COLLECT, rss
    from tests.fakes import HashingEncoder
    from tests.httpserver import Response
    from tests.test_classify_pipeline import FALSE_VI, OFF_VI, TOPIC, approve_claim

    feed = rss(
        [
            {"title": "Tin nóng", "link": "http://127.0.0.1/a/1", "guid": "g1", "description": FALSE_VI},
            {"title": "Thị trường", "link": "http://127.0.0.1/a/2", "guid": "g2", "description": OFF_VI},
        ]
    )
    http_server.routes["/feed.xml"] = Response(200, feed, {"Content-Type": "application/rss+xml"})  # type: ignore[attr-defined]
    url = pg_server.fresh_url()  # type: ignore[attr-defined]
    source = {"name": "feed-a", "kind": "rss", "url": http_server.url("/feed.xml")}  # type: ignore[attr-defined]
    config_file = make_config(topic=TOPIC, database=url, sources=[source], collect=FAST_COLLECT)  # type: ignore[operator]
    cfg = load_config(config_file)
    encoder = HashingEncoder()
    monkeypatch.setattr("monitor.classify.score.get_encoder", lambda *a, **k: (encoder, None))
    monkeypatch.setattr("monitor.match.suggest.get_encoder", lambda *a, **k: (encoder, None))
    db = connect(cfg.database_path)
    assert dialect(db) == "postgresql"
    try:
        first = pipeline.collect(cfg, db)
        assert (first.new, first.failed) == (2, []) and db["items"].count == 2
        again = pipeline.collect(cfg, db, source="feed-a")  # the same entries: nothing new, no new sighting
        assert (
            (again.new, again.failed) == (0, [])
            and db["items"].count == 2
            and db["item_sightings"].count == 2
        )
        src = int(db.execute("SELECT id FROM sources WHERE name = 'feed-a'").fetchone()[0])
        log = collect.fetch_log(db, src)
        assert [r["status"] for r in log] in (["ok", "ok"], ["not_modified", "ok"]) and log[-1][
            "items_new"
        ] == 2
        assert db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] >= 1
        false_id = int(db.execute("SELECT id FROM items WHERE title = 'Tin nóng'").fetchone()[0])
        rid, _ = approve_claim(db, "can-cuoc", FALSE_VI)
        report = pipeline.classify(cfg, db)
        assert report.scored == 2 and scores.flag_for(db, false_id) is not None
        assert pipeline.match(cfg, db).items >= 1
        assert rebuttals.suggestions_for(db, false_id)[0]["rebuttal_id"] == rid
        assert search_items(db, "tin nong") == [false_id]
    finally:
        db.conn.close()


# --- the benchmark's bulk builder (monitor/demo/benchfill.py) and the queue's suggestions, on both --------------


def test_the_bench_builder_writes_the_same_rows_on_both_backends(tmp_path: Path, pg_server: object) -> None:
    """SQLite through executemany, PostgreSQL through COPY (indexes dropped and rebuilt, triggers skipped):
    the same items, flags and suggestions, flags.source_id / lang filled, every index back, the report
    counters (when the database has them) counting the loaded rows."""
    from monitor.demo import benchfill

    lite = connect(tmp_path / "bench.db")
    pg = connect(pg_server.fresh_url())  # type: ignore[attr-defined]
    indexes = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1"
    before = [r[0] for r in pg.execute(indexes).fetchall()]
    now = datetime.now(UTC)  # one clock for both builds: their times must not straddle a second
    counts = [benchfill.fill(db, 3_000, 600, now=now) for db in (lite, pg)]
    assert counts[0] == counts[1] and counts[0]["items"] == 3_000 and counts[0]["flags"] == 600
    for sql in (
        "SELECT id, source_id, url, content_hash, title, text, fetched_at, lang, cluster_id, sightings"
        " FROM items ORDER BY id",
        "SELECT id, item_id, state, relevance, risk, reasons_json, narrative_id, flagged_at FROM flags ORDER BY id",
        "SELECT item_id, rebuttal_id, claim_id, rank, score, claim FROM suggestions ORDER BY item_id",
    ):
        lite_rows = [tuple(r) for r in lite.execute(sql).fetchall()]
        assert lite_rows == [tuple(r) for r in pg.execute(sql).fetchall()], sql
    assert (
        pg.execute(
            "SELECT COUNT(*) FROM flags f JOIN items i ON i.id = f.item_id"
            " WHERE f.source_id = i.source_id AND f.lang = i.lang"
        ).fetchone()[0]
        == 600
    )
    assert [r[0] for r in pg.execute(indexes).fetchall()] == before
    if "report_slots" in pg.table_names():
        assert pg.execute("SELECT SUM(items), SUM(flags) FROM report_slots").fetchone() == (3_000, 600)
    # The load's session_replication_role was local to its transaction: triggers and checks are back.
    assert pg.execute("SHOW session_replication_role").fetchone()[0] == "origin"
    lite.conn.close()
    pg.conn.close()


def test_the_queue_rows_get_their_best_suggestions_on_both(any_db: sqlite_utils.Database) -> None:
    from monitor.store import rebuttals
    from tests.web_helpers import seed_flag, seed_rebuttal

    item = seed_flag(any_db, "Tin đồn về căn cước", risk=0.9)
    other = seed_flag(any_db, "Tin đồn về lương hưu", risk=0.8)
    first = seed_rebuttal(any_db, "Không phải làm lại căn cước", ["Phải làm lại căn cước"])
    second = seed_rebuttal(any_db, "Lương hưu không bị cắt", ["Lương hưu bị cắt"])
    found = [
        {"rebuttal_id": first, "score": 0.91, "claim": "Phải làm lại căn cước"},
        {"rebuttal_id": second, "score": 0.42, "claim": "Lương hưu bị cắt"},
    ]
    rebuttals.replace_suggestions(any_db, item, found, rebuttals.library_version(any_db))
    rows = [{"id": item}, {"id": other}]
    store_queue.attach_suggestions(any_db, rows, limit=1)
    assert [s["rebuttal_id"] for s in rows[0]["suggestions"]] == [first]
    assert rows[1]["suggestions"] == []


def test_migrate_copies_a_sqlite_store_into_an_empty_postgresql(tmp_path: Path, pg_server: object) -> None:
    import hashlib

    from click.testing import CliRunner

    from monitor.cli import cli
    from monitor.review.queue import link_item
    from monitor.store import reports
    from tests import builders

    path = tmp_path / "lite.db"
    lite = connect(path)
    src = store_queue.ensure_source(lite, "feed-a")
    first, _ = add_item(lite, _item(source_id=src, evidence=[Evidence(b"<rss>1</rss>")]))
    second, _ = add_item(
        lite, _item(title="Giá vàng hôm nay", text="Thị trường vàng tăng nhẹ.", source_id=src)
    )
    store_queue.insert_flag(lite, first, relevance=0.9, risk=0.8)
    uid = store_users.create_user(lite, "lan", "a-long-password-1", "analyst")
    rid = builders.add_approved_rebuttal(lite, "sap-nhap", "Sáp nhập không đổi căn cước", "", at="2026-01-01")
    link_item(lite, first, rid, store_users.get_user_by_id(lite, uid))  # type: ignore[arg-type]
    window = reports.Window(days=7, tz="Asia/Ho_Chi_Minh")
    lite_reports = {name: reports.table(lite, name, window) for name in reports.TABLES}
    lite_audit = [(e["action"], e["actor"]) for e in audit_store.entries(lite)]
    lite.conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    url = pg_server.fresh_url()  # type: ignore[attr-defined]

    def run(*args: str) -> object:
        return CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "migrate", *args])

    done = run("--from", str(path), "--to", url, "--batch", "1")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert "every row count matches" in done.output and "audit_log" in done.output  # type: ignore[attr-defined]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # the SQLite file is untouched
    again = run("--from", str(path), "--to", url)
    assert again.exit_code == 2 and "not empty" in again.output  # type: ignore[attr-defined]
    assert len(again.output.strip().splitlines()) == 1  # type: ignore[attr-defined]
    unreachable = run("--from", str(path), "--to", f"postgresql://x@127.0.0.1:{_closed_port()}/db")
    assert unreachable.exit_code == 2 and "cannot connect" in unreachable.output  # type: ignore[attr-defined]
    assert run("--from", str(path), "--to", "mysql://x@y/z").exit_code == 2  # type: ignore[attr-defined]

    pg = connect(url)
    try:
        assert migrate(pg) == []
        assert search_items(pg, "sap nhap") == [first] and search_items(pg, "gia vang") == [second]
        assert read_blob(pg, _sha(b"<rss>1</rss>")) == b"<rss>1</rss>"
        assert store_users.authenticate(pg, "lan", "a-long-password-1", "10.0.0.9")["id"] == uid  # type: ignore[index]
        assert pg.execute("SELECT state FROM flags WHERE item_id = ?", [first]).fetchone()[0] == "linked"
        assert [(e["action"], e["actor"]) for e in audit_store.entries(pg)][1:] == lite_audit
        assert {name: reports.table(pg, name, window) for name in reports.TABLES} == lite_reports
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):  # the trigger is back on
            pg.execute("DELETE FROM audit_log")
        third, created = add_item(pg, _item(title="Mới", text="tin mới sau khi chuyển"))  # ids go on
        assert created and third > second
        assert store_users.create_user(pg, "minh", "a-long-password-2", "analyst") > uid
    finally:
        pg.conn.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sources_sync_writes_only_what_changed_on_both(any_db: sqlite_utils.Database) -> None:
    from monitor.config import parse_config
    from monitor.store.sources import sync_sources

    def sources(*entries: str) -> list[object]:
        body = "\n".join(f"  - {{name: {e}, kind: rss, url: 'http://127.0.0.1:9/{e}.xml'}}" for e in entries)
        return list(parse_config(f"sources:\n{body}\n").sources)

    def rows() -> dict[str, tuple[object, ...]]:
        return {
            str(r[0]): tuple(r[1:])
            for r in any_db.execute("SELECT name, id, url, enabled, updated_at FROM sources").fetchall()
        }

    first = sync_sources(any_db, sources("a", "b"))
    assert sorted(first) == ["a", "b"] and all(first.values())
    before = rows()
    assert sync_sources(any_db, sources("a", "b")) == first
    assert rows() == before  # nothing rewritten: not even updated_at
    with write(any_db):  # validators of the URLs as configured so far
        any_db.execute("UPDATE sources SET etag = 'v1', last_modified = 'Mon, 01 Dec 2025 00:00:00 GMT'")
    changed = sources("a", "b")
    changed[1] = changed[1].model_copy(update={"url": "http://127.0.0.1:9/b2.xml"})  # type: ignore[attr-defined]
    assert sync_sources(any_db, changed) == first
    after = rows()
    assert after["a"] == before["a"] and after["b"][1] == "http://127.0.0.1:9/b2.xml"
    validators = {
        str(r[0]): (r[1], r[2])
        for r in any_db.execute("SELECT name, etag, last_modified FROM sources").fetchall()
    }
    assert validators["a"] == ("v1", "Mon, 01 Dec 2025 00:00:00 GMT")  # unchanged source keeps them
    assert validators["b"] == (None, None)  # a new URL does not send the old one's ETag
    ids = sync_sources(any_db, sources("a"))  # b leaves the configuration: disabled, kept
    assert ids == {"a": first["a"]} and rows()["b"][2] == 0
    again = sync_sources(any_db, sources("a", "b"))
    assert again == first and rows()["b"][2] == 1


def test_many_rows_in_one_statement_read_back_the_same(any_db: sqlite_utils.Database) -> None:
    """executemany of plain INSERTs: PostgreSQL sends the rows as arrays in one statement (int and float mixed in a
    column, NULLs, bytes, duplicates skipped by OR IGNORE, a column of mixed kinds row by row); both backends
    store the same rows."""
    any_db.execute("CREATE TABLE bulk (k BIGINT PRIMARY KEY, x DOUBLE PRECISION, s TEXT, b BYTEA, n BIGINT)")
    rows = [
        (1, 1.5, "a\"{,}\\'", b"\x00ab", None),
        (2, 2, None, None, 7),
        (3, None, "xé", b"", 2**40),
        (1, 9.0, "dup", None, None),  # the same key: ignored, the first row stays
    ]
    with write(any_db):
        cur = any_db.conn.executemany(
            "INSERT OR IGNORE INTO bulk (k, x, s, b, n) VALUES (?, ?, ?, ?, ?)", rows
        )
    assert cur.rowcount == 3
    if dialect(any_db) == "postgresql":  # it did go as one statement
        sql = translate("INSERT OR IGNORE INTO bulk (k, x, s, b, n) VALUES (?, ?, ?, ?, ?)").sql
        assert any_db.conn._as_unnest(sql, [list(r) for r in rows]) is not None  # type: ignore[attr-defined]
    got = any_db.execute("SELECT k, x, s, b, n FROM bulk ORDER BY k").fetchall()
    assert [tuple(r) for r in got] == [
        (1, 1.5, "a\"{,}\\'", b"\x00ab", None),
        (2, 2.0, None, None, 7),
        (3, None, "xé", b"", 2**40),
    ]
    # Text and numbers in one column cannot go as one array: row by row, the same result.
    with write(any_db):
        any_db.conn.executemany("INSERT INTO bulk (k, s) VALUES (?, ?)", [(10, "ten"), (11, 11)])
    assert [r[0] for r in any_db.execute("SELECT s FROM bulk WHERE k >= 10 ORDER BY k").fetchall()] == [
        "ten",
        "11",
    ]
    # A unique violation inside the batch fails the whole statement, as row by row inside a transaction.
    with pytest.raises(sqlite3.IntegrityError), write(any_db):
        any_db.conn.executemany("INSERT INTO bulk (k, s) VALUES (?, ?)", [(20, "a"), (20, "b")])
    assert any_db.execute("SELECT COUNT(*) FROM bulk WHERE k = 20").fetchone()[0] == 0


def test_a_writer_waits_for_another_process_s_write_lock_then_goes_on(tmp_path: Path) -> None:
    """write() waits for the write lock held elsewhere (polling in short steps), takes it once it is free, and
    leaves SQLite's busy timeout as it was; past the timeout it fails with 'database is locked'."""
    import threading
    import time

    from monitor.store import db as store_db

    path = tmp_path / "lock.db"
    first, second = connect(path), connect(path)
    first.execute("CREATE TABLE t (x INTEGER)")
    holder = first.conn
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    started = time.monotonic()
    with write(second):
        second.execute("INSERT INTO t VALUES (2)")
    assert time.monotonic() - started >= 0.25  # it waited for the commit ...
    assert second.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2  # ... and saw the other's row
    assert second.execute("PRAGMA busy_timeout").fetchone()[0] == store_db.BUSY_TIMEOUT_MS

    holder.execute("BEGIN IMMEDIATE")
    try:
        store_db.BUSY_TIMEOUT_MS, saved = 200, store_db.BUSY_TIMEOUT_MS
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"), write(second):
                pass
            assert second.execute("PRAGMA busy_timeout").fetchone()[0] == 200  # the handler is back on
        finally:
            store_db.BUSY_TIMEOUT_MS = saved
    finally:
        holder.execute("ROLLBACK")
    assert not second.conn.in_transaction
    first.conn.close()
    second.conn.close()


def test_postgresql_collect_batches_of_different_items_run_at_once_and_the_same_item_once(
    pg_server: Any, tmp_path: Path
) -> None:
    """On PostgreSQL a collection batch takes no store-wide lock: while one writer holds its transaction open,
    a batch of other items commits; a batch carrying the same item waits for it and then finds it (one row,
    a sighting). New ids come from the items sequence, started past the ids already written."""
    import threading

    from monitor.collect.run import store_batch
    from monitor.config import parse_config
    from monitor.store.items import ItemIds, lock_item_keys
    from monitor.store.sources import sync_sources

    url = pg_server.fresh_url()
    cfg = parse_config(
        "sources:\n  - {name: a, kind: rss, url: 'http://127.0.0.1:1/a.xml'}\n"
        "  - {name: b, kind: rss, url: 'http://127.0.0.1:1/b.xml'}\n",
        base_dir=tmp_path,
    )
    first, other, third = connect(url), connect(url), connect(url)
    ids = sync_sources(first, cfg.sources)
    earlier, _ = add_item(first, _item(title="Tin cũ", text="đã có từ trước", canonical_url="https://x.vn/0"))

    shared = _item(source_id=ids["a"], canonical_url="https://x.vn/1", external_id="a-1")
    done: dict[str, Any] = {}

    def run(name: str, db: sqlite_utils.Database, item: NewItem) -> None:
        done[name] = store_batch(db, item.source_id or 0, [(item, [])])

    with write(first, exclusive=False):
        lock_item_keys(first, [shared])
        held = ItemIds(first).take()
        assert held > earlier
        # Another source's item: no key in common, it commits while `first` is still open.
        unrelated = _item(
            source_id=ids["b"], title="Khác", text="một tin khác hẳn", canonical_url="https://y.vn/2"
        )
        t_other = threading.Thread(target=run, args=("other", other, unrelated))
        t_other.start()
        t_other.join(timeout=30)
        assert "other" in done, "a batch of other items waited for an unrelated writer"
        # The same item from the other source: it must wait for `first`.
        same = _item(source_id=ids["b"], canonical_url="https://x.vn/1", external_id="b-9")
        t_same = threading.Thread(target=run, args=("same", third, same))
        t_same.start()
        t_same.join(timeout=1.0)
        assert "same" not in done  # still waiting for the dedup key
        first.execute(
            "INSERT INTO items (id, source_id, url, canonical_url, external_id, content_hash, title, text,"
            " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                held,
                ids["a"],
                "https://x.vn/1",
                "https://x.vn/1",
                "a-1",
                shared.content_hash,
                shared.title,
                shared.text,
                "2026-12-01T00:00:00",
            ],
        )
    t_same.join(timeout=30)
    assert done["same"] == [(held, False)]  # found the row `first` committed: a sighting, no second item
    ((other_id, created),) = done["other"]
    assert created and other_id > earlier and other_id != held
    assert (
        first.execute("SELECT COUNT(*) FROM items WHERE canonical_url = 'https://x.vn/1'").fetchone()[0] == 1
    )
    for db in (first, other, third):
        db.conn.close()


def test_opening_a_database_waits_when_another_connection_holds_the_wal_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite answers a second connection switching a new database to WAL "database is locked" at once, without
    its busy handler: open_db tries again (here the first two tries are refused) and opens the database."""
    from monitor.store import db as store_db

    refusals = {"left": 2}

    class Refusing(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql.strip().upper() == "PRAGMA JOURNAL_MODE = WAL" and refusals["left"] > 0:
                refusals["left"] -= 1
                raise sqlite3.OperationalError("database is locked")
            return super().execute(sql, *args)

    real_connect = sqlite3.connect
    monkeypatch.setattr(
        store_db.sqlite3, "connect", lambda *a, **kw: real_connect(*a, factory=Refusing, **kw)
    )
    db = store_db.open_db(tmp_path / "new.db")
    assert refusals["left"] == 0
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.conn.close()


def test_processes_opening_a_new_database_at_once_all_get_it(tmp_path: Path) -> None:
    """Several connections open (and migrate) the same new database at the same moment: none fails."""
    import threading

    for attempt in range(10):
        path = tmp_path / f"race-{attempt}.db"
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def open_it(
            target: Path = path, barrier: threading.Barrier = start, failed: list[BaseException] = errors
        ) -> None:
            barrier.wait()
            try:
                connect(target).conn.close()
            except BaseException as exc:  # noqa: BLE001 (collected for the assertion below)
                failed.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == [], errors
