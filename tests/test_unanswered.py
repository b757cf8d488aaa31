"""Unanswered claims: grouping (fake encoder), the CLI, the page, the API, draft / approve / dismiss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import parse_config
from monitor.group import cluster
from monitor.group.run import growth, run_group, unanswered
from monitor.store import connect
from tests.fakes import HashingEncoder
from tests.web_helpers import WebEnv, seed_flag, seed_rebuttal, seed_suggestion, web  # noqa: F401

RUMOUR = [
    "VNeID sẽ chấm điểm tín nhiệm công dân, điểm thấp bị cấm mua vé máy bay",
    "VNeID se cham diem tin nhiem cong dan, diem thap bi cam mua ve may bay",
    "Nghe nói VNeID chấm điểm tín nhiệm công dân, ai điểm thấp không được mua vé máy bay",
]
OTHER = [
    "Thủ tướng chủ trì hội nghị trực tuyến về chuyển đổi số tại các tỉnh",
    "Giá lúa gạo miền Tây tăng nhẹ trong tuần qua",
]
NOW = "2026-03-10T08:00:00+00:00"
AT = "2026-03-10T07:00:00+00:00"


def _cfg(tmp_path: Path) -> Any:
    data = {
        "database": str(tmp_path / "web.db"),
        "state_dir": str(tmp_path / "var"),
        "group": {"threshold": 0.3},
    }
    return parse_config(yaml.safe_dump(data), base_dir=tmp_path)


def _seed(db: Any, texts: list[str], at: str | None = None, source: str = "s1") -> list[int]:
    return [seed_flag(db, t, t, fetched_at=at, source=source) for t in texts]


def test_features_and_clusters_group_paraphrases_apart_from_others() -> None:
    texts = RUMOUR + OTHER
    enc = HashingEncoder()
    rows = cluster.features(texts, enc.encode(texts), 0.5).rows
    groups = cluster.cluster(rows, range(len(texts)), 0.3)
    rumour_group = next(g for g in groups if 0 in g)
    assert sorted(rumour_group) == [0, 1, 2]
    joined, fresh = cluster.assign(rows, [[0, 1]], [2, 3], 0.3)
    assert joined == {2: 0} and fresh == [[3]]
    assert cluster.representative(rows, [0, 1, 2]) in (0, 1, 2)
    terms = cluster.top_terms(cluster.features(texts, enc.encode(texts), 0.5), [0, 1, 2], texts)
    assert any("diem" in t for t in terms)
    assert "VNeID" in cluster.label(RUMOUR[0], terms)


def test_run_group_is_incremental_and_skips_answered_items(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    enc = HashingEncoder()
    first = _seed(db, RUMOUR[:2] + OTHER[:1], AT)
    answered = _seed(db, ["Tin đồn đã có bài phản bác về thuế đất"], AT)
    rid = seed_rebuttal(db, "Thuế đất", ["tin đồn thuế đất"])
    seed_suggestion(db, answered[0], rid, 0.9, "tin đồn thuế đất")
    report = run_group(cfg, db, encoder=enc)
    assert report.placed == 3  # the answered item is left out
    groups = unanswered(cfg, db, now=_now())
    assert [sorted(g["item_ids"]) for g in groups] == [sorted(first[:2])]
    later = _seed(db, RUMOUR[2:], AT)
    report = run_group(cfg, db, encoder=enc)
    assert report.placed == 1 and report.joined == 1
    (g,) = unanswered(cfg, db, now=_now())
    assert g["size"] == 3 and later[0] in g["item_ids"]
    assert g["languages"] == ["vi"] and g["sources"] == ["s1"] and g["label"]
    assert run_group(cfg, db, encoder=enc).placed == 0  # nothing new: nothing moves
    db.conn.close()


def _now() -> Any:
    from datetime import datetime

    return datetime.fromisoformat(NOW)


def test_growth_against_own_baseline() -> None:
    now = _now()
    new = ["2026-03-10T07:00:00+00:00"] * 4
    assert growth(new, now) == (4, 0.0, 5.0)
    steady = [f"2026-03-0{d}T07:00:00+00:00" for d in range(3, 10)] + ["2026-03-10T07:00:00+00:00"]
    last, baseline, ratio = growth(steady, now)
    assert last == 1 and baseline == 1.0 and ratio == 1.0


def test_near_duplicates_count_once(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    ids = _seed(db, RUMOUR, AT)
    db.execute("UPDATE items SET cluster_id = ? WHERE id IN (?, ?)", [ids[0], ids[0], ids[1]])
    db.conn.commit()
    run_group(cfg, db, encoder=HashingEncoder())
    (g,) = unanswered(cfg, db, now=_now())
    assert sorted(g["item_ids"]) == [ids[0], ids[2]]
    db.conn.close()


def test_cli_json(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    ids = _seed(db, RUMOUR)
    run_group(cfg, db, encoder=HashingEncoder())
    db.conn.close()
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"database": str(cfg.database_path), "state_dir": str(tmp_path / "var")}),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["--config", str(path), "unanswered", "--no-update", "--days", "30", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (g,) = doc["groups"]
    assert sorted(g["item_ids"]) == sorted(ids)
    assert {"id", "size", "item_ids", "label", "first_seen", "last_seen", "growth"} <= set(g)
    text = CliRunner().invoke(cli, ["--config", str(path), "unanswered", "--no-update", "--days", "30"])
    assert text.exit_code == 0 and f"#{g['id']}" in text.output


def _grouped_env(env: WebEnv) -> list[int]:
    db = env.db()
    try:
        ids = _seed(db, RUMOUR)
        run_group(env.cfg, db, encoder=HashingEncoder())
    finally:
        db.conn.close()
    return ids


def test_page_and_api_rank_and_check_roles(web: WebEnv) -> None:  # noqa: F811
    ids = _grouped_env(web)
    page = web.client("approver").get("/unanswered?days=30")
    assert page.status_code == 200 and "VNeID" in page.text and "/unanswered/" in page.text
    assert web.client("analyst").get("/unanswered").status_code == 403
    api = web.api("coordinator").get("/api/unanswered?days=30")
    assert api.status_code == 200
    assert sorted(api.json()["groups"][0]["item_ids"]) == sorted(ids)
    assert web.api("analyst").get("/api/unanswered").status_code == 403
    assert web.api().get("/api/unanswered").status_code == 401


def test_draft_then_approve_answers_the_group(web: WebEnv) -> None:  # noqa: F811
    ids = _grouped_env(web)
    db = web.db()
    gid = db.execute("SELECT id FROM claim_groups WHERE status = 'open'").fetchone()[0]
    db.conn.close()
    c = web.client("coordinator")
    r = c.post(f"/unanswered/{gid}/draft", data={"csrf_token": c.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 303 and "/rebuttals/" in r.headers["location"]
    rid = int(r.headers["location"].split("/")[2])
    db = web.db()
    try:
        claims = [
            row[0] for row in db.execute("SELECT text FROM rebuttal_claims WHERE rebuttal_id = ?", [rid])
        ]
        assert claims and any("VNeID" in t for t in claims)
        from monitor.review.library import approve_rebuttal

        approve_rebuttal(db, rid, web.user("approver"))
        report = run_group(web.cfg, db, encoder=HashingEncoder())
        assert report.answered == 1
        for iid in ids:
            assert db.execute(
                "SELECT 1 FROM suggestions WHERE item_id = ? AND rebuttal_id = ?", [iid, rid]
            ).fetchone()
        assert unanswered(web.cfg, db, days=30) == []
        actions = {row[0] for row in db.execute("SELECT action FROM audit_log")}
        assert {"group.draft", "group.answered"} <= actions
    finally:
        db.conn.close()


def test_dismiss_group_records_each_item(web: WebEnv) -> None:  # noqa: F811
    ids = _grouped_env(web)
    db = web.db()
    gid = db.execute("SELECT id FROM claim_groups WHERE status = 'open'").fetchone()[0]
    db.conn.close()
    approver = web.client("approver")
    r = approver.post(f"/unanswered/{gid}/dismiss", data={"csrf_token": approver.csrf, "reason": "off_topic"})  # type: ignore[attr-defined]
    assert r.status_code == 403  # approvers do not decide on items
    c = web.client("coordinator")
    r = c.post(f"/unanswered/{gid}/dismiss", data={"csrf_token": c.csrf, "reason": "off_topic"})  # type: ignore[attr-defined]
    assert r.status_code == 303
    db = web.db()
    try:
        states = {
            row[0]
            for row in db.execute(
                f"SELECT state || ':' || dismiss_reason FROM flags WHERE item_id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        assert states == {"dismissed:off_topic"}
        assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'item.dismiss'").fetchone()[
            0
        ] == len(ids)
        assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'group.dismiss'").fetchone()[0] == 1
        assert unanswered(web.cfg, db, days=30) == []
    finally:
        db.conn.close()


def test_similarity_is_weighted_sum() -> None:
    texts = RUMOUR
    vecs = HashingEncoder().encode(texts)
    s = cluster.features(texts, vecs, 1.0).rows
    assert np.allclose(np.diag(s @ s.T), 1.0, atol=1e-5)


def test_claim_projection_shrinks_how_paraphrases_differ(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dim = 16
    claim_a, claim_b, style = np.eye(dim)[0], np.eye(dim)[1], np.eye(dim)[2]
    keyed, keys = [], []
    for key, claim in (("a", claim_a), ("b", claim_b), ("c", np.eye(dim)[3])):
        for sign in (-1.0, 1.0) * 4:
            keyed.append(claim + sign * 1.5 * style + rng.normal(scale=0.05, size=dim))
            keys.append(key)
    proj = cluster.within_claim_projection(
        np.asarray(keyed, np.float32), np.asarray(keyed, np.float32), keys, 0.1
    )
    # Two paraphrases of claim a in opposite styles, and claim b in the first style.
    posts = np.asarray([claim_a + style, claim_a - style, claim_b + style], np.float32)
    plain = cluster.features(["x", "y", "z"], posts, 1.0).rows
    projected = cluster.features(["x", "y", "z"], posts, 1.0, proj).rows
    assert plain[0] @ plain[1] < plain[0] @ plain[2]  # unprojected, style wins
    assert projected[0] @ projected[1] > projected[0] @ projected[2]  # projected, the claim wins


def test_claim_projection_needs_the_encoders_vector_pack() -> None:
    from monitor.group.projection import claim_projection

    seed = Path(__file__).resolve().parent.parent / "data" / "labelled"
    assert claim_projection(seed, "no-such-encoder", 2.0) is None
    proj = claim_projection(seed, "multilingual-e5-small-q4+vi-accents", 2.0)
    assert proj is not None and proj.matrix.shape == (384, 384)


def test_evaluate_groups_only_the_posts_that_entered(tmp_path: Path) -> None:
    from monitor.group.evaluate import evaluate

    tsv = tmp_path / "set.tsv"
    rows = [(t, "credit") for t in RUMOUR] + [(t, "true") for t in OTHER]
    tsv.write_text("text\trumour\n" + "".join(f"{t}\t{r}\n" for t, r in rows), encoding="utf-8")
    enc = HashingEncoder()
    everything = evaluate(tsv, enc, 0.3, 0.5, None)
    assert everything["together_mean"] == 1.0 and "grouped" not in everything
    # The third rumour post was not flagged: it stays alone and counts as not together.
    flagged = evaluate(tsv, enc, 0.3, 0.5, None, seeds=(0, 1), entered=[True, True, False, True, True])
    assert flagged["together_mean"] == round(2 / 3, 3)
    assert flagged["grouped"] == 4 and flagged["left_out"] == 1
    nothing = evaluate(tsv, enc, 0.3, 0.5, None, entered=[False] * 5)
    assert nothing["together_mean"] == round(1 / 3, 3) and nothing["groups_2plus"] == 0
    with pytest.raises(ValueError, match="entered"):
        evaluate(tsv, enc, 0.3, 0.5, None, entered=[True])
