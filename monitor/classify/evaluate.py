"""Detection measured the way users meet it: labelled posts through the production scoring and matching.

`misinfo eval --set FILE` scores a TSV of posts (text, category, lang, gold rebuttal key) with the active
model, the configured encoder and the approved library, and reports flag rates per category and how well
the library answers the posts that carry a known claim. `misinfo bench library` does the matching half
for any rebuttal library file against labelled posts, in a throw-away database.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from classifiers.embed import Encoder
from monitor.classify.encoder import encode_cached
from monitor.classify.model import get_encoder
from monitor.classify.score import Scorer
from monitor.classify.train import ensure_model
from monitor.config import Config
from monitor.errors import ImportFileError
from monitor.library.io import import_file
from monitor.match.suggest import RERANKER_FILE, build_matcher
from monitor.store import connect
from monitor.store.rebuttals import approved_claims, rebuttal_keys
from rebuttals.evaluate import ranking_metrics
from rebuttals.matcher import Ident

# Categories whose posts should be flagged (a false claim about the programme); the rest should not.
FALSE_PREFIX = "false"


@dataclass(frozen=True)
class Post:
    """One labelled post: its text, category (e.g. false_vi_unaccented), language, gold rebuttal key."""

    text: str
    category: str
    lang: str
    gold: str


def read_posts(path: Path) -> list[Post]:
    """Posts from a TSV with a header naming `text` and any of `category`, `lang`, `gold`.

    A file without a header is read as `text<TAB>gold` (the `bench library` format).
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 — convert the file to UTF-8") from None
    lines = [ln for ln in raw.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ImportFileError(f"{path}: no posts")
    header = [h.strip().lower() for h in lines[0].split("\t")]
    if "text" in header:
        body = lines[1:]
    else:
        header, body = ["text", "gold"], lines
    posts: list[Post] = []
    for n, row in enumerate(csv.reader(body, delimiter="\t", quoting=csv.QUOTE_NONE), start=2):
        if not row or not row[0].strip():
            continue
        rec = dict(zip(header, [c.strip() for c in row], strict=False))
        if len(row) > len(header) + 1:
            raise ImportFileError(
                f"{path}:{n}: {len(row)} fields, expected {len(header)} ({', '.join(header)})"
            )
        posts.append(
            Post(rec.get("text", ""), rec.get("category", ""), rec.get("lang", ""), rec.get("gold", ""))
        )
    if not posts:
        raise ImportFileError(f"{path}: no posts")
    return posts


def matching_figures(
    db: sqlite_utils.Database, cfg: Config, encoder: Encoder, posts: Sequence[Post]
) -> dict[str, Any]:
    """MAP@5, P@1, MRR of the approved library on posts with a gold key, overall and by language."""
    matcher = build_matcher(db, encoder, cfg.state_path / RERANKER_FILE)
    keys = rebuttal_keys(db)
    texts = [p.text for p in posts]
    vecs = encode_cached(db, encoder, texts, cfg.classifier.batch_size)
    results = matcher.search_many(texts, k=5, query_vectors=vecs) if len(matcher) else [[] for _ in texts]
    ranked: list[list[Ident]] = [[keys.get(int(m.rebuttal_id), "") for m in ms] for ms in results]
    golds: list[set[Ident]] = [{p.gold} if p.gold else set() for p in posts]
    out: dict[str, Any] = ranking_metrics(golds, ranked)
    unknown = sorted({p.gold for p in posts if p.gold and p.gold not in keys.values()})
    if unknown:
        out["unknown_gold_keys"] = unknown
    for lang in sorted({p.lang for p in posts if p.gold and p.lang}):
        idx = [i for i, p in enumerate(posts) if p.gold and p.lang == lang]
        out[f"by_lang.{lang}"] = ranking_metrics([golds[i] for i in idx], [ranked[i] for i in idx])
    return out


def evaluate_set(cfg: Config, db: sqlite_utils.Database, path: Path) -> dict[str, Any]:
    """Flag rates per category and library matching on a labelled set, through the production scorer.

    Nothing is stored but embeddings (a cache); the set is never trained on.
    """
    posts = read_posts(path)
    encoder, warning = get_encoder(cfg, db)
    bundle, _ = ensure_model(cfg, db, encoder)
    scorer = Scorer(cfg, db, encoder, bundle)
    rows = [{"id": -(i + 1), "text": p.text} for i, p in enumerate(posts)]
    scored = []
    for start in range(0, len(rows), 256):
        scored += scorer.score(rows[start : start + 256])
    by_cat: dict[str, dict[str, Any]] = {}
    for post, s in zip(posts, scored, strict=True):
        c = by_cat.setdefault(post.category or "(none)", {"n": 0, "flagged": 0})
        c["n"] += 1
        c["flagged"] += int(s.flag)
    for c in by_cat.values():
        c["rate"] = round(c["flagged"] / c["n"], 4)
    should = [s.flag for p, s in zip(posts, scored, strict=True) if p.category.startswith(FALSE_PREFIX)]
    should_not = [
        s.flag for p, s in zip(posts, scored, strict=True) if not p.category.startswith(FALSE_PREFIX)
    ]
    return {
        "set": str(path),
        "n": len(posts),
        "encoder": encoder.model_id,
        "encoder_warning": warning,
        "model_version": bundle.version,
        "thresholds": {**cfg.classifier.thresholds.model_dump(), "suggestion": cfg.match.suggestion},
        "categories": dict(sorted(by_cat.items())),
        "false_flagged": round(sum(should) / len(should), 4) if should else None,
        "others_flagged": round(sum(should_not) / len(should_not), 4) if should_not else None,
        "matching": matching_figures(db, cfg, encoder, posts),
    }


def bench_library(cfg: Config, library: Path, posts_path: Path) -> dict[str, Any]:
    """Import `library` (any import format, approved) into a throw-away database and measure how well it
    answers the labelled posts through the production matching path with the configured encoder."""
    posts = read_posts(posts_path)
    with tempfile.TemporaryDirectory(prefix="misinfo-bench-library-") as tmp:
        db = connect(Path(tmp) / "bench.db")
        try:
            report = import_file(db, library, approver={"id": None, "username": "bench", "role": "admin"})
            encoder, warning = get_encoder(cfg, db)
            figures = matching_figures(db, cfg, encoder, posts)
            figures.update(
                {
                    "library": str(library),
                    "rebuttals": len(report.created) + len(report.updated) + len(report.unchanged),
                    "claims": len(approved_claims(db)),
                    "posts": len(posts),
                    "encoder": encoder.model_id,
                    "encoder_warning": warning,
                }
            )
            return figures
        finally:
            db.conn.close()
