"""Exactly once: re-runs, two racing processes, a crash between SMTP acceptance and the ledger, SMTP down."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.notify.digest import CRASH_HOOK_ENV, run_digest
from monitor.store import connect
from monitor.store.db import to_db_time, utcnow
from monitor.store.mail import claim, ledger_row, ledger_rows
from tests import builders
from tests.digest_seed import (
    NOW,
    SmtpServer,
    digest_config,
    free_port,
    run_misinfo,
    seed,
    smtp,
    write_config,
)

__all__ = ["smtp"]
COORD = "coord-vi@example.gov.vn"


def _setup(tmp_path: Path, port: int) -> Path:
    config = write_config(tmp_path, digest_config(tmp_path, port))
    db = connect(load_config(config).database_path)
    seed(db)
    db.conn.close()
    return config


def test_a_second_run_sends_nothing(tmp_path: Path, smtp: SmtpServer) -> None:
    cfg = load_config(_setup(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    first = run_digest(cfg, db, send=True, now=NOW)
    second = run_digest(cfg, db, send=True, now=NOW + timedelta(hours=3))
    assert [r.status for r in first.results] == ["sent"] * 4
    assert [r.status for r in second.results] == ["already_sent"] * 4
    assert len(smtp.sink.envelopes) == 4
    # The next period is a new message, and it reports only what happened since the previous digest.
    third = run_digest(cfg, db, send=True, now=NOW + timedelta(days=1))
    assert [r.status for r in third.results] == ["sent"] * 4 and len(smtp.sink.envelopes) == 8
    later = smtp.sink.messages[-1].get_body(("plain",)).get_content()
    assert "Tin mới bị gắn cờ: 0" in later and "Từ 08:00, 26/11/2026 đến 08:00, 27/11/2026" in later
    db.conn.close()


def test_claim_is_won_by_exactly_one_connection(tmp_path: Path) -> None:
    cfg = load_config(_setup(tmp_path, free_port()))
    first, second = connect(cfg.database_path), connect(cfg.database_path)
    now = utcnow()
    won = claim(first, "digest", COORD, "2026-11-26", "worker-a", now, "<a@x>", "payload-a")
    lost = claim(second, "digest", COORD, "2026-11-26", "worker-b", now, "<b@x>", "payload-b")
    assert won is not None and won["claimed_by"] == "worker-a" and won["status"] == "sending"
    assert lost is None
    row = ledger_row(second, "digest", COORD, "2026-11-26")
    assert row is not None and (row["message_id"], row["payload"], row["attempts"]) == (
        "<a@x>",
        "payload-a",
        1,
    )
    first.conn.close()
    second.conn.close()


def test_two_racing_processes_send_each_message_once(tmp_path: Path, smtp: SmtpServer) -> None:
    slow = smtp.sink.handle_DATA

    async def slow_accept(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.2)  # keep each SMTP transaction open so the two processes overlap
        return await slow(server, session, envelope)

    smtp.sink.handle_DATA = slow_accept  # type: ignore[method-assign]
    config = _setup(tmp_path, smtp.port)
    args = [str(a) for a in ("--config", config, "digest", "--send")]
    cmd = ["-c", "from monitor.cli import main; main()", *args]
    import sys

    procs = [
        subprocess.Popen([sys.executable, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    counts = Counter(env.rcpt_tos[0] for env in smtp.sink.envelopes)
    assert len(counts) == 4 and set(counts.values()) == {1}, counts
    reported = Counter(
        line.split()[1] for out, _ in outputs for line in out.splitlines() if line.startswith("sent ")
    )
    assert reported == counts  # each process reports what it sent; the other skipped those recipients
    db = connect(load_config(config).database_path)
    rows = ledger_rows(db, "digest")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}
    db.conn.close()


def test_crash_between_send_and_record_never_sends_twice(tmp_path: Path, smtp: SmtpServer) -> None:
    config = _setup(tmp_path, smtp.port)
    crashed = run_misinfo(config, "digest", "--send", "--to", COORD, env={CRASH_HOOK_ENV: "1"})
    assert crashed.returncode == 1 and len(smtp.sink.envelopes) == 1
    db = connect(load_config(config).database_path)
    period = ledger_rows(db, "digest")[0]["period"]
    row = ledger_row(db, "digest", COORD, period)
    assert row is not None and row["status"] == "sending"
    first_id = smtp.sink.messages[0]["Message-ID"]
    assert row["message_id"] == first_id  # stored before the SMTP transaction
    # Re-runs while the claim is fresh (in progress) and after its lease expired (stuck): nothing is sent.
    again = run_misinfo(config, "digest", "--send", "--to", COORD)
    assert again.returncode == 0 and "in_progress" in again.stdout
    builders.expire_claim(db, row["id"], to_db_time(NOW - timedelta(days=1)))
    stuck = run_misinfo(config, "digest", "--send", "--to", COORD)
    assert stuck.returncode == 0 and "stuck" in stuck.stderr and first_id in stuck.stderr
    assert len(smtp.sink.envelopes) == 1
    # The operator checked the mail log and forces a re-send: the same Message-ID and the same bytes.
    forced = run_misinfo(config, "digest", "--send", "--to", COORD, "--force")
    assert forced.returncode == 0 and "sent" in forced.stdout, forced.stderr
    assert len(smtp.sink.envelopes) == 2
    assert smtp.sink.envelopes[1].content == smtp.sink.envelopes[0].content
    row = ledger_row(db, "digest", COORD, period)
    assert row is not None and row["status"] == "sent" and row["attempts"] == 2
    db.conn.close()


def test_smtp_down_then_up_records_the_failure_and_sends_once(tmp_path: Path) -> None:
    port = free_port()
    config = _setup(tmp_path, port)
    cfg = load_config(config)
    db = connect(cfg.database_path)
    down = run_digest(cfg, db, send=True)
    assert [r.status for r in down.results] == ["failed", "not_attempted", "not_attempted", "not_attempted"]
    row = ledger_row(db, "digest", COORD, down.period)
    assert (
        row is not None and row["status"] == "failed" and row["attempts"] == 2
    )  # retried once within the run
    assert f"127.0.0.1:{port}" in row["last_error"] and row["next_attempt_after"] >= row["created_at"]
    server = SmtpServer(port=port).start()
    try:
        retried = run_digest(cfg, db, retry_only=True)  # the frequent scheduled job: only failed rows
        assert [(r.recipient, r.status) for r in retried.results] == [(COORD, "sent")]
        up = run_digest(cfg, db, send=True)
        assert [r.status for r in up.results] == ["already_sent", "sent", "sent", "sent"]
        assert run_digest(cfg, db, send=True).sent == []
        assert Counter(env.rcpt_tos[0] for env in server.sink.envelopes) == {
            "coord-vi@example.gov.vn": 1,
            "analyst-en@example.gov.vn": 1,
            "coord-en@example.gov.vn": 1,
            "analyst-vi@example.gov.vn": 1,
        }
        # The retried message is the one rendered at the first attempt (same Message-ID).
        retried = [m for m in server.sink.messages if m["To"] == COORD][0]
        assert retried["Message-ID"] == row["message_id"]
        final = ledger_row(db, "digest", COORD, down.period)
        assert final is not None and final["status"] == "sent" and final["attempts"] == 3
    finally:
        server.stop()
    db.conn.close()


def test_failed_row_waits_for_its_backoff(tmp_path: Path) -> None:
    data = digest_config(tmp_path, free_port(), retries=0, retry_backoff="1h")
    cfg = load_config(write_config(tmp_path, data))
    db = connect(cfg.database_path)
    seed(db)
    assert run_digest(cfg, db, send=True, to=COORD).results[0].status == "failed"
    row = ledger_row(db, "digest", COORD, run_digest(cfg, db, to=COORD).period)
    assert row is not None and row["next_attempt_after"] > utcnow()
    assert run_digest(cfg, db, send=True, to=COORD).results[0].status == "deferred"
    db.conn.close()


def test_unreachable_host_is_one_clear_line_and_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    config = _setup(tmp_path, port)
    result = CliRunner().invoke(cli, ["--config", str(config), "digest", "--send", "--to", COORD])
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and f"cannot connect to SMTP server 127.0.0.1:{port}" in error[0]
    assert "check smtp.host" in error[0] and "next run retries" in error[0]
    db = connect(load_config(config).database_path)
    rows = ledger_rows(db, "digest")
    assert [(r["recipient"], r["status"]) for r in rows] == [(COORD, "failed")]
    assert rows[0]["payload"] and rows[0]["message_id"]
    db.conn.close()


def test_connection_lost_after_data_is_never_resent_automatically(tmp_path: Path, smtp: SmtpServer) -> None:
    async def accept_then_hang_up(server: Any, session: Any, envelope: Any) -> str:
        smtp.sink.envelopes.append(envelope)
        server.transport.close()  # the server has the message; the client never hears "250"
        return "250 OK"

    smtp.sink.handle_DATA = accept_then_hang_up  # type: ignore[method-assign]
    cfg = load_config(_setup(tmp_path, smtp.port))
    db = connect(cfg.database_path)
    first = run_digest(cfg, db, send=True, to=COORD, now=NOW)
    assert first.results[0].status == "uncertain" and len(smtp.sink.envelopes) == 1
    row = ledger_row(db, "digest", COORD, first.period)
    assert (
        row is not None and row["status"] == "sending" and row["last_error"].startswith("delivery uncertain")
    )
    assert run_digest(cfg, db, send=True, to=COORD, now=NOW + timedelta(hours=1)).results[0].status == "stuck"
    assert run_digest(cfg, db, retry_only=True, now=NOW + timedelta(hours=1)).results == []
    assert len(smtp.sink.envelopes) == 1
    db.conn.close()


def test_the_next_days_run_also_retries_yesterdays_failure(tmp_path: Path) -> None:
    port = free_port()
    cfg = load_config(_setup(tmp_path, port))
    db = connect(cfg.database_path)
    assert run_digest(cfg, db, send=True, to=COORD, now=NOW).results[0].status == "failed"
    server = SmtpServer(port=port).start()
    try:
        tomorrow = run_digest(cfg, db, send=True, now=NOW + timedelta(days=1))
        assert [(r.recipient, r.period, r.status) for r in tomorrow.results][-1] == (
            COORD,
            "2026-11-26",
            "sent",
        )
        assert [r.status for r in tomorrow.results] == ["sent"] * 5 and len(server.sink.envelopes) == 5
    finally:
        server.stop()
    db.conn.close()
