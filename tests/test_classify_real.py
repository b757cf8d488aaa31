"""Integration with the real bundled model: Vietnamese/English seed-like items, and the fallback path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import monitor.classify.encoder as encoder_mod
from classifiers.embed import BUNDLED_ID
from monitor.classify.score import run_classify
from monitor.cli import cli
from monitor.config import load_config
from monitor.store import connect
from monitor.store import scores as store
from monitor.store.items import NewItem, add_item
from tests.builders import seed_subset

TOPIC = {
    "name": "restructuring and digital transformation",
    "descriptions": {
        "vi": [
            "Sắp xếp bộ máy: sáp nhập tỉnh, bỏ cấp huyện, tinh giản biên chế; chuyển đổi số, VNeID, căn cước."
        ],
        "en": [
            "Vietnam restructuring: merging provinces, abolishing districts, staff cuts; VNeID digital ID, chip ID cards."
        ],
    },
    "keywords": ["sáp nhập", "VNeID", "căn cước", "tinh giản biên chế", "cấp huyện", "tiền mặt"],
}

ITEMS = {
    "false_vi": "Chia sẻ gấp!!! Sau khi sáp nhập tỉnh, toàn bộ căn cước công dân gắn chip phải làm lại, mất phí 200 nghìn.",
    "false_nodiac": "Nghe noi cai VNeID la nha nuoc xem duoc het so du tai khoan ngan hang va tru tien bat cu luc nao.",
    "false_en": "BREAKING: Vietnam will ban cash from January, all payments must be electronic. Share before they delete this!",
    "accurate_vi": "Bộ Công an khẳng định căn cước công dân đã cấp vẫn còn nguyên giá trị sử dụng sau khi sắp xếp đơn vị hành chính.",
    "off_vi": "Giá vàng miếng SJC hôm nay tăng mạnh, vượt mốc cao nhất trong tháng.",
    "off_en": "Vietnam beat Thailand 2-1 in the regional football final.",
}


@pytest.mark.slow
def test_real_model_flags_false_claims_and_fallback_is_reported(
    make_config: Callable[..., Path], tmp_path: Path
) -> None:
    # A third of seed.csv: the fallback encoder has no vector pack, and encoding all 4,300 labelled texts
    # with it took two minutes; 700 texts still teach it the difference these items need.
    config = make_config(
        topic=TOPIC,
        classifier={
            "model": "/nonexistent/multilingual-model",
            "fallback_model": "bundled:all-MiniLM-L6-v2",
            "labelled_data": str(seed_subset(tmp_path / "labelled")),
        },
    )
    cfg = load_config(config)
    db = connect(cfg.database_path)
    ids = {name: add_item(db, NewItem(title="", text=text))[0] for name, text in ITEMS.items()}
    encoder_mod._encoders.clear()
    report = run_classify(cfg, db)
    assert (
        report.encoder == BUNDLED_ID
        and report.fallback_reason
        and "/nonexistent/multilingual-model" in report.fallback_reason
    )
    assert report.trained and report.scored == len(ITEMS)
    flagged = {name for name, item_id in ids.items() if store.flag_for(db, item_id) is not None}
    assert {"false_vi", "false_nodiac"} <= flagged
    assert not flagged & {"off_vi", "off_en", "accurate_vi"}
    scores: dict[str, Any] = {name: store.scores_for(db, item_id)[0] for name, item_id in ids.items()}
    assert scores["false_en"]["risk"] > scores["off_en"]["risk"] or scores["false_en"]["relevance"] > 0.5
    db.conn.close()
    status = CliRunner().invoke(cli, ["--config", str(config), "status"], catch_exceptions=False)
    assert "FALLBACK" in status.output and BUNDLED_ID in status.output
    as_json = CliRunner().invoke(cli, ["--config", str(config), "status", "--json"], catch_exceptions=False)
    model = json.loads(as_json.output)["model"]
    assert model["configured"] == "/nonexistent/multilingual-model" and model["loaded"] == BUNDLED_ID
    encoder_mod._encoders.clear()
