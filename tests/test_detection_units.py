"""The detection core's parts: encoder choice and fallback, diacritics restoration, the library channel
of risk, re-checking recent items when the library changes, and the eval/bench CLI commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import monitor.classify.encoder as encoder_mod
from classifiers.diacritics import AccentRestoringEncoder, is_unaccented_vietnamese, restore
from classifiers.embed import BUNDLED_E5, cpu_has_avx2, make_encoder
from classifiers.vectorpack import pack_path, read_pack, write_pack
from monitor.classify.score import library_risk, run_classify
from monitor.classify.train import REPO_SEED
from monitor.cli import cli
from monitor.config import load_config
from monitor.library.io import import_file
from monitor.store import connect
from monitor.store import scores as store
from monitor.store.items import NewItem, add_item
from tests.builders import seed_subset
from tests.fakes import HashingEncoder

STARTER = Path(__file__).resolve().parent.parent / "data" / "rebuttals" / "starter.yaml"
ADMIN = {"id": None, "username": "test", "role": "admin"}


def test_avx2_is_read_from_cpu_flags() -> None:
    assert cpu_has_avx2("processor : 0\nflags : fpu sse avx avx2 fma\n")
    assert not cpu_has_avx2("processor : 0\nflags : fpu sse avx\n")
    assert not cpu_has_avx2("")


def test_bundled_default_is_the_multilingual_encoder_with_diacritics_restored() -> None:
    encoder = make_encoder(BUNDLED_E5)
    assert isinstance(encoder, AccentRestoringEncoder)
    assert encoder.model_id == "multilingual-e5-small-q4+vi-accents"


@pytest.mark.parametrize(
    ("text", "unaccented_vi"),
    [
        ("nghe noi sap nhap tinh xong phai lam lai can cuoc het", True),
        ("cai vneid la bi theo doi het tin nhan zalo do mn", True),
        ("Sáp nhập tỉnh xong phải làm lại căn cước", False),
        ("Vietnam will ban cash from January, all payments electronic", False),
        ("ok", False),
    ],
)
def test_unaccented_vietnamese_is_recognised(text: str, unaccented_vi: bool) -> None:
    assert is_unaccented_vietnamese(text) is unaccented_vi


def test_restoration_adds_diacritics_only_where_missing() -> None:
    restored = restore("nghe noi sap nhap tinh xong phai lam lai can cuoc")
    assert restored != "nghe noi sap nhap tinh xong phai lam lai can cuoc"
    assert "phải làm lại" in restored
    english = "Vietnam will ban cash from January"
    assert restore(english) == english


def test_accent_restoring_encoder_encodes_the_restored_text() -> None:
    inner = HashingEncoder()
    wrapped = AccentRestoringEncoder(inner)
    plain = "nghe noi sap nhap tinh xong phai lam lai can cuoc"
    vec = wrapped.encode([plain])
    assert np.allclose(vec, inner.encode([restore(plain)]))
    assert wrapped.model_id == "fake-hashing-64+vi-accents"


def test_library_risk_puts_the_suggestion_threshold_on_the_risk_threshold() -> None:
    assert library_risk(0.35, 0.35, 0.5) == pytest.approx(0.5)
    assert library_risk(1.0, 0.35, 0.5) == pytest.approx(1.0)
    assert library_risk(0.0, 0.35, 0.5) == 0.0
    scores = [library_risk(s, 0.35, 0.5) for s in np.linspace(0, 1, 21)]
    assert scores == sorted(scores)
    assert library_risk(0.34, 0.35, 0.5) < 0.5


def test_vector_pack_round_trip(tmp_path: Path) -> None:
    vecs = np.asarray([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32)
    path = pack_path(tmp_path, "some/model+x")
    write_pack(path, ["a", "b"], vecs)
    hashes, got = read_pack(path)
    assert len(hashes) == 2 and np.allclose(got[0], [0.6, 0.8], atol=1e-3)
    assert read_pack(tmp_path / "missing.npz")[0] == []


def test_shipped_vector_pack_covers_every_labelled_row() -> None:
    from classifiers.text import text_hash
    from classifiers.train import load_seed

    hashes, vecs = read_pack(pack_path(REPO_SEED, make_encoder(BUNDLED_E5).model_id))
    texts = {ex.text for ex in load_seed(REPO_SEED)}  # the CSVs and the paraphrase sets
    assert any(ex.narrative.startswith("paraphrase:") for ex in load_seed(REPO_SEED))
    missing = {t for t in texts if text_hash(t) not in set(hashes)}
    assert not missing, f"{len(missing)} labelled rows lack vectors: run scripts/pack_seed_vectors.py"
    assert vecs.shape[1] == 384


@pytest.fixture
def fake_setup(make_config: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """Config with the fake encoder primed into the process's encoder cache; returns a CLI runner."""
    model = "bundled:all-MiniLM-L6-v2"
    config = make_config(
        classifier={
            "model": model,
            "labelled_data": str(seed_subset(tmp_path / "labelled")),
            # risk 1.0: the style model alone (a logistic probability) never flags; the library does.
            "thresholds": {"relevance": 0.0, "library_min_model_risk": 0.0, "risk": 1.0},
        },
        match={"suggestion": 0.35},
    )
    key = (model, "bundled:all-MiniLM-L6-v2", 0, "cpu")
    saved = encoder_mod._encoders.get(key)
    encoder_mod._encoders[key] = (HashingEncoder(), None)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)

    run.config = config  # type: ignore[attr-defined]
    yield run
    if saved is None:
        encoder_mod._encoders.pop(key, None)
    else:
        encoder_mod._encoders[key] = saved


def test_approving_rebuttals_rechecks_recent_unflagged_items(fake_setup: Callable[..., Result]) -> None:
    cfg = load_config(fake_setup.config)  # type: ignore[attr-defined]
    db = connect(cfg.database_path)
    text = "Ứng dụng VNeID có thể tự động rút tiền từ tài khoản ngân hàng của người dân"
    item_id = add_item(db, NewItem(title="", text=text))[0]
    first = run_classify(cfg, db)
    assert first.scored == 1
    assert store.flag_for(db, item_id) is None
    import_file(db, STARTER, approver=ADMIN)
    again = run_classify(cfg, db)
    assert again.scored == 0 and again.flagged == 1
    flag = store.flag_for(db, item_id)
    assert flag is not None
    restated = flag["reasons"]["risk"]["restates_approved_claim"]
    assert "VNeID" in restated["title"] and restated["score"] >= 0.35
    assert flag["reasons"]["risk"]["source"] == "library"
    # The same library version is not scanned twice.
    assert run_classify(cfg, db).flagged == 0
    db.conn.close()


def test_eval_set_and_bench_library_commands(fake_setup: Callable[..., Result], tmp_path: Path) -> None:
    posts = tmp_path / "posts.tsv"
    posts.write_text(
        "text\tcategory\tlang\tgold\n"
        "Cài VNeID thì nhà nước xem được số dư tài khoản ngân hàng của bạn\tfalse_vi_accented\tvi\tvneid-bank\n"
        "Sổ đỏ cấp trước khi sáp nhập sẽ hết giá trị, phải làm lại sổ mới\tfalse_vi_accented\tvi\tland-cert-invalid\n"
        "Giá vàng hôm nay tăng mạnh\tofftopic_news\tvi\t\n",
        encoding="utf-8",
    )
    cfg = load_config(fake_setup.config)  # type: ignore[attr-defined]
    db = connect(cfg.database_path)
    import_file(db, STARTER, approver=ADMIN)
    db.conn.close()
    result = fake_setup("eval", "--set", str(posts), "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{") :])
    assert figures["categories"]["false_vi_accented"]["n"] == 2
    assert figures["matching"]["n"] == 2 and figures["matching"]["map@5"] > 0.5
    text_out = fake_setup("eval", "--set", str(posts))
    assert "offtopic_news" in text_out.output and "should not be" in text_out.output

    plain = tmp_path / "plain.tsv"
    plain.write_text(
        "Cài VNeID thì nhà nước xem được số dư tài khoản ngân hàng của bạn\tvneid-bank\n"
        "Giá vàng hôm nay tăng mạnh\t\n",
        encoding="utf-8",
    )
    bench = fake_setup("bench", "library", "--library", str(STARTER), "--posts", str(plain), "--json")
    assert bench.exit_code == 0, bench.output
    last = json.loads(bench.output.strip().splitlines()[-1])
    assert {"map@5", "p@1", "mrr", "n"} <= set(last) and last["n"] == 1 and last["rebuttals"] == 12
    assert last["map@5"] == 1.0
    broken = tmp_path / "broken.tsv"
    broken.write_bytes(b"\xff\xfe not utf-8")
    bad = fake_setup("bench", "library", "--library", str(STARTER), "--posts", str(broken))
    assert bad.exit_code != 0 and "UTF-8" in bad.output


def test_accent_restoration_survives_inputs_the_restorer_cannot_take() -> None:
    from classifiers.diacritics import restore

    # pyvi raises KeyError('UUJ') on this whole post; the pieces it can take are still restored.
    text = "sau sap xep ca nuoc con 3.321 don vi hanh chinh cap xa, gom xa, phuong va dac khu"
    out = restore(text)
    assert "đơn vị hành chính" in out
    assert "3.321" in out
