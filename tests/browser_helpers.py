"""Shared set-up for the Playwright tests: Debian's chromium (required under CI=true), its flags, screenshots."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# The README's pictures are taken again only on request (`make screenshots`: MISINFO_SCREENSHOTS=1); a plain test
# run takes them into a scratch folder, so it leaves the checkout as it was.
SHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("MISINFO_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "misinfo-monitor-screenshots"
)
# Headless, and no background traffic: this machine's network is closed and tests talk to 127.0.0.1 only.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; without it the test skips locally and fails under CI=true (tests.conftest.require)."""
    from tests.conftest import require

    require(
        CHROMIUM.exists(),
        f"Debian chromium ({CHROMIUM})",
        "apt-get install -y chromium (.ci/run installs it)",
    )
    return CHROMIUM


# Mark a browser test module with this: the check runs first (session scope), before any module set-up.
needs_chromium = pytest.mark.usefixtures("chromium")


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """One chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        b.close()
