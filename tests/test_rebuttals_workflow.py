"""Rebuttal workflow: roles, versions, approval, audit, search, suggestions only for approved."""

from __future__ import annotations

import pytest

from monitor.errors import Conflict, PermissionDenied, UsageError
from monitor.review import library as review
from monitor.store import audit
from monitor.store import rebuttals as store
from tests.rebuttal_helpers import CASH, CCCD, approved, users


def test_create_is_draft_and_decodes_lists(db):
    u = users(db)
    rid = review.create_rebuttal(db, CCCD, u["coordinator"])
    r = store.get_rebuttal(db, rid)
    assert r["status"] == "draft" and r["version"] == 1 and r["key"] == "cccd-merger"
    assert r["evidence"] == ["https://example.gov.vn/cccd"]
    assert r["media"] == [{"type": "infographic", "url": "https://example.gov.vn/cccd.png"}]
    assert r["channels"] == ["facebook", "zalo"]
    assert [c["language"] for c in r["claims"]] == ["vi", "en"]
    assert store.approved_claims(db) == []


def test_roles_enforced(db):
    u = users(db)
    with pytest.raises(PermissionDenied):
        review.create_rebuttal(db, CCCD, u["analyst"])
    rid = review.create_rebuttal(db, CCCD, u["coordinator"])
    with pytest.raises(PermissionDenied):
        review.approve_rebuttal(db, rid, u["coordinator"])
    with pytest.raises(PermissionDenied):
        review.retire_rebuttal(db, rid, u["analyst"])
    review.approve_rebuttal(db, rid, u["admin"])
    assert store.get_rebuttal(db, rid)["status"] == "approved"


def test_approve_creates_narrative_and_audits(db):
    rid = approved(db, CCCD)
    claims = store.approved_claims(db)
    assert {c["rebuttal_id"] for c in claims} == {rid}
    assert claims[0]["narrative_id"] is not None
    narrative = db.execute("SELECT name FROM narratives WHERE rebuttal_id = ?", [rid]).fetchone()
    assert narrative[0] == CCCD["title"]
    actions = [e["action"] for e in audit.entries(db)]
    assert "rebuttal.create" in actions and "rebuttal.approve" in actions


def test_edit_keeps_versions_and_returns_approved_to_draft(db):
    u = users(db)
    rid = approved(db, CCCD)
    v = review.update_rebuttal(
        db, rid, {"short_answer": "Sai hoàn toàn."}, u["coordinator"], expected_version=2
    )
    assert v == 3
    r = store.get_rebuttal(db, rid)
    assert r["status"] == "draft" and r["short_answer"] == "Sai hoàn toàn." and r["key"] == "cccd-merger"
    versions = store.rebuttal_versions(db, rid)
    assert [x["version"] for x in versions] == [3, 2, 1]
    assert "short_answer" in versions[0]["changes"] and versions[0]["changed_by"] == "coordinator"
    assert versions[2]["snapshot"]["short_answer"] == CCCD["short_answer"]
    assert store.approved_claims(db) == []  # not suggested until approved again
    # nothing changed -> no new version
    assert review.update_rebuttal(db, rid, {"short_answer": "Sai hoàn toàn."}, u["coordinator"]) == 3


def test_metadata_edit_keeps_approval(db):
    u = users(db)
    rid = approved(db, CCCD)
    review.update_rebuttal(
        db, rid, {"author": "Ban biên tập", "url": "https://example.gov.vn/x"}, u["coordinator"]
    )
    r = store.get_rebuttal(db, rid)
    assert r["status"] == "approved" and r["version"] == 3 and r["author"] == "Ban biên tập"


def test_stale_version_conflicts(db):
    u = users(db)
    rid = review.create_rebuttal(db, CCCD, u["coordinator"])
    review.update_rebuttal(db, rid, {"title": "Tiêu đề mới"}, u["coordinator"], expected_version=1)
    with pytest.raises(Conflict):
        review.update_rebuttal(db, rid, {"title": "Khác"}, u["approver"], expected_version=1)


def test_claims_edit_keeps_unchanged_claim_ids(db):
    u = users(db)
    rid = review.create_rebuttal(db, CCCD, u["coordinator"])
    first = store.get_rebuttal(db, rid)["claims"][0]
    review.update_rebuttal(db, rid, {"claims": [first["text"], "Một cách nói mới"]}, u["coordinator"])
    claims = store.get_rebuttal(db, rid)["claims"]
    assert claims[0]["id"] == first["id"] and [c["text"] for c in claims] == [
        first["text"],
        "Một cách nói mới",
    ]


def test_invalid_fields_raise_usage_error_with_fix(db):
    u = users(db)
    with pytest.raises(UsageError, match="claims is empty"):
        review.create_rebuttal(db, {**CCCD, "claims": []}, u["coordinator"])
    with pytest.raises(UsageError, match="channels"):
        review.create_rebuttal(db, {**CCCD, "channels": ["pigeon"]}, u["coordinator"])


def test_retire_and_reapprove(db):
    u = users(db)
    rid = approved(db, CCCD)
    review.retire_rebuttal(db, rid, u["approver"])
    assert store.get_rebuttal(db, rid)["status"] == "retired"
    with pytest.raises(Conflict):
        review.retire_rebuttal(db, rid, u["approver"])
    review.approve_rebuttal(db, rid, u["approver"])
    assert db.execute("SELECT COUNT(*) FROM narratives WHERE rebuttal_id = ?", [rid]).fetchone()[0] == 1


def test_list_search_is_accent_insensitive(db):
    approved(db, CCCD)
    u = users(db)
    review.create_rebuttal(db, CASH, u["coordinator"])
    hits = store.list_rebuttals(db, q="lam lai can cuoc")
    assert [h["key"] for h in hits] == ["cccd-merger"] and hits[0]["claims"]
    assert [h["key"] for h in store.list_rebuttals(db, status="draft")] == ["cash-ban"]
    assert store.list_rebuttals(db, q="tien mat")[0]["key"] == "cash-ban"


def test_library_version_and_suggestions_only_approved(db):
    u = users(db)
    v0 = store.library_version(db)
    rid = approved(db, CCCD)
    v1 = store.library_version(db)
    assert v1 != v0
    draft = review.create_rebuttal(db, CASH, u["coordinator"])
    assert store.library_version(db) == v1  # drafts do not change what is suggested
    from tests.rebuttal_helpers import flagged_item

    item = flagged_item(db, "Tin", "nội dung")
    assert store.stale_flagged_items(db) == [item]
    rows = [
        {"rebuttal_id": rid, "claim_id": None, "score": 0.9, "claim": "a"},
        {"rebuttal_id": draft, "claim_id": None, "score": 0.5, "claim": "b"},
    ]
    store.replace_suggestions(db, item, rows, v1)
    assert [s["rebuttal_id"] for s in store.suggestions_for(db, item)] == [rid]
    assert store.stale_flagged_items(db) == []
    review.retire_rebuttal(db, rid, u["approver"])
    assert store.suggestions_for(db, item) == []
    assert store.stale_flagged_items(db) == [item]
