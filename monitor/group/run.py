"""Group stage: place newly unanswered flagged items into groups by meaning, summarise, rank, resolve.

Reads flags, suggestions and items (and the shared encoder's cached vectors, and the labelled data's vector pack for
the claim projection, monitor.group.projection); writes claim groups.
Idempotent: only new items are placed (monitor.group.cluster); then the groups they touched and their neighbours
are re-clustered (group.regroup_max_items), so an item placed earlier may move to another open group. A group keeps
its id while it keeps most of its members; one that loses them all is removed (group changes are not audited: the
product audits only groups answered, drafted or dismissed).

Groups someone has acted on keep their members: re-clustering works only on open groups with no drafted rebuttal
(answered and dismissed groups are closed and never regrouped). New posts still join a drafted group one by one
(it is where approvers look), and stay there. A drafted group whose posts all leave one by one (each answered or
decided on its own) is kept, empty, because its draft and its audit entry name it: it is listed nowhere (it has
fewer than group.min_size posts, and joins no new post), and is closed as answered when its draft is approved.
Growth and surge figures are recomputed from the current members each time, so a group that shrinks shows a
smaller figure, never a negative one.

Writing kinds (for the calibration by pair of kinds: accented Vietnamese, English, unaccented Vietnamese) come
from the items' stored `lang`, as collection detected it (only items without one are detected here), and from
their text (how many letters carry diacritics).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlite_utils

from classifiers.embed import Encoder
from monitor.classify.encoder import encode_cached, shared_encoder
from monitor.classify.train import seed_folder
from monitor.config import Config
from monitor.group import cluster
from monitor.group.projection import claim_projection
from monitor.match.suggest import run_match
from monitor.store import audit
from monitor.store import groups as store
from monitor.store.db import write

log = logging.getLogger(__name__)

BASELINE_DAYS = 7


@dataclass
class GroupReport:
    """What a grouping run did."""

    candidates: int = 0
    placed: int = 0
    joined: int = 0
    new_groups: int = 0
    removed: int = 0
    answered: int = 0
    moved: int = 0

    def summary(self) -> str:
        """One line for the CLI and the scheduler log."""
        return (
            f"grouped {self.placed} unanswered item(s): {self.joined} joined existing groups,"
            f" {self.new_groups} new group(s), {self.moved} earlier item(s) moved by re-clustering;"
            f" {self.removed} left (answered or decided), {self.answered} group(s) answered"
        )


def run_group(
    cfg: Config, db: sqlite_utils.Database, encoder: Encoder | None = None, now: datetime | None = None
) -> GroupReport:
    """Place every unanswered flagged item not yet grouped; drop those answered since; refresh summaries."""
    del now
    report = GroupReport(answered=resolve_answered(cfg, db, encoder))
    candidates = store.candidate_item_ids(db, cfg.match.suggestion)
    report.candidates = len(candidates)
    wanted = set(candidates)
    membership = store.open_membership(db)
    gone = [i for ids in membership.values() for i in ids if i not in wanted]
    if gone:
        store.remove_items(db, gone)
        report.removed = len(gone)
        membership = store.open_membership(db)
    placed = store.grouped_item_ids(db)
    new_ids = [i for i in candidates if i not in placed]
    if not new_ids:
        return report
    if encoder is None:
        encoder, _ = shared_encoder(cfg)
    g = cfg.group
    projection = claim_projection(seed_folder(cfg), encoder.model_id, g.within_claim_alpha, g.dense_weight)
    drafted = _acted_on(db) if g.regroup_max_items > 0 else set[int]()
    for start in range(0, len(new_ids), g.batch_size):
        chunk = new_ids[start : start + g.batch_size]
        group_ids = list(membership)
        pool = [i for gid in group_ids for i in membership[gid]] + chunk
        langs_by_id: dict[int, str | None] = {}
        texts_by_id = store.item_texts(db, pool, langs_by_id)
        texts = [texts_by_id.get(i, "") for i in pool]
        langs = [langs_by_id.get(i) for i in pool]
        vectors = encode_cached(db, encoder, texts, batch_size=cfg.classifier.batch_size)
        feats = cluster.features(texts, vectors, g.dense_weight, projection, g.accurate_floor, langs)
        row_of = {iid: r for r, iid in enumerate(pool)}
        groups_rows = [[row_of[i] for i in membership[gid]] for gid in group_ids]
        new_rows = {row_of[i] for i in chunk}
        joined, fresh = cluster.assign(
            feats.rows, groups_rows, [row_of[i] for i in chunk], g.threshold, feats.pairs, g.english_threshold
        )
        for row, gi in joined.items():
            groups_rows[gi].append(row)
        groups_rows += fresh
        if g.regroup_max_items > 0:
            touched_idx = set(joined.values()) | set(range(len(groups_rows) - len(fresh), len(groups_rows)))
            frozen = [gi for gi, gid in enumerate(group_ids) if gid in drafted]
            changes = cluster.regroup(
                feats.rows,
                groups_rows,
                sorted(touched_idx),
                g.threshold,
                feats.pairs,
                g.regroup_max_items,
                frozen,
                g.english_threshold,
            )
            groups_rows = cluster.apply_regroup(groups_rows, changes)
        touched: set[int] = set()
        with write(db):  # one transaction per arrival: a commit per group would dominate the time
            for gi, rows in enumerate(groups_rows):
                ids = [pool[r] for r in rows]
                if gi >= len(group_ids):
                    if ids:
                        gid = store.create_group(db, ids)
                        report.new_groups += 1
                        report.moved += sum(1 for r in rows if r not in new_rows)
                        membership[gid] = ids
                        touched.add(gid)
                    continue
                gid = group_ids[gi]
                had = set(membership[gid])
                if not ids or set(ids) == had:
                    continue  # emptied by re-clustering (removed below), or unchanged
                coming = [i for i in ids if i not in had]
                store.add_items(db, gid, coming)  # moves an item from its old group, if it had one
                report.joined += sum(1 for r in rows if r in new_rows)
                report.moved += sum(1 for r in rows if r not in new_rows and pool[r] in coming)
                membership[gid] = ids
                touched.add(gid)
            emptied = [gid for gi, gid in enumerate(group_ids) if not groups_rows[gi]]
            if emptied:
                store.remove_items(db, [])  # deletes open groups left without members
                for gid in emptied:
                    membership.pop(gid, None)
            for gid in touched:
                rows = [row_of[i] for i in membership[gid]]
                if len(rows) == 1:  # a single post is its own label; terms wait for a second post
                    store.set_summary(db, gid, cluster.label(texts[rows[0]], []), [], pool[rows[0]])
                    continue
                rep_row = cluster.representative(feats.rows, rows)
                terms = cluster.top_terms(feats, rows, texts)
                store.set_summary(db, gid, cluster.label(texts[rep_row], terms), terms, pool[rep_row])
        report.placed += len(chunk)
    log.info("%s", report.summary())
    return report


def _acted_on(db: sqlite_utils.Database) -> set[int]:
    """Open groups someone has acted on (a rebuttal drafted from them): re-clustering leaves their members be."""
    return {int(g["id"]) for g in store.list_groups(db, min_size=1) if g.get("rebuttal_id") is not None}


def resolve_answered(cfg: Config, db: sqlite_utils.Database, encoder: Encoder | None = None) -> int:
    """Groups whose drafted rebuttal is now approved: re-match their items, give each the rebuttal as a
    suggestion, close the group (audited). Returns how many groups were closed."""
    done = store.answered_by_approved(db)
    for gid, rid in done:
        group = store.get_group(db, gid)
        if group is None:
            continue
        ids = list(group["item_ids"])
        run_match(cfg, db, item_ids=ids, encoder=encoder)
        with write(db):
            for iid in ids:
                store.add_suggestion(db, iid, rid, 1.0, str(group["label"]))
            store.close_group(db, gid, "answered", None)
            audit.record(
                db, "system", "group.answered", "claim_group", gid, {"rebuttal_id": rid, "items": ids}
            )
    return len(done)


def _parse(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def growth(seen: list[str], now: datetime) -> tuple[int, float, float]:
    """(posts in the last 24 h, the group's own daily baseline over the 7 days before, growth ratio).

    Growth = (last 24 h + 1) / (baseline + 1): 1 is steady, above 1 growing; a group born today has
    growth 1 + its size."""
    day = now - timedelta(days=1)
    start = day - timedelta(days=BASELINE_DAYS)
    times = [_parse(s) for s in seen]
    last = sum(1 for t in times if day < t <= now)
    before = sum(1 for t in times if start < t <= day)
    first = min(times) if times else now
    days_known = max(1.0, min(float(BASELINE_DAYS), math.ceil((day - first).total_seconds() / 86400.0)))
    baseline = before / days_known if first <= day else 0.0
    return last, round(baseline, 3), round((last + 1) / (baseline + 1), 3)


def unanswered(
    cfg: Config, db: sqlite_utils.Database, days: int | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Open groups seen in the last `days` days, with size, growth and rank (size x growth), ranked."""
    now = now or datetime.now(UTC)
    since = (now - timedelta(days=days or cfg.group.days)).isoformat(timespec="seconds")
    out = []
    for g in store.list_groups(db, since=since, min_size=cfg.group.min_size):
        last, baseline, ratio = growth(g.pop("seen"), now)
        g.update(last_24h=last, baseline=baseline, growth=ratio, rank=round(g["size"] * ratio, 3))
        out.append(g)
    out.sort(key=lambda g: (-g["rank"], -g["size"], g["id"]))
    return out


def as_json(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The `misinfo unanswered --json` / GET /api/unanswered document."""
    keys = (
        "id",
        "size",
        "item_ids",
        "label",
        "first_seen",
        "last_seen",
        "growth",
        "last_24h",
        "baseline",
        "rank",
        "sources",
        "languages",
        "terms",
        "representative_item_id",
        "rebuttal_id",
    )
    return {"groups": [{k: g.get(k) for k in keys} for g in groups]}


def similarity_matrix(
    texts: list[str], vectors: Any, dense_weight: float, projection: cluster.Projection | None = None
) -> Any:
    """Pairwise similarities as the grouping sees them (for diagnostics and tests): calibrated by language
    pair, -1 with a post that stays alone."""
    feats = cluster.features(texts, np.asarray(vectors), dense_weight, projection)
    everything = range(len(texts))
    return cluster.similarities(feats.rows, everything, everything, feats.pairs)
