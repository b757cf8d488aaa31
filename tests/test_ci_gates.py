"""Tests that need data or a service skip locally but FAIL under CI=true, all through tests.conftest.require."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import browser_helpers
from tests.conftest import REPO, require, require_benchmark

TESTS = REPO / "tests"


def test_missing_requirement_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing: apt-get install"):
        require(False, "chromium", "apt-get install -y chromium")
    require(True, "chromium", "apt-get install -y chromium")  # present: nothing happens


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_missing_requirement_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"chromium is missing: apt-get install .*CI=true"):
        require(False, "chromium", "apt-get install -y chromium")


def test_missing_benchmark_names_the_folder_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match=r"no-such-benchmark.*is missing: put the public data set"
    ):
        require_benchmark("no-such-benchmark")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_benchmark("no-such-benchmark")


def test_browser_modules_check_chromium_through_the_fixture() -> None:
    """needs_chromium is the session fixture that calls require (a skipif marker could never fail in CI)."""
    mark = browser_helpers.needs_chromium.mark
    assert mark.name == "usefixtures" and mark.args == ("chromium",)
    for path in sorted(TESTS.glob("test_browser_*.py")):
        assert "needs_chromium" in path.read_text(encoding="utf-8"), path


def test_no_test_skips_on_its_own() -> None:
    """Every skip goes through tests.conftest.require, so CI=true turns it into a failure."""
    pattern = re.compile(r"pytest\.skip\(|pytest\.mark\.skipif|pytest\.importorskip|unittest\.skip")
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name not in ("conftest.py", Path(__file__).name)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, f"use tests.conftest.require / require_benchmark instead: {offenders}"
