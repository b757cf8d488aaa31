"""The store on real SQLite files: pragmas, migrations, de-duplication, FTS with folded diacritics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from monitor.store import audit as audit_store
from monitor.store import connect, migrate
from monitor.store.items import NewItem, add_item, search_items


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
    # Raw SQL on purpose: the schema's triggers must refuse it whoever writes it.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log")
    assert db["audit_log"].count == 1


def test_clusters_are_decided_by_collect_and_kept_by_the_store(db: sqlite_utils.Database) -> None:
    from monitor.collect.cluster import assign_cluster
    from monitor.store import collect as store_collect

    body = "Người dân không phải làm lại căn cước công dân sau khi sáp nhập tỉnh, giấy tờ cũ vẫn còn giá trị sử dụng."
    first, _ = add_item(db, NewItem(title="Tin 1", text=body))
    copy, _ = add_item(db, NewItem(title="Tin 2", text=body + " Chia sẻ ngay!"))
    other, _ = add_item(
        db, NewItem(title="Tin 3", text="Giá vàng hôm nay tăng mạnh ở các cửa hàng lớn trong thành phố.")
    )
    assert assign_cluster(db, first, f"Tin 1\n{body}") == first
    assert assign_cluster(db, copy, f"Tin 2\n{body} Chia sẻ ngay!") == first
    assert (
        assign_cluster(db, other, "Tin 3\nGiá vàng hôm nay tăng mạnh ở các cửa hàng lớn trong thành phố.")
        == other
    )
    assert store_collect.cluster_members(db, first) == [first, copy]
    assert store_collect.cluster_text(db, copy) == (f"Tin 2\n{body} Chia sẻ ngay!", first)
    assert store_collect.cluster_text(db, 999) is None


def test_embedding_cache_is_sql_and_the_encoder_is_called_only_for_new_texts(
    db: sqlite_utils.Database,
) -> None:
    from monitor.classify.encoder import encode_cached
    from monitor.store.embeddings import cached_vectors
    from tests.fakes import HashingEncoder

    enc = HashingEncoder()
    first = encode_cached(db, enc, ["một", "hai", "một"])
    assert first.shape == (3, enc.dim) and enc.calls == 1
    again = encode_cached(db, enc, ["hai", "một"])
    assert enc.calls == 1 and (again[1] == first[0]).all()
    from classifiers.text import text_hash

    assert set(cached_vectors(db, enc.model_id, [text_hash("một"), text_hash("ba")])) == {text_hash("một")}
