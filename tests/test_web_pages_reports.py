"""Reports (figures on seeded data, charts, CSV export and formula-injection guard), audit log, digest preview."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from monitor.store import audit
from monitor.store import reports as store_reports
from monitor.store.db import to_db_time, write
from monitor.web.routes_reports import csv_cell, to_csv
from tests import builders
from tests.pages_helpers import narrative_of, pweb  # noqa: F401  (pweb is a fixture)
from tests.web_helpers import WebEnv, seed_flag, seed_item, seed_rebuttal

EVIL_SOURCE = '=HYPERLINK("http://evil.example/","x")'


def _seed_figures(env: WebEnv) -> dict[str, int]:
    """Four linked items (1, 2, 3, 10 h after first seen), responses published after 5 h (item) and 20 h
    (narrative), one dismissed item in English from a hostile-named source, one overdue assignment."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    at = lambda hours: to_db_time(base + timedelta(hours=hours))  # noqa: E731
    db = env.db()
    try:
        rid = seed_rebuttal(
            db, "CCCD không phải làm lại <b>", ["Phải làm lại CCCD sau sáp nhập"], key="cccd-merger"
        )
        nid = narrative_of(db, rid)
        ids = {}
        for name, narrative in (("a", nid), ("b", nid), ("c", nid), ("d", None)):
            ids[name] = seed_flag(
                db,
                f"Tin {name}",
                f"Nội dung {name}",
                source="press-vn",
                fetched_at=at(0),
                flagged_at=at(0),
                narrative_id=narrative,
            )
        ids["e"] = seed_flag(
            db, "English post", "text", source=EVIL_SOURCE, lang="en", fetched_at=at(0), flagged_at=at(0)
        )
        ids["f"] = seed_item(db, "Not flagged", "x", source="press-vn", fetched_at=at(1))
        admin = builders.user_id(db, "admin")
        for name, hours in (("a", 1), ("b", 2), ("c", 3), ("d", 10)):
            builders.mark_linked(db, ids[name], rid, admin, at=at(hours))
        builders.mark_dismissed(db, ids["e"], "accurate")
        now = at(0)
        for item, narrative, status, published, due in (
            (ids["a"], None, "published", at(5), None),
            (None, nid, "published", at(20), None),
            (ids["d"], None, "assigned", None, at(-30)),
        ):
            builders.add_assignment(
                db,
                item_id=item,
                narrative_id=narrative,
                rebuttal_id=rid,
                channel="website",
                assignee_id=admin,
                due_at=due,
                status=status,
                published_url="https://example.gov.vn/x" if published else None,
                published_at=published,
                created_by=admin,
                created_at=now,
            )
        return {**ids, "rebuttal": rid, "narrative": nid}
    finally:
        db.conn.close()


def test_percentile() -> None:
    assert store_reports.percentile([], 50) is None
    assert store_reports.percentile([4.0], 90) == 4.0
    assert store_reports.percentile([1, 2, 3, 10], 50) == 2.5
    assert store_reports.percentile([1, 2, 3, 10], 90) == pytest.approx(7.9)


def test_report_figures_on_seeded_data(pweb: WebEnv) -> None:  # noqa: F811
    _seed_figures(pweb)
    db = pweb.db()
    try:
        window = store_reports.Window(days=30, tz="Asia/Ho_Chi_Minh")
        times = {r["measure"]: r for r in store_reports.response_times(db, window)}
        assert times["first_seen_to_linked"] == {
            "measure": "first_seen_to_linked",
            "n": 4,
            "median_hours": 2.5,
            "p90_hours": 7.9,
        }
        assert times["first_seen_to_published"] == {
            "measure": "first_seen_to_published",
            "n": 3,
            "median_hours": 20.0,
            "p90_hours": 20.0,
        }
        volumes = store_reports.volumes(db, window)
        assert (
            len(volumes) == 30
            and sum(r["items"] for r in volumes) == 6
            and sum(r["flags"] for r in volumes) == 5
        )
        sources = {r["source"]: r for r in store_reports.by_source(db, window)}
        assert sources["press-vn"] == {
            "source": "press-vn",
            "items": 5,
            "flagged": 4,
            "linked": 4,
            "dismissed": 0,
            "escalated": 0,
        }
        assert sources[EVIL_SOURCE]["dismissed"] == 1
        langs = {r["language"]: (r["items"], r["flagged"]) for r in store_reports.by_language(db, window)}
        assert langs == {"vi": (5, 4), "en": (1, 1)}
        narratives = store_reports.by_narrative(db, window)
        assert narratives[0] == {
            "narrative": "CCCD không phải làm lại <b>",
            "flagged": 3,
            "linked": 3,
            "assignments": 2,
            "published": 2,
        }
        assert narratives[1]["narrative"] == "(no narrative)" and narratives[1]["flagged"] == 2
        overdue = store_reports.overdue(db)
        assert len(overdue) == 1 and overdue[0]["item"] == "Tin d" and overdue[0]["hours_overdue"] > 30
        # A window that ends before the data holds none of it.
        assert (
            sum(
                r["items"]
                for r in store_reports.volumes(db, store_reports.Window(days=1, tz="Asia/Ho_Chi_Minh"))
            )
            == 0
        )
    finally:
        db.conn.close()


def test_reports_page_has_charts_tables_and_escapes(pweb: WebEnv) -> None:  # noqa: F811
    _seed_figures(pweb)
    page = pweb.client("coordinator").get("/reports").text
    assert page.count('<svg class="chart"') == 3
    assert "<polyline" in page and "<rect" in page
    assert "CCCD không phải làm lại &lt;b&gt;" in page and "CCCD không phải làm lại <b>" not in page
    for table in store_reports.TABLES:
        assert f'href="/reports/{table}.csv?days=30"' in page
    assert "7.9" in page and "2.5" in page
    assert (
        re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?!/|data:)', page) == []
    )  # every asset is ours, no CDN
    assert "<script>" not in page.replace('<script src="/static/', "")


def test_csv_export_quotes_and_defuses_formulas(pweb: WebEnv) -> None:  # noqa: F811
    _seed_figures(pweb)
    client = pweb.client("coordinator")
    r = client.get("/reports/sources.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="sources-')
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["source", "items", "flagged", "linked", "dismissed", "escalated"]
    by_name = {row[0]: row for row in rows[1:]}
    assert "'" + EVIL_SOURCE in by_name  # the formula became text, the quotes inside survived the round trip
    assert by_name["press-vn"] == ["press-vn", "5", "4", "4", "0", "0"]
    overdue = list(csv.reader(io.StringIO(client.get("/reports/overdue.csv").text.lstrip("\ufeff"))))
    assert overdue[0][:3] == ["id", "due_at", "assignee"] and len(overdue) == 2
    assert client.get("/reports/nope.csv").status_code == 404


def test_csv_cells() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "plain", -3, 2.5, None, True)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        -3,
        2.5,
        "",
        1,
    ]
    text = to_csv([{"a": 'x,"y"\nz', "b": "=cmd|' /C calc'!A0"}])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ['x,"y"\nz', "'=cmd|' /C calc'!A0"]]
    assert to_csv([], ["day", "items"]) == "day,items\r\n"


def test_audit_page_filters_and_pages(pweb: WebEnv) -> None:  # noqa: F811
    db = pweb.db()
    try:
        with write(db):
            for n in range(60):
                audit.record(
                    db,
                    "coordinator" if n % 2 else "analyst",
                    "item.link" if n % 3 else "assignment.create",
                    "item",
                    n,
                    {"n": n, "title": "<script>alert(1)</script>"},
                )
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_log SET actor = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit_log")
    finally:
        db.conn.close()
    client = pweb.client("admin")
    first = client.get("/audit").text
    assert len(re.findall(r"<tr>\s*<td>\d+</td>", first)) == 50
    assert "before=" in first and "<script>alert(1)</script>" not in first
    older = client.get("/audit?before=" + first.split("before=")[1].split('"')[0]).text
    assert "Newest" in older
    only = client.get("/audit", params={"actor": "analyst", "action": "assignment"}).text
    assert only.count("<code>assignment.create</code>") == 10  # n in 0..59, even and divisible by 3
    assert "<code>item.link</code>" not in only
    today = datetime.now(UTC).date().isoformat()
    none = client.get("/audit", params={"date_to": "2001-01-01"}).text
    assert "No entries match." in none
    assert "No entries match." not in client.get("/audit", params={"date_from": today}).text


def test_digest_preview_is_sandboxed_and_escaped(pweb: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    client = pweb.client("coordinator")
    real = client.get("/digest/preview", params={"role": "coordinator", "lang": "vi"})
    assert real.status_code == 200
    import monitor.web.routes_digest

    hostile = '<p onclick="alert(1)">"quoted" & <script>alert(1)</script></p>'
    monkeypatch.setattr(
        monitor.web.routes_digest,
        "preview_html",
        lambda cfg, db, role, language: f"{role}/{language}{hostile}",
    )
    page = client.get("/digest/preview", params={"role": "analyst", "lang": "en"}).text
    frame = page.split("<iframe", 1)[1].split("</iframe>", 1)[0]
    assert " sandbox " in frame and 'srcdoc="analyst/en&lt;p onclick=&#34;alert(1)&#34;&gt;' in frame
    assert "<script>alert(1)" not in page
    raw = client.get("/digest/preview.html", params={"role": "manager", "lang": "vi"})
    assert raw.text.startswith("manager/vi<p")
    csp = raw.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp


def test_digest_preview_says_why_when_the_digest_cannot_be_built(
    pweb: WebEnv,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import monitor.web.routes_digest

    def broken(cfg: object, db: object, role: str, language: str) -> str:
        raise RuntimeError("template missing")

    monkeypatch.setattr(monitor.web.routes_digest, "preview_html", broken)
    page = pweb.client("coordinator").get("/digest/preview")
    assert page.status_code == 200 and "the digest could not be built" in page.text
    assert "template missing" in page.text
