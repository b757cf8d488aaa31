"""The review app in a real browser (Debian chromium via Playwright): the keyboard queue, link / dismiss /
escalate, assign, approve, reports, digest preview; hostile scraped content stays inert.

Takes docs/screenshots/{queue,item,assignments,reports,digest-preview}.png for the README (under `make screenshots`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from monitor.store.db import to_db_time
from monitor.store.items import NewItem, add_item
from tests import builders
from tests.browser_helpers import SHOTS, needs_chromium
from tests.pages_helpers import (
    fast_passwords,
    free_port,
    make_assignment,
    narrative_of,
    pages_env,
    seed_basics,
)
from tests.web_helpers import PASSWORD, WebEnv, seed_flag, seed_rebuttal, seed_suggestion

SCRIPT = "<script>alert(1)</script>"
ONERROR = "<img src=x onerror=alert(1)>"
JS_LINK = '<a href="javascript:alert(1)">bấm vào đây</a>'

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@dataclass
class Site:
    """The running app and what was seeded into it."""

    url: str
    env: WebEnv
    ids: dict[str, int] = field(default_factory=dict)


def _seed(env: WebEnv) -> dict[str, int]:
    """Realistic queue content plus three hostile items, an overdue and a published assignment."""
    s = seed_basics(env)
    db = env.db()
    try:
        ids = {"cccd": s.rebuttal_id, "draft": s.draft_id, "first": s.item_id}
        vneid = seed_rebuttal(
            db,
            "VNeID không đọc tin nhắn riêng tư",
            ["VNeID là phần mềm gián điệp đọc tin nhắn"],
            key="vneid-spyware",
            short_answer="VNeID không truy cập tin nhắn của bạn.",
        )
        ids["vneid"] = vneid
        posts = [
            ("Nghe nói VNeID đọc được tin nhắn Zalo của mọi người", 0.93, vneid),
            ("Sáp nhập tỉnh xong phải làm lại CCCD, tốn 500 nghìn", 0.88, s.rebuttal_id),
            ("Cán bộ nghỉ việc do tinh gọn không được trợ cấp gì", 0.71, None),
            ("Bảng giá dịch vụ công trực tuyến mới", 0.62, None),
        ]
        for n, (title, risk, rid) in enumerate(posts):
            item = seed_flag(
                db,
                title,
                title + ". Chia sẻ ngay cho người thân!",
                risk=risk,
                source="mxh-congkhai",
                url=f"https://example.gov.vn/post/{n}",
            )
            ids[f"post{n}"] = item
            if rid:
                seed_suggestion(db, item, rid, 0.8 + n / 100, "matched claim")
        from monitor.store.queue import ensure_source, insert_flag

        hostile = [
            (f"{SCRIPT} VNeID bị hack", f"{ONERROR} Dữ liệu đã lộ {JS_LINK}", "javascript:alert(1)"),
            (f"{ONERROR} Chuyển tiền qua VNeID", f"{SCRIPT} nội dung", "https://example.gov.vn/h2"),
            (
                "Cập nhật VNeID mức 2 tại đây",
                f"{JS_LINK} <svg onload=alert(1)></svg>",
                "https://example.gov.vn/h3",
            ),
        ]
        source_id = ensure_source(db, f"nguồn {ONERROR}")
        for n, (title, text, url) in enumerate(hostile):
            item, _ = add_item(
                db,
                NewItem(
                    title=title,
                    text=text,
                    url=url,
                    source_id=source_id,
                    lang="vi",
                    html=f"<p>{text}</p><a href='javascript:alert(2)'>x</a>",
                ),
            )
            insert_flag(
                db, item, relevance=0.9, risk=0.99 - n / 100, reasons={"note": SCRIPT}, model_version="test"
            )
            ids[f"hostile{n}"] = item
        seed_suggestion(db, ids["hostile0"], vneid, 0.9, SCRIPT)
    finally:
        db.conn.close()
    _seed_history(env, [s.rebuttal_id, vneid])
    now = datetime.now(UTC)
    make_assignment(env, s, assignee="analyst", due_at=to_db_time(now - timedelta(days=2)), note=SCRIPT)
    make_assignment(env, s, assignee="coordinator", due_at=to_db_time(now + timedelta(days=3)))
    return ids


def _seed_history(env: WebEnv, rebuttals: list[int]) -> None:
    """Two weeks of already-handled items so the report charts and response times have something to show."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    sources = ["bao-dien-tu", "trang-mxh-congkhai", "kenh-video"]
    db = env.db()
    try:
        admin = builders.user_id(db, "admin")
        narratives = {r: narrative_of(db, r) for r in rebuttals}
        n = 0
        for day in range(14, 0, -1):
            for k in range(2 + (day * 5) % 7):
                n += 1
                seen = now - timedelta(days=day, hours=k * 2)
                rid = rebuttals[n % len(rebuttals)]
                item = seed_flag(
                    db,
                    f"Bài đăng cũ số {n} về {'CCCD' if rid == rebuttals[0] else 'VNeID'}",
                    "nội dung cũ",
                    source=sources[n % 3],
                    lang="en" if n % 5 == 0 else "vi",
                    fetched_at=to_db_time(seen),
                    flagged_at=to_db_time(seen + timedelta(minutes=10)),
                    narrative_id=narratives[rid],
                    risk=0.6,
                )
                if n % 4 == 3:
                    builders.mark_dismissed(db, item, "accurate")
                    continue
                linked = seen + timedelta(hours=1 + (n * 7) % 20)
                builders.mark_linked(db, item, rid, admin, at=to_db_time(linked), score=0.8)
                if n % 3 == 0:
                    published = to_db_time(linked + timedelta(hours=6 + n % 30))
                    builders.add_assignment(
                        db,
                        item_id=item,
                        rebuttal_id=rid,
                        channel="fanpage",
                        assignee_id=admin,
                        due_at=published,
                        status="published",
                        published_url="https://example.gov.vn/p",
                        published_at=published,
                        created_by=admin,
                        created_at=to_db_time(linked),
                        updated_at=published,
                    )
    finally:
        db.conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app (uvicorn in a thread) on 127.0.0.1 and an ephemeral port."""
    import uvicorn

    with fast_passwords():
        env = pages_env(Path(tmp_path_factory.mktemp("browser")))
        ids = _seed(env)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the web app did not start"
    try:
        yield Site(f"http://127.0.0.1:{port}", env, ids)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        env.close()


@dataclass
class Watch:
    """Dialogs that fired and requests that tried to leave 127.0.0.1 (they are aborted)."""

    dialogs: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a script ran and opened a dialog: {self.dialogs}"
        assert self.offsite == [], f"requests tried to leave 127.0.0.1: {self.offsite}"


def _login(browser: Any, site: Site, user: str, watch: Watch) -> Any:
    """A fresh context logged in as `user`, with every dialog and every off-site request recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 820})

    def guard(route: Any) -> None:
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            watch.offsite.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    page.goto(site.url + "/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, f"login as {user} failed"
    return page


def _flag_state(site: Site, item_id: int) -> str:
    db = site.env.db()
    try:
        return str(db.execute("SELECT state FROM flags WHERE item_id = ?", [item_id]).fetchone()[0])
    finally:
        db.conn.close()


def _selected(page: Any) -> str:
    return str(page.get_attribute("tr.qrow.selected", "data-row"))


def test_queue_keyboard_link_dismiss_escalate(site: Site, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch()
    page = _login(browser, site, "analyst", watch)
    page.goto(site.url + "/queue")
    rows = page.eval_on_selector_all("tr.qrow", "els => els.map(e => e.getAttribute('data-row'))")
    assert len(rows) >= 6
    assert _selected(page) == rows[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert _selected(page) == rows[2]
    page.keyboard.press("k")
    assert _selected(page) == rows[1]
    page.screenshot(path=str(SHOTS / "queue.png"))

    # l on a row with a suggestion: the item page opens with the Link button focused; Enter links.
    target = str(site.ids["post0"])
    while _selected(page) != target:
        page.keyboard.press("j")
    page.keyboard.press("l")
    page.wait_for_url(f"**/items/{target}?*")
    assert page.evaluate("document.activeElement.getAttribute('data-action')") == "link"
    page.screenshot(path=str(SHOTS / "item.png"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/queue*")
    assert _flag_state(site, int(target)) == "linked"

    # d: dismiss with a reason chosen on the focused select.
    target = str(site.ids["post3"])
    while _selected(page) != target:
        page.keyboard.press("j")
    page.keyboard.press("d")
    page.wait_for_url(f"**/items/{target}?*")
    assert page.evaluate("document.activeElement.id") == "dismiss-reason"
    page.select_option("#dismiss-reason", "off_topic")
    page.click("form#dismiss button[type=submit]")
    page.wait_for_url("**/queue*")
    assert _flag_state(site, int(target)) == "dismissed"

    # e: escalate with a note typed straight into the focused box.
    target = str(site.ids["post2"])
    while _selected(page) != target:
        page.keyboard.press("j")
    page.keyboard.press("e")
    page.wait_for_url(f"**/items/{target}?*")
    page.keyboard.type("Cần bài phản bác về trợ cấp tinh giản")
    page.click("form#escalate button[type=submit]")
    page.wait_for_url("**/queue*")
    assert _flag_state(site, int(target)) == "escalated"

    # /: jump to search; unaccented Vietnamese finds accented items.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.hasAttribute('data-search')")
    page.keyboard.type("lam lai cccd")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?*")
    assert page.get_by_text("Sáp nhập tỉnh xong phải làm lại CCCD").count() > 0
    watch.assert_clean()
    page.context.close()


def test_assign_approve_report_and_digest(site: Site, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch()
    page = _login(browser, site, "coordinator", watch)
    item = site.ids["post1"]
    page.goto(f"{site.url}/items/{item}")
    link = page.locator(f"a[href^='/assignments/new?item_id={item}']")
    assert link.count() == 1, "the item page offers coordinators an 'Assign a response' link"
    link.first.click()
    page.wait_for_url("**/assignments/new?*")
    assert page.input_value("select[name=rebuttal_id]") == str(site.ids["cccd"])
    page.select_option("select[name=channel]", "fanpage")
    page.select_option("select[name=assignee]", label="analyst (analyst)")
    page.fill("input[name=due_at]", (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("textarea[name=note]", "Đăng lên fanpage trước 9 giờ")
    page.click("#assignment-form button[type=submit]")
    page.wait_for_url("**/assignments*")
    assert page.locator(".flash-warning").count() == 1  # SMTP is down in this test: saved, with a warning
    assert page.locator(".col-assigned article.card").count() == 3  # two seeded, one new
    assert page.locator(".col-assigned article.card.overdue").count() == 1
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "assignments.png"))

    # The coordinator's own assignment: start work, then publish with the URL.
    card = page.locator(".col-assigned article.card").filter(has_text="coordinator").first
    card_id = card.get_attribute("id")
    card.get_by_role("button", name="Start work").click()
    page.wait_for_url("**/assignments*")
    moved = page.locator(f"#{card_id}")
    moved.locator("input[name=published_url]").fill("https://example.gov.vn/bai-dang")
    moved.get_by_role("button", name="Mark published").click()
    page.wait_for_url("**/assignments*")
    assert page.locator(f".col-published #{card_id}").count() == 1

    page.goto(site.url + "/reports")
    assert page.locator("svg.chart").count() == 3
    assert page.locator("#table-overdue tbody tr").count() == 1
    page.screenshot(path=str(SHOTS / "reports.png"), full_page=True)
    with page.expect_download() as download:
        page.click("a[href^='/reports/sources.csv']")
    assert download.value.suggested_filename.startswith("sources-")

    page.goto(site.url + "/digest/preview?role=coordinator&lang=vi")
    frame = page.locator("iframe.digest-frame")
    if frame.count():
        assert frame.get_attribute("sandbox") == ""
        inner = page.frame_locator("iframe.digest-frame").locator("body")
        assert inner.inner_text(timeout=5000).strip() != ""
    page.screenshot(path=str(SHOTS / "digest-preview.png"), full_page=True)
    page.context.close()

    # The approver approves the draft: it becomes linkable.
    page = _login(browser, site, "approver", watch)
    page.goto(f"{site.url}/rebuttals/{site.ids['draft']}")
    page.click("#approve-button")
    page.wait_for_url(f"**/rebuttals/{site.ids['draft']}")
    assert page.locator(".badge.status-approved").count() == 1
    watch.assert_clean()
    page.context.close()


def test_hostile_content_stays_inert(site: Site, browser: Any) -> None:
    watch = Watch()
    page = _login(browser, site, "admin", watch)
    page.goto(site.url + "/queue")
    assert page.get_by_text(f"{SCRIPT} VNeID bị hack").count() == 1  # shown as text, not run
    for name in ("hostile0", "hostile1", "hostile2"):
        page.goto(f"{site.url}/items/{site.ids[name]}")
        for details in page.locator("details").all():
            details.evaluate("d => d.open = true")
        for anchor in page.locator("a").all():
            href = anchor.get_attribute("href") or ""
            assert not href.strip().lower().startswith("javascript:"), f"a javascript: link survived: {href}"
        assert page.locator("script:not([src])").count() == 0
        assert page.locator("[onerror], [onload], [onclick]").count() == 0
    for path in (
        "/assignments",
        "/reports",
        "/search?q=vneid",
        f"/assignments/new?item_id={site.ids['hostile0']}",
        "/digest/preview?role=coordinator&lang=vi",
        "/audit",
    ):
        page.goto(site.url + path)
        assert page.locator("script:not([src])").count() == 0, path
        assert page.locator("[onerror], [onload], [onclick]").count() == 0, path
    page.wait_for_timeout(300)  # give any injected handler the chance to fire before asserting none did
    watch.assert_clean()
    page.context.close()
