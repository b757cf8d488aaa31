"""Library import/export: YAML, JSON, CSV, ClaimReview (list and single), rollback, idempotence, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import ImportFileError, PermissionDenied
from monitor.library.io import export_claimreview, import_file
from monitor.store import rebuttals as store
from rebuttals import claimreview
from tests.rebuttal_helpers import users

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "data" / "rebuttals" / "starter.yaml"
NARRATIVE_KEYS = {
    "cccd-merger",
    "vneid-bank",
    "severance-none",
    "district-travel",
    "land-cert-invalid",
    "cash-ban",
    "vneid-spyware",
    "hometown-docs",
    "pension-cut",
    "vneid-phishing",
    "teacher-cuts",
    "plates-change",
}

CLAIMREVIEW_ONE = {
    "@context": "https://schema.org",
    "@type": "ClaimReview",
    "url": "https://factcheck.example.vn/bai/cam-tien-mat",
    "claimReviewed": "Từ tháng sau cấm hoàn toàn tiền mặt",
    "headline": "Không có chuyện cấm tiền mặt",
    "reviewBody": "Tiền mặt vẫn là phương tiện thanh toán hợp pháp.",
    "reviewRating": {"@type": "Rating", "alternateName": "Sai"},
    "inLanguage": "vi",
    "author": {"@type": "Organization", "name": "Ban biên tập"},
    "datePublished": "2026-01-05",
}


def test_starter_library_imports_approved_and_is_idempotent(db):
    u = users(db)
    report = import_file(db, STARTER, approver=u["approver"])
    assert len(report.created) == 12 and len(report.approved) == 12
    rows = store.list_rebuttals(db, status="approved", limit=100)
    assert {r["key"] for r in rows} == NARRATIVE_KEYS
    assert all(len(r["claims"]) >= 3 for r in rows)
    again = import_file(db, STARTER, approver=u["approver"])
    assert again.created == [] and again.updated == [] and len(again.unchanged) == 12
    assert db.execute("SELECT COUNT(*) FROM rebuttals").fetchone()[0] == 12
    assert db.execute("SELECT COUNT(*) FROM narratives").fetchone()[0] == 12


def test_without_approver_imports_drafts(db, tmp_path):
    path = tmp_path / "lib.json"
    path.write_text(
        json.dumps([{"title": "A", "claims": ["claim a"]}, {"title": "B", "claims": "claim b | claim c"}])
    )
    report = import_file(db, path)
    assert len(report.created) == 2
    rows = store.list_rebuttals(db)
    assert {r["status"] for r in rows} == {"draft"}
    assert sorted(c for r in rows for c in r["claims"]) == ["claim a", "claim b", "claim c"]
    assert len(import_file(db, path).unchanged) == 2  # keyless rows get a stable hash key


def test_csv_import(db, tmp_path):
    path = tmp_path / "lib.csv"
    path.write_text(
        "key,title,short_answer,claims,channels,evidence\n"
        "k1,Tiêu đề,Sai.,Câu một | Câu hai,facebook | zalo,https://example.gov.vn/1\n",
        encoding="utf-8",
    )
    import_file(db, path)
    r = store.get_rebuttal_by_key(db, "k1")
    assert [c["text"] for c in r["claims"]] == ["Câu một", "Câu hai"] and r["channels"] == [
        "facebook",
        "zalo",
    ]


def test_bad_row_rolls_back_whole_file_and_names_position(db, tmp_path):
    path = tmp_path / "lib.yaml"
    path.write_text(
        "- {key: good-one, title: Good, claims: [a claim]}\n- {key: bad-one, title: Bad, claims: []}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError, match=r"row 2 \[bad-one\]: claims is empty — list at least one"):
        import_file(db, path)
    assert db.execute("SELECT COUNT(*) FROM rebuttals").fetchone()[0] == 0
    csv_path = tmp_path / "lib.csv"
    csv_path.write_text("title,claims,channels\nOk,c1,facebook\nBad,c2,pigeon\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"row 2 \(line 3\).*channels: 'pigeon' is unknown"):
        import_file(db, csv_path)
    assert db.execute("SELECT COUNT(*) FROM rebuttals").fetchone()[0] == 0


def test_failure_during_write_rolls_back(db, tmp_path):
    u = users(db)
    path = tmp_path / "lib.yaml"
    path.write_text(
        "- {key: a, title: A, claims: [x]}\n- {key: b, title: B, claims: [y]}\n", encoding="utf-8"
    )
    with pytest.raises(PermissionDenied):
        import_file(db, path, approver=u["coordinator"])
    assert db.execute("SELECT COUNT(*) FROM rebuttals").fetchone()[0] == 0


def test_claimreview_single_and_list(db, tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps(CLAIMREVIEW_ONE, ensure_ascii=False), encoding="utf-8")
    import_file(db, single)
    rows = store.list_rebuttals(db)
    assert len(rows) == 1 and rows[0]["title"] == "Không có chuyện cấm tiền mặt"
    r = store.get_rebuttal(db, rows[0]["id"])
    assert r["verdict"] == "Sai" and r["author"] == "Ban biên tập" and r["date_published"] == "2026-01-05"
    assert r["url"] == CLAIMREVIEW_ONE["url"] and r["language"] == "vi"
    assert [c["text"] for c in r["claims"]] == ["Từ tháng sau cấm hoàn toàn tiền mặt"]
    other = {
        **CLAIMREVIEW_ONE,
        "url": "https://factcheck.example.vn/bai/2",
        "name": "Two",
        "headline": None,
        "claimReviewed": "VNeID reads your messages",
        "inLanguage": "en",
        "author": "Desk",
    }
    many = tmp_path / "many.jsonld"
    many.write_text(json.dumps([CLAIMREVIEW_ONE, other], ensure_ascii=False), encoding="utf-8")
    report = import_file(db, many)
    assert len(report.created) == 1 and len(report.unchanged) == 1
    assert store.list_rebuttals(db, q="messages")[0]["title"] == "Two"


def test_claimreview_missing_claim_is_reported(db, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([CLAIMREVIEW_ONE, {**CLAIMREVIEW_ONE, "claimReviewed": ""}]), encoding="utf-8")
    with pytest.raises(ImportFileError, match="object 2: claimReviewed is missing"):
        import_file(db, path)
    assert db.execute("SELECT COUNT(*) FROM rebuttals").fetchone()[0] == 0


def test_export_is_valid_and_round_trips(db, tmp_path):
    u = users(db)
    import_file(db, STARTER, approver=u["approver"])
    objects = export_claimreview(db)
    assert claimreview.validate(objects) == []
    assert len(objects) == sum(
        len(r["claims"]) for r in store.list_rebuttals(db, status="approved", limit=100)
    )
    assert {o["@type"] for o in objects} == {"ClaimReview"}
    parsed = claimreview.parse(json.loads(json.dumps(objects)))
    assert {p["title"] for p in parsed} == {r["title"] for r in store.list_rebuttals(db, limit=100)}
    assert claimreview.validate([{"@type": "ClaimReview"}])  # an invalid object is caught


def test_cli_import_export_list(run_cli, tmp_path, config_path):
    from monitor.store import connect

    db = connect(tmp_path / "misinfo.db")
    users(db)
    db.conn.close()
    res = run_cli("rebuttals", "import", str(STARTER), "--approved-by", "approver")
    assert res.exit_code == 0 and "12 created" in res.output and "12 approved" in res.output
    res = run_cli("rebuttals", "import", str(STARTER), "--approved-by", "analyst")
    assert res.exit_code == 1 and "not an approver" in res.output
    res = run_cli("rebuttals", "list", "--status", "approved", "--json")
    assert len(json.loads(res.output)) == 12
    out = tmp_path / "cr.json"
    res = run_cli("rebuttals", "export", "--format", "claimreview", "--out", str(out))
    assert res.exit_code == 0 and claimreview.validate(json.loads(out.read_text(encoding="utf-8"))) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {title: '', claims: [x]}\n", encoding="utf-8")
    res = run_cli("rebuttals", "import", str(bad))
    assert res.exit_code == 1 and "row 1" in res.output and "title is missing" in res.output


def test_claimreview_export_reimports_as_same_rebuttals(db, tmp_path):
    from monitor.store import connect

    u = users(db)
    import_file(db, STARTER, approver=u["approver"])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_claimreview(db), ensure_ascii=False), encoding="utf-8")
    again = import_file(db, path)  # same keys: no new rebuttal; exported author/date fill metadata only
    assert again.created == [] and {r["status"] for r in store.list_rebuttals(db, limit=100)} == {"approved"}
    assert len(import_file(db, path).unchanged) == 12
    fresh = connect(tmp_path / "fresh.db")
    report = import_file(fresh, path)
    assert len(report.created) == 12
    original = {r["key"]: sorted(r["claims"]) for r in store.list_rebuttals(db, limit=100)}
    copied = {r["key"]: sorted(r["claims"]) for r in store.list_rebuttals(fresh, limit=100)}
    assert copied == original
    fresh.conn.close()
