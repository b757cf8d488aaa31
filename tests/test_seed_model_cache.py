"""The seed-model cache: a fresh installation copies the model another one trained from the same seed data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.risk import KnownClaims
from monitor.classify import seed_cache
from monitor.classify.model import topic_of
from monitor.classify.train import ensure_model
from monitor.config import Config, load_config
from monitor.store import connect
from monitor.store import scores as store
from tests.builders import add_decided_flag, seed_subset
from tests.conftest import base_config
from tests.fakes import HashingEncoder

TEXTS = [
    "Nóng: sáp nhập tỉnh xong phải làm lại căn cước công dân, mất phí 200 nghìn.",
    "sap nhap xa xong thi so do bi huy het, phai cap lai",
    "Giá vàng hôm nay tăng mạnh.",
]


def install(root: Path, labelled: Path, **classifier: Any) -> tuple[Config, Any]:
    """A fresh installation (its own state folder and database) reading `labelled`."""
    import yaml

    root.mkdir(parents=True)
    data = base_config(root)
    data["classifier"].update(labelled_data=str(labelled), **classifier)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cfg = load_config(path)
    return cfg, connect(cfg.database_path)


def first_installation(tmp_path: Path) -> tuple[Path, HashingEncoder]:
    """A labelled folder and an encoder, with a first installation that trained its seed model (and so
    filled the cache)."""
    labelled = seed_subset(tmp_path / "labelled", every=4)
    enc = HashingEncoder()
    cfg, db = install(tmp_path / "one", labelled)
    ensure_model(cfg, db, enc)
    db.conn.close()
    return labelled, enc


def probabilities(cfg: Config, db: Any, bundle: Any, enc: HashingEncoder) -> np.ndarray:
    vectors = enc.encode(TEXTS)
    topic = topic_of(cfg, db, enc)
    return np.vstack(
        [
            bundle.relevance.score(TEXTS, vectors, topic).probability,
            bundle.risk.score(TEXTS, vectors, KnownClaims.none()).probability,
        ]
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "model-cache"
    monkeypatch.setenv(seed_cache.ENV, str(folder))
    return folder


def test_second_installation_copies_the_seed_model(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    labelled = seed_subset(tmp_path / "labelled", every=4)
    enc = HashingEncoder()
    cfg1, db1 = install(tmp_path / "one", labelled)
    first, trained = ensure_model(cfg1, db1, enc)
    assert trained and "copied_from" not in first.card
    entries = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and (entries[0] / "model.pkl").is_file()

    # Thresholds decide what gets flagged, not the model: another installation's are no reason to retrain.
    cfg2, db2 = install(tmp_path / "two", labelled, thresholds={"risk": 0.7})
    calls = enc.calls
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.classify.train"):
        second, trained = ensure_model(cfg2, db2, enc)
    assert trained and second.card["copied_from"]["version"] == first.version
    assert second.version != first.version, "each installation gets its own model version"
    assert second.card["thresholds"]["risk"] == 0.7 and first.card["thresholds"]["risk"] != 0.7
    assert "copied the one trained from the same seed data" in caplog.text
    assert "training one from the seed data" not in caplog.text
    # The copy is this installation's active model, on its own disk, registered and audited.
    (row,) = [m for m in store.list_models(db2) if m["active"]]
    assert row["version"] == second.version and Path(row["path"]).is_relative_to(cfg2.state_path)
    assert db2.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'model.trained'").fetchone()[0] == 1
    # Same model: same scores for the same texts.
    np.testing.assert_array_equal(probabilities(cfg1, db1, first, enc), probabilities(cfg2, db2, second, enc))
    assert enc.calls - calls <= 3, "copying a model must not re-encode the seed data"
    db1.conn.close()
    db2.conn.close()


def test_changed_seed_data_or_topic_trains_again(cache: Path, tmp_path: Path) -> None:
    labelled, enc = first_installation(tmp_path)
    with (labelled / "seed.csv").open("a", encoding="utf-8") as fh:
        fh.write('"Tin đồn mới: sáp nhập xong phải nộp phí đổi sổ hộ khẩu",vi,1,1,\n')
    cfg2, db2 = install(tmp_path / "two", labelled)
    bundle, _ = ensure_model(cfg2, db2, enc)
    assert "copied_from" not in bundle.card, "a changed seed file must not reuse the old model"
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2
    key_a = seed_cache.seed_key(labelled, enc.model_id, {"descriptions": {}, "keywords": []})
    key_b = seed_cache.seed_key(labelled, enc.model_id, {"descriptions": {}, "keywords": ["sáp nhập"]})
    key_c = seed_cache.seed_key(labelled, "another-encoder", {"descriptions": {}, "keywords": []})
    assert len({key_a, key_b, key_c}) == 3
    db2.conn.close()


def test_installation_with_decisions_trains_its_own(cache: Path, tmp_path: Path) -> None:
    labelled, enc = first_installation(tmp_path)
    cfg2, db2 = install(tmp_path / "two", labelled)
    from monitor.store.items import NewItem, add_item

    item_id, _ = add_item(db2, NewItem(title="", text="Quả táo xanh sẽ bị cấm bán ở chợ quê sau sáp nhập"))
    add_decided_flag(db2, item_id, "linked", None, at="2026-11-01T00:00:00+00:00")
    bundle, _ = ensure_model(cfg2, db2, enc)
    assert "copied_from" not in bundle.card and bundle.card["data"]["decisions"] == 1
    db2.conn.close()


def test_broken_cache_entry_is_ignored_and_nothing_is_lost(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    labelled, enc = first_installation(tmp_path)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    (entry / "model.pkl").write_bytes(b"not a pickle")
    cfg2, db2 = install(tmp_path / "two", labelled)
    with caplog.at_level(logging.WARNING):
        bundle, trained = ensure_model(cfg2, db2, enc)
    assert trained and "copied_from" not in bundle.card
    assert "cannot be read" in caplog.text and str(entry) in caplog.text
    db2.conn.close()


def test_no_cache_unless_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(seed_cache.ENV, raising=False)
    assert seed_cache.cache_root() is None
    monkeypatch.setenv(seed_cache.ENV, "  ")
    assert seed_cache.cache_root() is None
    labelled = seed_subset(tmp_path / "labelled", every=4)
    cfg, db = install(tmp_path / "one", labelled)
    bundle, trained = ensure_model(cfg, db, HashingEncoder())
    assert trained and "copied_from" not in bundle.card
    assert seed_cache.keep("abc", tmp_path) is None and seed_cache.fetch("abc") is None
    db.conn.close()
