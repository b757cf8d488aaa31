"""Submissions: `misinfo submit` (text, screenshot, link), POST /api/submissions, the page, bad input.

Real parts: Tesseract on rendered screenshots, a loopback page for --url, the app through TestClient.
The encoder is the deterministic HashingEncoder (the real-encoder check is in test_submissions_slow.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from monitor.config import load_config
from monitor.store import connect
from monitor.store import users as store_users
from tests.fakes import HashingEncoder
from tests.httpserver import FixtureServer, Response
from tests.ocr_helpers import RUMOUR, bomb_png, need_ocr, render
from tests.test_classify_pipeline import install_seed_model
from tests.web_helpers import WebEnv, make_web_env, seed_rebuttal

CLAIM = "Sau khi sáp nhập tỉnh, tất cả mọi người phải làm lại căn cước công dân gắn chip"
PAGE = """<!doctype html><html lang="vi"><head><title>Tin đồn về căn cước</title></head><body><article>
<h1>Tin đồn về căn cước</h1><p>Sau khi sáp nhập tỉnh, tất cả mọi người phải làm lại căn cước công dân gắn chip,
nếu không thẻ cũ sẽ hết hiệu lực. Chia sẻ ngay cho người thân trong nhóm Zalo của gia đình bạn nhé.</p>
<p>Đây là đoạn văn thứ hai của bài đăng, đủ dài để trình trích xuất nhận ra đây là nội dung chính.</p>
</article></body></html>""".encode()


@pytest.fixture(autouse=True)
def fake_encoder_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = HashingEncoder()
    monkeypatch.setattr("monitor.classify.score.get_encoder", lambda *a, **k: (enc, None))
    monkeypatch.setattr("monitor.match.suggest.get_encoder", lambda *a, **k: (enc, None))


@pytest.fixture
def cli_db(config_path: Path) -> Iterator[Any]:
    import yaml

    db = connect(yaml.safe_load(config_path.read_text())["database"])
    store_users.use_fast_hashing()
    store_users.create_user(db, "admin", "a-long-password-1", "admin")
    store_users.create_user(db, "lan", "a-long-password-1", "analyst")
    seed_rebuttal(db, "Không phải làm lại căn cước sau sáp nhập", [CLAIM], key="cccd-merger")
    install_seed_model(load_config(config_path), db, HashingEncoder())
    yield db
    db.conn.close()


def _json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return doc


def _count(db: Any, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_submit_text_json_then_again_is_a_sighting(run_cli: Callable[..., Result], cli_db: Any) -> None:
    first = _json(run_cli("submit", "--text", CLAIM + ", đổi thẻ mất phí!", "--by", "lan", "--json"))
    assert set(first) >= {"item_id", "text", "flagged", "risk", "relevance", "suggestions"}
    assert first["suggestions"][0]["key"] == "cccd-merger"
    assert set(first["suggestions"][0]) == {"rebuttal_id", "key", "title", "score"}
    again = _json(run_cli("submit", "--text", CLAIM + ", đổi thẻ mất phí!", "--json"))
    assert again["item_id"] == first["item_id"] and again["created"] is False
    row = cli_db.execute(
        "SELECT sources.kind, sightings FROM items JOIN sources ON sources.id = source_id"
    ).fetchone()
    assert row[0] == "submission" and row[1] >= 1
    who = cli_db.execute("SELECT submitted_by, user_id FROM submissions ORDER BY id").fetchall()
    assert [w[0] for w in who] == ["lan", "cli"] and who[0][1] is not None


def test_submit_screenshot_stores_image_ocr_and_is_searchable(
    run_cli: Callable[..., Result], cli_db: Any, tmp_path: Path
) -> None:
    need_ocr()
    shot = tmp_path / "shot.png"
    shot.write_bytes(render(RUMOUR))
    doc = _json(run_cli("submit", "--image", str(shot), "--note", "nhóm Zalo", "--json"))
    assert "căn cước" in doc["text"] and doc["suggestions"][0]["key"] == "cccd-merger"
    ocr = cli_db.execute("SELECT sha256, content_type, text FROM item_ocr").fetchone()
    assert ocr[1] == "image/png" and "gắn chip" in ocr[2]
    ev = cli_db.execute("SELECT kind, content_type, sha256 FROM evidence WHERE kind = 'image'").fetchone()
    assert ev == ("image", "image/png", ocr[0])
    from monitor.store.items import search_items

    assert search_items(cli_db, "gan chip can cuoc") == [doc["item_id"]]
    assert _json(run_cli("submit", "--image", str(shot), "--json"))["item_id"] == doc["item_id"]
    assert _count(cli_db, "items") == 1


def test_submit_url_fetches_and_extracts_the_page(
    run_cli: Callable[..., Result], cli_db: Any, http_server: FixtureServer
) -> None:
    http_server.routes["/robots.txt"] = Response(404)
    http_server.routes["/post/1"] = Response(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
    doc = _json(run_cli("submit", "--url", http_server.url("/post/1"), "--json"))
    assert "gắn chip" in doc["text"] and doc["suggestions"][0]["key"] == "cccd-merger"
    ev = cli_db.execute("SELECT kind, http_status FROM evidence").fetchone()
    assert ev == ("page", 200)
    again = _json(run_cli("submit", "--url", http_server.url("/post/1"), "--json"))
    assert again["item_id"] == doc["item_id"] and _count(cli_db, "items") == 1


@pytest.mark.parametrize(
    "kind",
    ["empty-text", "not-an-image", "huge-image", "bomb", "private-url", "two-inputs"],
)
def test_bad_input_exits_2_and_stores_nothing(
    kind: str, run_cli: Callable[..., Result], cli_db: Any, tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    path = tmp_path / "upload.png"
    config = None
    if kind == "empty-text":
        args = ["--text", "   "]
    elif kind == "not-an-image":
        path.write_bytes(b"<html>hello</html>")
        args = ["--image", str(path)]
    elif kind == "huge-image":
        path.write_bytes(render(RUMOUR) + b"\x00" * (50 * 1000 * 1000))
        args = ["--image", str(path)]
    elif kind == "bomb":
        path.write_bytes(bomb_png())
        args = ["--image", str(path)]
    elif kind == "private-url":
        config = make_config(collect={"allow_private_hosts": False, "retries": 0})
        args = ["--url", "http://127.0.0.1:9/x"]
    else:
        args = ["--text", "a", "--url", "https://example.org/"]
    result = run_cli("submit", *args, config=config)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output and "Traceback" not in result.output
    assert _count(cli_db, "items") == 0 and _count(cli_db, "submissions") == 0
    assert _count(cli_db, "evidence_blobs") == 0


# --- the API and the page ----------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebEnv]:
    env = make_web_env(tmp_path, collect={"allow_private_hosts": True, "per_host_delay": 0, "retries": 0})
    db = env.db()
    seed_rebuttal(db, "Không phải làm lại căn cước sau sáp nhập", [CLAIM], key="cccd-merger")
    install_seed_model(env.cfg, db, HashingEncoder())
    db.conn.close()
    yield env
    env.close()


def test_api_text_201_with_suggestions_and_auth(web: WebEnv) -> None:
    body = {"text": CLAIM + " — nếu không sẽ bị phạt", "note": "Facebook"}
    assert web.api().post("/api/submissions", json=body).status_code == 401
    r = web.api("analyst").post("/api/submissions", json=body)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["suggestions"][0]["key"] == "cccd-merger" and doc["url"] == f"/items/{doc['item_id']}"
    bad = web.api("analyst").post("/api/submissions", json={"text": ""})
    assert bad.status_code == 400 and "empty" in bad.json()["error"]


def test_api_forbidden_for_a_read_only_manager(web: WebEnv) -> None:
    db = web.db()
    store_users.create_user(db, "boss", "a-long-password-1", "manager")
    token = store_users.create_token(db, "boss")
    db.conn.close()
    c = web.api()
    c.headers["Authorization"] = f"Bearer {token}"
    r = c.post("/api/submissions", json={"text": CLAIM})
    assert r.status_code == 403


def test_api_multipart_screenshot_and_the_item_page_shows_it(web: WebEnv) -> None:
    need_ocr()
    png = render(RUMOUR)
    r = web.api("analyst").post(
        "/api/submissions", files={"image": ("shot.png", png, "image/png")}, data={"note": "TikTok"}
    )
    assert r.status_code == 201, r.text
    item_id = r.json()["item_id"]
    page = web.client("analyst").get(f"/items/{item_id}")
    assert page.status_code == 200 and "gắn chip" in page.text and "TikTok" in page.text
    src = page.text.split(f"/items/{item_id}/images/")[1].split('"')[0]
    img = web.client("analyst").get(f"/items/{item_id}/images/{src}")
    assert img.status_code == 200 and img.content == png
    assert img.headers["content-type"] == "image/png" and img.headers["x-content-type-options"] == "nosniff"
    assert web.client("analyst").get(f"/items/{item_id}/images/{'0' * 64}").status_code == 404


@pytest.mark.parametrize("kind", ["html-as-image", "bomb"])
def test_api_bad_images_are_400_and_store_nothing(web: WebEnv, kind: str) -> None:
    data = b"<html><script>alert(1)</script></html>" if kind == "html-as-image" else bomb_png()
    r = web.api("analyst").post("/api/submissions", files={"image": ("x.png", data, "image/png")})
    assert r.status_code == 400, r.text
    db = web.db()
    try:
        assert _count(db, "items") == 0 and _count(db, "submissions") == 0
    finally:
        db.conn.close()


def test_the_report_page_form_and_navigation(web: WebEnv) -> None:
    c = web.client("analyst")
    page = c.get("/submit")
    assert page.status_code == 200 and 'name="image"' in page.text and "/static/submit.js" in page.text
    assert 'href="/submit"' in c.get("/queue").text
    r = c.post("/submit", data={"csrf_token": c.csrf, "text": CLAIM, "url": "", "note": ""})  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"].startswith("/items/")
    empty = c.post("/submit", data={"csrf_token": c.csrf, "text": "", "url": "", "note": ""})  # type: ignore[attr-defined]
    assert empty.status_code == 400 and "empty" in empty.text
    assert c.post("/submit", data={"text": CLAIM}).status_code in (400, 403)  # no CSRF token
