"""The store's important behaviours on both backends: a SQLite file and a throwaway PostgreSQL (any_db).

The PostgreSQL half needs Debian's postgresql-15 (initdb, pg_ctl) and psycopg: skipped locally without them,
failed under CI=true (tests/conftest.py: require).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from monitor.errors import StoreError
from monitor.store import audit as audit_store
from monitor.store import connect, migrate
from monitor.store import queue as store_queue
from monitor.store import users as store_users
from monitor.store.backend import check_url, dialect, redact, translate
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
    assert pending_on_postgresql() == ["reports_0002_daily_counts", "reports_0003_link_times"]


def test_both_backends_have_the_same_tables_and_columns(tmp_path: Path, pg_server: object) -> None:
    lite = connect(tmp_path / "s.db")
    pg = connect(pg_server.fresh_url())  # type: ignore[attr-defined]
    report_tables = {"report_slots", "report_days", "report_link_times"}  # not ported yet
    lite_tables = set(lite.table_names()) - {t for t in lite.table_names() if "_fts" in t} - report_tables
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


def test_what_is_not_ported_says_so(pg_server: object) -> None:
    from monitor.store import reports

    db = connect(pg_server.fresh_url())  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match="not supported yet on PostgreSQL"):
        db.execute("SELECT strftime('%Y', 'now')")
    with pytest.raises(sqlite3.DatabaseError):  # report counters: migrations pending on PostgreSQL
        reports.volumes(db, reports.Window(days=7))
    # The reports page and CSV go through table(): a clear "not supported yet", not "relation does not exist".
    with pytest.raises(StoreError, match="not supported yet on PostgreSQL: the reports"):
        reports.table(db, "volumes", reports.Window(days=7))
    with pytest.raises(StoreError, match="not supported yet on PostgreSQL"):
        reports.recount(db)
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
