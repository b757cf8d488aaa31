"""The store on real SQLite files: pragmas, migrations, de-duplication, FTS with folded diacritics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from monitor.store import audit as audit_store
from monitor.store import connect, migrate
from monitor.store.items import Evidence, NewItem, add_item, read_blob, search_items


def test_pragmas(db: sqlite_utils.Database) -> None:
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    first = connect(tmp_path / "m.db")
    tables = set(first.table_names())
    assert {"items", "flags", "rebuttals", "assignments", "audit_log", "digests_sent", "users"} <= tables
    assert migrate(first) == []
    first.conn.close()
    again = connect(tmp_path / "m.db")
    assert set(again.table_names()) == tables


def _item(**kw: object) -> NewItem:
    base = dict(
        title="Sáp nhập tỉnh: Đà Nẵng và Quảng Nam", text="Chính quyền địa phương hai cấp bắt đầu vận hành."
    )
    base.update(kw)
    return NewItem(**base)  # type: ignore[arg-type]


def test_dedup_by_url_id_and_hash(db: sqlite_utils.Database) -> None:
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


@pytest.mark.parametrize(
    "query",
    ["sap nhap tinh", "Sáp nhập", "da nang", "DA NANG", "chinh quyen hai cap", "Đà Nẵng"],
)
def test_fts_finds_accented_text_typed_without_accents(db: sqlite_utils.Database, query: str) -> None:
    item_id, _ = add_item(db, _item())
    add_item(db, _item(title="Giá vàng hôm nay", text="Thị trường vàng tăng nhẹ."))
    assert search_items(db, query) == [item_id]


def test_fts_hostile_query_is_harmless(db: sqlite_utils.Database) -> None:
    add_item(db, _item())
    assert search_items(db, '"; DROP TABLE items; --') == []
    assert search_items(db, "NEAR(") == []
    assert db["items"].count == 1


def test_audit_log_is_append_only(db: sqlite_utils.Database) -> None:
    audit_store.record(db, "alice", "test.action", "item", 1, {"k": "v"})
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log")
    assert db["audit_log"].count == 1
