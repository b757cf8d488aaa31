"""Training: decisions feed training, held-out comparison, model cards; the pure classifiers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.features import LexicalFeaturizer, keyword_hits, word_tokens
from classifiers.relevance import RelevanceModel, Topic, matched_keywords
from classifiers.risk import KnownClaims, RiskModel
from classifiers.train import load_seed
from monitor.classify.model import model_kind
from monitor.classify.score import run_classify
from monitor.classify.train import REPO_SEED, decision_examples, split_decisions, train_models
from monitor.config import Config, load_config
from monitor.errors import ModelError
from monitor.store import connect
from monitor.store import scores as store
from monitor.store.items import NewItem, add_item
from tests.builders import add_decided_flag, seed_subset
from tests.fakes import HashingEncoder


@pytest.fixture
def cfg(make_config: Callable[..., Path]) -> Config:
    return load_config(make_config())


@pytest.fixture
def cdb(cfg: Config) -> Any:
    database = connect(cfg.database_path)
    yield database
    database.conn.close()


def decide(db: Any, text: str, state: str, reason: str | None = None) -> int:
    """An item with a flag already decided by an analyst."""
    item_id, _ = add_item(db, NewItem(title="", text=text))
    add_decided_flag(db, item_id, state, reason, at="2026-11-01T00:00:00+00:00")
    return int(item_id)


def test_seed_data_is_large_labelled_and_covers_all_narratives() -> None:
    examples = load_seed(REPO_SEED)
    assert len(examples) >= 400
    langs = [ex.lang for ex in examples]
    assert langs.count("vi") > len(langs) / 2 and "en" in langs
    narratives = {ex.narrative for ex in examples if ex.false_claim == 1 and ex.relevant != 0}
    known = {n for n in narratives if n and not n.startswith("paraphrase:")}
    assert len(known) == 12  # the starter library's narratives
    assert len(narratives - known - {""}) >= 50  # the paraphrase sets' novel rumours
    assert any(ex.relevant == 1 and ex.false_claim == 0 for ex in examples)
    assert sum(1 for ex in examples if ex.relevant == 0) >= 80


def test_decisions_become_labels(cdb: Any) -> None:
    linked = decide(cdb, "VNeID rút tiền tài khoản", "linked")
    accurate = decide(cdb, "CCCD vẫn còn giá trị", "dismissed", "accurate")
    off = decide(cdb, "Giá vàng tăng", "dismissed", "off_topic")
    decide(cdb, "Tin trùng", "dismissed", "duplicate")  # says nothing about the text: not used
    decide(cdb, "Đang xem", "in_review")
    labels = {ex.item_id: (ex.relevant, ex.false_claim) for ex in decision_examples(cdb)}
    assert labels == {linked: (1, 1), accurate: (1, 0), off: (0, None)}


def test_decisions_feed_training(cfg: Config, cdb: Any, fake_encoder: HashingEncoder, tmp_path: Path) -> None:
    for i in range(8):
        decide(cdb, f"Bài đăng số {i}: quả táo xanh sẽ bị cấm bán ở chợ quê", "linked")
    report = train_models(
        cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=seed_subset(tmp_path / "s")
    )
    train_dec, held = split_decisions(decision_examples(cdb))
    assert report.card["data"]["decisions"] == len(train_dec) and len(held) >= 1
    assert report.card["data"]["held_out_decisions"] == len(held)


def test_new_model_replaces_current_only_when_not_worse(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    small = seed_subset(tmp_path / "small")
    seed = load_seed(small)
    for ex in seed[::4]:  # analysts' decisions consistent with the seed labels, some held out
        if ex.relevant == 1 and ex.false_claim == 1:
            decide(cdb, ex.text + " (bài đăng lại)", "linked")
        elif ex.relevant == 1:
            decide(cdb, ex.text + " (bài đăng lại)", "dismissed", "accurate")
        else:
            decide(cdb, ex.text + " (bài đăng lại)", "dismissed", "off_topic")
    first = train_models(cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=small)
    assert first.activated
    flipped = seed_subset(tmp_path / "flipped", flip=True)
    worse = train_models(cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=flipped)
    assert not worse.activated
    held = worse.card["metrics"]["held_out"]
    assert held["new"] < held["current"] and held["current_version"] == first.version
    active = store.active_model(cdb, model_kind(fake_encoder.model_id))
    assert active is not None and active["version"] == first.version
    assert {m["version"] for m in store.list_models(cdb)} == {first.version, worse.version}
    same = train_models(cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=small)
    assert same.activated  # as good as the current one: not worse, so it replaces it
    forced = train_models(cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=flipped, force=True)
    assert forced.activated


def test_training_without_both_classes_says_how_to_fix(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    folder = tmp_path / "one-class"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "text,lang,relevant,false_claim,narrative\nxin chao,vi,1,1,\n", encoding="utf-8"
    )
    with pytest.raises(ModelError, match="both classes"):
        train_models(cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=folder)


def test_model_card_has_cross_validated_metrics(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    report = train_models(
        cfg, cdb, encoder=fake_encoder, cross_validate=True, data_dir=seed_subset(tmp_path / "s", 4)
    )
    cv = report.card["metrics"]["cross_validated"]
    assert cv["relevance"]["f1"] > 0.8 and cv["risk"]["f1"] > 0.7
    assert report.card["thresholds"]["risk"] == cfg.classifier.thresholds.risk
    assert run_classify(cfg, cdb, encoder=fake_encoder).model_version == report.version


# --- the pure classifiers -----------------------------------------------------------------------


def test_word_tokens_fold_diacritics_and_keep_accents() -> None:
    toks = word_tokens("Bỏ cấp huyện")
    assert {"bo", "cap", "huyen", "cap_huyen", "~bỏ", "~cấp"} <= set(toks)
    assert keyword_hits(["bo cap huyen roi", "gia vang"], ["cấp huyện", "VNeID"]).tolist() == [1.0, 0.0]
    assert matched_keywords("Cai VNeID, lam lai can cuoc", ["VNeID", "căn cước", "sáp nhập"]) == [
        "VNeID",
        "căn cước",
    ]


def test_lexical_similarity_matches_vietnamese_without_diacritics() -> None:
    lex = LexicalFeaturizer().fit(["sổ đỏ hết hiệu lực sau sáp nhập", "giá vàng hôm nay", "đội tuyển thắng"])
    a, b, c = lex.transform(
        ["so do het hieu luc sau sap nhap", "sổ đỏ hết hiệu lực sau sáp nhập", "giá vàng hôm nay"]
    )
    assert float((a @ b.T).toarray()[0, 0]) > 0.6 > float((a @ c.T).toarray()[0, 0])


def test_risk_model_is_calibrated_and_uses_new_claims(fake_encoder: HashingEncoder) -> None:
    texts = [f"tin đồn số {i}: tiền mặt sẽ bị cấm hoàn toàn" for i in range(20)] + [
        f"bản tin {i}: ngân hàng vẫn nhận tiền mặt bình thường" for i in range(20)
    ]
    y = np.array([1] * 20 + [0] * 20)
    model = RiskModel().fit(texts, fake_encoder.encode(texts), KnownClaims.none(), y)
    p = model.score(["tiền mặt sẽ bị cấm", "ngân hàng nhận tiền mặt"], None, KnownClaims.none()).probability
    assert 0.0 <= p[1] < 0.5 < p[0] <= 1.0
    claim = "Quả táo xanh gây bệnh lạ"
    claims = KnownClaims([claim], fake_encoder.encode([claim]), [{"claim_id": 7}])
    text = ["quả táo xanh gây bệnh lạ đó"]
    scored = model.score(text, fake_encoder.encode(text), claims)
    assert scored.nearest[0][0][0] == 0 and scored.claim_similarity[0] > 0.5 and scored.probability[0] > 0.5


def test_relevance_heuristic_without_labels(fake_encoder: HashingEncoder) -> None:
    desc = ["sáp nhập tỉnh, bỏ cấp huyện, VNeID, căn cước"]
    topic = Topic(desc, fake_encoder.encode(desc), ["sáp nhập", "VNeID"])
    texts = ["nghe nói sáp nhập tỉnh xong phải cài VNeID", "giá vàng hôm nay tăng"]
    s = RelevanceModel().score(texts, fake_encoder.encode(texts), topic)
    assert s.probability[0] > 0.5 > s.probability[1]


def test_fitted_rows_are_the_rows_a_fresh_transform_gives_and_are_never_pickled() -> None:
    import pickle

    from classifiers.features import LexicalFeaturizer

    texts = [
        "Sáp nhập tỉnh xong phải làm lại căn cước, mất phí 200 nghìn!!!",
        "sap nhap tinh xong phai lam lai can cuoc",
        "VNeID bị khoá nếu không đăng nhập trong 30 ngày?",
        "Vietnam will ban cash from January.",
        "Giá vàng hôm nay tăng mạnh.",
    ] * 2
    lex = LexicalFeaturizer().fit(texts)
    subset = [texts[3], texts[0], texts[4]]
    kept = lex.transform(subset).toarray()
    fresh = lex._transform(subset).toarray()
    np.testing.assert_allclose(kept, fresh, rtol=0, atol=1e-6)
    assert "_fit_rows" not in pickle.loads(pickle.dumps(lex)).__dict__
    lex.release_fit_rows()
    assert "_fit_rows" not in lex.__dict__


def test_benchmark_embeddings_are_cached_outside_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from classifiers.evaluate import CACHE_ENV, cached_encode, embedding_cache

    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedding_cache("bench") == tmp_path / "xdg" / "misinfo-monitor" / "bench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert embedding_cache("bench") == Path.home() / ".cache" / "misinfo-monitor" / "bench"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "own"))
    folder = embedding_cache("bench")
    assert folder == tmp_path / "own" / "bench"
    enc = HashingEncoder()
    first = cached_encode(enc, ["một", "hai"], folder)
    again = cached_encode(enc, ["một", "hai"], folder)
    assert enc.calls == 1 and np.array_equal(first, again), "the second call reads the cache"
    cached_encode(enc, ["một", "ba"], folder)
    assert enc.calls == 2 and len(list(folder.glob("*.npy"))) == 2
