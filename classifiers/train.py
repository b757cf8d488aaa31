"""Training data, training, and versioned model bundles saved with a JSON model card."""

from __future__ import annotations

import csv
import json
import pickle
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.features import LexicalFeaturizer
from classifiers.relevance import RelevanceModel, Topic
from classifiers.risk import KnownClaims, RiskModel

Vectors = npt.NDArray[np.float32]

BUNDLE_FILE = "model.pkl"
CARD_FILE = "card.json"
SEED_COLUMNS = ("text", "lang", "relevant", "false_claim", "narrative")


@dataclass
class Example:
    """One labelled text. A label left as None is unknown (e.g. off-topic dismissals say nothing of risk)."""

    text: str
    relevant: int | None
    false_claim: int | None
    lang: str = ""
    narrative: str = ""
    origin: str = "seed"  # seed | paraphrase | decision
    item_id: int | None = None


def _flag(value: str, where: str) -> int | None:
    value = value.strip()
    if value == "":
        return None
    if value not in ("0", "1"):
        raise ValueError(f"{where}: expected 0 or 1, got {value!r}")
    return int(value)


PARAPHRASES = "paraphrases"
PARAPHRASE_COLUMNS = ("text", "rumour")


def load_paraphrases(folder: Path) -> list[Example]:
    """The paraphrase sets in `folder`'s `paraphrases/`: TSV files (columns text, rumour; optional style, lang)
    of novel rumours, each written several ways, and accurate on-topic posts (rumour `true` or empty). A rumour
    post is a false claim with narrative `paraphrase:<rumour>` (one key across the files), an accurate one is
    not. Every row is on-topic, but `relevant` is left unknown: the sets teach the risk model (false vs accurate
    among on-topic posts), not the relevance model — made of on-topic rumours only, they would teach it that a
    rumour's style means on-topic (off-topic rumours flagged 2/36 -> 4/36 on data/dev/detection_dev.tsv)."""
    out: list[Example] = []
    for path in sorted((folder / PARAPHRASES).glob("*.tsv")):
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                missing = [c for c in PARAPHRASE_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise ValueError(
                        f"{path}: missing column(s) {', '.join(missing)}; expected tab-separated"
                        f" {', '.join(PARAPHRASE_COLUMNS)} (and optionally style, lang)"
                    )
                for row in reader:
                    text, rumour = (row.get("text") or "").strip(), (row.get("rumour") or "").strip()
                    if not text:
                        continue
                    accurate = rumour in ("", "true")
                    out.append(
                        Example(
                            text=text,
                            relevant=None,
                            false_claim=0 if accurate else 1,
                            lang=(row.get("lang") or "").strip(),
                            narrative="" if accurate else f"paraphrase:{rumour}",
                            origin="paraphrase",
                        )
                    )
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(f"{path}: cannot be read as UTF-8 tab-separated text ({exc})") from exc
    return out


def load_seed(folder: Path) -> list[Example]:
    """Every labelled CSV under `folder` (columns: text, lang, relevant, false_claim, narrative), then its
    paraphrase sets (`load_paraphrases`)."""
    out: list[Example] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("text", "relevant", "false_claim") if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SEED_COLUMNS)}"
                )
            for line, row in enumerate(reader, start=2):
                text = (row.get("text") or "").strip()
                if not text:
                    continue
                where = f"{path.name}:{line}"
                out.append(
                    Example(
                        text=text,
                        relevant=_flag(row.get("relevant") or "", where),
                        false_claim=_flag(row.get("false_claim") or "", where),
                        lang=(row.get("lang") or "").strip(),
                        narrative=(row.get("narrative") or "").strip(),
                    )
                )
    return out + load_paraphrases(folder)


@dataclass
class ModelBundle:
    """Relevance and risk models trained together for one encoder, under one version."""

    version: str
    encoder_id: str
    relevance: RelevanceModel
    risk: RiskModel
    card: dict[str, Any] = field(default_factory=dict)


def new_version(now: datetime | None = None) -> str:
    """A sortable, unique model version: v20261126-043012-3fa9."""
    moment = now or datetime.now(UTC)
    return f"v{moment.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _labels(
    examples: Sequence[Example], attr: str, where: Sequence[bool] | None = None
) -> tuple[list[int], list[int]]:
    idx: list[int] = []
    y: list[int] = []
    for i, ex in enumerate(examples):
        value = getattr(ex, attr)
        if value is None or (where is not None and not where[i]):
            continue
        idx.append(i)
        y.append(int(value))
    return idx, y


def risk_rows(examples: Sequence[Example]) -> tuple[list[int], list[int]]:
    """Rows the risk model learns from: on-topic (or unknown topic) texts with a false-claim label."""
    on_topic = [ex.relevant != 0 for ex in examples]
    return _labels(examples, "false_claim", on_topic)


def relevance_rows(examples: Sequence[Example]) -> tuple[list[int], list[int]]:
    """Rows the relevance model learns from."""
    return _labels(examples, "relevant")


def train_bundle(
    examples: Sequence[Example],
    vectors: Vectors,
    topic: Topic,
    claims: KnownClaims,
    encoder_id: str,
    version: str | None = None,
) -> ModelBundle:
    """Train relevance and risk on labelled examples (vectors: one row per example, from `encoder_id`)."""
    texts = [ex.text for ex in examples]
    rel_idx, rel_y = relevance_rows(examples)
    risk_idx, risk_y = risk_rows(examples)
    if len(set(rel_y)) < 2 or len(set(risk_y)) < 2:
        raise ValueError(
            f"training needs both classes for relevance and risk (got relevance {sorted(set(rel_y))}, "
            f"risk {sorted(set(risk_y))}); add labelled examples under data/labelled/"
        )
    # One featurizer for both models (fitted on every text they will compare): scoring transforms a
    # batch once instead of twice.
    lexical = LexicalFeaturizer().fit(texts + topic.descriptions + claims.texts)
    relevance = RelevanceModel(lexical=lexical).fit(
        [texts[i] for i in rel_idx], vectors[rel_idx], topic, np.asarray(rel_y, dtype=np.int64)
    )
    risk = RiskModel(lexical=lexical).fit(
        [texts[i] for i in risk_idx], vectors[risk_idx], claims, np.asarray(risk_y, dtype=np.int64)
    )
    lexical.release_fit_rows()
    ver = version or new_version()
    card: dict[str, Any] = {
        "version": ver,
        "encoder_model_id": encoder_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "examples": len(examples),
            "seed": sum(1 for ex in examples if ex.origin == "seed"),
            "paraphrases": sum(1 for ex in examples if ex.origin == "paraphrase"),
            "decisions": sum(1 for ex in examples if ex.origin == "decision"),
            "relevance": {"n": len(rel_y), "positive": int(sum(rel_y))},
            "risk": {"n": len(risk_y), "positive": int(sum(risk_y))},
            "languages": _count(ex.lang or "?" for ex in examples),
            "known_claims": len(claims),
        },
        "features": "TF-IDF folded syllables + bigrams + char 2-5-grams, dense embedding, topic/claim similarity",
        "classifier": "LinearSVC (class_weight=balanced) + Platt scaling (CalibratedClassifierCV, sigmoid)",
    }
    return ModelBundle(ver, encoder_id, relevance, risk, card)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def save_bundle(bundle: ModelBundle, folder: Path) -> Path:
    """Write model.pkl and card.json into `folder` (created); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    # Plain pickle (C implementation): joblib's pure-Python pickler took seconds on TF-IDF vocabularies.
    tmp = folder / (BUNDLE_FILE + ".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(bundle, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / BUNDLE_FILE)
    write_card(bundle, folder)
    return folder


def write_card(bundle: ModelBundle, folder: Path) -> None:
    """(Re)write the model card next to the model."""
    (folder / CARD_FILE).write_text(json.dumps(bundle.card, ensure_ascii=False, indent=2), encoding="utf-8")


def load_bundle(folder: Path) -> ModelBundle:
    """Load a bundle saved by save_bundle."""
    # Only models this installation wrote itself are loaded (state_dir is not user-supplied input).
    with (folder / BUNDLE_FILE).open("rb") as fh:
        obj = pickle.load(fh)
    if not isinstance(obj, ModelBundle):
        raise ValueError(f"{folder / BUNDLE_FILE} is not a model bundle")
    return obj
