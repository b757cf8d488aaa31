"""Matcher (fake encoder): Vietnamese-aware lexical channels, aggregation, re-ranker, metrics, match stage."""

from __future__ import annotations

import numpy as np

from monitor.config import load_config
from monitor.match.suggest import run_match, suggest
from monitor.review import library as review
from monitor.store import rebuttals as store
from rebuttals.evaluate import average_precision, ranking_metrics
from rebuttals.lexical import tokens
from rebuttals.matcher import Doc, Matcher
from rebuttals.rerank import Reranker, train
from tests.builders import add_link, mark_dismissed
from tests.fakes import HashingEncoder
from tests.rebuttal_helpers import CASH, CCCD, approved, flagged_item, users

DOCS = [
    Doc(
        1, "cccd", "Sau sáp nhập tỉnh phải làm lại căn cước công dân gắn chip", "Không phải làm lại căn cước"
    ),
    Doc(2, "cccd", "Thẻ CCCD cũ hết hiệu lực sau sáp nhập", "Không phải làm lại căn cước"),
    Doc(3, "cash", "Nhà nước sắp cấm dùng tiền mặt", "Không cấm tiền mặt"),
    Doc(4, "plates", "Phải đổi biển số xe vì mã tỉnh thay đổi", "Không bắt buộc đổi biển số"),
    Doc(5, "pension", "Lương hưu bị cắt 30% để chi cho tinh gọn bộ máy", "Không cắt lương hưu"),
]


class DenseBlind(HashingEncoder):
    """An encoder that sees nothing: every text gets the same vector, so only lexical channels decide."""

    model_id = "blind"

    def encode(self, texts, batch_size=32):
        out = np.zeros((len(texts), 8), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def test_tokens_fold_syllables_bigrams_and_chars():
    assert "lam_lai" in tokens("Làm lại căn cước", "fold") and "làm_lại" in tokens("Làm lại căn cước", "syl")
    assert tokens("Đổi", "fold") == ["doi"]
    assert " ca" in tokens("căn", "char")
    assert "la" not in tokens("đây là căn cước", "word")


def test_unaccented_query_matches_accented_claim_lexically():
    m = Matcher(DOCS, DenseBlind())
    top = m.search("sau sap nhap phai lam lai can cuoc gan chip", k=3)
    assert top[0].rebuttal_id == "cccd" and top[0].claim_id == 1
    assert m.search("nghe noi sap cam tien mat roi", k=1)[0].rebuttal_id == "cash"


def test_results_are_one_per_rebuttal_best_claim_first():
    m = Matcher(DOCS, HashingEncoder())
    top = m.search("thẻ CCCD cũ hết hiệu lực, phải làm lại căn cước", k=5)
    ids = [t.rebuttal_id for t in top]
    assert len(ids) == len(set(ids)) and ids[0] == "cccd"
    assert top[0].score >= top[-1].score and top[0].claim in {DOCS[0].text, DOCS[1].text}


def test_empty_library_returns_nothing():
    assert Matcher([], HashingEncoder()).search("bất kỳ", k=3) == []


def test_reranker_trains_and_changes_scores():
    m = Matcher(DOCS, HashingEncoder())
    queries = ["lam lai can cuoc", "cam tien mat", "doi bien so xe", "cat luong huu", "CCCD het hieu luc"]
    gold = [{"cccd"}, {"cash"}, {"plates"}, {"pension"}, {"cccd"}]
    rr = train(m, queries, gold, kind="logistic")
    m.reranker = rr
    top = m.search("phai lam lai can cuoc sau sap nhap", k=2)
    assert top[0].rebuttal_id == "cccd" and 0.0 <= top[0].score <= 1.0


def test_reranker_save_load(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, Reranker().n_features)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    rr = Reranker("logistic").fit(x, y)
    rr.save(tmp_path / "rr.pkl")
    again = Reranker.load(tmp_path / "rr.pkl")
    assert np.allclose(again.predict(x), rr.predict(x))


def test_metrics_follow_checkthat_definitions():
    assert average_precision({"a"}, ["b", "a"], 5) == 0.5
    assert average_precision({"a", "b"}, ["a", "x", "b"], 5) == (1 + 2 / 3) / 2
    m = ranking_metrics([{"a"}, {"b"}, set()], [["a"], ["x", "y", "b"], ["z"]])
    assert m["n"] == 2 and m["p@1"] == 0.5 and abs(m["mrr"] - (1 + 1 / 3) / 2) < 1e-9


def test_run_match_suggests_recomputes_on_library_change(db, make_config):
    cfg = load_config(make_config())
    enc = HashingEncoder()
    u = users(db)
    rid = approved(db, CCCD)
    item = flagged_item(db, "Tin nóng", "Sau sáp nhập tỉnh mọi người phải làm lại căn cước công dân gắn chip")
    other = flagged_item(db, "Chợ", "Nhà nước sắp cấm dùng tiền mặt, mọi giao dịch phải chuyển khoản")
    report = run_match(cfg, db, encoder=enc)
    assert report.items == 2
    sugg = store.suggestions_for(db, item)
    assert sugg and sugg[0]["rebuttal_id"] == rid and sugg[0]["rank"] == 1 and sugg[0]["score"] >= 0.35
    assert run_match(cfg, db, encoder=enc).items == 0  # idempotent: nothing stale
    cash = approved(db, CASH)
    assert store.stale_flagged_items(db) == [item, other]
    run_match(cfg, db, encoder=enc)
    assert store.suggestions_for(db, other)[0]["rebuttal_id"] == cash
    review.retire_rebuttal(db, cash, u["approver"])
    run_match(cfg, db, encoder=enc)
    assert all(s["rebuttal_id"] != cash for s in store.suggestions_for(db, other))
    assert run_match(cfg, db, item_ids=[item], encoder=enc).items == 1  # explicit ids are always recomputed


def test_suggest_for_text_returns_approved_with_titles(db, make_config):
    cfg = load_config(make_config())
    approved(db, CCCD)
    users_ = users(db)
    review.create_rebuttal(db, CASH, users_["coordinator"])  # draft: never suggested
    rows = suggest(cfg, db, "sap nhap phai lam lai can cuoc gan chip", encoder=HashingEncoder())
    assert [r["title"] for r in rows] == [CCCD["title"]] and rows[0]["rank"] == 1
    assert suggest(cfg, db, "cam tien mat", encoder=HashingEncoder()) == []


def test_train_matcher_from_links(db, make_config):
    import pytest

    from monitor.errors import ModelError
    from monitor.match.suggest import RERANKER_FILE, train_matcher
    from monitor.store.db import utcnow

    cfg = load_config(make_config())
    enc = HashingEncoder()
    cccd, cash = approved(db, CCCD), approved(db, CASH)
    posts = [
        ("phải làm lại căn cước sau sáp nhập", cccd),
        ("sap nhap tinh roi lam lai can cuoc gan chip", cccd),
        ("CCCD cũ hết hiệu lực, phải làm lại căn cước công dân", cccd),
        ("sắp cấm tiền mặt, phải chuyển khoản", cash),
        ("cam dung tien mat tu thang sau", cash),
        ("nhà nước cấm tiền mặt, mọi giao dịch chuyển khoản", cash),
    ]
    items = [flagged_item(db, "", text) for text, _ in posts]
    with pytest.raises(ModelError, match="only 0 linked"):
        train_matcher(cfg, db, encoder=enc, min_linked=3)
    other = flagged_item(db, "", "Cổng dịch vụ công có thêm thủ tục trực tuyến")
    for item, (_, rid) in zip(items, posts, strict=True):
        add_link(db, item, rid, at=utcnow())
    mark_dismissed(db, other, "off_topic")
    info = train_matcher(cfg, db, encoder=enc, min_linked=3)
    assert info["linked_items"] == 6 and info["no_match_items"] == 1 and info["kind"] == "logistic"
    assert (cfg.state_path / RERANKER_FILE).is_file() and info["rematched"] == 6
    top = store.suggestions_for(db, items[0])
    assert top and top[0]["rebuttal_id"] == cccd and 0.0 <= top[0]["score"] <= 1.0
    assert suggest(cfg, db, "cam tien mat", encoder=enc)[0]["rebuttal_id"] == cash
