"""The classify/train/eval/bench CLI commands (fake encoder primed into the encoder cache)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import monitor.classify.encoder as encoder_mod
from monitor.classify.train import REPO_SEED
from monitor.cli import cli
from monitor.store import connect
from monitor.store import scores as store
from monitor.store.items import NewItem, add_item
from tests.builders import seed_subset
from tests.fakes import HashingEncoder


@pytest.fixture
def fake_cli(make_config: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """Run the CLI with the fake encoder standing in for the configured model."""
    model = "bundled:all-MiniLM-L6-v2"
    config = make_config(
        classifier={"model": model, "labelled_data": str(seed_subset(tmp_path / "labelled"))}
    )
    key = (model, "bundled:all-MiniLM-L6-v2", 0, "cpu")
    saved = encoder_mod._encoders.get(key)
    encoder_mod._encoders[key] = (HashingEncoder(), None)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)

    yield run
    if saved is None:
        encoder_mod._encoders.pop(key, None)
    else:
        encoder_mod._encoders[key] = saved


def test_classify_train_eval_commands(fake_cli: Callable[..., Result], tmp_path: Path) -> None:
    db = connect(tmp_path / "misinfo.db")
    add_item(
        db,
        NewItem(title="", text="Nóng: sáp nhập tỉnh xong phải làm lại căn cước công dân, mất phí 200 nghìn."),
    )
    add_item(db, NewItem(title="", text="Giá vàng hôm nay tăng mạnh."))
    db.conn.close()
    first = fake_cli("classify")
    assert first.exit_code == 0, first.output
    assert "scored 2 item(s)" in first.output and "trained from seed data" in first.output
    again = fake_cli("classify", "--json")
    assert json.loads(again.output.strip().splitlines()[-1])["scored"] == 0
    trained = fake_cli("train", "--no-cv")
    assert trained.exit_code == 0 and "activated" in trained.output
    png = tmp_path / "pr.png"
    evaluated = fake_cli("eval", "--out", str(png), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert {"precision", "recall", "f1"} <= set(figures["cross_validated"]["risk"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    db = connect(tmp_path / "misinfo.db")
    (active,) = [m for m in store.list_models(db) if m["active"]]
    db.conn.close()
    assert (
        active["card"]["metrics"]["last_eval"]["cross_validated"]["risk"]["f1"]
        == figures["cross_validated"]["risk"]["f1"]
    )
    card_file = json.loads((Path(active["path"]) / "card.json").read_text(encoding="utf-8"))
    assert card_file["metrics"]["last_eval"]["n_examples"] == figures["n_examples"]
    status = fake_cli("status", "--json")
    model = json.loads(status.output)["model"]
    assert (
        model["loaded"] == "fake-hashing-64" and model["classifier_version"] and not model["fallback_reason"]
    )


def test_bench_classify_json_last_line(fake_cli: Callable[..., Result], tmp_path: Path) -> None:
    rows = list(csv.DictReader((REPO_SEED / "seed.csv").open(encoding="utf-8")))
    rows = [r for r in rows if r["relevant"] == "1"]
    for name, part in (("train.csv", rows[0::2]), ("test.csv", rows[1::2])):
        with (tmp_path / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "post", "verdict"])
            writer.writerows(
                [i, r["text"], "fake" if r["false_claim"] == "1" else "real"] for i, r in enumerate(part)
            )
    result = fake_cli(
        "bench",
        "classify",
        "--train",
        str(tmp_path / "train.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--text-col",
        "post",
        "--label-col",
        "verdict",
        "--positive",
        "fake",
        "--no-embeddings",
        "--json",
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["n_test"] == len(rows[1::2]) and figures["f1_weighted"] > 0.8
    assert 0 <= figures["precision"] <= 1 and 0 <= figures["recall"] <= 1
    bad = fake_cli(
        "bench",
        "classify",
        "--train",
        str(tmp_path / "train.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--text-col",
        "tweet",
        "--positive",
        "fake",
    )
    assert bad.exit_code != 0 and "no column 'tweet'" in bad.output


@pytest.mark.parametrize("args", [["classify"], ["train"], ["eval"], ["bench", "classify"]])
def test_help_has_examples(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
