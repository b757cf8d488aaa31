"""Quality gate: claim retrieval on CheckThat! 2021 Task 2A English (train on train+dev, test on the 2021 test).

Pins the data (sha256) and holds the best MAP@5 reached as the floor (docs/rebuttals.md). Claim and
title embeddings are computed on the first run (~5 minutes on 2 cores) and cached under
~/.cache/misinfo-monitor/claim-retrieval, keyed by model id and a hash of the texts; later runs take ~2 minutes.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from classifiers.evaluate import embedding_cache
from tests.conftest import BENCHMARKS, require_benchmark

DATA = BENCHMARKS / "checkthat-2021-2a-en"
SHA256 = {
    "vclaims.jsonl": "24038478a7dec0a19bda926df1280d2f5654392badde2c98a4a3b451253e5a1c",
    "CT2022-Task2A-EN-Train-Dev_Queries.tsv": "748305362b596d20b47dc644faca4e24d07e82e4d33988e22c21b21ef3191815",
    "CT2022-Task2A-EN-Train_QRELs.tsv": "69681e388811f322795b0a10885649d8b985f647863b971afdc3f8fadba1f5ff",
    "CT2022-Task2A-EN-Dev_QRELs.tsv": "297c790ad28174514c56ad47c8950de1ef3926e0fce9f1ba490c6babfe9a3d84",
    "CT2022-Task2A-EN-Dev-Test_Queries.tsv": "12957a6720e12d99a35ff26b0951055f0c1c80aea368dba0cef28a10eb7e95d0",
    "CT2022-Task2A-EN-Dev-Test_QRELs.tsv": "d1d090cd5a6ed8459c9fcc52044a93fd1631887ddfd3bced2794c274c47c7f94",
}
# Best reached: 0.959 (hybrid channels + HistGradientBoosting re-ranker with tweet/claim date features;
# text only, --no-dates: 0.925).
# References on this collection: TF-IDF 0.838, MiniLM cosine 0.843, their sum 0.920.
MAP5_FLOOR = 0.955
CACHE = embedding_cache("claim-retrieval")  # outside the checkout: kept across clones


@pytest.mark.slow
def test_checkthat_map5_holds_the_floor(run_cli) -> None:
    require_benchmark(DATA.name)
    for name, expected in SHA256.items():
        digest = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
        assert digest == expected, f"{name} changed (sha256 {digest}): re-measure and update the floor"
    res = run_cli(
        "bench",
        "claim-retrieval",
        "--claims",
        str(DATA / "vclaims.jsonl"),
        "--train-queries",
        str(DATA / "CT2022-Task2A-EN-Train-Dev_Queries.tsv"),
        "--train-qrels",
        str(DATA / "CT2022-Task2A-EN-Train_QRELs.tsv"),
        "--train-qrels",
        str(DATA / "CT2022-Task2A-EN-Dev_QRELs.tsv"),
        "--queries",
        str(DATA / "CT2022-Task2A-EN-Dev-Test_Queries.tsv"),
        "--qrels",
        str(DATA / "CT2022-Task2A-EN-Dev-Test_QRELs.tsv"),
        "--cache",
        str(CACHE),
        "--json",
    )
    assert res.exit_code == 0, res.output
    figures = json.loads(res.output.strip().splitlines()[-1])
    assert figures["n"] == 202
    assert figures["map@5"] >= MAP5_FLOOR, figures
    assert figures["p@1"] >= 0.93, figures
