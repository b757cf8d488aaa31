"""Training and evaluation of the classifier from seed data plus analysts' decisions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.embed import Encoder
from classifiers.evaluate import binary_metrics, cross_validated, plot_pr
from classifiers.features import clip
from classifiers.risk import KnownClaims
from classifiers.train import (
    Example,
    ModelBundle,
    load_seed,
    new_version,
    save_bundle,
    train_bundle,
    write_card,
)
from classifiers.vectorpack import pack_path, read_pack
from monitor.classify import seed_cache
from monitor.classify.encoder import encode_cached
from monitor.classify.model import get_encoder, load_active, model_kind, topic_of
from monitor.config import Config
from monitor.errors import ModelError
from monitor.store import scores as store
from monitor.store.embeddings import preload

log = logging.getLogger(__name__)

REPO_SEED = Path(__file__).resolve().parents[2] / "data" / "labelled"
# Decisions on items whose id is a multiple of this are held out: the same ones every time, so two
# models are always compared on the same examples.
HOLD_OUT_EVERY = 5

Step = Callable[[str], None]


def seed_folder(cfg: Config) -> Path:
    """The labelled data folder from config, or the project's seed data when that folder is absent."""
    folder = cfg.path(cfg.classifier.labelled_data)
    return folder if folder.is_dir() else REPO_SEED


def decision_examples(db: Any) -> list[Example]:
    """Analysts' decisions as labels: linked/escalated = false claim; accurate = not; off_topic = not relevant."""
    out = []
    for row in store.training_decisions(db):
        state, reason = row["state"], row["dismiss_reason"]
        if state in ("linked", "escalated"):
            relevant, false_claim = 1, 1
        elif reason == "accurate":
            relevant, false_claim = 1, 0
        else:  # off_topic: says nothing about whether the text is false
            relevant, false_claim = 0, None
        out.append(
            Example(
                text=clip(row["text"] or ""),
                relevant=relevant,
                false_claim=false_claim,
                lang=row["lang"] or "",
                origin="decision",
                item_id=int(row["item_id"]),
            )
        )
    return out


def split_decisions(decisions: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held-out) decisions."""
    held = [d for d in decisions if d.item_id is not None and d.item_id % HOLD_OUT_EVERY == 0]
    return [d for d in decisions if d not in held], held


def held_out_score(
    bundle: ModelBundle, examples: Sequence[Example], vectors: Any, topic: Any, claims: Any, t: Any
) -> float | None:
    """Mean accuracy at the configured thresholds over the held-out labels (relevance and risk)."""
    if not examples:
        return None
    texts = [ex.text for ex in examples]
    rel = bundle.relevance.score(texts, vectors, topic).probability
    risk = bundle.risk.score(texts, vectors, claims).probability
    hits: list[float] = []
    for i, ex in enumerate(examples):
        if ex.relevant is not None:
            hits.append(float((rel[i] >= t.relevance) == bool(ex.relevant)))
        if ex.false_claim is not None:
            hits.append(float((risk[i] >= t.risk) == bool(ex.false_claim)))
    return float(np.mean(hits)) if hits else None


def preload_pack(db: Any, folder: Path, encoder: Encoder) -> int:
    """Seed the embedding cache from the labelled data's vector pack for this encoder, if shipped."""
    hashes, vectors = read_pack(pack_path(folder, encoder.model_id))
    return preload(db, encoder.model_id, hashes, vectors) if hashes else 0


@dataclass
class TrainReport:
    """What `misinfo train` did."""

    version: str
    activated: bool
    message: str
    card: dict[str, Any] = field(default_factory=dict)


def card_thresholds(cfg: Config) -> dict[str, float]:
    """The thresholds a model card records (the ones the installation flags with)."""
    t = cfg.classifier.thresholds
    return {"relevance": t.relevance, "risk": t.risk, "narrative": t.narrative}


def train_models(
    cfg: Config,
    db: Any,
    progress: Step | None = None,
    encoder: Encoder | None = None,
    force: bool = False,
    cross_validate: bool = True,
    data_dir: Path | None = None,
) -> TrainReport:
    """Train from the labelled data + decisions; activate the new model unless it is worse on held-out decisions."""
    step = progress or (lambda _msg: None)
    if encoder is None:
        encoder, _ = get_encoder(cfg, db)
    folder = data_dir or seed_folder(cfg)
    try:
        seed = load_seed(folder)
    except ValueError as exc:
        raise ModelError(f"labelled data: {exc}") from None
    train_dec, held = split_decisions(decision_examples(db))
    examples = seed + train_dec
    if not examples:
        raise ModelError(
            f"no labelled examples in {folder} — set classifier.labelled_data to a folder of CSVs"
        )
    step(f"encoding {len(examples)} training texts with {encoder.model_id}")
    bs = cfg.classifier.batch_size
    preload_pack(db, folder, encoder)
    vectors = encode_cached(db, encoder, [ex.text for ex in examples], bs)
    topic = topic_of(cfg, db, encoder)
    # Risk learns from the texts alone; the approved library is its own channel (classify.library_risk).
    claims = KnownClaims.none()
    step(f"training on {len(seed)} seed example(s) and {len(train_dec)} decision(s)")
    try:
        bundle = train_bundle(examples, vectors, topic, claims, encoder.model_id)
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    t = cfg.classifier.thresholds
    card = bundle.card
    card["data"]["folder"] = str(folder)
    card["data"]["held_out_decisions"] = len(held)
    card["thresholds"] = card_thresholds(cfg)
    if cross_validate:
        step("cross-validating (5 folds)")
        card["metrics"] = {"cross_validated": cv_metrics(examples, vectors, topic, claims, cfg)[0]}
    kind = model_kind(encoder.model_id)
    current = load_active(cfg, db, encoder)
    activate, why = True, "no active model"
    if held and current is not None:
        hv = encode_cached(db, encoder, [ex.text for ex in held], bs)
        new_s = held_out_score(bundle, held, hv, topic, claims, t)
        cur_s = held_out_score(current, held, hv, topic, claims, t)
        card.setdefault("metrics", {})["held_out"] = {
            "n": len(held),
            "new": new_s,
            "current": cur_s,
            "current_version": current.version,
        }
        activate = new_s is None or cur_s is None or new_s >= cur_s
        why = (
            f"held-out accuracy {new_s:.3f} vs current {cur_s:.3f}"
            if new_s is not None and cur_s is not None
            else "no held-out labels"
        )
    elif current is not None:
        why = "no held-out decisions yet to compare on"
    if force and not activate:
        activate, why = True, why + "; --force"
    card["activated"] = activate
    card["activation_reason"] = why
    path = save_bundle(bundle, cfg.state_path / "models" / bundle.version)
    store.register_model(db, kind, bundle.version, str(path), card, activate)
    msg = f"model {bundle.version} {'activated' if activate else 'kept inactive (worse than the current model)'}: {why}"
    log.info("train: %s", msg)
    return TrainReport(bundle.version, activate, msg, card)


def ensure_model(cfg: Config, db: Any, encoder: Encoder) -> tuple[ModelBundle, bool]:
    """The active model, training one from the seed data when none exists (a fresh install).

    With MISINFO_MODEL_CACHE set, a model trained from the same seed data, topic, encoder and code by
    another installation on this machine is copied instead (monitor.classify.seed_cache).
    """
    bundle = load_active(cfg, db, encoder)
    if bundle is not None:
        return bundle, False
    folder = seed_folder(cfg)
    # Only a model of the seed data alone is shared: decisions belong to this installation.
    key = None
    if seed_cache.cache_root() is not None and not store.training_decisions(db):
        topic = {"descriptions": cfg.topic.descriptions, "keywords": list(cfg.topic.keywords)}
        key = seed_cache.seed_key(folder, encoder.model_id, topic)
        if _reuse(cfg, db, encoder, key, folder):
            bundle = load_active(cfg, db, encoder)
            if bundle is not None:
                return bundle, True
    log.warning(
        "classifier: no trained model for encoder %s yet; training one from the seed data", encoder.model_id
    )
    report = train_models(cfg, db, encoder=encoder, force=True, cross_validate=False)
    bundle = load_active(cfg, db, encoder)
    if bundle is None:
        raise ModelError(
            f"training produced no usable model ({report.message}) — run `misinfo train` and read its output"
        )
    if key is not None:
        seed_cache.keep(key, cfg.state_path / "models" / bundle.version)
    return bundle, True


def _reuse(cfg: Config, db: Any, encoder: Encoder, key: str, folder: Path) -> bool:
    """Install the cached seed model of `key` as this installation's active model (False: none cached)."""
    cached = seed_cache.fetch(key)
    if cached is None:
        return False
    bundle, entry = cached
    original = bundle.version
    bundle.version = new_version()  # this installation's own copy
    card = bundle.card
    card["version"] = bundle.version
    card["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    card["data"]["folder"] = str(folder)
    card["thresholds"] = card_thresholds(cfg)
    card["activated"] = True
    card["activation_reason"] = f"no active model; copied from the seed-model cache {entry} (key {key[:12]})"
    card["copied_from"] = {"cache": str(entry), "key": key, "version": original}
    path = save_bundle(bundle, cfg.state_path / "models" / bundle.version)
    store.register_model(db, model_kind(encoder.model_id), bundle.version, str(path), card, True)
    log.warning(
        "classifier: no trained model for encoder %s yet; copied the one trained from the same seed data "
        "from the model cache %s",
        encoder.model_id,
        entry,
    )
    return True


def cv_metrics(
    examples: Sequence[Example], vectors: Any, topic: Any, claims: Any, cfg: Config
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cross-validated metrics at the thresholds, and the (labels, scores) curves behind them."""
    t = cfg.classifier.thresholds
    curves = cross_validated(examples, vectors, topic, claims)
    metrics = {name: binary_metrics(y, s, getattr(t, name)) for name, (y, s) in curves.items()}
    return metrics, curves


def evaluate_models(
    cfg: Config,
    db: Any,
    out_png: Path | None = None,
    encoder: Encoder | None = None,
    progress: Step | None = None,
) -> dict[str, Any]:
    """Precision, recall and F1 at the thresholds (cross-validated on the labelled data, and the active
    model on held-out decisions) and a precision-recall curve PNG."""
    step = progress or (lambda _msg: None)
    if encoder is None:
        encoder, _ = get_encoder(cfg, db)
    train_dec, held = split_decisions(decision_examples(db))
    examples = load_seed(seed_folder(cfg)) + train_dec
    bs = cfg.classifier.batch_size
    step(f"encoding {len(examples)} labelled texts")
    preload_pack(db, seed_folder(cfg), encoder)
    vectors = encode_cached(db, encoder, [ex.text for ex in examples], bs)
    topic = topic_of(cfg, db, encoder)
    # Risk learns from the texts alone; the approved library is its own channel (classify.library_risk).
    claims = KnownClaims.none()
    step("cross-validating (5 folds)")
    metrics, curves = cv_metrics(examples, vectors, topic, claims, cfg)
    result: dict[str, Any] = {
        "encoder": encoder.model_id,
        "cross_validated": metrics,
        "n_examples": len(examples),
    }
    bundle, _ = ensure_model(cfg, db, encoder)
    result["active_version"] = bundle.version
    if held:
        hv = encode_cached(db, encoder, [ex.text for ex in held], bs)
        texts = [ex.text for ex in held]
        rel = bundle.relevance.score(texts, hv, topic).probability
        risk = bundle.risk.score(texts, hv, claims).probability
        t = cfg.classifier.thresholds
        ho: dict[str, Any] = {"n": len(held)}
        ri = [i for i, ex in enumerate(held) if ex.relevant is not None]
        ki = [i for i, ex in enumerate(held) if ex.false_claim is not None]
        if ri:
            ho["relevance"] = binary_metrics([held[i].relevant or 0 for i in ri], rel[ri], t.relevance)
        if ki:
            ho["risk"] = binary_metrics([held[i].false_claim or 0 for i in ki], risk[ki], t.risk)
        result["held_out_decisions"] = ho
    if out_png is not None:
        t = cfg.classifier.thresholds
        plot_pr(curves, {"relevance": t.relevance, "risk": t.risk}, out_png)
        result["png"] = str(out_png)
    # Keep the latest evaluation with the model it describes.
    last_eval = {
        k: v for k, v in result.items() if k in ("cross_validated", "held_out_decisions", "n_examples")
    }
    update_active_card(cfg, db, encoder, {"last_eval": last_eval})
    return result


def update_active_card(cfg: Config, db: Any, encoder: Encoder, extra: dict[str, Any]) -> None:
    """Merge evaluation figures into the active model's card (file and registry)."""
    bundle = load_active(cfg, db, encoder)
    row = store.active_model(db, model_kind(encoder.model_id))
    if bundle is None or row is None:
        return
    bundle.card.setdefault("metrics", {}).update(extra)
    write_card(bundle, Path(row["path"]))
    store.update_card(db, model_kind(encoder.model_id), bundle.version, bundle.card)
