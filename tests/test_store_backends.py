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
    db.conn.close()


def test_config_checks_the_database_url() -> None:
    from pydantic import ValidationError

    from monitor.config import Config

    assert Config(database="postgresql://m@db:5432/misinfo").database_path == "postgresql://m@db:5432/misinfo"
    with pytest.raises(ValidationError, match="names no database"):
        Config(database="postgresql://m@db:5432")


# --- the adapter, without a server ----------------------------------------------------------------------------


def test_translation_of_placeholders_and_insert_or_ignore() -> None:
    t = translate("INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)")
    assert (
        t.sql == "INSERT INTO links (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        and t.insert_into == "links"
    )
    assert (
        translate("SELECT * FROM d WHERE kind LIKE ? || '%'").sql
        == "SELECT * FROM d WHERE kind LIKE %s || '%%'"
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
