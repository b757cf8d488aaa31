"""Surge alerts: fire once per narrative per window, to coordinators and admins only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.notify.digest import detect_surges, run_surge
from monitor.store import connect
from monitor.store.mail import ledger_rows
from tests.digest_seed import NOW, SmtpServer, add_flags, digest_config, seed, smtp, write_config

__all__ = ["smtp"]


def test_hour_surge_alerts_coordinators_once(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(write_config(tmp_path, digest_config(tmp_path, smtp.port)))
    db = connect(cfg.database_path)
    ids = seed(db)
    cccd = ids["n-cccd-merger"]
    add_flags(db, cccd, 7, NOW - timedelta(days=3), "baseline")  # 7 in a week: hourly baseline floors at 1
    assert detect_surges(cfg, db, NOW) == []
    add_flags(db, cccd, 6, NOW, "surge")  # 6 in the last hour > 3 x 1 and >= surge_min_items
    first = run_surge(cfg, db, now=NOW)
    assert [(s["narrative_id"], s["window"], s["count"]) for s in first.surges] == [(cccd, "hour", 6)]
    assert sorted(r.recipient for r in first.results) == [
        "coord-en@example.gov.vn",
        "coord-vi@example.gov.vn",
    ]
    assert {r.status for r in first.results} == {"sent"}
    en = next(m for m in smtp.sink.messages if m["To"] == "coord-en@example.gov.vn")
    assert en["Subject"] == "[misinfo-monitor] Surge alert: Narrative cccd-merger: 6 flagged in the last hour"
    text = en.get_body(("plain",)).get_content()
    assert "6 flagged items in the last hour, against a usual 1.0 per hour" in text
    assert "surge tin số 0" in text and "CCCD vẫn còn giá trị sau sáp nhập" in text  # example + rebuttal
    html = en.get_body(("html",)).get_content()
    assert "<script" not in html and 'href="https://example.gov.vn/r"' in html
    vi = next(m for m in smtp.sink.messages if m["To"] == "coord-vi@example.gov.vn")
    assert "Cảnh báo tăng đột biến" in vi["Subject"]
    # Same window later (and the day window, which this fast surge also trips): nothing more.
    again = run_surge(cfg, db, now=NOW + timedelta(minutes=20))
    assert {r.status for r in again.results} == {"already_sent"} and len(smtp.sink.envelopes) == 2
    assert [r["kind"] for r in ledger_rows(db, "surge:")] == [f"surge:{cccd}:hour"] * 2
    db.conn.close()


def test_slow_day_surge_fires_the_day_window(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(write_config(tmp_path, digest_config(tmp_path, smtp.port)))
    db = connect(cfg.database_path)
    ids = seed(db)
    bank = ids["n-vneid-bank"]
    for hours in range(2, 20, 2):  # 9 flags spread over the day: never 5 in one hour
        add_flags(db, bank, 1, NOW - timedelta(hours=hours), f"slow{hours}")
    report = run_surge(cfg, db, now=NOW)
    assert [(s["window"], s["count"]) for s in report.surges] == [("day", 10)]  # + 1 from seed()
    assert len(smtp.sink.envelopes) == 2
    assert run_surge(cfg, db, now=NOW + timedelta(hours=2)).results[0].status == "already_sent"
    assert len(smtp.sink.envelopes) == 2
    db.conn.close()


def test_surge_dry_run_writes_files_and_sends_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, digest_config(tmp_path, 9))
    db = connect(load_config(config).database_path)
    ids = seed(db)
    from datetime import UTC, datetime

    add_flags(db, ids["n-vneid-bank"], 6, datetime.now(UTC), "now")
    out = tmp_path / "alerts"
    result = CliRunner().invoke(cli, ["--config", str(config), "surge", "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "surge: Narrative vneid-bank" in result.output
    assert len(list(out.glob("*-surge-*.eml"))) == 2 and ledger_rows(db, "") == []
    db.conn.close()
