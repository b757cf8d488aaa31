"""Collection stores a feed in batches (one transaction, a few queries per batch) with the very outcome of
storing entry by entry: dedup, sightings, clusters, evidence, search; a failure mid-batch keeps what
earlier batches committed and the next pass completes the feed without duplicates."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.text import fold, folded_syllables
from monitor.collect import run as collect_run
from monitor.collect.cluster import prepare
from monitor.collect.normalize import _PERM_A, _PERM_B, MINHASH_BANDS, MINHASH_ROWS, detect_lang
from monitor.config import load_config
from monitor.store import collect as collect_store
from monitor.store import connect
from monitor.store.items import search_items
from tests.collect_helpers import make_sources, rss
from tests.httpserver import FixtureServer, Response

WORDS = [
    "sáp",
    "nhập",
    "tỉnh",
    "xã",
    "phường",
    "chính",
    "quyền",
    "địa",
    "phương",
    "hai",
    "cấp",
    "bộ",
    "máy",
    "tinh",
    "gọn",
    "cán",
    "bộ",
    "công",
    "chức",
    "chính",
    "sách",
    "nghỉ",
    "việc",
    "căn",
    "cước",
    "gắn",
    "chip",
    "định",
    "danh",
    "điện",
    "tử",
    "dịch",
    "vụ",
    "công",
    "trực",
    "tuyến",
    "thanh",
    "toán",
    "người",
    "dân",
    "thủ",
    "tục",
]


def _entries(n: int, seed: int = 3, prefix: str = "e") -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            {
                "title": " ".join(rng.choice(WORDS) for _ in range(8)),
                "link": f"http://127.0.0.1/{prefix}/{i}?utm_source=rss",
                "guid": f"{prefix}-{i}",
                "description": " ".join(rng.choice(WORDS) for _ in range(40)) + ".",
            }
        )
    return out


def _feed(http_server: FixtureServer, path: str, entries: list[dict[str, str]], etag: str = '"v1"') -> str:
    http_server.routes[path] = Response(
        200, rss(entries), {"Content-Type": "application/rss+xml", "ETag": etag}
    )
    return http_server.url(path)


def _rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql).fetchall())


def test_a_feed_is_stored_in_one_transaction_with_few_queries(
    http_server: FixtureServer, make_config: Callable[..., Path]
) -> None:
    url = _feed(http_server, "/feed.xml", _entries(60))
    cfg = load_config(make_sources(make_config, [{"name": "f", "kind": "rss", "url": url}]))
    db = connect(cfg.database_path)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    report = collect_run.run_collect(cfg, db)
    db.conn.set_trace_callback(None)
    assert report.new == 60 and not report.failed
    begins = [s for s in statements if s.startswith("BEGIN")]
    # Before: one transaction and ~25 statements per entry. Now: the source's bookkeeping (lease,
    # fetch log, state) and one transaction for the feed's 60 entries.
    assert len(begins) <= 8, begins
    # Dedup and cluster lookups are a few queries per batch (they were ~20 per entry).
    lookups = [s for s in statements if s.startswith(("SELECT", "WITH"))]
    assert len(lookups) < 30, f"{len(lookups)} lookups for 60 entries"
    # Everything an entry gets entry by entry, it still gets.
    assert db.execute("SELECT COUNT(*) FROM item_sightings").fetchone()[0] == 60
    assert db.execute("SELECT COUNT(*) FROM evidence WHERE kind = 'feed'").fetchone()[0] == 60
    assert db.execute("SELECT COUNT(*) FROM item_bands").fetchone()[0] == 60 * MINHASH_BANDS
    assert db.execute("SELECT COUNT(*) FROM items WHERE cluster_id IS NULL").fetchone()[0] == 0
    first = db.execute("SELECT id, title FROM items ORDER BY id LIMIT 1").fetchone()
    assert int(first[0]) in search_items(db, " ".join(fold(first[1]).split()[:4]))
    # A second pass over the same feed (no validators match: new ETag) adds nothing.
    _feed(http_server, "/feed.xml", _entries(60), etag='"v2"')
    again = collect_run.run_collect(cfg, db)
    assert again.new == 0 and again.sources[0].seen == 60
    assert db.execute("SELECT COUNT(*) FROM item_sightings").fetchone()[0] == 60
    db.conn.close()


def _near_duplicates() -> list[dict[str, str]]:
    """Entries that repeat earlier ones with small edits, within the batch and across sources."""
    base = _entries(12, seed=5, prefix="n")
    out = list(base)
    for i, entry in enumerate(base[:8]):
        words = entry["description"].split()
        words[3] = "thông tin"
        out.append(
            {
                "title": entry["title"],
                "link": f"http://127.0.0.1/copy/{i}",
                "guid": f"copy-{i}",
                "description": " ".join(words),
            }
        )
    out.append(dict(base[0], link="http://127.0.0.1/same-text", guid="same-text"))  # exact duplicate text
    out.append(dict(base[1], guid="same-url-other-guid"))  # same URL, another id
    out.append(dict(base[2]))  # the same entry twice in one feed
    return out


def test_batches_cluster_and_deduplicate_exactly_like_one_by_one(
    http_server: FixtureServer,
    make_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = _near_duplicates()
    other = _feed(http_server, "/other.xml", _entries(6, seed=5, prefix="n")[:6])
    url = _feed(http_server, "/feed.xml", entries)
    sources = [{"name": "other", "kind": "rss", "url": other}, {"name": "f", "kind": "rss", "url": url}]

    def outcome(store_batch: Any) -> list[tuple[Any, ...]]:
        path = make_sources(make_config, sources)
        cfg = load_config(path)
        cfg.database = str(tmp_path / f"{store_batch.__name__}.db")
        monkeypatch.setattr(collect_run, "store_batch", store_batch)
        db = connect(cfg.database_path)
        collect_run.run_collect(cfg, db)
        db.conn.close()
        return _rows(
            cfg.database_path,
            "SELECT i.id, i.canonical_url, i.cluster_id, i.sightings, i.content_hash,"
            " (SELECT COUNT(*) FROM item_sightings s WHERE s.item_id = i.id),"
            " (SELECT COUNT(*) FROM evidence e WHERE e.item_id = i.id),"
            " (SELECT group_concat(b.band || ':' || b.value) FROM item_bands b WHERE b.item_id = i.id),"
            " (SELECT title || '|' || text FROM items_fts WHERE rowid = i.id)"
            " FROM items i ORDER BY i.id",
        )

    real = collect_run.store_batch

    def one_by_one(db: Any, source_id: int, batch: list[Any]) -> list[tuple[int, bool]]:
        return [collect_run.store_item(db, item, ocr) for item, ocr in batch]

    batched = outcome(real)
    single = outcome(one_by_one)
    assert batched == single
    clusters = {row[2] for row in batched}
    assert len(clusters) < len(batched) - 5, "the near-duplicates were grouped"


def test_a_failure_mid_batch_keeps_committed_batches_and_the_next_pass_completes(
    http_server: FixtureServer, make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _feed(http_server, "/feed.xml", _entries(50))
    cfg = load_config(make_sources(make_config, [{"name": "f", "kind": "rss", "url": url}]))
    monkeypatch.setattr(collect_run, "BATCH_ITEMS", 20)
    calls = {"n": 0}
    real_save = collect_store.save_bands

    def save_bands_then_fail(db: Any, rows: list[tuple[int, int, int]]) -> None:
        calls["n"] += 1
        real_save(db, rows)
        if calls["n"] == 2:  # the second batch's items, search rows and evidence are written: now fail
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(collect_store, "save_bands", save_bands_then_fail)
    db = connect(cfg.database_path)
    report = collect_run.run_collect(cfg, db)
    result = report.sources[0]
    assert result.status == "error" and "disk I/O error" in (result.error or "")
    assert result.new == 20
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 20  # the first batch, whole
    assert db.execute("SELECT COUNT(*) FROM items_fts").fetchone()[0] == 20
    assert db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 20
    state = db.execute("SELECT etag, consecutive_failures FROM sources").fetchone()
    assert state[0] is None and state[1] == 1  # no validators: the next pass reads the whole feed
    log = db.execute("SELECT status, items_new FROM fetch_log").fetchall()
    assert [tuple(r) for r in log] == [("error", 20)]

    monkeypatch.setattr(collect_store, "save_bands", real_save)
    again = collect_run.run_collect(cfg, db, force=True)
    assert again.new == 30 and again.sources[0].seen == 20 and not again.failed
    urls = [r[0] for r in db.execute("SELECT canonical_url FROM items").fetchall()]
    assert len(urls) == 50 and len(set(urls)) == 50
    assert db.execute("SELECT COUNT(*) FROM item_sightings").fetchone()[0] == 50
    assert db.execute("SELECT COUNT(*) FROM item_bands").fetchone()[0] == 50 * MINHASH_BANDS
    assert db.execute("SELECT etag FROM sources").fetchone()[0] == '"v1"'
    db.conn.close()


# --- normalisation done once gives the same values as before -------------------------------------


def _old_minhash_bands(text: str) -> list[int] | None:
    """minhash_bands as it was written before prepare(): stored band keys must never change."""
    tokens = folded_syllables(text)
    feats = {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
    if len(feats) < 7:
        return None
    digests = b"".join(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest() for s in sorted(feats))
    h = np.frombuffer(digests, dtype=np.uint64)
    with np.errstate(over="ignore"):
        sig = (h[None, :] * _PERM_A[:, None] + _PERM_B[:, None]).min(axis=1)
    out = []
    for band in range(MINHASH_BANDS):
        rows = sig[band * MINHASH_ROWS : (band + 1) * MINHASH_ROWS].tobytes()
        value = int.from_bytes(hashlib.blake2b(bytes([band]) + rows, digest_size=8).digest(), "big")
        out.append(value - (1 << 64) if value >= (1 << 63) else value)
    return out


def _texts() -> list[tuple[str, str]]:
    rng = random.Random(11)
    alphabet = "aăâbcdđeêghiklmnoôơpqrstuưvxyÁÀẢÃẠĐđ ΣσςİıßẞﬁǅǄ́̀ 　\t\n.,!?0123456789"
    out = [(e["title"], e["description"]) for e in _entries(40)]
    for _ in range(300):
        title = "".join(rng.choice(alphabet.replace("\n", "")) for _ in range(rng.randint(0, 30)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        out.append((" ".join(title.split()), text))
    out.append(("Đà Nẵng", "Tin đồn SAI sự thật về căn cước gắn chip"))
    out.append(("", ""))
    return out


def test_prepare_folds_once_and_matches_the_separate_computations() -> None:
    for title, text in _texts():
        prep = prepare(title, text)
        assert prep.folded_title == fold(title) and prep.folded_text == fold(text)
        body = f"{title}\n{text}"
        tokens = folded_syllables(body)
        assert prep.shingles == {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
        assert prep.bands == _old_minhash_bands(body)


def test_batch_minhash_gives_each_texts_own_bands() -> None:
    from monitor.collect.cluster import prepare_many
    from monitor.collect.normalize import bands_of_many, bands_of_shingles, shingles

    texts = _texts()
    feature_sets = [shingles(f"{title}\n{text}") for title, text in texts]
    assert any(len(f) < 7 for f in feature_sets) and any(len(f) >= 7 for f in feature_sets)
    assert bands_of_many(feature_sets) == [bands_of_shingles(f) for f in feature_sets]
    assert bands_of_many([]) == [] and bands_of_many([set()]) == [None]
    assert prepare_many(texts) == [prepare(title, text) for title, text in texts]


def test_language_detection_gives_the_library_scores_exactly() -> None:
    from py3langid.langid import _load_identifier

    from monitor.collect import normalize

    stock = _load_identifier(norm_probs=True)
    samples = [f"{t}\n{x}" for t, x in _texts()] + [
        "The ministry denied the rumour about the new identity cards.",
        "Bộ Công an bác bỏ tin đồn về thẻ căn cước gắn chip.",
        "Le ministère a démenti la rumeur.",
    ]
    for sample in samples:
        cut = sample.strip()[:600]
        got = detect_lang(sample)
        if len(cut) >= normalize.VI_SURE_MIN_CHARS and len(normalize._VI_ONLY.findall(cut)) >= (
            normalize.VI_SURE_SHARE * len(cut)
        ):
            assert got == "vi"  # the shortcut (next test: the model's answer on real text)
            continue
        if len(cut) < 12 or not any(ch.isalpha() for ch in cut):
            assert got is None
            continue
        lang, prob = stock.classify(cut)
        assert got == (str(lang) if prob >= 0.5 else None), sample
    ours = normalize._identifier
    for sample in samples:
        assert ours.classify(sample) == stock.classify(sample)


def test_the_vietnamese_shortcut_gives_the_models_answer_on_the_labelled_data() -> None:
    import csv

    from monitor.collect import normalize

    stock = normalize._lang_identifier()
    taken = 0
    for path in sorted((Path(__file__).resolve().parent.parent / "data" / "labelled").glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                cut = (row.get("text") or "").strip()[:600]
                if len(cut) < normalize.VI_SURE_MIN_CHARS:
                    continue
                if len(normalize._VI_ONLY.findall(cut)) >= normalize.VI_SURE_SHARE * len(cut):
                    taken += 1
                    lang, prob = stock.classify(cut)
                    assert (lang, prob >= 0.5) == ("vi", True), cut
    assert taken > 500  # most of the longer labelled Vietnamese takes the shortcut
    english = (
        "Prime Minister Phạm Minh Chính and Deputy Prime Minister Nguyễn Hòa Bình met officials of Hồ Chí Minh "
        "City on Tuesday to discuss the merger of provinces and the new two-level local government."
    )
    assert (
        detect_lang(english) == "en"
    )  # names with Vietnamese letters do not make an English text Vietnamese
    assert detect_lang("is it true the sổ đỏ is void after the merger?") == "en"


# --- failures per source, the fold table -----------------------------------------------------------------


def test_a_source_whose_batch_fails_does_not_stop_the_others(
    http_server: FixtureServer, make_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = [_feed(http_server, f"/f{k}.xml", _entries(10, seed=k, prefix=f"f{k}")) for k in range(3)]
    cfg = load_config(
        make_sources(
            make_config, [{"name": f"f{k}", "kind": "rss", "url": url} for k, url in enumerate(urls)]
        )
    )
    real = collect_run.store_batch

    def fail_for_the_second(db: Any, source_id: int, batch: list[Any]) -> list[tuple[int, bool]]:
        if source_id == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real(db, source_id, batch)

    monkeypatch.setattr(collect_run, "store_batch", fail_for_the_second)
    db = connect(cfg.database_path)
    report = collect_run.run_collect(cfg, db)
    assert [(s.name, s.status, s.new) for s in report.sources] == [
        ("f0", "ok", 10),
        ("f1", "error", 0),
        ("f2", "ok", 10),
    ]
    assert "disk I/O error" in (report.sources[1].error or "")
    state = db.execute("SELECT name, etag, consecutive_failures FROM sources ORDER BY id").fetchall()
    assert [tuple(r) for r in state] == [("f0", '"v1"', 0), ("f1", None, 1), ("f2", '"v1"', 0)]
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 20
    db.conn.close()


def _corpus_texts() -> list[str]:
    root = Path(__file__).resolve().parent.parent / "data"
    paths = sorted((root / "labelled").glob("*.csv")) + sorted((root / "eval").glob("*.tsv"))
    assert paths
    texts = []
    for path in paths:
        body = path.read_text(encoding="utf-8")
        texts.append(body)
        texts.extend(body.splitlines())
    return texts


def test_fold_by_table_is_the_reference_fold() -> None:
    """fold() looks characters up in a table when each folds on its own: the very output of NFD, dropping
    the marks, NFC and lower-case, on every labelled and evaluation text and on every code point."""
    from classifiers.text import _fold_reference

    for text in _corpus_texts() + [f"{t}\n{x}" for t, x in _texts()]:
        assert fold(text) == _fold_reference(text), text[:80]
    codes = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(codes), 48):  # every code point, next to its neighbours and to letters
        run = "".join(chr(c) for c in codes[start : start + 48])
        for text in (run, "a" + "e".join(run) + "Σ", "".join(c + "\u0301" for c in run)):
            assert fold(text) == _fold_reference(text), [hex(ord(c)) for c in run[:3]]


def test_normalize_splits_on_exactly_what_the_regex_did() -> None:
    import sys
    import unicodedata

    from classifiers import text as text_module

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert spaces == [chr(c) for c in range(sys.maxunicode + 1) if text_module._SPACE.fullmatch(chr(c))]
    rng = random.Random(5)
    alphabet = "aĐđăẮ\u0301 x" + "".join(spaces)
    for _ in range(5000):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        reference = text_module._SPACE.sub(" ", unicodedata.normalize("NFC", sample)).strip().lower()
        assert text_module.normalize(sample) == reference, repr(sample)
