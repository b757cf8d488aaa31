"""Goal check with the real bundled encoder: a clean screenshot of a Vietnamese rumour (3 lines, 30 px)
is read well enough that its approved rebuttal from the starter library is the top suggestion."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.ocr_helpers import RUMOUR, need_ocr, render

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "data" / "rebuttals" / "starter.yaml"


@pytest.mark.slow
def test_screenshot_top_suggestion_is_the_approved_rebuttal(
    make_config: Callable[..., Path], run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    need_ocr()
    config = make_config(classifier={"model": "bundled:multilingual-e5-small"})
    r = run_cli(
        "users",
        "add",
        "appr",
        "--role",
        "approver",
        "--password-stdin",
        input="a-long-password-1\n",
        config=config,
    )
    assert r.exit_code == 0, r.output
    r = run_cli("rebuttals", "import", str(STARTER), "--approved-by", "appr", config=config)
    assert r.exit_code == 0, r.output
    shot = tmp_path / "zalo.png"
    shot.write_bytes(render(RUMOUR, size=30))
    r = run_cli("submit", "--image", str(shot), "--json", config=config)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{") :])
    assert doc["suggestions"], doc
    assert doc["suggestions"][0]["key"] == "cccd-merger", doc["suggestions"]
    assert doc["risk"] is not None and doc["relevance"] is not None
