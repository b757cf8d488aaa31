"""The claim projection: a fixed linear map of encoder vectors, learned from the labelled data's narratives,
that shrinks the directions in which paraphrases of one claim differ (language, accents, slang, length,
voice) relative to those in which different claims differ.

It is within-class covariance normalisation (WCCN, as in speaker verification): centre each post on the mean
of the on-topic labelled posts written the same way (accented Vietnamese, English, unaccented: cluster.WRITINGS;
round 8: what sets English or unaccented posts apart as a whole is taken out first), then multiply by
(S_w + alpha I)^-1/2, S_w the within-narrative scatter of the labelled posts that carry a narrative key (scaled
to mean eigenvalue 1). The narratives it is learned from are the known ones; grouping is for new ones: what it
learns is how paraphrases vary, which carries over (on the novel-rumour development set it lifted
together/purity from 0.54/0.61 to 0.68/0.68).

Learned with it, from the same rows (monitor.group.cluster applies them):
- a calibration of similarities by the pair of writing kinds (accented Vietnamese, English, unaccented
  Vietnamese: cluster.WRITINGS): per pair of kinds, how much the encoder and the folded terms each tell claims
  apart, learned from every pair of the keyed posts, same claim or not (features as grouping computes them,
  with `dense_weight`; cluster.pair_calibration);
- a claim model, P(false claim) of a projected vector: logistic regression on the on-topic posts (false claim
  vs accurate), so that posts it reads as accurate stay out of groups.

Besides the labelled CSVs' 12 known narratives, the projection learns from the paraphrase sets
(`classifiers.train.load_paraphrases`: TSV files in the labelled folder's `paraphrases/`), each a set of invented
novel rumours written in several paraphrases (accented, unaccented, slang, English) by writers who saw only the
topic. More claims give a better estimate of how paraphrases vary; their rumour posts also train the claim model
as false claims, their accurate posts as accurate.

The vectors come from the labelled data's vector pack for the encoder in use (`classifiers.vectorpack`, which
holds the paraphrase sets' texts too); an encoder without a pack gets no projection, and grouping centres on
the pool instead. A text the pack lacks is left out.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from classifiers.text import text_hash
from classifiers.train import PARAPHRASES, Example, load_seed
from classifiers.vectorpack import pack_path, read_pack
from monitor.group.cluster import (
    DEFAULT_DENSE_WEIGHT,
    Floats,
    Projection,
    features,
    pair_calibration,
    within_claim_projection,
    writing_index,
)

log = logging.getLogger(__name__)


def _examples(folder: Path) -> list[Example]:
    """The labelled examples (CSVs and paraphrase sets); none, with a warning, when they cannot be read."""
    try:
        return load_seed(folder)
    except (OSError, ValueError) as exc:
        log.warning(
            "claim projection: the labelled data in %s cannot be read (%s); grouping without it", folder, exc
        )
        return []


# Bump when what _fit computes changes: a stored projection of another version is not used.
FIT_VERSION = "round9"
_ARRAYS = ("mean", "matrix", "calibration", "claim", "kind_means")


def stored_path(folder: Path, model_id: str) -> Path:
    """Where the fitted projection of `model_id` for the labelled data in `folder` is stored (written by
    scripts/pack_seed_vectors.py, so that a fresh install does not fit it: ~20 s)."""
    return folder / "projections" / pack_path(folder, model_id).name


def inputs_key(folder: Path, model_id: str, alpha: float, dense_weight: float) -> str:
    """A digest of everything the fit reads: the vector pack, the labelled CSVs, the paraphrase sets, the
    parameters and FIT_VERSION. A stored projection is used only when its key is this one."""
    digest = hashlib.sha256(f"{FIT_VERSION}|{model_id}|{float(alpha)!r}|{float(dense_weight)!r}".encode())
    files = [
        pack_path(folder, model_id),
        *sorted(folder.glob("*.csv")),
        *sorted((folder / PARAPHRASES).glob("*.tsv")),
    ]
    for path in files:
        digest.update(path.name.encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<missing>")
    return digest.hexdigest()


def store(
    folder: Path, model_id: str, alpha: float, dense_weight: float = DEFAULT_DENSE_WEIGHT
) -> Path | None:
    """Fit the projection and store it with its inputs' key (scripts/pack_seed_vectors.py); None without a pack."""
    proj = _fit(str(folder), model_id, float(alpha), float(dense_weight))
    if proj is None:
        return None
    path = stored_path(folder, model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: getattr(proj, name) for name in _ARRAYS if getattr(proj, name) is not None}
    np.savez_compressed(path, key=np.asarray(inputs_key(folder, model_id, alpha, dense_weight)), **arrays)
    return path


def _stored(folder: Path, model_id: str, alpha: float, dense_weight: float) -> Projection | None:
    """The stored projection when its key matches the inputs; None otherwise (missing, stale, unreadable)."""
    path = stored_path(folder, model_id)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            if str(data["key"]) != inputs_key(folder, model_id, alpha, dense_weight):
                log.info("claim projection: %s is stale (the labelled data changed); fitting it again", path)
                return None
            got = {name: np.asarray(data[name], dtype=np.float32) for name in _ARRAYS if name in data.files}
    except (OSError, KeyError, ValueError) as exc:
        log.warning("claim projection: %s cannot be read (%s); fitting it again", path, exc)
        return None
    return Projection(
        got["mean"], got["matrix"], got.get("calibration"), got.get("claim"), kind_means=got.get("kind_means")
    )


@lru_cache(maxsize=8)
def _load(folder: str, model_id: str, alpha: float, dense_weight: float) -> Projection | None:
    return _stored(Path(folder), model_id, alpha, dense_weight) or _fit(folder, model_id, alpha, dense_weight)


def _fit(folder: str, model_id: str, alpha: float, dense_weight: float) -> Projection | None:
    hashes, vectors = read_pack(pack_path(Path(folder), model_id))
    if not hashes:
        return None
    row_of = {h: i for i, h in enumerate(hashes)}
    on_topic: list[int] = []
    false_claim: list[bool] = []
    keyed: list[int] = []
    keys: list[str] = []
    keyed_texts: list[str] = []
    on_topic_texts: list[str] = []
    for ex in _examples(Path(folder)):
        i = row_of.get(text_hash(ex.text))
        if i is None:
            continue
        if ex.relevant == 1 or ex.origin == "paraphrase":  # paraphrase sets: on-topic, relevance left unknown
            on_topic.append(i)
            on_topic_texts.append(ex.text)
            false_claim.append(ex.false_claim == 1)
        if ex.narrative:
            keyed.append(i)
            keys.append(ex.narrative)
            keyed_texts.append(ex.text)
    if len(set(keys)) < 2 or not on_topic:
        return None
    vecs: Floats = np.asarray(vectors, dtype=np.float32)
    kinds = [writing_index(None, t) for t in keyed_texts]
    topic_kinds = [writing_index(None, t) for t in on_topic_texts]
    proj = within_claim_projection(vecs[on_topic], vecs[keyed], keys, alpha, topic_kinds, kinds)
    rows = features(keyed_texts, vecs[keyed], dense_weight, proj).rows
    calibration = pair_calibration(rows, int(proj.mean.shape[0]), kinds, keys)
    claim = _claim_model(proj.apply(vecs[on_topic], topic_kinds), false_claim)
    return replace(proj, calibration=calibration, claim=claim)


def _claim_model(projected: Floats, false_claim: list[bool]) -> Floats | None:
    """Logistic weights (bias last) of P(false claim) on projected vectors; None without both classes."""
    if len(set(false_claim)) < 2:
        return None
    from sklearn.linear_model import LogisticRegression  # lazy: only when a pack is there

    model = LogisticRegression(C=1.0, max_iter=1000).fit(projected, np.asarray(false_claim))
    return np.append(model.coef_[0], model.intercept_[0]).astype(np.float32)


def claim_projection(
    folder: Path, model_id: str, alpha: float, dense_weight: float = DEFAULT_DENSE_WEIGHT
) -> Projection | None:
    """The projection for vectors of `model_id`, learned from the labelled data in `folder`, with its language
    calibration (for `dense_weight`) and claim model (cached per process; read from `stored_path` when that was
    fitted on exactly these inputs); None when there is no vector pack for that encoder there or no narrative
    keys."""
    return _load(str(folder), model_id, float(alpha), float(dense_weight))
