"""Ranking metrics (CheckThat! definitions) and the claim-retrieval benchmark runner."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rebuttals.benchdata import clean_query, load_claims, load_qrels, load_queries, parse_day
from rebuttals.matcher import Doc, Encoder, Ident, Matcher
from rebuttals.rerank import train
from rebuttals.vectorcache import encode_to_disk


def average_precision(gold: set[Ident], ranked: Sequence[Ident], k: int) -> float:
    """AP@k as the CheckThat! scorer computes it: precision at each hit, divided by the number of gold."""
    if not gold:
        return 0.0
    hits, total = 0, 0.0
    for i, doc in enumerate(ranked[:k], 1):
        if doc in gold:
            hits += 1
            total += hits / i
    return total / len(gold)


def reciprocal_rank(gold: set[Ident], ranked: Sequence[Ident]) -> float:
    """1/rank of the first gold document (0 when none is ranked)."""
    for i, doc in enumerate(ranked, 1):
        if doc in gold:
            return 1.0 / i
    return 0.0


def ranking_metrics(golds: Sequence[set[Ident]], rankings: Sequence[Sequence[Ident]]) -> dict[str, float]:
    """MAP@1/3/5, MRR and P@1 over queries that have gold documents."""
    pairs = [(g, r) for g, r in zip(golds, rankings, strict=True) if g]
    n = len(pairs)
    if n == 0:
        return {"map@1": 0.0, "map@3": 0.0, "map@5": 0.0, "mrr": 0.0, "p@1": 0.0, "n": 0}
    out: dict[str, float] = {
        f"map@{k}": sum(average_precision(g, r, k) for g, r in pairs) / n for k in (1, 3, 5)
    }
    out["mrr"] = sum(reciprocal_rank(g, r) for g, r in pairs) / n
    out["p@1"] = sum(1.0 for g, r in pairs if r and r[0] in g) / n
    out["n"] = n
    return out


def run_claim_retrieval(
    claims_path: Path,
    train_queries_path: Path,
    train_qrels_paths: Sequence[Path],
    queries_path: Path,
    qrels_path: Path,
    encoder: Encoder,
    cache_dir: Path,
    kind: str = "hgb",
    use_dates: bool = True,
) -> dict[str, float]:
    """Train the re-ranker on the training qrels, evaluate on the test queries; figures + timings.

    With `use_dates` the re-ranker also sees how many days apart a tweet (its signature date) and a
    claim (its `date`) are: fact-checks cite tweets from the days they were written.
    """
    t0 = time.perf_counter()
    claims = load_claims(claims_path)
    docs = [
        Doc(c.claim_id, c.claim_id, c.text, c.title, c.subtitle, parse_day(c.date) if use_dates else None)
        for c in claims
    ]
    claim_vecs = encode_to_disk(cache_dir, encoder, [c.text for c in claims], "claims")
    title_vecs = encode_to_disk(cache_dir, encoder, [c.title or c.text for c in claims], "titles")
    matcher = Matcher(docs, encoder, claim_vecs, title_vecs)
    t_index = time.perf_counter()

    train_qrels: dict[str, set[str]] = {}
    for p in train_qrels_paths:
        for qid, rel in load_qrels(p).items():
            train_qrels.setdefault(qid, set()).update(rel)
    train_q = {qid: t for qid, t in load_queries(train_queries_path).items() if qid in train_qrels}
    tq_texts = [clean_query(t) for t in train_q.values()]
    tq_vecs = encode_to_disk(cache_dir, encoder, tq_texts, "train-queries")
    gold_train: list[set[Ident]] = [set(train_qrels[qid]) for qid in train_q]
    tq_days = [parse_day(t) if use_dates else None for t in train_q.values()]
    matcher.reranker = train(matcher, tq_texts, gold_train, kind=kind, query_vectors=tq_vecs, days=tq_days)
    t_train = time.perf_counter()

    test_qrels = load_qrels(qrels_path)
    test_q = load_queries(queries_path)
    q_texts = [clean_query(t) for t in test_q.values()]
    q_vecs = encode_to_disk(cache_dir, encoder, q_texts, "test-queries")
    q_days = [parse_day(t) if use_dates else None for t in test_q.values()]
    results = matcher.search_many(q_texts, k=20, query_vectors=q_vecs, days=q_days)
    rankings = [[m.rebuttal_id for m in ms] for ms in results]
    golds: list[set[Ident]] = [set(test_qrels.get(qid, set())) for qid in test_q]
    figures = ranking_metrics(golds, rankings)
    figures.update(
        train_queries=float(len(train_q)),
        claims=float(len(docs)),
        seconds_index=round(t_index - t0, 1),
        seconds_train=round(t_train - t_index, 1),
        seconds_test=round(time.perf_counter() - t_train, 1),
    )
    return figures


def library_docs(rows: Sequence[dict[str, object]]) -> list[Doc]:
    """Matcher documents from cleaned library rows (key as rebuttal id, one doc per claim)."""
    docs: list[Doc] = []
    for row in rows:
        claims = row.get("claims")
        if not isinstance(claims, list):
            continue
        for i, text in enumerate(claims):
            docs.append(Doc(f"{row['key']}#{i}", str(row["key"]), str(text), str(row.get("title") or "")))
    return docs


def load_eval_set(path: Path) -> list[tuple[str, str, str]]:
    """(text, gold key or '', kind) rows of a claim-matching evaluation TSV (header and # comments skipped)."""
    out: list[tuple[str, str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("text\t"):
            continue
        parts = line.split("\t")
        parts += [""] * (3 - len(parts))
        out.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
    return out


def evaluate_library(
    matcher: Matcher, rows: Sequence[tuple[str, str, str]], threshold: float
) -> dict[str, float]:
    """MAP@5 / P@1 / MRR on posts with a gold rebuttal; share of no-match posts whose top score < threshold."""
    results = matcher.search_many([r[0] for r in rows], k=5)
    golds: list[set[Ident]] = [{r[1]} if r[1] else set() for r in rows]
    out = ranking_metrics(golds, [[m.rebuttal_id for m in ms] for ms in results])
    gold_hits = [
        ms[0].score for ms, r in zip(results, rows, strict=True) if r[1] and ms and ms[0].rebuttal_id == r[1]
    ]
    none = [ms[0].score if ms else 0.0 for ms, r in zip(results, rows, strict=True) if not r[1]]
    out["nomatch_n"] = len(none)
    out["nomatch_below_threshold"] = sum(1 for s in none if s < threshold) / len(none) if none else 1.0
    out["gold_top1_above_threshold"] = sum(1 for s in gold_hits if s >= threshold) / max(out["n"], 1)
    for kind in sorted({r[2] for r in rows if r[1]}):
        idx = [i for i, r in enumerate(rows) if r[1] and r[2] == kind]
        sub = ranking_metrics([golds[i] for i in idx], [[m.rebuttal_id for m in results[i]] for i in idx])
        out[f"p@1_{kind}"] = sub["p@1"]
    return out
