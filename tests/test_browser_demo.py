"""The demo walk in a real browser: log in, link a flagged item, assign the response, see it on the report.

Drives Debian's chromium through Playwright against the web app serving a freshly built demo workspace,
and takes the screenshots the README walk-through shows (docs/screenshots/demo-*.png under `make screenshots`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser_helpers import SHOTS, needs_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]


@dataclass
class Demo:
    url: str
    workspace: Path
    target: dict[str, Any]
    hostile: list[int]
    fixtures_base: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo workspace built by the real pipeline, served by uvicorn on an ephemeral port."""
    import uvicorn

    from monitor.demo.fill import first_flagged_with_suggestion, hostile_item_ids
    from monitor.demo.run import build, demo_servers, free_port, open_workspace, prepare_workspace
    from monitor.web.app import create_app

    ws = tmp_path_factory.mktemp("demo") / "ws"
    port = free_port()
    with demo_servers(ws) as (fixtures, smtp):
        prepare_workspace(ws, base_url=fixtures.base, smtp_port=smtp.port, web_port=port)
        cfg, db = open_workspace(ws)
        lines: list[str] = []
        stages = build(cfg, db, lines.append)
        assert all(s.ok for s in stages), "\n".join(lines)
        target = first_flagged_with_suggestion(db)
        hostile = hostile_item_ids(db)
        db.conn.close()
        assert target is not None, "the demo flagged nothing with a suggestion:\n" + "\n".join(lines)
        server = uvicorn.Server(
            uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "the web app did not start"
        try:
            yield Demo(f"http://127.0.0.1:{port}", ws, target, hostile, fixtures.base)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _login(browser: Any, demo: Demo, user: str, password: str, watch: dict[str, list[str]]) -> Any:
    """A fresh context logged in as `user`; dialogs and off-site requests are recorded in `watch`."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="vi-VN")
    page = context.new_page()
    page.on("dialog", lambda d: (watch["dialogs"].append(d.message), d.dismiss()))
    page.on(
        "request",
        lambda r: (
            watch["offsite"].append(r.url) if not r.url.startswith((demo.url, "data:", "about:")) else None
        ),
    )
    page.goto(demo.url + "/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"login as {user} failed"
    return page


def test_demo_walk_link_assign_report(demo: Demo, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    watch: dict[str, list[str]] = {"dialogs": [], "offsite": []}
    item_id = demo.target["item_id"]

    # 1. The analyst works the queue: flagged items, riskiest first; hostile titles show as text.
    page = _login(browser, demo, "analyst", "demo-analyst-2026", watch)
    page.goto(demo.url + "/queue")
    assert page.locator("tr.qrow").count() > 0
    page.screenshot(path=str(SHOTS / "demo-queue.png"))

    # 2. The item page shows the content, the scores and the suggested approved rebuttals; link the best one.
    page.goto(f"{demo.url}/items/{item_id}")
    assert page.locator("form#link input[name=rebuttal_id]").count() > 0
    page.screenshot(path=str(SHOTS / "demo-item.png"), full_page=True)
    page.check(f"form#link input[name=rebuttal_id][value='{demo.target['rebuttal_id']}']")
    page.click("form#link button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{demo.url}/items/{item_id}")
    assert page.get_by_text(demo.target["rebuttal_title"]).first.is_visible()
    assert page.locator(f"a[href='/rebuttals/{demo.target['rebuttal_id']}']").count() > 0
    page.context.close()

    # 3. The coordinator assigns the response (due yesterday, so it is overdue on the report).
    page = _login(browser, demo, "coordinator", "demo-coordinator-2026", watch)
    page.goto(f"{demo.url}/assignments/new?item_id={item_id}&rebuttal_id={demo.target['rebuttal_id']}")
    page.select_option("select[name=rebuttal_id]", str(demo.target["rebuttal_id"]))
    page.select_option("select[name=channel]", index=1)
    page.select_option(
        "select[name=assignee]",
        label=page.locator("select[name=assignee] option", has_text="analyst").first.inner_text(),
    )
    yesterday = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT09:00")
    page.fill("input[name=due_at]", yesterday)
    page.fill("textarea[name=note]", "Đăng bài đính chính trên fanpage và trả lời bình luận.")
    page.click("#assignment-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/assignments" in page.url and "/new" not in page.url, page.content()[:2000]
    assert page.locator("[id^=a]").filter(has_text="analyst").count() > 0
    page.screenshot(path=str(SHOTS / "demo-assignments.png"), full_page=True)

    # 4. The report shows the overdue assignment.
    page.goto(demo.url + "/reports")
    overdue_links = page.locator("a[href^='/assignments#a']")
    assert overdue_links.count() >= 1
    page.screenshot(path=str(SHOTS / "demo-report.png"), full_page=True)

    # 5. The digest preview, and the assignee got an email through the local SMTP server.
    page.goto(demo.url + "/digest/preview")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "demo-digest.png"), full_page=True)
    page.context.close()
    mails = sorted((demo.workspace / "mail").glob("*.eml"))
    assert len(mails) >= 4, [m.name for m in mails]  # three digests + the assignment notice
    assert any(b"analyst@example.gov.vn" in m.read_bytes() for m in mails[3:])

    # Hostile sample content (script tags, onerror=, javascript: links) stays inert on its own item page too.
    assert demo.hostile, "the samples' hostile items were not collected"
    page = _login(browser, demo, "analyst", "demo-analyst-2026", watch)
    shown_as_text = 0
    for hostile_id in demo.hostile:
        page.goto(f"{demo.url}/items/{hostile_id}")
        page.wait_for_load_state("networkidle")
        assert page.locator("a[href^='javascript:'], img[onerror], main script").count() == 0
        body = page.inner_text("body")
        shown_as_text += any(p in body for p in ("<script>", "onerror=", "javascript:"))
    assert shown_as_text > 0, "no payload was shown as text: escaping cannot be told from stripping"
    page.context.close()
    assert watch["dialogs"] == []
    assert watch["offsite"] == []
