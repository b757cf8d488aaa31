"""Digest messages through a real SMTP server: structure, escaping, content per role and language."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.notify.digest import preview_html, run_digest
from monitor.store import connect
from monitor.store.mail import ledger_rows
from tests.digest_seed import NOW, SmtpServer, digest_config, seed, smtp, write_config

__all__ = ["smtp"]


@pytest.fixture
def sent(tmp_path: Path, smtp: SmtpServer) -> dict[str, object]:
    """Seed a day of activity and send the digest to the four recipients; messages keyed by address."""
    cfg = load_config(write_config(tmp_path, digest_config(tmp_path, smtp.port)))
    db = connect(cfg.database_path)
    ids = seed(db)
    report = run_digest(cfg, db, send=True, now=NOW)
    assert [r.status for r in report.results] == ["sent"] * 4
    by_to = {str(m["To"]): m for m in smtp.sink.messages}
    rows = {r["recipient"]: r for r in ledger_rows(db, "digest")}
    db.conn.close()
    return {"messages": by_to, "rows": rows, "ids": ids, "cfg": cfg, "envelopes": smtp.sink.envelopes}


def test_one_multipart_message_per_recipient_with_correct_headers(sent: dict[str, Any]) -> None:
    messages, rows = sent["messages"], sent["rows"]
    assert set(messages) == {
        "coord-vi@example.gov.vn",
        "analyst-en@example.gov.vn",
        "coord-en@example.gov.vn",
        "analyst-vi@example.gov.vn",
    }
    assert all(env.rcpt_tos == [env_to] for env in sent["envelopes"] for env_to in [env.rcpt_tos[0]])
    for to, msg in messages.items():
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["From"] == "Misinfo <monitor@example.gov.vn>"
        assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
        assert re.fullmatch(r"<[^<>@\s]+@example\.gov\.vn>", msg["Message-ID"])
        assert rows[to]["message_id"] == msg["Message-ID"] and rows[to]["status"] == "sent"
        assert rows[to]["attempts"] == 1 and rows[to]["period"] == "2026-11-26"
    assert messages["analyst-en@example.gov.vn"]["Subject"] == (
        "[misinfo-monitor] Daily digest 2026-11-26: 3 new flagged item(s)"
    )
    assert (
        messages["coord-vi@example.gov.vn"]["Subject"]
        == "[misinfo-monitor] Bản tin ngày 26/11/2026: 3 tin mới bị gắn cờ"
    )


def test_html_is_safe_for_mail_clients(sent: dict[str, Any]) -> None:
    for msg in sent["messages"].values():
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert "<script" not in html.lower() and "<img" not in html.lower()
        assert "<style" not in html.lower() and "<link" not in html.lower()  # inline CSS only
        assert "&lt;script&gt;alert(" in html and "&amp; &#34;phí&#34;" in html  # hostile title escaped
        assert 'href="https://monitor.example.gov.vn/items/1"' in html
        assert "style=" in html
        assert '<script>alert("x")</script>' in text  # plain text shows it literally, inert
        assert "https://monitor.example.gov.vn/items/1" in text


def test_content_depends_on_role_and_language(sent: dict[str, Any]) -> None:
    bodies = {to: m.get_body(("plain",)).get_content() for to, m in sent["messages"].items()}
    coord_vi, analyst_en = bodies["coord-vi@example.gov.vn"], bodies["analyst-en@example.gov.vn"]
    coord_en, analyst_vi = bodies["coord-en@example.gov.vn"], bodies["analyst-vi@example.gov.vn"]
    # Everyone: counts, top items with time in local time and the best approved rebuttal, growing narratives.
    assert "Tin mới bị gắn cờ: 3" in coord_vi and "New flagged items: 3" in analyst_en
    assert "Linked to a rebuttal: 1" in analyst_en and "Dismissed: 1" in analyst_en
    assert "Suggested rebuttal: CCCD vẫn còn giá trị sau sáp nhập" in analyst_en
    assert "Time: 26 Nov 2026, 04:00" in analyst_en  # 21:00 UTC published -> 04:00 in Ho Chi Minh City
    assert "Thời gian: 04:00, 26/11/2026" in analyst_vi
    assert "Narrative cccd-merger: 2 flagged (previous period: 0)" in analyst_en
    assert "Luận điệu đang gia tăng" in analyst_vi
    # Coordinators and admins only: assignments due / overdue and failing sources.
    assert "QUÁ HẠN" in coord_vi and "fanpage-overdue" in coord_vi and "fanpage-soon" in coord_vi
    assert "fanpage-later" not in coord_vi  # due in 9 days: not yet
    assert "nguon-hong: lỗi 4 lần liên tiếp" in coord_vi
    assert "OVERDUE" in coord_en and "nguon-hong: 4 failure(s) in a row" in coord_en
    for analyst in (analyst_en, analyst_vi):
        assert "fanpage" not in analyst and "nguon-hong" not in analyst
    assert "Assignments due" not in analyst_en and "Phân công" not in analyst_vi
    # Language: no English headings in the Vietnamese digest and vice versa.
    assert "Daily digest" not in coord_vi and "Bản tin" not in coord_en


def test_dry_run_writes_eml_and_html_and_leaves_the_ledger_alone(tmp_path: Path) -> None:
    config = write_config(tmp_path, digest_config(tmp_path, 9))
    db = connect(load_config(config).database_path)
    seed(db)
    out = tmp_path / "preview"
    result = CliRunner().invoke(cli, ["--config", str(config), "digest", "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    assert (
        "coord-vi@example.gov.vn.eml" in files
        and "analyst-en@example.gov.vn.html" in files
        and len(files) == 8
    )
    assert str(out / "coord-vi@example.gov.vn.eml") in result.output
    assert b"multipart/alternative" in (out / "coord-vi@example.gov.vn.eml").read_bytes()
    assert ledger_rows(db, "") == []
    listing = CliRunner().invoke(cli, ["--config", str(config), "digest"])
    assert listing.exit_code == 0 and "coord-vi@example.gov.vn: [misinfo-monitor]" in listing.output
    db.conn.close()


def test_preview_html_for_the_web_app(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, digest_config(tmp_path, 9)))
    db = connect(cfg.database_path)
    seed(db)
    analyst = preview_html(cfg, db, "analyst", "en")
    coordinator = preview_html(cfg, db, "coordinator", "vi")
    assert analyst.startswith("<!DOCTYPE html>") and "Daily digest" in analyst
    assert "Assignments due" not in analyst and "Phân công đến hạn" in coordinator
    assert "<script" not in analyst and "<script" not in coordinator
    db.conn.close()
