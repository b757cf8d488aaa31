"""run_classify with the fake encoder: flagging, thresholds, incremental runs, clusters, reasons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from monitor.classify.model import model_kind
from monitor.classify.score import run_classify
from monitor.classify.train import ensure_model, train_models
from monitor.config import Config, load_config
from monitor.store import connect, write
from monitor.store import scores as store
from monitor.store.items import NewItem, add_item
from tests.builders import add_approved_rebuttal, add_claim, add_narrative, put_in_cluster, seed_subset
from tests.fakes import HashingEncoder

TOPIC = {
    "name": "test topic",
    "descriptions": {
        "vi": [
            "Sắp xếp bộ máy: sáp nhập tỉnh, bỏ cấp huyện, tinh giản biên chế; chuyển đổi số, VNeID, căn cước."
        ],
        "en": [
            "Vietnam restructuring: merging provinces, abolishing districts; digital ID VNeID, chip ID cards."
        ],
    },
    "keywords": ["sáp nhập", "VNeID", "căn cước", "tinh giản biên chế", "cấp huyện"],
}

FALSE_VI = "Nóng: sau khi sáp nhập tỉnh, toàn bộ căn cước công dân gắn chip phải làm lại, mất phí, không làm là thẻ hết giá trị."
FALSE_NODIAC = (
    "Cai VNeID la nha nuoc xem duoc het so du tai khoan ngan hang cua ban va co the tru tien bat cu luc nao."
)
ACCURATE_VI = "Bộ Công an khẳng định căn cước công dân đã cấp vẫn còn nguyên giá trị sử dụng sau khi sắp xếp đơn vị hành chính."
OFF_VI = "Giá vàng miếng SJC hôm nay tăng mạnh, vượt mốc cao nhất trong tháng."
FALSE_EN = (
    "Vietnam will ban cash from January, all payments must be electronic. Share before they delete this!"
)


@pytest.fixture
def cfg(make_config: Callable[..., Path]) -> Config:
    return load_config(make_config(topic=TOPIC))


@pytest.fixture
def cdb(cfg: Config) -> Any:
    database = connect(cfg.database_path)
    yield database
    database.conn.close()


def install_seed_model(cfg: Config, db: sqlite_utils.Database, encoder: HashingEncoder) -> str:
    """The model a fresh install gets from the seed data: trained once per session, then copied from the
    session's seed-model cache (monitor.classify.seed_cache) into each test's installation."""
    bundle, _ = ensure_model(cfg, db, encoder)
    return bundle.version


def add(db: sqlite_utils.Database, text: str, title: str = "") -> int:
    item_id, _ = add_item(db, NewItem(title=title, text=text))
    return int(item_id)


def approve_claim(db: sqlite_utils.Database, key: str, claim: str) -> tuple[int, int]:
    """An approved rebuttal with one claim and its narrative; returns (rebuttal_id, narrative_id)."""
    now = "2026-11-26T00:00:00+00:00"
    with write(db):
        rid = add_approved_rebuttal(db, key, f"Rebuttal {key}", "", at=now)
        add_claim(db, rid, claim)
        nid = add_narrative(db, key, rid, at=now)
    return rid, nid


def test_fresh_install_trains_then_flags_false_on_topic_items(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder
) -> None:
    ids = {
        name: add(cdb, text)
        for name, text in [
            ("false", FALSE_VI),
            ("nodiac", FALSE_NODIAC),
            ("accurate", ACCURATE_VI),
            ("off", OFF_VI),
        ]
    }
    report = run_classify(cfg, cdb, encoder=fake_encoder)
    assert report.trained and report.scored == 4
    assert store.active_model(cdb, model_kind(fake_encoder.model_id)) is not None
    flagged = {row["item_id"] for row in cdb.query("SELECT item_id FROM flags")}
    assert ids["false"] in flagged and ids["nodiac"] in flagged
    assert ids["off"] not in flagged and ids["accurate"] not in flagged
    assert report.flagged == len(flagged)
    (card,) = [m["card"] for m in store.list_models(cdb)]
    assert card["encoder_model_id"] == fake_encoder.model_id and card["data"]["seed"] >= 400
    assert Path(store.list_models(cdb)[0]["path"], "card.json").exists()


def test_rerun_scores_nothing_new_and_never_reflags(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder
) -> None:
    install_seed_model(cfg, cdb, fake_encoder)
    first = add(cdb, FALSE_VI)
    run_classify(cfg, cdb, encoder=fake_encoder)
    assert store.flag_for(cdb, first) is not None
    again = run_classify(cfg, cdb, encoder=fake_encoder)
    assert (again.scored, again.flagged) == (0, 0)
    second = add(cdb, FALSE_NODIAC)
    third = run_classify(cfg, cdb, encoder=fake_encoder)
    assert third.scored == 1 and store.flag_for(cdb, second) is not None
    assert cdb.execute("SELECT COUNT(*) FROM flags").fetchone()[0] == 2


def test_thresholds_decide_flagging(make_config: Callable[..., Path], fake_encoder: HashingEncoder) -> None:
    strict = load_config(
        make_config(
            topic=TOPIC,
            classifier={"model": "bundled:all-MiniLM-L6-v2", "thresholds": {"relevance": 1.0, "risk": 1.0}},
        )
    )
    db = connect(strict.database_path)
    install_seed_model(strict, db, fake_encoder)
    add(db, FALSE_VI)
    report = run_classify(strict, db, encoder=fake_encoder)
    assert report.scored == 1 and report.flagged == 0
    row = store.scores_for(db, 1)[0]
    assert row["reasons"]["thresholds"] == {"relevance": 1.0, "risk": 1.0, "suggestion": 0.35}
    db.conn.close()


def test_only_cluster_representatives_are_flagged(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder
) -> None:
    install_seed_model(cfg, cdb, fake_encoder)
    rep = add(cdb, FALSE_VI)
    dup = add(cdb, FALSE_VI + " Chia sẻ gấp!!!")
    put_in_cluster(cdb, rep, rep, dup)
    report = run_classify(cfg, cdb, encoder=fake_encoder)
    assert report.scored == 2 and report.flagged == 1
    assert store.flag_for(cdb, rep) is not None and store.flag_for(cdb, dup) is None
    assert len(store.scores_for(cdb, dup)) == 1  # still scored, just not queued


def test_reasons_name_nearest_claim_sentence_model_and_cues(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder
) -> None:
    install_seed_model(cfg, cdb, fake_encoder)
    claim = (
        "Sau sáp nhập tỉnh, căn cước công dân gắn chip phải làm lại và mất phí, nếu không thẻ hết giá trị."
    )
    _, narrative_id = approve_claim(cdb, "cccd-merger", claim)
    approve_claim(cdb, "cash-ban", "Tiền mặt sẽ bị cấm, mọi thanh toán phải chuyển khoản.")
    item = add(cdb, "Giá điện tăng. " + FALSE_VI + " Mọi người cẩn thận.", title="Tin nóng")
    run_classify(cfg, cdb, encoder=fake_encoder)
    flag = store.flag_for(cdb, item)
    assert flag is not None and flag["state"] == "new"
    reasons = flag["reasons"]
    nearest = reasons["risk"]["nearest_claims"]
    assert nearest[0]["text"] == claim and nearest[0]["similarity"] > nearest[1]["similarity"]
    assert flag["narrative_id"] == narrative_id
    assert "căn cước" in reasons["matched_sentence"]["text"]
    assert reasons["model"] == {"encoder": fake_encoder.model_id, "version": flag["model_version"]}
    assert reasons["risk"]["cues"] and "căn cước" in reasons["relevance"]["keywords"]

    # The item page shows exactly these reasons: nearest claims with similarity, the matched sentence, cues.
    from monitor.web.routes_queue import reasons_list

    shown = reasons_list(reasons)
    assert shown["claims"][0]["claim"] == claim
    assert shown["claims"][0]["similarity"] == pytest.approx(nearest[0]["similarity"])
    assert "căn cước" in shown["claims"][0]["sentence"]
    labels = dict(shown["facts"])
    assert "Risk: similarity to known false claims" in labels and "Risk cues" in labels
    assert fake_encoder.model_id in labels["Model"]


def test_new_model_version_rescores_everything(
    cfg: Config, cdb: Any, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    install_seed_model(cfg, cdb, fake_encoder)
    add(cdb, FALSE_VI)
    add(cdb, OFF_VI)
    first = run_classify(cfg, cdb, encoder=fake_encoder)
    # A third of the seed data: any newer model will do, and it trains in seconds.
    small = seed_subset(tmp_path / "labelled")
    report = train_models(cfg, cdb, encoder=fake_encoder, cross_validate=False, data_dir=small)
    assert report.activated and report.version != first.model_version
    second = run_classify(cfg, cdb, encoder=fake_encoder)
    assert second.model_version == report.version and second.scored == 2
    assert second.flagged == 0  # already queued under the first version
    versions = {r["model_version"] for r in cdb.query("SELECT model_version FROM item_scores")}
    assert versions == {first.model_version, report.version}


def test_another_encoder_gets_its_own_model(
    make_config: Callable[..., Path], fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    # A third of the seed data: two models train here, and any model will do.
    cfg = load_config(
        make_config(topic=TOPIC, classifier={"labelled_data": str(seed_subset(tmp_path / "s"))})
    )
    cdb = connect(cfg.database_path)
    install_seed_model(cfg, cdb, fake_encoder)
    add(cdb, FALSE_VI)
    run_classify(cfg, cdb, encoder=fake_encoder)
    other = HashingEncoder(dim=32)
    other.model_id = "fake-hashing-32"
    report = run_classify(cfg, cdb, encoder=other)
    assert report.trained and report.scored == 1
    kinds = {m["kind"] for m in store.list_models(cdb)}
    assert kinds == {model_kind("fake-hashing-64"), model_kind("fake-hashing-32")}
    cdb.conn.close()
