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
    every = range(len(texts))
    dense_only = cluster.similarities(cluster.features(texts, vecs, 1.0).rows, every, every)
    assert np.allclose(np.diag(dense_only), 1.0, atol=1e-5)
    half = cluster.features(texts, vecs, 0.5).rows
    # The folded terms: a sparse part, one column per hashed term the pool uses.
    terms = {t for text in texts for t in cluster._terms(text)}
    assert half.lexical.shape[0] == len(texts) and len(terms) - 2 <= half.lexical.shape[1] <= len(terms)
    dense, lexical = half.dots(half)
    both = cluster.features(texts, vecs, 1.0).rows.dense
    assert np.allclose(dense, 0.5 * both @ both.T, atol=1e-5)
    assert np.allclose(np.diag(lexical), 0.5, atol=1e-5)
    assert np.allclose(cluster.similarities(half, every, every), dense + lexical, atol=1e-6)


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
    plain = cluster.similarities(cluster.features(["x", "y", "z"], posts, 1.0).rows, [0], [1, 2])[0]
    projected = cluster.similarities(cluster.features(["x", "y", "z"], posts, 1.0, proj).rows, [0], [1, 2])[0]
    assert plain[0] < plain[1]  # unprojected, style wins
    assert projected[0] > projected[1]  # projected, the claim wins


def test_claim_projection_centres_each_post_on_its_writing_kinds_mean() -> None:
    dim = 8
    # On-topic posts: accented ones around e0, English ones around e1; no unaccented ones.
    topic = np.asarray([np.eye(dim)[0]] * 3 + [np.eye(dim)[1]] * 2, np.float32)
    topic_kinds = [0, 0, 0, 1, 1]
    keyed = np.asarray([np.eye(dim)[0] + np.eye(dim)[k] for k in (2, 3)] * 2, np.float32)
    proj = cluster.within_claim_projection(topic, keyed, ["a", "b", "a", "b"], 1.0, topic_kinds, [0, 0, 1, 1])
    assert proj.kind_means is not None and proj.kind_means.shape == (3, dim)
    assert np.allclose(proj.kind_means[0], np.eye(dim)[0]) and np.allclose(proj.kind_means[1], np.eye(dim)[1])
    assert np.allclose(proj.kind_means[2], proj.mean)  # a kind without on-topic posts: the overall mean
    post = np.asarray([np.eye(dim)[0]], np.float32)
    # Centred on its own kind's mean, an accented post at that mean has nothing left; as "English", it has.
    assert np.allclose(proj.apply(post, [0]), 0.0)
    assert not np.allclose(proj.apply(post, [1]), 0.0)
    assert np.allclose(proj.apply(post), proj.apply(post, None))  # without kinds: the overall mean
    # Without kinds at learning time, no per-kind means: the overall centre, as before.
    assert cluster.within_claim_projection(topic, keyed, ["a", "b", "a", "b"], 1.0).kind_means is None


def test_the_stored_claim_projection_is_the_fitted_one_and_used_only_for_the_same_inputs(
    tmp_path: Path,
) -> None:
    import shutil

    from monitor.config import GroupConfig
    from monitor.group.projection import _fit, _stored, inputs_key, stored_path

    seed = Path(__file__).resolve().parent.parent / "data" / "labelled"
    model = "multilingual-e5-small-q4+vi-accents"
    g = GroupConfig()
    # The shipped one was fitted on the data as it is now (scripts/pack_seed_vectors.py rewrites it).
    shipped = _stored(seed, model, g.within_claim_alpha, g.dense_weight)
    assert shipped is not None, (
        f"{stored_path(seed, model)} is missing or stale: run scripts/pack_seed_vectors.py"
    )
    fitted = _fit(str(seed), model, g.within_claim_alpha, g.dense_weight)
    assert fitted is not None
    for name in ("mean", "matrix", "calibration", "claim", "kind_means"):
        assert np.allclose(getattr(shipped, name), getattr(fitted, name), atol=1e-5), name
    # Other parameters, or other data: not used.
    assert _stored(seed, model, g.within_claim_alpha + 1.0, g.dense_weight) is None
    copy = tmp_path / "labelled"
    shutil.copytree(seed, copy)
    assert _stored(copy, model, g.within_claim_alpha, g.dense_weight) is not None
    tsv = next((copy / "paraphrases").glob("*.tsv"))
    tsv.write_text(tsv.read_text(encoding="utf-8") + "one more post\tx\taccented\tvi\n", encoding="utf-8")
    assert inputs_key(copy, model, g.within_claim_alpha, g.dense_weight) != inputs_key(
        seed, model, g.within_claim_alpha, g.dense_weight
    )
    assert _stored(copy, model, g.within_claim_alpha, g.dense_weight) is None
    stored_path(copy, model).write_bytes(b"not an npz")  # unreadable: fitted again, with a warning
    assert _stored(copy, model, g.within_claim_alpha, g.dense_weight) is None


def test_claim_projection_needs_the_encoders_vector_pack() -> None:
    from monitor.group.projection import claim_projection

    seed = Path(__file__).resolve().parent.parent / "data" / "labelled"
    assert claim_projection(seed, "no-such-encoder", 2.0) is None
    proj = claim_projection(seed, "multilingual-e5-small-q4+vi-accents", 2.0)
    assert proj is not None and proj.matrix.shape == (384, 384)
    assert proj.kind_means is not None and proj.kind_means.shape == (3, 384)


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


def _pairs_fixture() -> tuple[np.ndarray, cluster.Pairs]:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(8, 6)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    pairs = cluster.Pairs(
        lang=np.array([0, 0, 1, 0, 1, 1, 0, 0]),
        alone=np.array([False, False, False, False, False, False, True, False]),
        dense_scale=np.array([[1.0, 1.3], [1.3, 0.9]], np.float32),
        lexical_scale=np.array([[1.0, 0.5], [0.5, 2.0]], np.float32),
        offset=np.array([[0.0, 0.02], [0.02, -0.01]], np.float32),
        dense_dim=4,  # rows[:, :4] the dense part, rows[:, 4:] the lexical one
    )
    return rows, pairs


def test_similarities_are_calibrated_by_writing_pair_and_alone_posts_meet_nothing() -> None:
    rows, pairs = _pairs_fixture()
    s = cluster.similarities(rows, range(8), range(8), pairs)
    raw = rows @ rows.T
    dense, lexical = rows[:, :4] @ rows[:, :4].T, rows[:, 4:] @ rows[:, 4:].T
    assert np.isclose(s[0, 1], raw[0, 1])  # vi-vi: the reference scale
    assert np.isclose(s[0, 2], 1.3 * dense[0, 2] + 0.5 * lexical[0, 2] + 0.02) and np.isclose(
        s[2, 0], s[0, 2]
    )
    assert np.isclose(s[2, 4], 0.9 * dense[2, 4] + 2.0 * lexical[2, 4] - 0.01)
    assert (s[6] == -1).all() and (s[:, 6] == -1).all()
    assert np.allclose(cluster.similarities(rows, [0, 2], [1], None), raw[[0, 2]][:, [1]])


def test_assign_and_group_similarity_average_the_calibrated_pairs() -> None:
    rows, pairs = _pairs_fixture()
    groups = [[0, 2], [1, 6], [3]]
    s = cluster.similarities(rows, range(8), range(8), pairs)
    joined, fresh = cluster.assign(rows, groups, [4, 5, 7], -1.0, pairs)  # threshold -1: everyone joins
    for item, g in joined.items():
        averages = [s[item, grp].mean() for grp in groups]
        assert g == int(np.argmax(averages))
    assert fresh == []
    got = cluster._group_similarity(rows, groups, [0, 2], pairs)
    want = np.array([[s[np.ix_(a, b)].mean() for b in groups] for a in (groups[0], groups[2])])
    assert np.allclose(got, want, atol=1e-5)
    plain = cluster._group_similarity(rows, groups, [1], None)
    raw = rows @ rows.T
    assert np.allclose(plain[0], [raw[np.ix_(groups[1], b)].mean() for b in groups], atol=1e-5)
    # A post that stays alone joins nothing and founds a group of its own.
    joined, fresh = cluster.assign(rows, groups, [6], -0.5, pairs)
    assert joined == {} and fresh == [[6]]


def test_pair_calibration_learns_which_part_tells_claims_apart_for_each_pair_of_writing_kinds() -> None:
    # Rows: 4 dense dimensions (the claim, clear for accented posts, noise for unaccented ones) + 4 lexical ones
    # (noise for accented posts, the claim for unaccented ones, as folded terms carry it there).
    rng = np.random.default_rng(2)
    rows, kinds, keys = [], [], []
    for k in range(4):
        claim = np.eye(4, dtype=np.float32)[k]
        for kind in (0, 0, 0, 0, 2, 2, 2, 2):
            dense = (claim if kind == 0 else np.zeros(4)) + rng.normal(scale=0.4, size=4)
            lexical = (claim if kind == 2 else np.zeros(4)) + rng.normal(scale=0.4, size=4)
            dense *= np.sqrt(0.8) / np.linalg.norm(dense)
            lexical *= np.sqrt(0.2) / np.linalg.norm(lexical)
            rows.append(np.r_[dense, lexical])
            kinds.append(kind)
            keys.append(str(k))
    x = np.asarray(rows, np.float32)
    cal = cluster.pair_calibration(x, 4, kinds, keys, min_pairs=5)
    assert cal.shape == (3, 3, 3) and np.allclose(cal, cal.transpose(0, 2, 1))  # symmetric in the two posts
    # Accented pairs are the reference scale: weights of the two cosines summing to 1, no offset.
    assert np.isclose(cal[0, 0, 0] * 0.8 + cal[1, 0, 0] * 0.2, 1.0) and cal[2, 0, 0] == 0.0
    assert cal[0, 0, 0] > cal[1, 0, 0] / 4  # accented pairs: the dense part carries the claim
    assert cal[1, 2, 2] * 0.2 > cal[0, 2, 2] * 0.8  # unaccented pairs: the lexical part does
    pairs = cluster.Pairs(np.asarray(kinds), np.zeros(len(kinds), bool), cal[0], cal[1], cal[2], dense_dim=4)
    s = cluster.similarities(x, range(len(x)), range(len(x)), pairs)
    kk, la = np.asarray(keys), np.asarray(kinds)
    same = (kk[:, None] == kk[None, :]) & ~np.eye(len(kk), dtype=bool)
    unaccented = (la[:, None] == 2) & (la[None, :] == 2)
    plain = x @ x.T

    def gap(m: np.ndarray) -> float:
        return float(m[same & unaccented].mean() - m[~same & unaccented].mean())

    assert gap(s) / s[unaccented].std() > gap(plain) / plain[unaccented].std()  # claims stand further apart
    # Too few pairs of either sort: the plain similarity.
    too_few = cluster.pair_calibration(x[:3], 4, kinds[:3], keys[:3])
    assert np.allclose(too_few[:2], 1.0) and np.allclose(too_few[2], 0.0)


def _english_fixture() -> tuple[np.ndarray, cluster.Pairs]:
    """Three Vietnamese posts of one claim (e0); two English ones of it (0.4 on e0: a cross-language
    similarity of 0.4, between the two thresholds the tests use) that share their wording (e1: 1.0 between
    them); an English post of another claim (0.37 to the English ones, 0 to the Vietnamese)."""
    b = float(np.sqrt(1 - 0.4**2))
    e = np.eye(3, dtype=np.float32)
    rows = np.asarray([e[0], e[0], e[0], 0.4 * e[0] + b * e[1], 0.4 * e[0] + b * e[1], 0.4 * e[1] + b * e[2]])
    pairs = cluster.Pairs(lang=np.array([0, 0, 0, 1, 1, 1]), alone=np.zeros(6, bool), dense_dim=3)
    return rows.astype(np.float32), pairs


def test_english_posts_join_the_vietnamese_group_of_their_claim_after_it_is_formed() -> None:
    rows, pairs = _english_fixture()
    # All at once, the two English posts pair up first, and that pair's average to the Vietnamese posts (0.4)
    # falls short of the threshold.
    one_stage = cluster.cluster(rows, range(6), 0.5, pairs)
    assert sorted(map(sorted, one_stage)) == [[0, 1, 2], [3, 4], [5]]
    # In two stages each English post joins the Vietnamese group at the English threshold (0.3): the first at
    # 0.4, the second at (3 x 0.4 + 1.0) / 4; the other claim's English post reaches 0.37 only with the English
    # posts' wording and 0 with the Vietnamese posts': it stays out.
    two_stage = cluster.cluster(rows, range(6), 0.5, pairs, english_threshold=0.3)
    assert sorted(map(sorted, two_stage)) == [[0, 1, 2, 3, 4], [5]]
    # Order of the members given does not matter; without pairs (no calibration) there is one stage.
    assert sorted(map(sorted, cluster.cluster(rows, [5, 4, 3, 2, 1, 0], 0.5, pairs, 0.3))) == [
        [0, 1, 2, 3, 4],
        [5],
    ]
    assert sorted(map(sorted, cluster.cluster(rows, range(6), 0.5, None, 0.3))) == [[0, 1, 2], [3, 4], [5]]
    # English posts with no Vietnamese group to join are grouped among themselves with the threshold.
    assert sorted(map(sorted, cluster.cluster(rows, [0, 3, 4], 0.9, pairs, 0.5))) == [[0], [3, 4]]


def test_a_new_english_post_joins_a_group_with_vietnamese_posts_at_the_english_threshold() -> None:
    rows, pairs = _english_fixture()
    assert cluster.assign(rows, [[0, 1, 2]], [3], 0.5, pairs) == ({}, [[3]])
    assert cluster.assign(rows, [[0, 1, 2]], [3], 0.5, pairs, english_threshold=0.3) == ({3: 0}, [])
    # A group of English posts only is joined at the threshold, as before: 0.37 < 0.5.
    assert cluster.assign(rows, [[0, 1, 2], [3]], [5], 0.5, pairs, english_threshold=0.3) == ({}, [[5]])
    # Regrouping takes the English threshold too: an early split is mended.
    changes = cluster.regroup(rows, [[0, 1, 2], [3, 4]], [1], 0.5, pairs, english_threshold=0.3)
    assert sorted(map(sorted, cluster.apply_regroup([[0, 1, 2], [3, 4]], changes))) == [[], [0, 1, 2, 3, 4]]


def test_regroup_undoes_an_early_mistake_and_keeps_ids() -> None:
    a, b = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    rows = np.asarray([a, a, a, b, b], np.float32)
    # Group 0 took a "b" post early on; group 1 holds the other "b"; group 2 is a lone "a" that arrived late.
    groups = [[0, 1, 3], [4], [2]]
    changes = cluster.regroup(rows, groups, [2], 0.5)
    got = {heir: sorted(members) for heir, members in changes}
    assert got == {0: [0, 1, 2], 1: [3, 4]}  # group 2 is emptied (not named): its post went to group 0
    assert cluster.regroup(rows, [[0, 1, 2], [3, 4]], [0], 0.5) == []  # nothing to undo: nothing changes
    # Over the size limit: only the touched group and its close neighbours are re-clustered.
    limited = cluster.regroup(rows, [[0, 1], [3], [4], [2]], [3], 0.5, max_items=3)
    assert {h: sorted(m) for h, m in limited} == {0: [0, 1, 2]}
    far = cluster.regroup(rows, [[0, 1], [3], [4], [2]], [1], 0.5, max_items=2)
    assert {h: sorted(m) for h, m in far} == {1: [3, 4]}


def test_run_group_reclusters_and_keeps_group_ids(tmp_path: Path) -> None:
    from monitor.store import groups as store

    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    r0, r1, r2, o0 = _seed(db, RUMOUR + OTHER[:1], AT)
    right = store.create_group(db, [r0, r1])
    wrong = store.create_group(db, [r2, o0])  # an early mistake: a rumour post with an unrelated one
    (o1,) = _seed(db, OTHER[1:], AT)
    report = run_group(cfg, db, encoder=HashingEncoder())
    assert report.placed == 1 and report.moved == 1 and report.new_groups == 1
    membership = store.open_membership(db)
    assert sorted(membership[right]) == sorted([r0, r1, r2]) and membership[wrong] == [o0]
    assert [o1] in membership.values()
    assert "moved by re-clustering" in report.summary()
    db.conn.close()


def test_the_bundled_encoders_projection_brings_calibration_and_claim_model() -> None:
    from monitor.group.projection import claim_projection

    seed = Path(__file__).resolve().parent.parent / "data" / "labelled"
    proj = claim_projection(seed, "multilingual-e5-small-q4+vi-accents", 2.0, 0.85)
    assert proj is not None and proj.calibration is not None and proj.claim is not None
    assert proj.calibration.shape == (3, 3, 3) and proj.claim.shape == (385,)
    dense, lexical = proj.calibration[0] * 0.85, proj.calibration[1] * 0.15  # weights of the two cosines
    assert np.isclose(dense[0, 0] + lexical[0, 0], 1.0)  # accented pairs: the reference scale
    # The folded terms tell claims apart where the encoder is weakest: an accented post against an unaccented
    # one, two unaccented ones; less between accented posts, and little for English.
    assert lexical[0, 2] > 2 * lexical[0, 0] and lexical[2, 2] > 2 * lexical[0, 0]
    assert lexical[1, 1] < dense[1, 1] / 4
    assert cluster.language("Officials say the new ID card chip tracks your location") == 1
    assert cluster.language("Nghe nói chip trên căn cước theo dõi vị trí người dân") == 0
    assert cluster.language("nghe noi chip tren can cuoc theo doi vi tri nguoi dan") == 0
    rng = np.random.default_rng(0)
    texts = ["Officials say the chip tracks you", "Nghe nói chip theo dõi vị trí", "Giá lúa gạo tăng"]
    feats = cluster.features(texts, rng.normal(size=(3, 384)), 0.85, proj, accurate_floor=1.0)
    assert feats.pairs is not None and feats.pairs.alone.all()  # floor 1: every post stays alone
    assert feats.pairs.lang.tolist() == [1, 0, 0]
    none_alone = cluster.features(texts, rng.normal(size=(3, 384)), 0.85, proj, accurate_floor=0.0)
    assert none_alone.pairs is not None and not none_alone.pairs.alone.any()


def test_regroup_leaves_frozen_groups_alone() -> None:
    a, b = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    rows = np.asarray([a, a, a, b, b], np.float32)
    groups = [[0, 1, 3], [4], [2]]
    # Group 0 (a "b" post taken early) has a drafted rebuttal: it keeps every member, gains none.
    changes = cluster.regroup(rows, groups, [2], 0.5, frozen=[0])
    assert all(heir != 0 and 0 not in m and 3 not in m for heir, m in changes)
    assert cluster.regroup(rows, groups, [0], 0.5, frozen=[0, 1, 2]) == []
    limited = cluster.regroup(rows, groups, [2], 0.5, max_items=2, frozen=[0])
    assert all(heir != 0 for heir, _m in limited)


def _draft(db: Any, gid: int) -> int:
    from monitor.store import groups as store

    rid = seed_rebuttal(db, f"Draft for group {gid}", ["một tuyên bố"], approve=False)
    store.set_rebuttal(db, gid, rid)
    return rid


def test_a_drafted_group_keeps_its_members_and_still_takes_new_posts(tmp_path: Path) -> None:
    from monitor.store import groups as store

    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    r0, r1, r2, o0 = _seed(db, RUMOUR + OTHER[:1], AT)
    right = store.create_group(db, [r0, r1])
    wrong = store.create_group(db, [r2, o0])  # an early mistake, but an approver drafted a rebuttal from it
    _draft(db, wrong)
    (o1,) = _seed(db, OTHER[1:], AT)
    report = run_group(cfg, db, encoder=HashingEncoder())
    assert report.placed == 1 and report.moved == 0
    membership = store.open_membership(db)
    assert sorted(membership[wrong]) == sorted([r2, o0]) and membership[right] == sorted([r0, r1])
    assert [o1] in membership.values()
    # A drafted group still takes new posts incrementally, and re-clustering does not take them out again.
    _draft(db, right)
    (r3,) = _seed(
        db, ["VNeID chấm điểm tín nhiệm công dân: điểm thấp bị cấm mua vé máy bay, nghe nói vậy"], AT
    )
    run_group(cfg, db, encoder=HashingEncoder())
    membership = store.open_membership(db)
    assert sorted(membership[right]) == sorted([r0, r1, r3])
    assert sorted(membership[wrong]) == sorted([r2, o0])
    db.conn.close()


def test_a_drafted_group_left_empty_is_kept_unlisted_then_answered(tmp_path: Path) -> None:
    from monitor.review.library import approve_rebuttal
    from monitor.store import groups as store
    from monitor.store import users

    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    r0, r1 = _seed(db, RUMOUR[:2], AT)
    gid = store.create_group(db, [r0, r1])
    rid = _draft(db, gid)
    undrafted = store.create_group(db, [])  # a group nobody acted on, left empty: removed
    db.execute("UPDATE flags SET state = 'dismissed', dismiss_reason = 'accurate'")  # decided one by one
    report = run_group(cfg, db, encoder=HashingEncoder())
    assert report.removed == 2
    kept = store.get_group(db, gid)
    assert (
        kept is not None
        and kept["status"] == "open"
        and kept["item_ids"] == []
        and kept["rebuttal_id"] == rid
    )
    assert store.get_group(db, undrafted) is None
    assert gid not in store.open_membership(db) and unanswered(cfg, db, days=3650) == []
    approve_rebuttal(
        db, rid, users.get_user(db, "admin") or {"id": None, "username": "admin", "role": "admin"}
    )
    assert run_group(cfg, db, encoder=HashingEncoder()).answered == 1
    closed = store.get_group(db, gid)
    assert closed is not None and closed["status"] == "answered"
    db.conn.close()


def test_a_group_shrunk_by_reclustering_has_sane_growth_and_surges(tmp_path: Path) -> None:
    from datetime import datetime

    from monitor.notify.digest import detect_surges
    from monitor.store import groups as store

    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    r0, r1 = _seed(db, RUMOUR[:2], AT)
    (r2,) = _seed(db, RUMOUR[2:], "2026-03-05T07:00:00+00:00")  # seen days ago: the baseline
    old = _seed(db, OTHER, "2026-03-05T07:00:00+00:00")
    wrong = store.create_group(db, [r2, *old])  # grew, then re-clustering takes its rumour post away
    right = store.create_group(db, [r0])
    _seed(db, ["Giá cà phê Tây Nguyên giảm mạnh sau đợt mưa"], AT)
    run_group(cfg, db, encoder=HashingEncoder())
    membership = store.open_membership(db)
    assert r2 in membership[right] and r2 not in membership.get(wrong, [])
    now = _now()
    for g in unanswered(cfg, db, days=30, now=now):
        assert g["size"] >= 1 and g["last_24h"] >= 0 and g["baseline"] >= 0
        assert np.isfinite(g["growth"]) and g["growth"] > 0 and np.isfinite(g["rank"])
    assert growth([], now) == (0, 0.0, 1.0)  # a group emptied between the read and the figure
    for surge in detect_surges(cfg, db, now=datetime.fromisoformat(NOW)):
        assert surge["count"] >= 1 and np.isfinite(surge["baseline"]) and surge["baseline"] >= 1
    db.conn.close()


def test_stored_language_is_used_and_detected_only_when_missing() -> None:
    from monitor.group.projection import claim_projection

    assert cluster.language_index("en", "Nghe nói chip theo dõi vị trí") == 1  # what collection stored wins
    assert cluster.language_index("vi", "Officials say the chip tracks you") == 0
    assert cluster.language_index("fr", "Officials say the chip tracks you") == 0  # not English
    assert cluster.language_index(None, "Officials say the new ID card chip tracks your location") == 1
    assert cluster.language_index("", "Nghe nói chip trên căn cước theo dõi vị trí người dân") == 0
    seed = Path(__file__).resolve().parent.parent / "data" / "labelled"
    proj = claim_projection(seed, "multilingual-e5-small-q4+vi-accents", 2.0, 0.85)
    texts = ["Officials say the chip tracks you", "Nghe nói chip theo dõi vị trí", "Officials say so"]
    vecs = np.random.default_rng(0).normal(size=(3, 384))
    feats = cluster.features(texts, vecs, 0.85, proj, 0.0, ["vi", "en", None])
    # Stored "vi" but typed without a diacritic: the unaccented kind (2); "en" and detected English: 1.
    assert feats.pairs is not None and feats.pairs.lang.tolist() == [2, 1, 1]


def test_writing_kind_tells_accented_unaccented_and_english_apart() -> None:
    assert cluster.writing_index("vi", "Nghe nói chip trên căn cước theo dõi vị trí người dân") == 0
    assert cluster.writing_index("vi", "nghe noi chip tren can cuoc theo doi vi tri nguoi dan") == 2
    assert cluster.writing_index(None, "nghe noi chip tren can cuoc theo doi vi tri nguoi dan") == 2
    assert cluster.writing_index("en", "The chip tracks where you go") == 1
    assert cluster.writing_index("vi", "đi đâu cũng bị track hết ae") == 0  # a few marked letters are enough
    assert cluster.writing_index("vi", "12345 !!!") == 0  # no letters: nothing to call unaccented
    assert not cluster.unaccented("") and cluster.unaccented("vneid bi khoa")


def test_paraphrase_sets_are_read_as_on_topic_examples_and_a_broken_one_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from classifiers.train import load_paraphrases, load_seed
    from monitor.group.projection import claim_projection

    (tmp_path / "paraphrases").mkdir()
    (tmp_path / "paraphrases" / "a.tsv").write_text(
        "text\trumour\tstyle\tlang\n"
        "Nghe nói thẻ cũ hết hạn\told-card\taccented\tvi\n"
        "the cu het han roi\told-card\tunaccented\tvi\n"
        "Thẻ cũ vẫn dùng được đến hết hạn\ttrue\taccented\tvi\n"
        "\told-card\taccented\tvi\n",
        encoding="utf-8",
    )
    (tmp_path / "paraphrases" / "b.tsv").write_text(
        "text\trumour\nOld cards expire\told-card\n", encoding="utf-8"
    )
    got = load_paraphrases(tmp_path)
    # One narrative key across the sets; the accurate post is on-topic, not a false claim; empty text skipped.
    # Relevance unknown: they teach the risk model (and the projection), not the relevance model.
    assert [(ex.narrative, ex.relevant, ex.false_claim, ex.origin) for ex in got] == [
        ("paraphrase:old-card", None, 1, "paraphrase"),
        ("paraphrase:old-card", None, 1, "paraphrase"),
        ("", None, 0, "paraphrase"),
        ("paraphrase:old-card", None, 1, "paraphrase"),
    ]
    assert got[0].lang == "vi" and got[3].lang == ""
    (tmp_path / "paraphrases" / "c.tsv").write_text(
        "text,rumour\nx,y\n", encoding="utf-8"
    )  # commas, not tabs
    with pytest.raises(ValueError, match=r"c\.tsv: missing column\(s\) text, rumour"):
        load_seed(tmp_path)
    (tmp_path / "paraphrases" / "c.tsv").write_bytes(b"text\trumour\n\xff\xfe bad\tx\n")
    with pytest.raises(ValueError, match=r"c\.tsv: cannot be read as UTF-8"):
        load_seed(tmp_path)
    # Grouping goes on without a projection, and says why.
    from classifiers.vectorpack import pack_path, write_pack

    write_pack(pack_path(tmp_path, "some-encoder"), ["Old cards expire"], np.ones((1, 4), np.float32))
    with caplog.at_level("WARNING"):
        assert claim_projection(tmp_path, "some-encoder", 2.0, 0.85) is None
    assert "c.tsv: cannot be read as UTF-8" in caplog.text


def test_item_texts_brings_the_stored_language(tmp_path: Path) -> None:
    from monitor.store import groups as store

    cfg = _cfg(tmp_path)
    db = connect(cfg.database_path)
    vi = seed_flag(db, RUMOUR[0], RUMOUR[0])
    en = seed_flag(db, "The chip tracks you", "Officials say so", lang="en")
    unknown = seed_flag(db, "?", "", lang=None)
    langs: dict[int, str | None] = {}
    texts = store.item_texts(db, [vi, en, unknown], langs)
    assert (
        langs == {vi: "vi", en: "en", unknown: None} and texts[en] == "The chip tracks you\nOfficials say so"
    )
    assert store.item_texts(db, [vi]) == {vi: f"{RUMOUR[0]}\n{RUMOUR[0]}"}
    db.conn.close()
