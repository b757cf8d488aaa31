"""Unanswered claims in the e-mails: the digest's top groups (approvers, coordinators), group surge alerts
(once per group and window), and sources whose last pass succeeded with a warning."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import sqlite_utils
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.notify.digest import detect_surges, run_digest, run_surge
from monitor.review import roles
from monitor.store import connect
from monitor.store import groups as groups_store
from monitor.store.collect import finish_ok, start_fetch
from monitor.store.db import to_db_time
from monitor.store.items import NewItem, add_item
from monitor.store.mail import ledger_rows
from tests import builders
from tests.digest_seed import NOW, SmtpServer, digest_config, seed, smtp, write_config

__all__ = ["smtp"]

RUMOUR = "Mỗi hộ phải đóng phí sáp nhập 500k để xây trụ sở xã mới"
APPROVER = "approver-vi@example.gov.vn"


def _config(tmp_path: Path, port: int) -> Path:
    data = digest_config(tmp_path, port)
    data["digest"]["recipients"].append({"email": APPROVER, "role": "approver", "language": "vi"})
    return write_config(tmp_path, data)


def _group(
    db: sqlite_utils.Database, count: int, flagged_at: str, label: str = RUMOUR
) -> tuple[int, list[int]]:
    """An open unanswered-claim group of `count` flagged posts (seen and flagged at `flagged_at`)."""
    ids = []
    for n in range(count):
        item_id, _ = add_item(
            db,
            NewItem(
                title="",
                text=f"{label} (bài {n})",
                url=f"http://127.0.0.1:9/g/{label[:4]}/{flagged_at}/{n}",
                canonical_url=f"http://127.0.0.1:9/g/{label[:4]}/{flagged_at}/{n}",
                fetched_at=flagged_at,
                published_at=flagged_at,
            ),
        )
        builders.add_flag(db, item_id, flagged_at=flagged_at, risk=0.9)
        ids.append(item_id)
    gid = groups_store.create_group(db, ids)
    groups_store.set_summary(db, gid, label, ["phi sap_nhap"], ids[0])
    return gid, ids


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_only_approvers_coordinators_and_admins_get_the_unanswered_section() -> None:
    assert set(roles.roles_with(roles.DIGEST_UNANSWERED)) == {"coordinator", "approver", "admin"}


def test_digest_lists_top_unanswered_groups_in_both_languages(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(_config(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    seed(db)
    gid, _ = _group(db, 3, to_db_time(NOW - timedelta(hours=2)))
    _group(db, 1, to_db_time(NOW - timedelta(hours=3)), "Một bài lẻ không thành nhóm")  # below group.min_size
    report = run_digest(cfg, db, send=True, now=NOW)
    assert {r.status for r in report.results} == {"sent"}
    by_to = {m["To"]: m for m in smtp.sink.messages}
    link = f"https://monitor.example.gov.vn/unanswered#g{gid}"
    en = _text(by_to["coord-en@example.gov.vn"])  # admin, English
    assert "Top unanswered claims" in en and RUMOUR in en
    assert "3 post(s), 3 in the last 24 hours (growth 4.0×)" in en and link in en
    assert "Một bài lẻ" not in en
    for address in ("coord-vi@example.gov.vn", APPROVER):
        vi = by_to[address]
        assert "Các tin sai chưa có bài phản bác" in _text(vi)
        assert "3 bài, 3 bài trong 24 giờ qua (tăng 4.0 lần)" in _text(vi)
        assert f'href="{link}"' in _html(vi) and RUMOUR in _html(vi)
    for analyst in ("analyst-en@example.gov.vn", "analyst-vi@example.gov.vn"):
        assert RUMOUR not in _text(by_to[analyst]) and "unanswered" not in _text(by_to[analyst]).lower()
        assert "chưa có bài phản bác" not in _text(by_to[analyst])
    # The approver gets the groups but not the coordinators' sections.
    assert "Nguồn đang lỗi" not in _text(by_to[APPROVER])
    db.conn.close()


def test_digest_says_so_when_nothing_is_unanswered(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(_config(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    seed(db)
    gid, _ = _group(db, 2, to_db_time(NOW - timedelta(hours=2)))
    groups_store.close_group(db, gid, "dismissed", None)  # closed groups leave the list
    run_digest(cfg, db, send=True, now=NOW, to="coord-en@example.gov.vn")
    (msg,) = smtp.sink.messages
    assert "No unanswered claim." in _text(msg) and RUMOUR not in _text(msg)
    db.conn.close()


def test_digest_shows_sources_whose_last_pass_succeeded_with_a_warning(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    cfg = load_config(_config(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    seed(db)
    press = builders.add_source(
        db, "bao-mau-press", "http://127.0.0.1:9/press/", at=to_db_time(NOW), kind="press"
    )
    log_id = start_fetch(db, press)
    note = "2 of 9 page(s) not fetched: http://127.0.0.1:9/press/b-2.html (HTTP 500)"
    finish_ok(
        db,
        log_id,
        press,
        status="ok",
        http_status=200,
        nbytes=10,
        items_new=7,
        items_seen=7,
        note=note,
        etag=None,
        last_modified=None,
    )
    clean = builders.add_source(db, "clean-feed", "http://127.0.0.1:9/ok.xml", at=to_db_time(NOW))
    finish_ok(
        db,
        start_fetch(db, clean),
        clean,
        status="ok",
        http_status=200,
        nbytes=10,
        items_new=1,
        items_seen=1,
        note=None,
        etag=None,
        last_modified=None,
    )
    run_digest(cfg, db, send=True, now=NOW)
    by_to = {m["To"]: m for m in smtp.sink.messages}
    en = _text(by_to["coord-en@example.gov.vn"])
    assert "Failing sources" in en and "nguon-hong" in en  # the failing one is still there
    assert "Sources with warnings" in en
    assert f"bao-mau-press: last pass succeeded with a warning: {note}" in en
    assert "clean-feed" not in en
    vi = by_to["coord-vi@example.gov.vn"]
    assert "Nguồn có cảnh báo" in _text(vi) and "b-2.html" in _html(vi)
    assert "bao-mau-press" not in _text(by_to["analyst-en@example.gov.vn"])  # coordinators' section only
    db.conn.close()


def test_growing_unanswered_group_alerts_coordinators_once(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(_config(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    seed(db)
    quiet, _ = _group(db, 4, to_db_time(NOW - timedelta(minutes=20)), "Tin lẻ tẻ về phí")  # < surge_min_items
    gid, ids = _group(db, 6, to_db_time(NOW - timedelta(minutes=10)))
    surges = detect_surges(cfg, db, NOW)
    assert [(s["key"], s["window"], s["count"]) for s in surges] == [
        (f"group:{gid}", "hour", 6),
        (f"group:{gid}", "day", 6),
    ]
    first = run_surge(cfg, db, now=NOW)
    assert [(s["key"], s["window"]) for s in first.surges] == [
        (f"group:{gid}", "hour")
    ]  # the day one is covered
    assert sorted(r.recipient for r in first.results) == [
        "coord-en@example.gov.vn",
        "coord-vi@example.gov.vn",
    ]
    assert {r.status for r in first.results} == {"sent"}
    en = next(m for m in smtp.sink.messages if m["To"] == "coord-en@example.gov.vn")
    assert en["Subject"] == (
        f"[misinfo-monitor] Surge alert: Unanswered claim: {RUMOUR}: 6 flagged in the last hour"
    )
    text = _text(en)
    assert "6 flagged items in the last hour, against a usual 1.0 per hour" in text
    assert f"{RUMOUR} (bài" in text and "none yet" in text  # examples; no rebuttal yet
    assert f"https://monitor.example.gov.vn/unanswered#g{gid}" in text
    vi = next(m for m in smtp.sink.messages if m["To"] == "coord-vi@example.gov.vn")
    assert "Tin sai chưa có phản bác" in str(vi["Subject"]) and "Cảnh báo tăng đột biến" in str(vi["Subject"])
    # Later in the same hour, and the next hours of the same day: nothing more for this group.
    again = run_surge(cfg, db, now=NOW + timedelta(minutes=20))
    assert {r.status for r in again.results} == {"already_sent"} and len(smtp.sink.envelopes) == 2
    later = run_surge(cfg, db, now=NOW + timedelta(hours=2))
    assert later.surges == [] and len(smtp.sink.envelopes) == 2
    kinds = [r["kind"] for r in groups_ledger(db)]
    assert kinds == [f"surge:group:{gid}:hour"] * 2
    assert str(quiet) not in "".join(kinds)
    db.conn.close()


def groups_ledger(db: sqlite_utils.Database) -> list[dict[str, object]]:
    return ledger_rows(db, "surge:group:")


def test_a_closed_group_does_not_surge_and_narratives_still_do(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(_config(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    seed(db)
    gid, _ = _group(db, 6, to_db_time(NOW - timedelta(minutes=10)))
    groups_store.close_group(db, gid, "answered", None)
    assert detect_surges(cfg, db, NOW) == []
    db.conn.close()


def test_group_surge_dry_run_names_the_claim_and_writes_files(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    config = _config(tmp_path, 9)
    db = connect(load_config(config).database_path)
    seed(db)
    gid, _ = _group(db, 5, to_db_time(datetime.now(UTC) - timedelta(minutes=5)))
    out = tmp_path / "alerts"
    result = CliRunner().invoke(cli, ["--config", str(config), "surge", "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"surge: unanswered claim: {RUMOUR} — 5 flagged in the last hour" in result.output
    files = sorted(p.name for p in out.glob("*.eml"))
    assert len(files) == 2 and all(f"-surge-group-{gid}-hour" in f for f in files)
    db.conn.close()
